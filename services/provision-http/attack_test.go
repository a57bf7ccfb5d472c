package provisionhttp_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/dialtone-voip/dialtone/platform/adminhttp"
	"github.com/dialtone-voip/dialtone/platform/connlimit"
	"github.com/dialtone-voip/dialtone/platform/logging"
	"github.com/dialtone-voip/dialtone/platform/testenv/lantest"
	provisionhttp "github.com/dialtone-voip/dialtone/services/provision-http"
)

// raiseTestFileLimit raises this process's soft RLIMIT_NOFILE to its hard
// limit (a container may forbid raising the hard limit itself) and fails
// the test when that leaves fewer than need descriptors.
func raiseTestFileLimit(t *testing.T, need uint64) {
	t.Helper()
	var old syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &old); err != nil {
		t.Fatal(err)
	}
	n, err := connlimit.RaiseFileLimit()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("RLIMIT_NOFILE: soft %d, hard %d; now %d", old.Cur, old.Max, n)
	if n < need {
		t.Fatalf("RLIMIT_NOFILE %d, need %d", n, need)
	}
	t.Cleanup(func() { _ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &old) })
}

// rawGet sends one HTTP/1.1 request on c and reads the response.
func rawGet(c net.Conn, path, ua string, keepAlive bool) (int, string, error) {
	conn := "keep-alive"
	if !keepAlive {
		conn = "close"
	}
	if err := c.SetDeadline(time.Now().Add(30 * time.Second)); err != nil {
		return 0, "", err
	}
	if _, err := fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: edge\r\nUser-Agent: %s\r\nConnection: %s\r\n\r\n", path, ua, conn); err != nil {
		return 0, "", err
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// TestIdleConnectionFlood is the idle-connection attack of issue 15, in a
// network namespace: 21,000 keep-alive connections from 7 source
// addresses, each sending one request and then idling (with the 2-minute
// idle timeout of before, so that only the connection limits protect).
// While they are held, a real phone from an eighth address is served and
// the admin API answers; the edge holds at most --max-conns-per-source
// connections per attacker and counts every refused one.
func TestIdleConnectionFlood(t *testing.T) {
	const (
		sources   = 7
		conns     = 21000
		perSource = 256
	)
	// The edge's side: at most perSource × sources attack connections.
	raiseTestFileLimit(t, sources*perSource+1024)
	lan := lantest.New(t, "edge")
	h := lan.Host("edge")
	ip := func(args ...string) {
		t.Helper()
		if out, err := exec.Command("ip", append([]string{"-n", h.Netns()}, args...)...).CombinedOutput(); err != nil {
			t.Fatalf("ip %v: %v: %s", args, err, out)
		}
	}
	// Attackers 198.18.1.1–7, the phone 198.18.1.8, all on the namespace's lo.
	for i := 1; i <= sources+1; i++ {
		ip("addr", "add", fmt.Sprintf("198.18.1.%d/32", i), "dev", "lo")
	}

	u := newUpstream(t)
	phone := u.addPhone(t, "yealink", false, false)
	cfg := testConfig()
	cfg.HTTPAddr = h.Addr().String() + ":0"
	cfg.MaxConnsPerSource = perSource
	cfg.IdleTimeout = 2 * time.Minute
	cfg.TemplatePoll = 0
	reg := prometheus.NewRegistry()
	svc, err := provisionhttp.New(cfg, provisionhttp.Deps{Logger: logging.Discard(), Registerer: reg, Inventory: u.inventor, Renderer: u.renderer})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	runDone := make(chan error, 1)
	// Run listens on its own goroutine, here the namespace's thread.
	go func() { runDone <- h.Run(func() error { return svc.Run(ctx) }) }()
	defer func() {
		cancel()
		if err := <-runDone; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	var adminLn net.Listener
	if err := h.Run(func() (err error) { adminLn, err = net.Listen("tcp", h.Addr().String()+":0"); return err }); err != nil {
		t.Fatal(err)
	}
	admin := adminhttp.New(adminhttp.Options{Logger: logging.Discard(), Gatherer: reg, Ready: svc.Ready})
	adminDone := make(chan error, 1)
	go func() { adminDone <- admin.Serve(ctx, adminLn) }()
	defer func() { cancel(); <-adminDone }()
	for svc.Ready() != nil {
		select {
		case <-ctx.Done():
			t.Fatal("edge not ready")
		case <-time.After(10 * time.Millisecond):
		}
	}
	edgeAddr := svc.HTTPAddr().String()

	dialFrom := func(src string) (net.Conn, error) {
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 10 * time.Second}
		return d.DialContext(ctx, "tcp", edgeAddr)
	}

	// The attack: one process per source address (each holds its 3,000
	// connections in its own descriptor table), started in the namespace.
	start := time.Now()
	var served, reset int64
	var attackers []*attacker
	for i := range sources {
		a := startAttacker(t, h, fmt.Sprintf("198.18.1.%d", i+1), edgeAddr, conns/sources)
		attackers = append(attackers, a)
	}
	for _, a := range attackers {
		s, r := a.wait(t)
		served, reset = served+s, reset+r
	}
	t.Logf("%d attack connections from %d sources in %v: %d answered and held, %d reset",
		conns, sources, time.Since(start).Round(time.Millisecond), served, reset)
	if served+reset != conns {
		t.Errorf("attackers report %d connections, want %d", served+reset, conns)
	}
	if served > sources*perSource {
		t.Errorf("%d attack connections served, limit %d", served, sources*perSource)
	}

	open := familyValue(t, reg, "dialtone_provision_http_connections_open", "", "")
	if open > sources*perSource {
		t.Errorf("edge holds %v connections, limit %d per source × %d sources", open, perSource, sources)
	}
	// Every refusal is counted; the attackers' count of resets can be larger
	// (on a loaded machine the kernel also resets or times out connections
	// it never handed to Accept), so the counter is bounded by it, not equal.
	refused := refusedConns(t, reg, "per_source")
	t.Logf("refused{per_source} = %v", refused)
	if refused == 0 || refused > float64(reset) {
		t.Errorf("refused{per_source} = %v, want between 1 and the %d resets the attackers saw", refused, reset)
	}

	// A real phone from another address is served while the attack holds on.
	var pc, ac net.Conn
	if err := h.Run(func() (err error) {
		if pc, err = dialFrom("198.18.1.8"); err != nil {
			return err
		}
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("198.18.1.8")}}
		ac, err = d.DialContext(ctx, "tcp", adminLn.Addr().String())
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	defer ac.Close()
	code, body, err := rawGet(pc, "/p/"+phone.token+"/"+phone.macFile, phone.ua, false)
	if err != nil || code != http.StatusOK || len(body) == 0 {
		t.Errorf("real phone during the attack: %d, %d bytes, %v", code, len(body), err)
	}
	code, _, err = rawGet(ac, "/healthz", "dialtonectl", false)
	if err != nil || code != http.StatusOK {
		t.Errorf("admin /healthz during the attack: %d, %v", code, err)
	}
}

func refusedConns(t *testing.T, reg *prometheus.Registry, reason string) float64 {
	return familyValue(t, reg, "dialtone_provision_http_connections_refused_total", "reason", reason)
}

// familyValue returns the value of the metric name (with label=value when
// label is set) in reg.
func familyValue(t *testing.T, reg *prometheus.Registry, name, label, value string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metrics:
		for _, m := range mf.GetMetric() {
			if label != "" {
				for _, l := range m.GetLabel() {
					if l.GetName() == label && l.GetValue() != value {
						continue metrics
					}
				}
			}
			if m.GetGauge() != nil {
				return m.GetGauge().GetValue()
			}
			return m.GetCounter().GetValue()
		}
	}
	t.Fatalf("no metric %s{%s=%q}", name, label, value)
	return 0
}

// attacker is a child process holding idle connections from one source.
type attacker struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	report chan [2]int64
}

const attackerEnv = "DIALTONE_TEST_ATTACKER" // "src dst count"

// startAttacker runs TestIdleConnectionAttacker in a child process inside
// h's namespace. It holds its connections until stdin closes (t.Cleanup)
// or two minutes pass, whichever is first.
func startAttacker(t *testing.T, h *lantest.Host, src, dst string, n int) *attacker {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := h.Command(exe, "-test.run=^TestIdleConnectionAttacker$", "-test.count=1")
	cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%s %s %d", attackerEnv, src, dst, n))
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	a := &attacker{cmd: cmd, stdin: stdin, report: make(chan [2]int64, 1)}
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			var r [2]int64
			if _, err := fmt.Sscanf(sc.Text(), "attacker: served %d reset %d", &r[0], &r[1]); err == nil {
				a.report <- r
			} else {
				t.Logf("attacker %s: %s", src, sc.Text())
			}
		}
		close(a.report)
	}()
	t.Cleanup(func() {
		stdin.Close()
		if err := cmd.Wait(); err != nil {
			t.Errorf("attacker %s: %v", src, err)
		}
	})
	return a
}

// wait returns the attacker's counts once all its connections are open and
// have sent their request.
func (a *attacker) wait(t *testing.T) (served, reset int64) {
	t.Helper()
	select {
	case r, ok := <-a.report:
		if !ok {
			t.Fatal("attacker exited without a report")
		}
		return r[0], r[1]
	case <-time.After(2 * time.Minute):
		t.Fatal("attacker did not report within 2 minutes")
	}
	return 0, 0
}

// TestIdleConnectionAttacker is the child process of TestIdleConnectionFlood;
// run directly, it does nothing.
func TestIdleConnectionAttacker(t *testing.T) {
	spec := os.Getenv(attackerEnv)
	if spec == "" {
		return
	}
	var src, dst string
	var n int
	if _, err := fmt.Sscanf(spec, "%s %s %d", &src, &dst, &n); err != nil {
		t.Fatalf("%s=%q: %v", attackerEnv, spec, err)
	}
	raiseTestFileLimit(t, uint64(n)+256)
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 10 * time.Second}
	conns := make([]net.Conn, 0, n)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	var served, reset atomic.Int64
	for i := range n {
		c, err := d.DialContext(ctx, "tcp", dst)
		if errors.Is(err, syscall.ECONNRESET) {
			// Over loopback the reset on accept can beat connect's return.
			reset.Add(1)
			continue
		}
		if err != nil {
			t.Fatalf("connection %d: %v", i, err)
		}
		conns = append(conns, c)
	}
	// One request on each, then idle: the held ones answer, the refused
	// ones were reset on accept.
	work := make(chan net.Conn)
	var wg sync.WaitGroup
	for range 32 {
		wg.Go(func() {
			for c := range work {
				_, _, err := rawGet(c, "/", "attacker", true)
				switch {
				case err == nil:
					served.Add(1)
				case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
					reset.Add(1)
				default:
					t.Errorf("attack request: %v", err)
				}
			}
		})
	}
	for _, c := range conns {
		work <- c
	}
	close(work)
	wg.Wait()
	fmt.Printf("attacker: served %d reset %d\n", served.Load(), reset.Load())
	// Hold the connections until the parent closes stdin.
	done := make(chan struct{})
	go func() { _, _ = io.Copy(io.Discard, os.Stdin); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
	}
}
