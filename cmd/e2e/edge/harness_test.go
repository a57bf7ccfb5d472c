package edge_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	"github.com/dialtone-voip/dialtone/cmd/internal/upstreamtest"
	"github.com/dialtone-voip/dialtone/platform/logging"
	"github.com/dialtone-voip/dialtone/platform/testenv/logtest"
	"github.com/dialtone-voip/dialtone/platform/testenv/natstest"
	inventoryv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/inventory/v1"
	rendererv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/renderer/v1"
	provisionhttp "github.com/dialtone-voip/dialtone/services/provision-http"
)

// testPhone is a phone seeded into the upstream.
type testPhone struct {
	mac, token, vendor, model string
	ua                        string // a User-Agent the model sends, with this phone's MAC where it carries one
	macFile, commonFile       string // a per-MAC file with secrets, a file without
}

var macSeq atomic.Uint32

// upstream is the real inventory and config-renderer (cmd/internal/upstreamtest)
// on an embedded JetStream, with the edge's clients counting their calls.
type upstream struct {
	*upstreamtest.Upstreams
	ns                 *natstest.Server
	invCalls, rndCalls upstreamtest.Counter
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
	invConn, err := upstreamtest.Dial(up.Addr, upstreamtest.EdgeToken, u.invCalls.Interceptor)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { invConn.Close() })
	rndConn, err := upstreamtest.Dial(up.Addr, upstreamtest.EdgeToken, u.rndCalls.Interceptor)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rndConn.Close() })
	u.inventor = inventoryv1.NewInventoryServiceClient(invConn)
	u.renderer = rendererv1.NewConfigRendererServiceClient(rndConn)
	return u
}

func cctx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// addPhone adds an assigned (or, with bootstrap, a discovered) phone.
func (u *upstream) addPhone(t testing.TB, vendor string, https, bootstrap bool) testPhone {
	t.Helper()
	n := macSeq.Add(1)
	p := testPhone{vendor: vendor}
	switch vendor {
	case "yealink":
		p.model, p.mac = "T54W", fmt.Sprintf("001565%06x", n)
		p.ua = fmt.Sprintf("Yealink SIP-T54W 96.86.0.100 %s:%s:%s:%s:%s:%s", p.mac[0:2], p.mac[2:4], p.mac[4:6], p.mac[6:8], p.mac[8:10], p.mac[10:12])
		p.commonFile = "y000000000096.cfg"
	case "yealink-fallback": // a model the catalog does not list, of the T5x pattern
		p.vendor, p.model, p.mac = "yealink", "T59Z", fmt.Sprintf("001565%06x", n)
		p.ua = fmt.Sprintf("Yealink SIP-T59Z 199.86.0.1 %s:%s:%s:%s:%s:%s", p.mac[0:2], p.mac[2:4], p.mac[4:6], p.mac[6:8], p.mac[8:10], p.mac[10:12])
		p.commonFile = "y000000000199.cfg"
	case "poly":
		p.model, p.mac = "VVX450", fmt.Sprintf("0004f2%06x", n)
		p.ua = "FileTransport PolycomVVX-VVX_450-UA/6.4.6.2568 Type/Application"
		p.commonFile = "000000000000.cfg"
	case "gigaset-n510": // <ProviderFrame>: <MAC>.xml, a User-Agent without the MAC
		p.vendor, p.model, p.mac = "gigaset", "N510", fmt.Sprintf("7c2f80%06x", n)
		p.ua = "N510 IP PRO/42.262.00.000.000"
		p.macFile = strings.ToUpper(p.mac) + ".xml"
	case "gigaset-n720":
		p.vendor, p.model, p.mac = "gigaset", "N720", fmt.Sprintf("7c2f80%06x", n)
		p.ua = "N720-DM-PRO/70.040.00.000.000"
		p.macFile = strings.ToUpper(p.mac) + ".xml"
	case "snom-m100kle", "snom-m500kle": // {mac}.xml named by the URL handed out; UA not known to carry the MAC
		model := map[string]string{"snom-m100kle": "M100KLE", "snom-m500kle": "M500KLE"}[vendor]
		p.vendor, p.model, p.mac = "snom", model, fmt.Sprintf("000413ab%04x", n) // letters, so the case matters
		p.ua = "Snom " + model + " 0.34.0003"
		p.macFile = p.mac + ".xml"
	case "snom-m3": // {mac}.cfg named by the URL handed out
		p.vendor, p.model, p.mac = "snom", "m3", fmt.Sprintf("000413cd%04x", n)
		p.ua = "Snom m3 V0525"
		p.macFile = p.mac + ".cfg"
	case "cisco-7960": // SIPDefault.cnf, SIP<MAC>.cnf, relayed by the pnp-listener's TFTP front with its User-Agent
		p.vendor, p.model, p.mac = "cisco", "7960", fmt.Sprintf("00562bab%04x", n)
		p.ua = "dialtone-pnp-listener-tftp (MAC:" + strings.ToUpper(p.mac) + ")"
		p.commonFile = "SIPDefault.cnf"
		p.macFile = "SIP" + strings.ToUpper(p.mac) + ".cnf"
	case "snom-pa1": // firmware 8 User-Agents carry no MAC
		p.vendor, p.model, p.mac = "snom", "PA1", fmt.Sprintf("000413%06x", n)
		p.ua = "Mozilla/4.0 (compatible; snomPA1-SIP 8.7.5.35 1.1.3-s)"
		p.commonFile = "snomPA1.htm"
		p.macFile = strings.ToUpper(p.mac) + ".xml"
	default:
		t.Fatalf("no test phone of vendor %s", vendor)
	}
	if p.macFile == "" {
		p.macFile = p.mac + ".cfg"
	}
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
func (u *upstream) calls() [3]int {
	return [3]int{u.invCalls.Get("GetProvisioningProfile"), u.rndCalls.Get("GetModel"), u.rndCalls.Get("RenderFile")}
}

// edge is a Service behind httptest servers (plain and TLS).
type edge struct {
	*upstream
	svc   *provisionhttp.Service
	plain *httptest.Server
	tls   *httptest.Server
	logs  *logtest.Buffer
	reg   *prometheus.Registry
}

// testConfig is Defaults without listeners' TLS files and without padding.
func testConfig() provisionhttp.Config {
	c := provisionhttp.Defaults()
	c.HTTPAddr = "127.0.0.1:0"
	c.HTTPSAddr = ""
	c.NotFoundMinLatency = 0
	c.ThrottleThreshold = 1e6 // tests of the throttle set their own
	return c
}

// writeCert writes a self-signed RSA certificate (RSA, because the legacy
// suites need RSA key exchange) and returns its serial number.
func writeCert(t testing.TB, certFile, keyFile string, serial int64) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial),
		Subject:      pkix.Name{CommonName: "prov.test"},
		DNSNames:     []string{"prov.test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	// Write to temporary names and rename, as cert-manager and kubelet do.
	write := func(path string, block *pem.Block) {
		tmp := path + ".tmp"
		if err := os.WriteFile(tmp, pem.EncodeToMemory(block), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, path); err != nil {
			t.Fatal(err)
		}
	}
	write(keyFile, &pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})
	write(certFile, &pem.Block{Type: "CERTIFICATE", Bytes: der})
}

// running is a Service started with Run on loopback listeners.
type running struct {
	svc               *provisionhttp.Service
	httpURL, httpsURL string
	logs              *logtest.Buffer
	reg               *prometheus.Registry
}

func startService(t testing.TB, u *upstream, deps provisionhttp.Deps, mutate func(*provisionhttp.Config)) *running {
	t.Helper()
	cfg := testConfig()
	if mutate != nil {
		mutate(&cfg)
	}
	logs := &logtest.Buffer{}
	log, _ := logging.New(logs, "json", "debug")
	reg := prometheus.NewRegistry()
	deps.Logger, deps.Registerer = log, reg
	deps.Inventory, deps.Renderer = u.inventor, u.renderer
	svc, err := provisionhttp.New(cfg, deps)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for svc.Ready() != nil {
		if time.Now().After(deadline) {
			t.Fatalf("not ready: %v", svc.Ready())
		}
		select {
		case err := <-done:
			t.Fatalf("Run returned early: %v", err)
		case <-time.After(10 * time.Millisecond):
		}
	}
	r := &running{svc: svc, logs: logs, reg: reg}
	if a := svc.HTTPAddr(); a != nil {
		r.httpURL = "http://" + a.String()
	}
	if a := svc.HTTPSAddr(); a != nil {
		r.httpsURL = "https://" + a.String()
	}
	return r
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
	cfg := testConfig()
	if mutate != nil {
		mutate(&cfg)
	}
	logs := &logtest.Buffer{}
	log, err := logging.New(logs, "json", "debug")
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	deps := provisionhttp.Deps{Logger: log, Registerer: reg, Inventory: u.inventor, Renderer: u.renderer}
	if mutateDeps != nil {
		mutateDeps(&deps)
	}
	svc, err := provisionhttp.New(cfg, deps)
	if err != nil {
		t.Fatal(err)
	}
	e := &edge{upstream: u, svc: svc, logs: logs, reg: reg}
	// The same server settings Run uses that matter here.
	e.plain = httptest.NewUnstartedServer(svc.Handler())
	e.plain.Config.DisableGeneralOptionsHandler = true
	e.plain.Start()
	t.Cleanup(e.plain.Close)
	e.tls = httptest.NewUnstartedServer(svc.Handler())
	e.tls.Config.DisableGeneralOptionsHandler = true
	e.tls.StartTLS()
	t.Cleanup(e.tls.Close)
	return e
}

type result struct {
	code   int
	header http.Header
	body   string
}

// do sends one request through Go's client.
func (e *edge) do(t testing.TB, method, path, ua string, hdr map[string]string, useTLS bool) result {
	t.Helper()
	srv := e.plain
	if useTLS {
		srv = e.tls
	}
	req, err := http.NewRequest(method, srv.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("User-Agent", ua)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	client := srv.Client()
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return result{code: resp.StatusCode, header: resp.Header, body: string(b)}
}

func (e *edge) get(t testing.TB, p testPhone, file string, useTLS bool) result {
	t.Helper()
	return e.do(t, http.MethodGet, "/p/"+p.token+"/"+file, p.ua, nil, useTLS)
}
