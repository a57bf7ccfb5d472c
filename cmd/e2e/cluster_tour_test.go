package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/dialtone-voip/dialtone/cmd/internal/cluster"
	"github.com/dialtone-voip/dialtone/platform/testenv"
	"github.com/dialtone-voip/dialtone/platform/testenv/logtest"
)

// clusterBuild holds the cluster's programs, built at most once per test
// binary: TestChaosClusterStorm and TestClusterTour both run them, and
// building the nine programs is most of a cold run's time (5 minutes on a
// loaded 2-core machine with a cold cache).
var clusterBuild struct {
	once sync.Once
	bins cluster.Binaries
	took time.Duration
	err  error
	log  string
}

// clusterBinaries returns the cluster's programs, building them on the
// first call (into TestMain's folder, removed when the tests end).
func clusterBinaries(t *testing.T) cluster.Binaries {
	t.Helper()
	first := false
	clusterBuild.once.Do(func() {
		first = true
		var buildLog logtest.Buffer
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
		defer cancel()
		start := time.Now()
		clusterBuild.bins, clusterBuild.err = cluster.Build(ctx, "../..", filepath.Join(bins.dir, "cluster"), &buildLog)
		clusterBuild.took = time.Since(start).Round(time.Second)
		clusterBuild.log = buildLog.String()
	})
	if clusterBuild.err != nil {
		t.Fatalf("building the cluster's programs: %v\n%s", clusterBuild.err, clusterBuild.log)
	}
	if first {
		t.Logf("built the cluster's programs in %v", clusterBuild.took)
	} else {
		t.Logf("the cluster's programs were built by an earlier test (in %v)", clusterBuild.took)
	}
	return clusterBuild.bins
}

// TestClusterTour starts the local cluster as `make cluster-up` does (the
// defaults: ports from 24000 on the phone LAN, state in
// deploy/local/state, here under a temporary folder that stands for the
// repository) and runs deploy/local/README.md's "The tour against the
// cluster" block as written: an extension, a phone booted in dtc-phones,
// assigned with RPS, booted again, shown, and the RPS fake's counts.
func TestClusterTour(t *testing.T) {
	// With the chaos test in make test (CI=true always runs it), not in
	// make test-short: a cold build of the cluster's programs takes minutes.
	testenv.SkipShort(t, "builds and starts the whole cluster")
	testenv.RequireRoot(t)
	testenv.LookBinary(t, "redis-server")
	testenv.LookBinary(t, "ip")
	testenv.LookBinary(t, "curl")
	testenv.LookBinary(t, "bash")
	readme, err := os.ReadFile("../../deploy/local/README.md")
	if err != nil {
		t.Fatal(err)
	}
	tour := codeBlockAfter(t, string(readme), "<!-- tour:cluster -->")
	// The cluster's LAN has fixed names; starting it tears down one that
	// is already there — somebody's `make cluster-up`, or another run.
	if err := exec.Command("ip", "link", "show", cluster.Bridge).Run(); err == nil {
		t.Fatalf("a cluster is already up on this machine (bridge %s exists): make cluster-down first", cluster.Bridge)
	}
	b := clusterBinaries(t)

	// The cluster's start and the tour: 3 minutes at most (about 20 s
	// and 35 s on an idle machine).
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	repo := t.TempDir()
	l := cluster.Layout{Dir: filepath.Join(repo, "deploy", "local", "state"), BasePort: 24000, Host: cluster.HostLANAddr, LAN: true}
	// What `up` would build into <dir>/bin: the shared build, linked.
	if err := os.MkdirAll(l.Dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(b.Dir, filepath.Join(l.Dir, "bin")); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	c, err := cluster.Start(ctx, l, b, nil)
	t.Cleanup(func() {
		if c != nil && t.Failed() {
			// What the listener and inventory counted, before they stop.
			for name, addr := range map[string]string{"pnp-listener": l.PNPAdminAddr(), "inventory-1": l.Admin("inventory", 0), "inventory-2": l.Admin("inventory", 1)} {
				t.Logf("--- %s metrics:\n%s", name, dialtoneMetrics(addr))
			}
		}
		if c != nil {
			stopStart := time.Now()
			if err := c.Stop(); err != nil {
				t.Errorf("stopping the cluster: %v", err)
			}
			t.Logf("cluster stopped in %v", time.Since(stopStart).Round(time.Millisecond))
		}
		for _, ns := range []string{cluster.PBXNetns, cluster.PhoneNetns} {
			if exec.Command("ip", "netns", "pids", ns).Run() == nil {
				t.Errorf("namespace %s still there after the cluster stopped", ns)
			}
		}
		// A pull lost while the cluster formed shows as a consumer that
		// heard no heartbeat (natsjs.PullHeartbeat); worth knowing when the
		// tour was slow.
		if logs, _ := filepath.Glob(filepath.Join(l.Dir, "logs", "*.log")); len(logs) > 0 {
			for _, f := range logs {
				b, _ := os.ReadFile(f)
				if n := strings.Count(string(b), "no heartbeat received"); n > 0 {
					t.Logf("%s: %d consumer(s) heard no heartbeat and pulled again", filepath.Base(f), n)
				}
			}
		}
		if t.Failed() {
			for _, name := range []string{"inventory-1", "inventory-2", "provision-http-1", "provision-http-2", "pnp-listener", "rps-client-1", "rps-client-2", "rps-fakes", "redis-a", "redis-b", "sentinel-1", "nats-1", "nats-2", "nats-3"} {
				b, _ := os.ReadFile(filepath.Join(l.Dir, "logs", name+".log"))
				t.Logf("--- %s:\n%s", name, tail(string(b), 3000))
			}
		}
	})
	if err != nil {
		t.Fatalf("cluster: %v", err)
	}
	// Supervised and recorded as by `dialtone-cluster up`.
	c.Supervise(cluster.DefaultSupervision)
	if err := c.WriteState(); err != nil {
		t.Fatal(err)
	}
	t.Logf("cluster ready in %v", time.Since(start).Round(time.Millisecond))

	tourStart := time.Now()
	cmd := exec.CommandContext(ctx, "bash", "-c", "set -euo pipefail\n"+tour)
	cmd.Dir = repo
	// Its own process group, killed whole when the time is up (phonesim
	// runs under ip netns exec) or when the test binary dies.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("the tour failed after %v: %v\n%s", time.Since(tourStart).Round(time.Millisecond), err, out.String())
	}
	t.Logf("the tour ran in %v:\n%s", time.Since(tourStart).Round(time.Millisecond), out.String())
	text := out.String()

	// phones show: the phone's fetches and the RPS client's result reach
	// inventory as events a moment after the files were served and the
	// vendor answered, so it is read again until both are recorded.
	show := text
	if i := strings.LastIndex(show, "MAC:"); i >= 0 {
		show = show[i:]
	}
	provisioned := regexp.MustCompile(`(?m)^State:\s+provisioned$`)
	registered := regexp.MustCompile(`(?m)^RPS:\s+registered$`)
	recorded := time.Now()
	testenv.PollEvery(time.Minute, 200*time.Millisecond, func() bool {
		if provisioned.MatchString(show) && registered.MatchString(show) {
			return true
		}
		show = clusterCtl(ctx, t, l, "phones", "show", "805ec0000001")
		return false
	})
	t.Logf("provisioned and RPS registered in inventory %v after the tour", time.Since(recorded).Round(time.Millisecond))
	if !provisioned.MatchString(show) {
		t.Errorf("phones show does not say provisioned:\n%s", show)
	}
	if !registered.MatchString(show) {
		t.Errorf("phones show does not say RPS registered:\n%s", show)
	}
	// The last line: the RPS fake's counts. The registration is made by
	// an rps-client after the assignment's event, so the tour's last line
	// may come first; once inventory says registered, the fake is read
	// again: exactly one entry and one registration.
	lines := strings.Split(strings.TrimSpace(text), "\n")
	var counts struct{ Entries, Registrations int }
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &counts); err != nil {
		t.Fatalf("the fake's counts: %v\n%s", err, text)
	}
	if counts.Registrations == 0 {
		t.Logf("the tour's curl ran before the RPS registration (%s); reading the fake again", lines[len(lines)-1])
		resp, err := http.Get("http://" + l.FakesAddr() + "/_fakes/counts")
		if err != nil {
			t.Fatal(err)
		}
		err = json.NewDecoder(resp.Body).Decode(&counts)
		resp.Body.Close()
		if err != nil {
			t.Fatalf("the fake's counts: %v", err)
		}
	}
	if counts.Registrations != 1 || counts.Entries != 1 {
		t.Errorf("the RPS fake counted %+v, want 1 entry and 1 registration:\n%s", counts, text)
	}
}

// clusterCtl runs dialtonectl against the cluster as the tour's exports do.
func clusterCtl(ctx context.Context, t *testing.T, l cluster.Layout, args ...string) string {
	t.Helper()
	cmd := exec.CommandContext(ctx, filepath.Join(l.Dir, "bin", "dialtonectl"), args...)
	cmd.Env = append(os.Environ(), "DIALTONE_INSECURE=true", "DIALTONE_SERVER="+l.InventoryAddr(),
		"DIALTONE_RPS_SERVER="+l.RPSAddr(), "DIALTONE_TOKEN_FILE="+l.AdminTokenFile())
	b, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("dialtonectl %s: %v\n%s", strings.Join(args, " "), err, b)
	}
	return string(b)
}

// dialtoneMetrics is the non-zero dialtone_ samples a member's /metrics
// shows, for a failure's report.
func dialtoneMetrics(addr string) string {
	lines, err := metricLines(addr, "dialtone_")
	if err != nil {
		return err.Error()
	}
	return strings.Join(lines, "\n")
}

// metricLines is the non-zero samples whose line starts with prefix on the
// /metrics page at addr (histogram buckets left out).
func metricLines(addr, prefix string) ([]string, error) {
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Get("http://" + addr + "/metrics")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, prefix) && !strings.Contains(line, "_bucket{") && !strings.HasSuffix(line, " 0") {
			out = append(out, line)
		}
	}
	return out, nil
}
