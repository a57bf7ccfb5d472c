package e2e

import (
	"bytes"
	"context"
	"encoding/json"
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
		if c != nil {
			if err := c.Stop(); err != nil {
				t.Errorf("stopping the cluster: %v", err)
			}
		}
		for _, ns := range []string{cluster.PBXNetns, cluster.PhoneNetns} {
			if exec.Command("ip", "netns", "pids", ns).Run() == nil {
				t.Errorf("namespace %s still there after the cluster stopped", ns)
			}
		}
		if t.Failed() {
			for _, name := range []string{"inventory-1", "inventory-2", "provision-http-1", "provision-http-2", "pnp-listener", "rps-client-1", "rps-client-2", "rps-fakes"} {
				b, _ := os.ReadFile(filepath.Join(l.Dir, "logs", name+".log"))
				t.Logf("--- %s:\n%s", name, tail(string(b), 1500))
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
	t.Logf("the tour ran in %v", time.Since(tourStart).Round(time.Millisecond))
	text := out.String()

	// phones show: the phone's fetches reach inventory as events a moment
	// after the files were served, so it is read again until provisioned.
	show := text
	if i := strings.LastIndex(show, "MAC:"); i >= 0 {
		show = show[i:]
	}
	provisioned := regexp.MustCompile(`(?m)^State:\s+provisioned$`)
	for !provisioned.MatchString(show) && ctx.Err() == nil {
		time.Sleep(200 * time.Millisecond)
		show = clusterCtl(ctx, t, l, "phones", "show", "805ec0000001")
	}
	if !provisioned.MatchString(show) {
		t.Errorf("phones show does not say provisioned:\n%s", text)
	}
	if !regexp.MustCompile(`(?m)^RPS:\s+registered$`).MatchString(show) {
		t.Errorf("phones show does not say RPS registered:\n%s", show)
	}
	// The last line: the RPS fake's counts.
	lines := strings.Split(strings.TrimSpace(text), "\n")
	var counts struct{ Entries, Registrations int }
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &counts); err != nil {
		t.Fatalf("the fake's counts: %v\n%s", err, text)
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
