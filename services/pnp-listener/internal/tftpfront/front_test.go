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

// The hole this front must not reopen: a file naming a MAC is served only
// to the host whose link-layer address is that MAC.
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
