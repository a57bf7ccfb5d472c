package lantest

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// sipPort is a test port, not 5060, so nothing else on the machine could
// answer even if isolation failed.
const sipPort = 15060

var pnpGroup = net.IPv4(224, 0, 1, 75)

func TestMulticastBetweenNamespaces(t *testing.T) {
	lan := New(t, "pbx", "phone1", "phone2")
	pbx, phone := lan.Host("pbx"), lan.Host("phone1")
	if pbx.Addr().String() != "198.18.0.1" || phone.Addr().String() != "198.18.0.2" || pbx.Iface() != "eth0" {
		t.Fatalf("addresses %v %v, iface %s", pbx.Addr(), phone.Addr(), pbx.Iface())
	}

	// The listener socket is created inside pbx's namespace and used
	// outside Run afterwards.
	var listener *net.UDPConn
	err := pbx.Run(func() error {
		ifi, err := net.InterfaceByName(pbx.Iface())
		if err != nil {
			return err
		}
		listener, err = net.ListenMulticastUDP("udp4", ifi, &net.UDPAddr{IP: pnpGroup, Port: sipPort})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	defer listener.Close()

	payload := []byte("SUBSCRIBE sip:MAC001565aabbcc@224.0.1.75 SIP/2.0\r\nEvent: ua-profile\r\n\r\n")
	err = phone.Run(func() error {
		c, err := net.DialUDP("udp4", nil, &net.UDPAddr{IP: pnpGroup, Port: sipPort})
		if err != nil {
			return err
		}
		defer c.Close()
		_, err = c.Write(payload)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}

	listener.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 1500)
	n, from, err := listener.ReadFromUDP(buf)
	if err != nil {
		t.Fatalf("no multicast datagram arrived: %v", err)
	}
	if !bytes.Equal(buf[:n], payload) {
		t.Errorf("payload = %q", buf[:n])
	}
	if got := from.AddrPort().Addr().Unmap(); got != phone.Addr() {
		t.Errorf("datagram from %v, want %v", got, phone.Addr())
	}
}

func TestUnicastAndCommand(t *testing.T) {
	lan := New(t, "a", "b")
	a, b := lan.Host("a"), lan.Host("b")
	var conn *net.UDPConn
	if err := b.Run(func() error {
		var err error
		conn, err = net.ListenUDP("udp4", &net.UDPAddr{IP: b.Addr().AsSlice(), Port: sipPort})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := a.Run(func() error {
		c, err := net.Dial("udp4", netip.AddrPortFrom(b.Addr(), sipPort).String())
		if err != nil {
			return err
		}
		defer c.Close()
		_, err = c.Write([]byte("hello"))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 64)
	if n, _, err := conn.ReadFromUDP(buf); err != nil || string(buf[:n]) != "hello" {
		t.Fatalf("unicast: %q, %v", buf[:n], err)
	}

	out, err := a.Command("ip", "-4", "addr", "show", "dev", "eth0").CombinedOutput()
	if err != nil || !strings.Contains(string(out), a.Addr().String()+"/24") {
		t.Errorf("ip addr in a: %v\n%s", err, out)
	}
	out, err = a.Command("ip", "route", "show", "224.0.0.0/4").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "dev eth0") {
		t.Errorf("multicast route in a: %v\n%s", err, out)
	}
}

func TestRunRestoresNamespace(t *testing.T) {
	lan := New(t, "h")
	h := lan.Host("h")
	inside := func() bool {
		addrs, _ := net.InterfaceAddrs()
		for _, a := range addrs {
			if strings.HasPrefix(a.String(), h.Addr().String()+"/") {
				return true
			}
		}
		return false
	}
	if inside() {
		t.Fatal("the test's own namespace has the LAN address")
	}
	var in bool
	if err := h.Run(func() error { in = inside(); return nil }); err != nil {
		t.Fatal(err)
	}
	if !in {
		t.Error("Run did not enter the host's namespace")
	}
	// Errors and panics come back; the thread is switched back either way.
	boom := errors.New("boom")
	if err := h.Run(func() error { return boom }); !errors.Is(err, boom) {
		t.Errorf("Run error = %v", err)
	}
	if err := h.Run(func() error { panic("oops") }); err == nil || !strings.Contains(err.Error(), "oops") {
		t.Errorf("Run panic = %v", err)
	}
	for range 20 { // every thread of the process is back in its namespace
		if inside() {
			t.Fatal("a thread was left in the host's namespace")
		}
	}
}

func netnsList(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("ip", "netns", "list").CombinedOutput()
	if err != nil {
		t.Fatalf("ip netns list: %v\n%s", err, out)
	}
	return string(out)
}

func TestCleanupRemovesNamespaces(t *testing.T) {
	var names []string
	t.Run("lan", func(t *testing.T) {
		names = New(t, "x", "y").Namespaces()
		list := netnsList(t)
		for _, n := range names {
			if !strings.Contains(list, n) {
				t.Fatalf("namespace %s missing while the LAN exists", n)
			}
		}
	})
	list := netnsList(t)
	for _, n := range names {
		if strings.Contains(list, n) {
			t.Errorf("namespace %s survived the subtest", n)
		}
	}
}

const childEnv = "LANTEST_CHILD"

// TestCleanupWhenTestFails runs TestChildFailing in a child test binary:
// the child builds a LAN, prints its namespaces and then fails (t.Fatal)
// or panics. The namespaces must be gone when the child exits.
func TestCleanupWhenTestFails(t *testing.T) {
	New(t, "probe") // root and ip available, or skip/fail like the others
	for _, mode := range []string{"fatal", "panic"} {
		t.Run(mode, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^TestChildFailing$", "-test.v", "-test.count=1")
			cmd.Env = append(os.Environ(), childEnv+"="+mode)
			out, err := cmd.CombinedOutput()
			var ee *exec.ExitError
			if !errors.As(err, &ee) {
				t.Fatalf("child did not fail: %v\n%s", err, out)
			}
			var names []string
			for line := range strings.Lines(string(out)) {
				if rest, ok := strings.CutPrefix(strings.TrimSpace(line), "LAN-NAMESPACES:"); ok {
					names = strings.Fields(rest)
				}
			}
			if len(names) != 3 {
				t.Fatalf("child printed no namespaces:\n%s", out)
			}
			list := netnsList(t)
			for _, n := range names {
				if strings.Contains(list, n) {
					t.Errorf("namespace %s survived the failed test", n)
					exec.Command("ip", "netns", "del", n).Run()
				}
			}
		})
	}
}

// TestChildFailing is the child of TestCleanupWhenTestFails. Without
// LANTEST_CHILD it does nothing (it is not a test of its own, and a skip
// would look like a missing dependency in CI).
func TestChildFailing(t *testing.T) {
	mode := os.Getenv(childEnv)
	if mode == "" {
		return
	}
	lan := New(t, "pbx", "phone")
	fmt.Printf("LAN-NAMESPACES: %s\n", strings.Join(lan.Namespaces(), " "))
	if mode == "panic" {
		panic("deliberate panic")
	}
	t.Fatal("deliberate failure")
}

func TestInvalidNames(t *testing.T) {
	for _, names := range [][]string{{"Bad"}, {"a", "a"}, {"sw"}, {strings.Repeat("x", 21)}} {
		r := &fatalRecorder{TB: t}
		func() {
			defer func() { recover() }()
			New(r, names...)
		}()
		if !r.failed {
			t.Errorf("New(%q) accepted", names)
		}
	}
}

type fatalRecorder struct {
	testing.TB
	failed bool
}

func (r *fatalRecorder) Fatalf(string, ...any) { r.failed = true; panic("stop") }
