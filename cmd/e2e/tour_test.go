package e2e

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/dialtone-voip/dialtone/platform/testenv"
	"github.com/dialtone-voip/dialtone/platform/testenv/lantest"
	"github.com/dialtone-voip/dialtone/platform/testenv/logtest"
)

// TestReadmeTour runs the README's quick start as written — the server block in
// one "terminal", the client block as a script in another — on a host of its own
// (a network namespace, so ports 5060 and 8080 are free). `go run ./cmd/X` is
// replaced by the programs TestMain built from the same sources.
func TestReadmeTour(t *testing.T) {
	testenv.RequireRoot(t)
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	server := codeBlockAfter(t, string(readme), "<!-- tour:server -->")
	client := codeBlockAfter(t, string(readme), "<!-- tour:client -->")
	goRun := strings.NewReplacer(
		"go run ./cmd/dialtonectl", bins.ctl,
		"go run ./cmd/dialtone", bins.dialtone,
		"go run ./cmd/phonesim", bins.phonesim,
	)
	server, client = goRun.Replace(server), goRun.Replace(client)
	if strings.Contains(server+client, "go run") {
		t.Fatalf("the tour runs a program this test does not know:\n%s\n%s", server, client)
	}

	host := lantest.New(t, "office").Host("office")
	dir := t.TempDir()

	srv := host.Command("bash", "-c", "exec "+strings.TrimSpace(server))
	srv.Dir = dir
	var srvOut logtest.Buffer
	srv.Stdout, srv.Stderr = &srvOut, &srvOut
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- srv.Wait() }()
	var stopOnce sync.Once
	var exitErr error
	stop := func() {
		stopOnce.Do(func() {
			srv.Process.Signal(syscall.SIGTERM)
			select {
			case exitErr = <-exited:
			case <-time.After(30 * time.Second):
				srv.Process.Kill()
				exitErr = <-exited
			}
		})
	}
	defer func() {
		stop()
		if t.Failed() {
			t.Logf("server terminal:\n%s", srvOut.String())
		}
	}()
	deadline := time.Now().Add(60 * time.Second)
	for !strings.Contains(srvOut.String(), "Dialtone is running") {
		select {
		case err := <-exited:
			t.Fatalf("dialtone exited: %v\n%s", err, srvOut.String())
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("no banner after 60s:\n%s", srvOut.String())
		}
	}

	// The tour turns the link-layer check off (its phones run on this very
	// host); the banner must say so, and /readyz too.
	if !strings.Contains(srvOut.String(), "WARNING: pnp link-layer check off") {
		t.Errorf("the banner does not warn that --pnp-link-check=off:\n%s", srvOut.String())
	}
	if body, err := host.Command(testenv.LookBinary(t, "curl"), "-s", "http://127.0.0.1:9190/readyz").Output(); err != nil || !strings.Contains(string(body), "warning: pnp link-layer check off") {
		t.Errorf("/readyz with --pnp-link-check=off: %q, %v", body, err)
	}

	script := filepath.Join(dir, "tour.sh")
	if err := os.WriteFile(script, []byte("set -euo pipefail\n"+client), 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := host.Command("bash", script)
	cmd.Dir = dir
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("the tour failed: %v\n%s", err, out.String())
	}
	// The last command lists both phones. Their fetches reach inventory as
	// events, a moment after the files were served (a Poly phone is
	// "fetching" between its master file and phone{MAC}.cfg), so the list
	// is read again until both are provisioned.
	tail := out.String()
	if i := strings.LastIndex(tail, "STATE"); i >= 0 {
		tail = tail[i:]
	}
	// Every 100 ms: each check runs dialtonectl.
	_ = testenv.PollEvery(20*time.Second, 100*time.Millisecond, func() bool {
		if strings.Count(tail, "provisioned") >= 2 {
			return true
		}
		list := host.Command(bins.ctl, "phones", "list")
		list.Dir = dir
		b, err := list.CombinedOutput()
		if err != nil {
			t.Fatalf("phones list: %v\n%s", err, b)
		}
		tail = string(b)
		return false
	})
	if strings.Count(tail, "provisioned") < 2 {
		t.Errorf("want both phones listed as provisioned:\n%s\n%s", out.String(), tail)
	}
	// The Poly phone, never seen by SIP PnP, shows the firmware and the
	// time of its fetches.
	for _, l := range strings.Split(tail, "\n") {
		if f := strings.Fields(l); len(f) > 7 && f[2] == "poly" && (f[4] == "-" || f[7] == "-") {
			t.Errorf("the Poly row has no firmware or last seen: %q", l)
		}
	}

	// The server terminal, at the default level: no gRPC call of the normal
	// flows (a NotFound lookup is one), no warning on a clean exit, the
	// embedded NATS named as such.
	stop()
	if exitErr != nil {
		t.Errorf("dialtone exited with %v after SIGTERM", exitErr)
	}
	logs := srvOut.String()
	// One WARN is expected: the tour runs with --pnp-link-check=off (its
	// phones are simulated on this host), and that must be said at start.
	var kept []string
	for _, l := range strings.Split(logs, "\n") {
		if !strings.Contains(l, "pnp link-layer check is OFF") {
			kept = append(kept, l)
		}
	}
	if len(kept) == len(strings.Split(logs, "\n")) {
		t.Errorf("no WARN at start about --pnp-link-check=off:\n%s", logs)
	}
	logs = strings.Join(kept, "\n")
	for _, bad := range []string{"grpc.code=NotFound", "level=WARN", "nats://127.0.0.1:4222"} {
		if strings.Contains(logs, bad) {
			t.Errorf("the server terminal shows %s:\n%s", bad, logs)
		}
	}
	if n := strings.Count(logs, "\n"); n > 60 {
		t.Logf("the tour's server terminal has %d lines", n)
	}
}

// codeBlockAfter returns the first ```sh block after marker.
func codeBlockAfter(t *testing.T, doc, marker string) string {
	t.Helper()
	i := strings.Index(doc, marker)
	if i < 0 {
		t.Fatalf("README has no %s", marker)
	}
	rest := doc[i:]
	start := strings.Index(rest, "```sh\n")
	if start < 0 {
		t.Fatalf("no code block after %s", marker)
	}
	rest = rest[start+len("```sh\n"):]
	end := strings.Index(rest, "```")
	if end < 0 {
		t.Fatalf("unterminated code block after %s", marker)
	}
	return rest[:end]
}
