package edge_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	"github.com/dialtone-voip/dialtone/cmd/internal/upstreamtest"
	"github.com/dialtone-voip/dialtone/platform/testenv/logtest"
	"github.com/dialtone-voip/dialtone/platform/testenv/natstest"
	inventoryv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/inventory/v1"
	rendererv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/renderer/v1"
	provisionhttp "github.com/dialtone-voip/dialtone/services/provision-http"
	"github.com/dialtone-voip/dialtone/services/provision-http/edgetest"
)

// testPhone is a phone seeded into the upstream (edgetest.NewPhone).
type testPhone struct {
	mac, token, vendor, model string
	ua                        string // a User-Agent the model sends, with this phone's MAC where it carries one
	macFile, commonFile       string // a per-MAC file with secrets, a file without
}

// upstream is the real inventory and config-renderer (cmd/internal/upstreamtest)
// on an embedded JetStream, with the edge's clients counting their calls.
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
	opts := upstreamtest.Options{Dir: t.TempDir(), JetStream: u.ns.JetStream()}
	if mutate != nil {
		mutate(&opts)
	}
	up, err := upstreamtest.Start(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(up.Close)
	u.Upstreams = up
	u.clients = edgetest.DialClients(t, up.Addr, up.Addr, upstreamtest.EdgeToken)
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

// change alters a phone (a new revision; the real inventory publishes
// PhoneChanged) and returns the new revision.
func (u *upstream) change(t testing.TB, mac string) int64 {
	t.Helper()
	resp, err := u.Admin.UpdatePhone(cctx(t), &inventoryv1.UpdatePhoneRequest{
		Phone:      &inventoryv1.Phone{Name: "phones/" + mac, Settings: &inventoryv1.ProvisioningSettings{Language: "de"}},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"settings.language"}},
	})
	if err != nil {
		t.Fatalf("UpdatePhone: %v", err)
	}
	return resp.GetPhone().GetRevision()
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

// running is a Service started with Run on loopback listeners.
type running struct {
	svc               *provisionhttp.Service
	httpURL, httpsURL string
	logs              *logtest.Buffer
	reg               *prometheus.Registry
}

// startService runs the edge (edgetest.Run) on u's clients with
// edgetest.Config changed by mutate.
func startService(t testing.TB, u *upstream, deps provisionhttp.Deps, mutate func(*provisionhttp.Config)) *running {
	t.Helper()
	cfg := edgetest.Config()
	if mutate != nil {
		mutate(&cfg)
	}
	deps.Inventory, deps.Renderer = u.inventor, u.renderer
	r := edgetest.Run(t, cfg, deps)
	return &running{svc: r.Service, httpURL: r.HTTPURL, httpsURL: r.HTTPSURL, logs: r.Logs, reg: r.Registry}
}

func newEdge(t testing.TB, u *upstream, mutate func(*provisionhttp.Config)) *edge {
	t.Helper()
	return newEdgeDeps(t, u, mutate, nil)
}

// newEdgeDeps is newEdge with mutateDeps applied to the Deps.
func newEdgeDeps(t testing.TB, u *upstream, mutate func(*provisionhttp.Config), mutateDeps func(*provisionhttp.Deps)) *edge {
	t.Helper()
	if u == nil {
		u = newUpstream(t)
	}
	cfg := edgetest.Config()
	if mutate != nil {
		mutate(&cfg)
	}
	deps := provisionhttp.Deps{Inventory: u.inventor, Renderer: u.renderer}
	if mutateDeps != nil {
		mutateDeps(&deps)
	}
	s := edgetest.Serve(t, cfg, deps)
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
