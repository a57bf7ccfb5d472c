package edge_test

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
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/dialtone-voip/dialtone/cmd/internal/upstreamtest"
	"github.com/dialtone-voip/dialtone/platform/adminhttp"
	"github.com/dialtone-voip/dialtone/platform/connlimit"
	"github.com/dialtone-voip/dialtone/platform/logging"
	"github.com/dialtone-voip/dialtone/platform/testenv"
	"github.com/dialtone-voip/dialtone/platform/testenv/lantest"
	"github.com/dialtone-voip/dialtone/platform/testenv/metrictest"
	inventoryv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/inventory/v1"
	pnplistener "github.com/dialtone-voip/dialtone/services/pnp-listener"
	provisionhttp "github.com/dialtone-voip/dialtone/services/provision-http"
	"github.com/dialtone-voip/dialtone/services/provision-http/edgetest"
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

// TestIdleConnectionFlood is the idle-connection attack of issue 15, in a
// network namespace: 21,000 keep-alive connections from 7 source
// addresses, each sending one request and then idling (with the 2-minute
// idle timeout of before, so that only the connection limits protect).
// While they are held, a real phone from an eighth address is served, the
// admin API answers, and a phone that boots over SIP PnP from its own
// host (namespace and MAC) gets its 200 OK and NOTIFY and is recorded as
// discovered: the edge, inventory, JetStream and the pnp-listener share
// this process's descriptors, as in the one-process dialtone, where the
// file limit once stopped discovery (JetStream "too many open files").
// The edge holds at most --max-conns-per-source connections per attacker
// and counts every refused one.
func TestIdleConnectionFlood(t *testing.T) {
	const (
		sources   = 7
		conns     = 21000
		perSource = 256
	)
	// The edge's side: at most perSource × sources attack connections.
	raiseTestFileLimit(t, sources*perSource+1024)
	lan := lantest.New(t, "edge", "phone")
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
	cfg := edgetest.Config()
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
	// The PnP listener, in the edge's namespace and process, link check on.
	startListener(t, ctx, u, h)

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

	open := metrictest.Value(t, reg, "dialtone_provision_http_connections_open")
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
	code, body, err := edgetest.RawGet(pc, "/p/"+phone.token+"/"+phone.macFile, phone.ua, false)
	if err != nil || code != http.StatusOK || len(body) == 0 {
		t.Errorf("real phone during the attack: %d, %d bytes, %v", code, len(body), err)
	}
	code, _, err = edgetest.RawGet(ac, "/healthz", "dialtonectl", false)
	if err != nil || code != http.StatusOK {
		t.Errorf("admin /healthz during the attack: %d, %v", code, err)
	}

	// A phone boots over SIP PnP while the attack holds on: it gets its
	// 200 OK and a NOTIFY with its (bootstrap) URL, and inventory records it.
	const bootMAC = "001565a77ac4"
	url := bootPnP(t, lan.Host("phone"), h.Addr().String(), bootMAC)
	if !strings.Contains(url, "/p/") {
		t.Errorf("NOTIFY during the attack carried %q, want a provisioning URL", url)
	}
	var res *inventoryv1.GetPhoneResponse
	if testenv.Poll(30*time.Second, func() bool {
		res, err = u.Admin.GetPhone(ctx, &inventoryv1.GetPhoneRequest{Name: "phones/" + bootMAC})
		p := res.GetPhone()
		return err == nil && p.GetState() == inventoryv1.PhoneState_PHONE_STATE_DISCOVERED && p.GetListener() == listenerID
	}) != nil {
		t.Fatalf("the phone that booted during the attack was never recorded as discovered: state %v, listener %q, %v", res.GetPhone().GetState(), res.GetPhone().GetListener(), err)
	}
	if p := res.GetPhone(); !p.GetLastLinkProof().GetVerified() {
		t.Errorf("recorded without a verified link proof: %v", p.GetLastLinkProof())
	}
	t.Logf("booted during the attack: a NOTIFY with its URL, recorded %v by %s", res.GetPhone().GetState(), res.GetPhone().GetListener())
	// Still under attack: nothing was refused for want of descriptors.
	if open := metrictest.Value(t, reg, "dialtone_provision_http_connections_open"); open > sources*perSource+2 {
		t.Errorf("edge holds %v connections after the boot, limit %d", open, sources*perSource)
	}
}

// listenerID is the PnP listener's (site's) id in TestIdleConnectionFlood.
const listenerID = "attack-site"

// startListener runs a pnp-listener (link check on) in h's namespace
// against u's inventory and JetStream until the test ends.
func startListener(t *testing.T, ctx context.Context, u *upstream, h *lantest.Host) {
	t.Helper()
	conn, err := edgetest.Dial(u.Addr, upstreamtest.ListenerToken)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	cfg := pnplistener.DefaultConfig()
	cfg.SIPAddr, cfg.Listener, cfg.AdminAddr = ":5060", listenerID, ""
	cfg.InventoryTimeout, cfg.NotifyTimeout = 5*time.Second, 10*time.Second
	svc, err := pnplistener.New(cfg, pnplistener.Deps{
		Logger: logging.Discard(), Registerer: prometheus.NewRegistry(), JetStream: u.ns.JetStream(),
		Inventory: inventoryv1.NewInventoryServiceClient(conn), InNetns: h.Run,
	})
	if err != nil {
		t.Fatal(err)
	}
	lctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- svc.Run(lctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("pnp-listener: %v", err)
		}
	})
	if testenv.Poll(30*time.Second, func() bool { return svc.Ready() == nil }) != nil {
		t.Fatalf("pnp-listener not ready: %v", svc.Ready())
	}
}

// bootPnP boots a Yealink phone with MAC mac on host ph: ph's interface
// takes the MAC (so the listener's link-layer check sees the phone's own
// host), sends the PnP SUBSCRIBE to the listener at pbx:5060, expects its
// 200 OK, answers the NOTIFY and returns the URL it carries.
func bootPnP(t *testing.T, ph *lantest.Host, pbx, mac string) string {
	t.Helper()
	if err := ph.SetMAC(mac); err != nil {
		t.Fatal(err)
	}
	ip := ph.Addr().String()
	var c *net.UDPConn
	if err := ph.Run(func() (err error) {
		c, err = net.ListenUDP("udp4", &net.UDPAddr{IP: net.ParseIP(ip), Port: 5059})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	const callID = "attack-boot-1"
	sub := strings.Join([]string{
		"SUBSCRIBE sip:MAC" + mac + "@224.0.1.75 SIP/2.0",
		"Via: SIP/2.0/UDP " + ip + ":5059;branch=z9hG4bK" + callID,
		"From: <sip:MAC" + mac + "@224.0.1.75>;tag=" + callID,
		"To: <sip:MAC" + mac + "@224.0.1.75>",
		"Call-ID: " + callID + "@" + ip,
		"CSeq: 1 SUBSCRIBE",
		"Contact: <sip:MAC" + mac + "@" + ip + ":5059>",
		"Accept: application/url",
		"Max-Forwards: 70",
		"User-Agent: Yealink SIP-T54W 96.86.0.100",
		"Expires: 0",
		`Event: ua-profile;profile-type="device";vendor="yealink";model="SIP-T54W";version="96.86.0.100"`,
		"Content-Length: 0", "", ""}, "\r\n")
	if _, err := c.WriteToUDP([]byte(sub), &net.UDPAddr{IP: net.ParseIP(pbx), Port: 5060}); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 65536)
	var gotOK bool
	deadline := time.Now().Add(20 * time.Second)
	for {
		if err := c.SetReadDeadline(deadline); err != nil {
			t.Fatal(err)
		}
		n, from, err := c.ReadFromUDP(buf)
		if err != nil {
			t.Fatalf("PnP boot during the attack (200 OK seen: %v): %v", gotOK, err)
		}
		msg := string(buf[:n])
		switch {
		case strings.HasPrefix(msg, "\r\n"): // keep-alive (the listener resolving our link address)
		case strings.HasPrefix(msg, "SIP/2.0 200"):
			gotOK = true
		case strings.HasPrefix(msg, "NOTIFY "):
			if !gotOK {
				t.Error("NOTIFY before the SUBSCRIBE's 200 OK")
			}
			head, body, _ := strings.Cut(msg, "\r\n\r\n")
			var resp []string
			resp = append(resp, "SIP/2.0 200 OK")
			for _, l := range strings.Split(head, "\r\n")[1:] {
				name, _, _ := strings.Cut(l, ":")
				switch strings.ToLower(strings.TrimSpace(name)) {
				case "via", "v", "from", "f", "to", "t", "call-id", "i", "cseq":
					resp = append(resp, l)
				}
			}
			resp = append(resp, "Content-Length: 0", "", "")
			if _, err := c.WriteToUDP([]byte(strings.Join(resp, "\r\n")), from); err != nil {
				t.Fatal(err)
			}
			return strings.TrimSpace(body)
		default:
			t.Fatalf("unexpected message from %v: %.200q", from, msg)
		}
	}
}

func refusedConns(t *testing.T, reg *prometheus.Registry, reason string) float64 {
	return metrictest.Value(t, reg, "dialtone_provision_http_connections_refused_total", "reason", reason)
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
				_, _, err := edgetest.RawGet(c, "/", "attacker", true)
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
