package provisionhttp_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/dialtone-voip/dialtone/platform/testenv/logtest"
	"github.com/dialtone-voip/dialtone/platform/testenv/natstest"
	inventoryv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/inventory/v1"
	rendererv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/renderer/v1"
	provisionhttp "github.com/dialtone-voip/dialtone/services/provision-http"
	"github.com/dialtone-voip/dialtone/services/provision-http/edgetest"
	"github.com/dialtone-voip/dialtone/services/provision-http/internal/upstreamtest"
)

// testPhone is a phone seeded into the upstream (edgetest.NewPhone).
type testPhone struct {
	mac, token, vendor, model string
	ua                        string // a User-Agent the model sends, with this phone's MAC where it carries one
	macFile, commonFile       string // a per-MAC file with secrets, a file without
}

// upstream is inventory's test double (platform/inventorytest) and the real
// config-renderer (internal/upstreamtest), inventory's PhoneChanged on an
// embedded JetStream, with the edge's clients counting their calls.
type upstream struct {
	*upstreamtest.Upstreams
	ns                 *natstest.Server
	clients            *edgetest.Clients
	invCalls, rndCalls *edgetest.Counter
	inventor           inventoryv1.InventoryServiceClient
	renderer           rendererv1.ConfigRendererServiceClient
}

func newUpstream(t testing.TB) *upstream {
	t.Helper()
	return newUpstreamWith(t, nil)
}

// newUpstreamWith is newUpstream with mutate applied to the options.
func newUpstreamWith(t testing.TB, mutate func(*upstreamtest.Options)) *upstream {
	t.Helper()
	u := &upstream{ns: natstest.Start(t)}
	opts := upstreamtest.Options{JetStream: u.ns.JetStream()}
	if mutate != nil {
		mutate(&opts)
	}
	up, err := upstreamtest.Start(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(up.Close)
	u.Upstreams = up
	u.clients = edgetest.DialClients(t, up.InventoryAddr, up.RendererAddr, upstreamtest.EdgeToken)
	u.invCalls, u.rndCalls = &u.clients.InventoryCalls, &u.clients.RendererCalls
	u.inventor, u.renderer = u.clients.Inventory, u.clients.Renderer
	return u
}

func cctx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// addPhone adds an assigned (or, with bootstrap, a discovered) phone of
// the kind edgetest.NewPhone knows.
func (u *upstream) addPhone(t testing.TB, kind string, https, bootstrap bool) testPhone {
	t.Helper()
	d, ok := edgetest.NewPhone(kind)
	if !ok {
		t.Fatalf("no test phone of vendor %s", kind)
	}
	p := testPhone{mac: d.MAC, vendor: d.Vendor, model: d.Model, ua: d.UA, macFile: d.MACFile, commonFile: d.CommonFile}
	tok, err := u.AddPhone(cctx(t), upstreamtest.Phone{
		MAC: p.mac, Vendor: p.vendor, Model: p.model, Assigned: !bootstrap, HTTPS: https,
		SIPPassword: "sip-secret-" + p.mac, WebPassword: "web-secret-" + p.mac,
	})
	if err != nil {
		t.Fatal(err)
	}
	p.token = tok
	return p
}

// change alters a phone (a new revision; inventory publishes PhoneChanged)
// and returns the new revision.
func (u *upstream) change(t testing.TB, mac string) int64 {
	t.Helper()
	rev, err := u.Change(mac)
	if err != nil {
		t.Fatalf("change: %v", err)
	}
	return rev
}

// rotate gives a phone a new token; the previous one stays valid for a
// while, the one before it stops working.
func (u *upstream) rotate(t testing.TB, mac string) string {
	t.Helper()
	tok, err := u.Rotate(mac)
	if err != nil {
		t.Fatalf("rotate: %v", err)
	}
	return tok
}

// calls returns the upstream call counts the edge caused.
func (u *upstream) calls() [3]int { return u.clients.Calls() }

// edge is a Service behind httptest servers (plain and TLS).
type edge struct {
	*upstream
	svc   *provisionhttp.Service
	plain *httptest.Server
	tls   *httptest.Server
	logs  *logtest.Buffer
	reg   *prometheus.Registry
	s     *edgetest.Served
}

func newEdge(t testing.TB, u *upstream, mutate func(*provisionhttp.Config)) *edge {
	t.Helper()
	if u == nil {
		u = newUpstream(t)
	}
	cfg := edgetest.Config()
	if mutate != nil {
		mutate(&cfg)
	}
	s := edgetest.Serve(t, cfg, provisionhttp.Deps{Inventory: u.inventor, Renderer: u.renderer})
	return &edge{upstream: u, svc: s.Service, plain: s.Plain, tls: s.TLS, logs: s.Logs, reg: s.Registry, s: s}
}

type result struct {
	code   int
	header http.Header
	body   string
}

// do sends one request through Go's client.
func (e *edge) do(t testing.TB, method, path, ua string, hdr map[string]string, useTLS bool) result {
	t.Helper()
	code, header, body := e.s.Do(t, method, path, ua, hdr, useTLS)
	return result{code: code, header: header, body: body}
}

func (e *edge) get(t testing.TB, p testPhone, file string, useTLS bool) result {
	t.Helper()
	return e.do(t, http.MethodGet, "/p/"+p.token+"/"+file, p.ua, nil, useTLS)
}

// rawRequest writes target as the request target on a fresh connection and returns the status line.
func (e *edge) raw(t testing.TB, method, target, ua string) (int, string) {
	t.Helper()
	conn, err := net.Dial("tcp", e.plain.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "%s %s HTTP/1.1\r\nHost: x\r\nUser-Agent: %s\r\nConnection: close\r\n\r\n", method, target, ua)
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("%s %q: %v", method, target, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}
