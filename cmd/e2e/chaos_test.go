package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/dialtone-voip/dialtone/cmd/internal/cluster"
	"github.com/dialtone-voip/dialtone/platform/testenv"
	"github.com/dialtone-voip/dialtone/platform/testenv/logtest"
)

// chaosPhones is the storm's size in CI (the 5,000; see the
// README's "Running as a cluster" for the time it takes on 2 shared
// cores); DIALTONE_CHAOS_PHONES sets another count for local runs.
const chaosPhones = 5000

// TestChaosClusterStorm runs the suite as a cluster (cmd/internal/cluster:
// 3 NATS JetStream nodes with R3 streams, Redis primary + replica + 3
// Sentinels, 2 replicas of every service, pnp-listener in a namespace on a
// phone LAN) and boots a storm of pre-assigned phones while it SIGKILLs a
// NATS node, the Redis primary, an inventory and a provision-http replica,
// and restarts the pnp-listener. Every phone must end provisioned with its
// extension, every RPS registration must be made exactly once, and nothing
// created before the storm may be lost.
func TestChaosClusterStorm(t *testing.T) {
	// In make test; make chaos runs it alone.
	testenv.SkipShort(t, "the 5,000-phone cluster storm takes minutes (make chaos)")
	testenv.RequireRoot(t)
	testenv.LookBinary(t, "redis-server")
	testenv.LookBinary(t, "ip")
	n := chaosPhones
	if v := os.Getenv("DIALTONE_CHAOS_PHONES"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 20 {
			t.Fatalf("DIALTONE_CHAOS_PHONES=%q: want a number >= 20", v)
		}
	}
	dir := t.TempDir()
	// Built once for this test and TestClusterTour (cluster_tour_test.go);
	// not the cluster's time.
	bins := clusterBinaries(t)
	// The cluster's start, the import, the storm with its failures and
	// the checks: 15 minutes at most.
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	testStart := time.Now()
	l := cluster.Layout{Dir: dir, BasePort: 26400, Host: cluster.HostLANAddr, LAN: true}
	c, err := cluster.Start(ctx, l, bins, nil)
	t.Cleanup(func() {
		if err := c.Stop(); err != nil {
			t.Errorf("stopping the cluster: %v", err)
		}
		// DIALTONE_CHAOS_REPORT keeps every member's whole log next to
		// the report (the temporary directory goes with the test).
		if f := os.Getenv("DIALTONE_CHAOS_REPORT"); f != "" {
			keepLogs(t, filepath.Join(dir, "logs"), f+".logs")
		}
		if t.Failed() {
			for _, name := range []string{"inventory-1", "inventory-2", "provision-http-1", "provision-http-2", "pnp-listener", "rps-client-1", "rps-client-2"} {
				b, _ := os.ReadFile(filepath.Join(dir, "logs", name+".log"))
				var warn []string
				for _, line := range strings.Split(string(b), "\n") {
					if strings.Contains(line, `"WARN"`) || strings.Contains(line, `"ERROR"`) {
						warn = append(warn, line)
					}
				}
				t.Logf("--- %s: %d warnings/errors, the last ones:\n%s", name, len(warn), strings.Join(warn[max(0, len(warn)-15):], "\n"))
			}
		}
	})
	if err != nil {
		t.Fatalf("cluster: %v", err)
	}
	// Supervised as by dialtone-cluster: a member that crashes on its own
	// comes back (and is reported below); the members the test kills are
	// held down until it restarts them.
	c.Supervise(cluster.DefaultSupervision)
	ctl := func(args ...string) (string, error) {
		cmd := exec.CommandContext(ctx, filepath.Join(bins.Dir, "dialtonectl"), args...)
		cmd.Env = append(os.Environ(), "DIALTONE_INSECURE=true", "DIALTONE_SERVER="+l.InventoryAddr(),
			"DIALTONE_RPS_SERVER="+l.RPSAddr(), "DIALTONE_TOKEN_FILE="+l.AdminTokenFile())
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		err := cmd.Run()
		if err != nil {
			return out.String(), fmt.Errorf("dialtonectl %s: %v: %s", strings.Join(args, " "), err, errb.String())
		}
		return out.String(), nil
	}

	// Phones, extensions and RPS registrations made before the storm.
	macs := make([]string, n)
	var csv strings.Builder
	csv.WriteString("mac,model,vendor,extension,name,password,rps\n")
	for i := range n {
		macs[i] = fmt.Sprintf("805ec0%06x", i)
		fmt.Fprintf(&csv, "%s,T54W,yealink,%d,Phone %d,pw-%d,yes\n", macs[i], 10000+i, i, 10000+i)
	}
	csvFile := filepath.Join(dir, "phones.csv")
	if err := os.WriteFile(csvFile, []byte(csv.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	importStart := time.Now()
	if out, err := ctl("phones", "import", csvFile, "--concurrency", "32"); err != nil {
		t.Fatalf("import: %v\n%s", err, tail(out, 2000))
	}
	t.Logf("imported %d phones and extensions in %v", n, time.Since(importStart).Round(time.Millisecond))
	probeURL, err := ctl("phones", "url", macs[0])
	if err != nil {
		t.Fatal(err)
	}
	// The model's common file: the prober is not the phone (another
	// host), so the file with the account would be refused to it once the
	// phone is bound (docs/SECURITY.md, "Secret release") — or, probing
	// first, it would bind the token and the phone itself would be refused.
	probeURL = strings.TrimSpace(probeURL) + "y000000000096.cfg"

	// The Redis primary is killed early in a small storm: the Sentinels
	// must know its replica and each other by then (cluster.FailoverReady).
	failoverWait := time.Now()
	testenv.WaitFor(t, 30*time.Second, "the Sentinels to know the Redis replica and each other", func() bool {
		return cluster.FailoverReady(ctx, l)
	})
	t.Logf("Sentinels ready for a failover after %v more", time.Since(failoverWait).Round(time.Millisecond))

	// The prober plays one phone fetching its configuration every 50 ms
	// through the edge's front: the longest run of failures is the
	// longest gap in service a phone could see.
	probeCtx, stopProbe := context.WithCancel(ctx)
	var gap struct {
		sync.Mutex
		longest, cur time.Duration
		since        time.Time
		fails        int
	}
	probeDone := make(chan struct{})
	// The prober's requests, which the failure points below leave out.
	var probes atomic.Uint64
	go func() {
		defer close(probeDone)
		hc := &http.Client{Timeout: time.Second}
		for probeCtx.Err() == nil {
			ok := false
			probes.Add(1)
			req, _ := http.NewRequestWithContext(probeCtx, http.MethodGet, probeURL, nil)
			req.Header.Set("User-Agent", "Yealink SIP-T54W 96.86.0.45 80:5e:c0:00:00:00")
			if resp, err := hc.Do(req); err == nil {
				ok = resp.StatusCode == http.StatusOK
				resp.Body.Close()
			}
			gap.Lock()
			if ok {
				gap.since = time.Time{}
			} else {
				gap.fails++
				if gap.since.IsZero() {
					gap.since = time.Now()
				}
				gap.longest = max(gap.longest, time.Since(gap.since))
			}
			gap.Unlock()
			select {
			case <-probeCtx.Done():
			case <-time.After(50 * time.Millisecond):
			}
		}
	}()

	// The storm: phonesim in the phone namespace, multicast SUBSCRIBEs on
	// the LAN. Phones keep answering NOTIFYs until a configuration with
	// their account arrives.
	storm := exec.CommandContext(ctx, "ip", "netns", "exec", cluster.PhoneNetns, filepath.Join(bins.Dir, "phonesim"), "storm",
		"--vendor", "yealink", "--model", "T54W", "--mac-prefix", "805ec0", "--count", strconv.Itoa(n),
		"--concurrency", "100", "--timeout", "30s", "--wait-notify", "30s", "--wait-account", "30s", "-o", "json", "--per-phone")
	// Killed with the test binary, even when it dies without cleanups.
	storm.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	var stormOut, stormErr logtest.Buffer
	storm.Stdout, storm.Stderr = &stormOut, &stormErr
	stormStart := time.Now()
	if err := storm.Start(); err != nil {
		t.Fatal(err)
	}
	stormDone := make(chan error, 1)
	go func() { stormDone <- storm.Wait() }()

	// The failures, each at a point of the storm's progress (the phones'
	// downloads through the edge's front, 4 per phone). The prober's
	// requests (20 a second) are not progress: counted in, they reached
	// every point of a 20-phone storm within 2 s, before most phones had
	// fetched anything, and the Redis primary died before the Sentinels
	// knew its replica.
	var events []string
	logEvent := func(format string, args ...any) {
		e := fmt.Sprintf("%6.1fs  ", time.Since(stormStart).Seconds()) + fmt.Sprintf(format, args...)
		events = append(events, e)
		t.Log(e)
	}
	at := func(fraction float64) {
		target := uint64(fraction * float64(4*n))
		for c.EdgeRequests() < target+probes.Load() {
			select {
			case <-stormDone:
				stormDone <- nil // let the later wait see it finished
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}
	must := func(err error) {
		if err != nil {
			t.Fatal(err)
		}
	}
	roles := cluster.QueryRoles(ctx, l)
	oldPrimary := roles.SentinelMaster
	primaryName := map[string]string{l.RedisAddrs()[0]: "redis-a", l.RedisAddrs()[1]: "redis-b"}[oldPrimary]
	if primaryName == "" {
		t.Fatalf("no Redis primary known to the Sentinels: %+v", roles)
	}

	// DIALTONE_CHAOS_CALM=1 runs the same storm without failures, for a
	// baseline.
	calm := os.Getenv("DIALTONE_CHAOS_CALM") == "1"
	if calm {
		at(2) // the end of the storm
	}
	if !calm {
		at(0.10)
		must(c.Hold("nats-2"))
		must(c.Kill("nats-2"))
		logEvent("SIGKILL nats-2 (meta leader was %s)", roles.NATSMetaLeader)
		at(0.20)
		must(c.Hold(primaryName))
		must(c.Kill(primaryName))
		logEvent("SIGKILL Redis primary %s (%s)", primaryName, oldPrimary)
		failStart := time.Now()
		for {
			if m := cluster.QueryRoles(ctx, l).SentinelMaster; m != "" && m != oldPrimary {
				logEvent("Sentinel promoted %s after %v", m, time.Since(failStart).Round(time.Millisecond))
				break
			}
			if time.Since(failStart) > 60*time.Second {
				t.Fatal("Sentinel did not promote the replica within 60s")
			}
			time.Sleep(100 * time.Millisecond)
		}
		at(0.30)
		must(c.Hold("inventory-1"))
		must(c.Kill("inventory-1"))
		logEvent("SIGKILL inventory-1")
		must(c.Hold("provision-http-2"))
		must(c.Kill("provision-http-2"))
		logEvent("SIGKILL provision-http-2")
		at(0.45)
		must(c.Restart(ctx, "pnp-listener"))
		logEvent("pnp-listener restarted (SIGTERM, start, ready)")
		at(0.55)
		for _, m := range []string{"nats-2", "inventory-1", "provision-http-2", primaryName} {
			must(c.Restart(ctx, m))
			logEvent("%s restarted and ready", m)
		}
	}

	var stormRunErr error
	select {
	case stormRunErr = <-stormDone:
	case <-ctx.Done():
		t.Fatalf("storm did not finish: %v", ctx.Err())
	}
	lastPhone := time.Since(stormStart)
	var rep stormReport
	if err := json.Unmarshal([]byte(stormOut.String()), &rep); err != nil {
		t.Fatalf("storm report: %v (exit %v)\n%s\n%s", err, stormRunErr, tail(stormOut.String(), 2000), tail(stormErr.String(), 2000))
	}

	// Phones that gave up retry, as real phones do after their timeout.
	var retried []string
	for _, r := range rep.Reports {
		if !r.OK {
			retried = append(retried, r.Phone.MAC)
		}
	}
	if f := os.Getenv("DIALTONE_CHAOS_REPORT"); f != "" {
		os.WriteFile(f+".storm.json", []byte(stormOut.String()), 0o644)
	}
	t.Logf("pnp-listener drops: %s", pnpDrops(l))
	// The edge's per-source failure throttle is on and sees the phones'
	// one address: a block would have stopped the storm.
	blocks := 0.0
	for _, m := range []string{"provision-http-1", "provision-http-2"} {
		blocks += metricValue(strings.TrimSuffix(c.Member(m).Ready, "/readyz")+"/metrics", "dialtone_provision_http_throttle_blocks_total")
	}
	if blocks != 0 {
		t.Errorf("the edge's throttle blocked the phones' address %v times", blocks)
	}
	if len(retried) > 0 {
		var ex []string
		for _, r := range rep.Reports {
			if !r.OK && len(ex) < 3 {
				b, _ := json.Marshal(r)
				ex = append(ex, string(b))
			}
		}
		t.Logf("failed phones, the first ones:\n%s", strings.Join(ex, "\n"))
	}
	// The failures' windows (Redis failover, a replica's in-flight
	// requests, the listener's restart) last seconds whatever the storm's
	// size. Since fetches stopped being changes (issue 20) the storm is over
	// in about a minute, so all four failures fall inside it and a phone
	// fetching during a failover window gets a 503 (6.5 % of them on a
	// loaded 2-core CI machine): that is a retry, counted and printed. More
	// than 15 % would be an outage.
	if len(retried) > max(n*15/100, 100) {
		t.Fatalf("%d of %d phones failed in the storm (%v); more than 15%% would not be a retry but an outage", len(retried), n, rep.Failures)
	}
	// Each retries on its own, ten at a time, up to three boots: a real
	// phone keeps retrying (a 503 from an overloaded inventory is no
	// verdict), but one that fails three times is a lost phone.
	var retryMu sync.Mutex
	secondRetries := 0
	sem := make(chan struct{}, 10)
	var retryWG sync.WaitGroup
	for _, mac := range retried {
		retryWG.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			for try := 1; ; try++ {
				out, err := exec.CommandContext(ctx, "ip", "netns", "exec", cluster.PhoneNetns, filepath.Join(bins.Dir, "phonesim"), "boot",
					"--vendor", "yealink", "--model", "T54W", "--mac", mac, "--wait-account", "30s").CombinedOutput()
				if err == nil {
					return
				}
				retryMu.Lock()
				secondRetries++
				retryMu.Unlock()
				if try == 3 {
					t.Errorf("phone %s failed its 3 boots after the storm: %v\n%s", mac, err, out)
					return
				}
			}
		})
	}
	retryWG.Wait()
	t.Logf("%d phones booted again after the storm; %d of those boots failed and were repeated", len(retried), secondRetries)
	stopProbe()
	<-probeDone

	// What phones saw: SUBSCRIBEs sent again, downloads that failed.
	resends, badFiles := 0, 0
	for _, r := range rep.Reports {
		if r.SIP != nil && r.SIP.SubscribesSent > 1 {
			resends += r.SIP.SubscribesSent - 1
		}
		for _, rd := range r.Rounds {
			for _, f := range rd.Files {
				if f.Error != "" || f.Status >= 500 {
					badFiles++
				}
			}
		}
	}

	// Nothing lost: every phone provisioned with its own extension, every
	// extension still there.
	var phones []struct {
		MAC   string `json:"mac"`
		State string `json:"state"`
		Lines []struct {
			Extension string `json:"extension"`
		} `json:"lines"`
		RPS struct {
			State string `json:"state"`
		} `json:"rps_status"`
	}
	var rpsWait time.Duration
	var lost []string
	refetched, lastProvisioned, lastChange := false, -1, time.Now()
	settleStart := time.Now()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		out, err := ctl("phones", "list", "-o", "json")
		if err != nil {
			t.Fatal(err)
		}
		phones = phones[:0]
		if err := json.Unmarshal([]byte(out), &phones); err != nil {
			t.Fatal(err)
		}
		// Inventory learns "provisioned" from ConfigFetched events and the
		// RPS status from rps-client's results, both through JetStream
		// consumers that may still be replaying what the failures delayed.
		registered, provisioned := 0, 0
		for _, p := range phones {
			if p.RPS.State == "registered" {
				registered++
			}
			if p.State == "provisioned" {
				provisioned++
			}
		}
		if registered == n && rpsWait == 0 {
			rpsWait = time.Since(stormStart)
		}
		if provisioned != lastProvisioned {
			lastProvisioned, lastChange = provisioned, time.Now()
		}
		if registered == n && provisioned == n {
			break
		}
		// A "provisioned" that no consumer will deliver any more (lost
		// write, see the README): let those phones fetch again, as they do
		// at their next check, and wait for the repair.
		if registered == n && time.Since(lastChange) > 10*time.Second && !refetched {
			refetched = true
			for _, p := range phones {
				if p.State != "provisioned" {
					lost = append(lost, p.MAC)
				}
			}
			t.Logf("%d phones booted but not marked provisioned after 10 s of quiet; they fetch again: %v", len(lost), lost[:min(len(lost), 10)])
			if out, err := ctl("phones", "show", lost[0], "-o", "json"); err == nil {
				t.Logf("first of them before its new fetch:\n%s", out)
			}
			// --wait-account: a boot whose account file is refused (a 404,
			// e.g. the secret release seeing a second identity) fails
			// here, loudly, instead of leaving the phone "fetching".
			for _, mac := range lost {
				if out, err := exec.CommandContext(ctx, "ip", "netns", "exec", cluster.PhoneNetns, filepath.Join(bins.Dir, "phonesim"), "boot",
					"--vendor", "yealink", "--model", "T54W", "--mac", mac, "--wait-account", "30s").CombinedOutput(); err != nil {
					t.Errorf("phone %s: fetch again: %v\n%s", mac, err, tail(string(out), 2000))
				}
			}
		}
		if time.Now().After(deadline) {
			t.Errorf("after 2 minutes: %d of %d phones registered with the RPS, %d provisioned", registered, n, provisioned)
			for _, p := range phones {
				if p.State != "provisioned" {
					// Its fetches, release binding and link proof say why.
					if out, err := ctl("phones", "show", p.MAC, "-o", "json"); err == nil {
						t.Logf("first phone not provisioned:\n%s", out)
					}
					break
				}
			}
			break
		}
		time.Sleep(250 * time.Millisecond)
	}
	settled := time.Since(settleStart)
	if len(phones) != n {
		t.Errorf("inventory lists %d phones, want %d", len(phones), n)
	}
	for i, p := range phones {
		want := fmt.Sprintf("tenants/default/extensions/%d", 10000+slices.Index(macs, p.MAC))
		if p.State != "provisioned" || len(p.Lines) != 1 || p.Lines[0].Extension != want {
			t.Errorf("phone %s: state %s, lines %+v; want provisioned on %s", p.MAC, p.State, p.Lines, want)
			if i > 20 {
				break
			}
		}
	}
	out, err := ctl("extensions", "list", "-o", "json")
	if err != nil {
		t.Fatal(err)
	}
	var exts []json.RawMessage
	if err := json.Unmarshal([]byte(out), &exts); err != nil {
		t.Fatal(err)
	}
	if len(exts) != n {
		t.Errorf("inventory lists %d extensions, want %d", len(exts), n)
	}

	// Exactly once at the vendor: a registration replayed after a crash
	// (redelivered event, lost Redis write) must not reach the vendor twice.
	resp, err := http.Get("http://" + l.FakesAddr() + "/_fakes/counts")
	if err != nil {
		t.Fatal(err)
	}
	var counts struct{ Registrations, Entries, Requests int }
	json.NewDecoder(resp.Body).Decode(&counts)
	resp.Body.Close()
	if counts.Entries != n || counts.Registrations != n {
		t.Errorf("RPS fake: %d entries, %d registrations; want %d of each (every phone registered exactly once)", counts.Entries, counts.Registrations, n)
	}

	// No member crashed on its own (the supervisor would have restarted it).
	var restarts []string
	for _, m := range c.Members {
		if st, _ := c.Status(m.Name); st.Restarts > 0 {
			restarts = append(restarts, fmt.Sprintf("%s %d (%s)", m.Name, st.Restarts, st.LastExit))
		}
	}
	if len(restarts) > 0 {
		t.Errorf("members restarted by the supervisor (crashed): %v", restarts)
	}

	gap.Lock()
	longest, fails := gap.longest, gap.fails
	gap.Unlock()
	t.Logf("cluster start, import, storm and checks took %v (bound 15 min)", time.Since(testStart).Round(time.Second))
	summary := fmt.Sprintf(`chaos storm: %d phones, concurrency 100
  time to last phone     %v (storm), all RPS registrations seen at %v, inventory settled %v after the storm
  provisioned p50 / p99  %.0f ms / %.0f ms (max %.0f ms)
  phones failed in storm %d %v (booted again: %d, of those boots %d failed again), SUBSCRIBE resends %d, failed downloads %d
  "provisioned" lost      %d phones (repaired by their next fetch)
  longest gap (prober)   %v (%d failed probes)
  RPS fake               %d registrations for %d phones (%d requests)
events:
  %s`, n, lastPhone.Round(time.Millisecond), rpsWait.Round(time.Millisecond), settled.Round(time.Millisecond),
		rep.Provisioned.P50, rep.Provisioned.P99, rep.Provisioned.Max,
		rep.Failed, rep.Failures, len(retried), secondRetries, resends, badFiles, len(lost), longest.Round(time.Millisecond), fails,
		counts.Registrations, counts.Entries, counts.Requests, strings.Join(events, "\n  "))
	t.Log(summary)
	if f := os.Getenv("DIALTONE_CHAOS_REPORT"); f != "" {
		os.WriteFile(f, []byte(summary+"\n"), 0o644)
	}
}

// metricValue is the value of the unlabelled metric name at url, or 0.
func metricValue(url, name string) float64 {
	resp, err := http.Get(url)
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			f, _ := strconv.ParseFloat(v, 64)
			return f
		}
	}
	return 0
}

// pnpDrops is the pnp-listener's non-zero datagram drop counters.
func pnpDrops(l cluster.Layout) string {
	const name = "dialtone_pnp_listener_datagrams_dropped_total"
	lines, err := metricLines(l.PNPAdminAddr(), name+"{")
	if err != nil {
		return err.Error()
	}
	var out []string
	for _, line := range lines {
		out = append(out, strings.TrimPrefix(line, name))
	}
	if len(out) == 0 {
		return "none"
	}
	return strings.Join(out, ", ")
}

// stormReport is the part of phonesim's storm report the chaos test reads.
type stormReport struct {
	Count       int            `json:"count"`
	OK          int            `json:"ok"`
	Failed      int            `json:"failed"`
	Failures    map[string]int `json:"failures"`
	WallMS      float64        `json:"wall_ms"`
	Provisioned struct {
		P50, P90, P99, Max float64
	} `json:"subscribe_to_provisioned_ms"`
	Reports []struct {
		OK    bool `json:"ok"`
		Phone struct {
			MAC string `json:"mac"`
		} `json:"phone"`
		SIP *struct {
			SubscribesSent int `json:"subscribes_sent"`
		} `json:"sip"`
		Rounds []struct {
			Files []struct {
				Status int    `json:"status"`
				Error  string `json:"error"`
			} `json:"files"`
		} `json:"rounds"`
	} `json:"reports"`
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

// keepLogs copies the member logs in from to the directory to.
func keepLogs(t *testing.T, from, to string) {
	ents, err := os.ReadDir(from)
	if err == nil {
		err = os.MkdirAll(to, 0o755)
	}
	for _, e := range ents {
		if err != nil {
			break
		}
		var b []byte
		if b, err = os.ReadFile(filepath.Join(from, e.Name())); err == nil {
			err = os.WriteFile(filepath.Join(to, e.Name()), b, 0o644)
		}
	}
	if err != nil {
		t.Logf("keeping the member logs: %v", err)
		return
	}
	t.Logf("member logs kept in %s", to)
}
