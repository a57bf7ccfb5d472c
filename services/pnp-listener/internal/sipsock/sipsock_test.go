package sipsock

import (
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"
)

type drops struct {
	mu sync.Mutex
	m  map[string]int
}

func (d *drops) add(r string) { d.mu.Lock(); d.m[r]++; d.mu.Unlock() }
func (d *drops) get(r string) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.m[r]
}

const sipLine = "OPTIONS sip:x@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1\r\n\r\n"

func TestLoopbackFilters(t *testing.T) {
	d := &drops{m: map[string]int{}}
	l, err := Listen(Options{Addr: "127.0.0.1:0", Interfaces: []string{"lo"}, MaxDatagram: 200,
		Limits: Limits{PerSourceRate: 1, PerSourceBurst: 3}, OnDrop: d.add})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if l.Reply != l.Main {
		t.Fatal("alone mode has one socket")
	}
	if got := l.Interfaces(); len(got) != 1 || got[0] != "lo" {
		t.Fatalf("interfaces %v", got)
	}
	port := l.Main.LocalPort()
	cli, err := net.DialUDP("udp4", nil, &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	send := func(s string) {
		if _, err := cli.Write([]byte(s)); err != nil {
			t.Fatal(err)
		}
	}
	send(strings.Repeat("x", 300))            // oversize
	send("\x00\x01garbage with no line end")  // not SIP
	send("GET / HTTP/1.1\r\nHost: x\r\n\r\n") // not SIP
	send(sipLine)                             // ok (burst 1/3)
	send(sipLine)                             // ok (2/3)
	send(sipLine)                             // ok (3/3)
	send(sipLine)                             // rate_source

	buf := make([]byte, 65535)
	got := 0
	_ = l.Main.SetReadDeadline(time.Now().Add(2 * time.Second))
	for got < 3 {
		n, from, err := l.Main.ReadFrom(buf)
		if err != nil {
			t.Fatalf("after %d: %v", got, err)
		}
		if string(buf[:n]) != sipLine {
			t.Fatalf("passed %q", buf[:n])
		}
		src := from.(*net.UDPAddr).AddrPort()
		arr, ok := l.Arrival(src)
		if !ok || arr.IfName != "lo" || arr.Local != netip.MustParseAddr("127.0.0.1") || arr.Multicast {
			t.Fatalf("arrival %+v %v", arr, ok)
		}
		got++
	}
	// The fourth SIP datagram is rate-limited: reading more must time out.
	_ = l.Main.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	if _, _, err := l.Main.ReadFrom(buf); err == nil {
		t.Fatal("rate-limited datagram passed")
	}
	for r, want := range map[string]int{DropOversize: 1, DropNotSIP: 2, DropRateSource: 1} {
		if d.get(r) != want {
			t.Errorf("drops[%s] = %d, want %d (all: %v)", r, d.get(r), want, d.m)
		}
	}

	// Replies leave from the arrival address.
	if _, err := l.Main.WriteTo([]byte("SIP/2.0 200 OK\r\n\r\n"), cli.LocalAddr()); err != nil {
		t.Fatal(err)
	}
	_ = cli.SetReadDeadline(time.Now().Add(time.Second))
	n, err := cli.Read(buf)
	if err != nil || string(buf[:n]) != "SIP/2.0 200 OK\r\n\r\n" {
		t.Fatalf("reply: %q %v", buf[:n], err)
	}
	if arr, ok := l.Route(netip.MustParseAddr("127.0.0.9")); !ok || arr.Local != netip.MustParseAddr("127.0.0.1") {
		t.Errorf("Route: %+v %v", arr, ok)
	}
	if _, ok := l.Route(netip.MustParseAddr("198.51.100.1")); ok {
		t.Error("Route found a foreign address")
	}
}

func TestListenErrors(t *testing.T) {
	if _, err := Listen(Options{Addr: "127.0.0.1:0", Interfaces: []string{"no-such-if0"}}); err == nil {
		t.Error("unknown interface accepted")
	}
	if _, err := Listen(Options{Addr: "127.0.0.1:0", Interfaces: []string{"lo"}, Mode: "sideways"}); err == nil {
		t.Error("unknown mode accepted")
	}
	if _, err := Listen(Options{Addr: "[::1]:0", Interfaces: []string{"lo"}}); err == nil {
		t.Error("IPv6 address accepted")
	}
}

func TestLimiter(t *testing.T) {
	l := newLimiter(Limits{GlobalRate: 10, GlobalBurst: 5, PerSourceRate: 1, PerSourceBurst: 2, MaxSources: 4})
	now := time.Unix(1000, 0)
	a, b := netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2")
	seq := []struct {
		src  netip.Addr
		want string
	}{{a, ""}, {a, ""}, {a, DropRateSource}, {b, ""}, {b, ""}, {b, DropRateGlobal}}
	for i, s := range seq {
		if got := l.allow(s.src, now); got != s.want {
			t.Errorf("step %d: %q, want %q", i, got, s.want)
		}
	}
	now = now.Add(time.Second)
	if got := l.allow(a, now); got != "" {
		t.Errorf("after refill: %q", got)
	}
	// Many sources: the table stays bounded.
	for i := range 1000 {
		l.allow(netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)}), now.Add(time.Duration(i)*time.Second))
	}
	if len(l.cur) > 2 || len(l.prev) > 2 {
		t.Errorf("table grew: %d + %d", len(l.cur), len(l.prev))
	}
}

func TestLooksLikeSIP(t *testing.T) {
	for s, want := range map[string]bool{
		"SUBSCRIBE sip:MAC%3a000413000001@fake SIP/2.0\r\nVia: x\r\n": true,
		"SIP/2.0 200 OK\r\n":             true,
		"\r\n\r\n":                       true,
		"\r\n":                           true,
		"":                               true,
		"abcd":                           false,
		"SUBSCRIBE sip:x SIP/2.0":        false,
		"GET / HTTP/1.1\r\n":             false,
		"SIP/2.0\r\n":                    false,
		" SIP/2.0\r\n":                   false,
		strings.Repeat("A", 2000) + "\n": false,
	} {
		if got := looksLikeSIP([]byte(s)); got != want {
			t.Errorf("looksLikeSIP(%.40q) = %v, want %v", s, got, want)
		}
	}
}
