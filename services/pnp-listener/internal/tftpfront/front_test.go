package tftpfront

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pin/tftp/v3"

	"github.com/dialtone-voip/dialtone/platform/testenv"
)

const (
	phoneMAC = "0011aabbccdd"
	otherMAC = "001122334455"
)

// edge is a stand-in for provision-http: the token path serves two files,
// and it records what it was asked.
type edge struct {
	srv   *httptest.Server
	mu    sync.Mutex
	asked []string
	uas   []string
	hdrs  []http.Header
	gate  chan struct{} // when set, requests wait for it
	body  map[string]string
}

func newEdge(t *testing.T) *edge {
	e := &edge{body: map[string]string{
		"/p/tok/SIPDefault.cnf":      "image_version: P0S3-08-12-00\n",
		"/p/tok/SIP0011AABBCCDD.cnf": "line1_name: 201\nline1_password: s3cret\n",
	}}
	e.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.mu.Lock()
		e.asked = append(e.asked, r.URL.Path)
		e.uas = append(e.uas, r.UserAgent())
		e.hdrs = append(e.hdrs, r.Header.Clone())
		g := e.gate
		e.mu.Unlock()
		if g != nil {
			<-g
		}
		b, ok := e.body[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		_, _ = w.Write([]byte(b))
	}))
	t.Cleanup(e.srv.Close)
	return e
}

func (e *edge) requests() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]string(nil), e.asked...)
}

// start serves a Front on loopback; identify stands in for the kernel's
// neighbour table (loopback has none).
func start(t *testing.T, e *edge, mod func(*Options)) (*Front, string) {
	t.Helper()
	o := Options{
		Identify: func(ctx context.Context, src netip.Addr) (string, error) {
			if src == netip.MustParseAddr("127.0.0.1") {
				return phoneMAC, nil
			}
			return "", ErrUnresolved
		},
		URL: func(ctx context.Context, mac string) (string, error) {
			if mac == phoneMAC {
				return e.srv.URL + "/p/tok/", nil
			}
			return "", ErrUnknownPhone
		},
		Timeout: 200 * time.Millisecond, Retries: 3,
	}
	if mod != nil {
		mod(&o)
	}
	f, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); _ = f.Serve(conn) }()
	t.Cleanup(func() { f.Shutdown(); <-done })
	return f, conn.LocalAddr().String()
}

func get(t *testing.T, addr, name string) (string, error) {
	t.Helper()
	c, err := tftp.NewClient(addr)
	if err != nil {
		t.Fatal(err)
	}
	c.SetTimeout(200 * time.Millisecond)
	c.SetRetries(3)
	wt, err := c.Receive(name, "octet")
	if err != nil {
		return "", err
	}
	var b bytes.Buffer
	if _, err := wt.WriteTo(&b); err != nil {
		return "", err
	}
	return b.String(), nil
}

func TestServesCommonAndOwnFile(t *testing.T) {
	e := newEdge(t)
	f, addr := start(t, e, nil)
	got, err := get(t, addr, "SIPDefault.cnf")
	if err != nil || got != e.body["/p/tok/SIPDefault.cnf"] {
		t.Fatalf("SIPDefault.cnf: %q, %v", got, err)
	}
	got, err = get(t, addr, "/SIP0011AABBCCDD.cnf")
	if err != nil || got != e.body["/p/tok/SIP0011AABBCCDD.cnf"] {
		t.Fatalf("SIP<MAC>.cnf: %q, %v", got, err)
	}
	// The server counts after the phone's last ACK, which the client
	// sends just before it returns.
	waitFor(t, "served = 2", func() bool { return f.Count(OutServed) == 2 })
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, ua := range e.uas {
		if ua != UserAgent(phoneMAC) || !strings.Contains(ua, "0011AABBCCDD") {
			t.Errorf("User-Agent %q", ua)
		}
	}
}

// The 79x1/797x/894x SIP firmware asks for CTLSEP<MAC>.tlv and ITLSEP<MAC>.tlv
// (Wazo wazo_cisco_sip common/common.py _FILENAME_REGEXES), then SEP<MAC>.cnf.xml,
// and XMLDefault.cnf.xml only without it. The front relays each to the edge
// under the phone's token; what the edge does not serve is a plain "file not
// found" (edge_not_found), never another file.
func TestServesSEPAndNotFoundTrustLists(t *testing.T) {
	e := newEdge(t)
	e.body["/p/tok/SEP0011AABBCCDD.cnf.xml"] = "<device><deviceProtocol>SIP</deviceProtocol></device>\n"
	f, addr := start(t, e, nil)
	missing := []string{"CTLSEP0011AABBCCDD.tlv", "ITLSEP0011AABBCCDD.tlv", "ITLFile.tlv", "XMLDefault.cnf.xml", "SEP0011AABBCCDD.cnf.xml.sgn"}
	for _, name := range missing {
		if got, err := get(t, addr, name); err == nil || !strings.Contains(err.Error(), "file not found") {
			t.Errorf("%s: %q, %v; want file not found", name, got, err)
		}
	}
	got, err := get(t, addr, "SEP0011AABBCCDD.cnf.xml")
	if err != nil || got != e.body["/p/tok/SEP0011AABBCCDD.cnf.xml"] {
		t.Fatalf("SEP<MAC>.cnf.xml: %q, %v", got, err)
	}
	waitFor(t, "served = 1", func() bool { return f.Count(OutServed) == 1 })
	if n := f.Count(OutEdgeNotFound); n != float64(len(missing)) {
		t.Errorf("edge_not_found = %v, want %d", n, len(missing))
	}
	want := []string{}
	for _, name := range append(missing, "SEP0011AABBCCDD.cnf.xml") {
		want = append(want, "/p/tok/"+name)
	}
	if r := e.requests(); strings.Join(r, " ") != strings.Join(want, " ") {
		t.Errorf("edge asked %v, want %v", r, want)
	}
}

// The hole this front must not reopen: a file naming a MAC is served only
// to the host whose link-layer address is that MAC.
// TestSendsLinkAssertion: with a relay token, every relayed fetch asserts
// the link proof of the MAC identified for the source, with the token as
// its credential; without one, it asserts nothing (the edge would ignore
// and count a header without the credential).
func TestSendsLinkAssertion(t *testing.T) {
	const relay = "relay-token-0123456789"
	e := newEdge(t)
	f, addr := start(t, e, func(o *Options) { o.RelayToken = relay })
	for _, name := range []string{"SIPDefault.cnf", "SIP0011AABBCCDD.cnf"} {
		if _, err := get(t, addr, name); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	waitFor(t, "served = 2", func() bool { return f.Count(OutServed) == 2 })
	e.mu.Lock()
	hdrs := e.hdrs
	e.hdrs = nil
	e.mu.Unlock()
	if len(hdrs) != 2 {
		t.Fatalf("%d relayed fetches, want 2", len(hdrs))
	}
	for _, h := range hdrs {
		if got := h.Values(LinkProofHeader); len(got) != 1 || got[0] != phoneMAC {
			t.Errorf("%s: %q, want %q", LinkProofHeader, got, phoneMAC)
		}
		if got := h.Get("Authorization"); got != "Bearer "+relay {
			t.Errorf("Authorization: %q", got)
		}
	}

	e2 := newEdge(t)
	f2, addr2 := start(t, e2, nil)
	if _, err := get(t, addr2, "SIPDefault.cnf"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "served = 1", func() bool { return f2.Count(OutServed) == 1 })
	e2.mu.Lock()
	defer e2.mu.Unlock()
	for _, h := range e2.hdrs {
		if h.Get(LinkProofHeader) != "" || h.Get("Authorization") != "" {
			t.Errorf("asserted without a relay token: %v", h)
		}
	}
}

func TestRefusesAnotherMAC(t *testing.T) {
	e := newEdge(t)
	f, addr := start(t, e, nil)
	for _, name := range []string{"SIP001122334455.cnf", "SEP001122334455.cnf.xml", "ld001122334455"} {
		if _, err := get(t, addr, name); err == nil || !strings.Contains(err.Error(), "file not found") {
			t.Errorf("%s: %v, want file not found", name, err)
		}
	}
	if n := f.Count(OutMACMismatch); n != 3 {
		t.Errorf("mac_mismatch = %v", n)
	}
	if r := e.requests(); len(r) != 0 {
		t.Errorf("edge asked %v", r)
	}
}

func TestRefusals(t *testing.T) {
	e := newEdge(t)
	unresolved := false
	var mu sync.Mutex
	f, addr := start(t, e, func(o *Options) {
		id := o.Identify
		o.Identify = func(ctx context.Context, src netip.Addr) (string, error) {
			mu.Lock()
			defer mu.Unlock()
			if unresolved {
				return "", ErrUnresolved
			}
			return id(ctx, src)
		}
		o.MaxFileSize = 20
	})
	for name, out := range map[string]string{
		"../SIPDefault.cnf":   OutBadName,
		"RINGLIST.DAT":        OutEdgeNotFound,
		"SIP0011AABBCCDD.cnf": OutTooLarge, // 39 bytes > 20
	} {
		if _, err := get(t, addr, name); err == nil || !strings.Contains(err.Error(), "file not found") {
			t.Errorf("%s: %v", name, err)
		}
		if f.Count(out) != 1 {
			t.Errorf("%s: %s = %v", name, out, f.Count(out))
		}
	}
	mu.Lock()
	unresolved = true
	mu.Unlock()
	if _, err := get(t, addr, "SIPDefault.cnf"); err == nil {
		t.Error("served to an unresolved source")
	}
	if f.Count(OutLinkUnresolved) != 1 {
		t.Errorf("link_unresolved = %v", f.Count(OutLinkUnresolved))
	}
}

func TestLimits(t *testing.T) {
	for _, c := range []struct {
		name      string
		perSource int
		total     int
		out       string
	}{
		{"per source", 1, 10, OutLimitSource},
		{"total", 10, 1, OutLimitTotal},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := newEdge(t)
			e.gate = make(chan struct{})
			f, addr := start(t, e, func(o *Options) { o.MaxPerSource, o.MaxTotal = c.perSource, c.total })
			first := make(chan error, 1)
			go func() { _, err := get(t, addr, "SIPDefault.cnf"); first <- err }()
			// Wait until the first transfer holds its slot (the edge was asked).
			waitFor(t, "first request at the edge", func() bool { return len(e.requests()) > 0 })
			if _, err := get(t, addr, "SIPDefault.cnf"); err == nil {
				t.Error("second concurrent transfer served")
			}
			if f.Count(c.out) != 1 {
				t.Errorf("%s = %v", c.out, f.Count(c.out))
			}
			close(e.gate)
			if err := <-first; err != nil {
				t.Errorf("first transfer: %v", err)
			}
			// The slot is free again once the server saw the last ACK.
			waitFor(t, "slots released", func() bool { f.mu.Lock(); defer f.mu.Unlock(); return f.total == 0 })
			if _, err := get(t, addr, "SIPDefault.cnf"); err != nil {
				t.Errorf("after release: %v", err)
			}
		})
	}
}

// waitFor polls cond until it holds or 5 s pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	testenv.WaitFor(t, 5*time.Second, what, cond)
}

// TestMalformedAndWrites: datagrams that are no request are dropped
// unanswered and counted; a write request is refused and counted; neither
// reaches the edge.
func TestMalformedAndWrites(t *testing.T) {
	e := newEdge(t)
	f, addr := start(t, e, nil)
	c, err := net.Dial("udp4", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	malformed := [][]byte{
		{0}, // truncated
		{0, 9, 'x', 0, 'o', 'c', 't', 'e', 't', 0}, // unknown opcode
		append([]byte{0, 1}, "SIPDefault.cnf"...),  // no NUL after the name, no mode
		{0, 4, 0, 1}, // an ACK to the server port
	}
	for _, m := range malformed {
		if _, err := c.Write(m); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "malformed counted", func() bool { return f.Count(OutMalformed) == float64(len(malformed)) })
	// A write request: answered with an error from a transfer socket.
	if _, err := c.Write(append([]byte{0, 2}, "SIP0011AABBCCDD.cnf\x00octet\x00"...)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "write refused", func() bool { return f.Count(OutWriteRefused) == 1 })
	if got := e.requests(); len(got) != 0 {
		t.Errorf("the edge was asked %v", got)
	}
}
