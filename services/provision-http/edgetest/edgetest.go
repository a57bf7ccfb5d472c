// Package edgetest is for tests of the edge (provision-http), in this
// module and in cmd/e2e/edge (the tests that need the real inventory): it
// starts the Service against the upstream clients it is given, with its
// logs and metrics captured, waits until it is ready and stops it when the
// test ends; it dials the upstreams counting the edge's calls, writes the
// serving certificate, and knows the test phones of each vendor (User-Agent,
// files). No non-test code imports it. The device CA is in deviceca, which
// the edge's internal tests use too.
package edgetest

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/dialtone-voip/dialtone/platform/auth"
	"github.com/dialtone-voip/dialtone/platform/logging"
	"github.com/dialtone-voip/dialtone/platform/testenv/logtest"
	inventoryv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/inventory/v1"
	rendererv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/renderer/v1"
	provisionhttp "github.com/dialtone-voip/dialtone/services/provision-http"
)

// Config is Defaults with a loopback HTTP listener, no HTTPS listener (no
// TLS files), no padding of misses and the throttle out of the way (tests
// of the throttle set their own threshold).
func Config() provisionhttp.Config {
	c := provisionhttp.Defaults()
	c.HTTPAddr = "127.0.0.1:0"
	c.HTTPSAddr = ""
	c.NotFoundMinLatency = 0
	c.ThrottleThreshold = 1e6
	return c
}

// Dial connects to addr with a bearer token and optional client interceptors.
func Dial(addr, token string, interceptors ...grpc.UnaryClientInterceptor) (*grpc.ClientConn, error) {
	return grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithPerRPCCredentials(auth.BearerToken(token, false)), grpc.WithChainUnaryInterceptor(interceptors...))
}

// Counter counts unary calls per method (short name, e.g. "RenderFile").
type Counter struct {
	mu sync.Mutex
	n  map[string]int
}

// Interceptor counts every call a client makes (see Dial).
func (c *Counter) Interceptor(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
	c.mu.Lock()
	if c.n == nil {
		c.n = map[string]int{}
	}
	c.n[method[strings.LastIndexByte(method, '/')+1:]]++
	c.mu.Unlock()
	return invoker(ctx, method, req, reply, cc, opts...)
}

// Get returns how often method was called.
func (c *Counter) Get(method string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[method]
}

// Clients are the edge's upstream clients, each counting its calls; they
// are closed when the test ends.
type Clients struct {
	Inventory                     inventoryv1.InventoryServiceClient
	Renderer                      rendererv1.ConfigRendererServiceClient
	InventoryCalls, RendererCalls Counter
}

// DialClients dials inventory and the config-renderer (the same address
// where one server has both) with the edge's token.
func DialClients(t testing.TB, inventoryAddr, rendererAddr, token string) *Clients {
	t.Helper()
	c := &Clients{}
	invConn, err := Dial(inventoryAddr, token, c.InventoryCalls.Interceptor)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { invConn.Close() })
	rndConn, err := Dial(rendererAddr, token, c.RendererCalls.Interceptor)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rndConn.Close() })
	c.Inventory = inventoryv1.NewInventoryServiceClient(invConn)
	c.Renderer = rendererv1.NewConfigRendererServiceClient(rndConn)
	return c
}

// Calls returns the calls of a miss: GetProvisioningProfile, GetModel, RenderFile.
func (c *Clients) Calls() [3]int {
	return [3]int{c.InventoryCalls.Get("GetProvisioningProfile"), c.RendererCalls.Get("GetModel"), c.RendererCalls.Get("RenderFile")}
}

// Phone is a test phone of one vendor and model: its MAC, the User-Agent
// it sends (with its MAC where the model puts it there), a per-MAC file
// (with secrets) and a common file (without; "" where the model has none).
type Phone struct {
	MAC, Vendor, Model  string
	UA                  string
	MACFile, CommonFile string
}

var macSeq atomic.Uint32

// NewPhone makes a phone with a MAC no other phone of this process has.
// kind is a vendor (yealink, poly) or a vendor and model (yealink-fallback,
// gigaset-n510, gigaset-n720, snom-m100kle, snom-m500kle, snom-m3, snom-pa1,
// cisco-7960, cisco-7961g, cisco-7977g); false for another kind.
func NewPhone(kind string) (Phone, bool) {
	n := macSeq.Add(1)
	p := Phone{Vendor: kind}
	switch kind {
	case "yealink":
		p.Model, p.MAC = "T54W", fmt.Sprintf("001565%06x", n)
		p.UA = fmt.Sprintf("Yealink SIP-T54W 96.86.0.100 %s:%s:%s:%s:%s:%s", p.MAC[0:2], p.MAC[2:4], p.MAC[4:6], p.MAC[6:8], p.MAC[8:10], p.MAC[10:12])
		p.CommonFile = "y000000000096.cfg"
	case "yealink-fallback": // a model the catalog does not list, of the T5x pattern
		p.Vendor, p.Model, p.MAC = "yealink", "T59Z", fmt.Sprintf("001565%06x", n)
		p.UA = fmt.Sprintf("Yealink SIP-T59Z 199.86.0.1 %s:%s:%s:%s:%s:%s", p.MAC[0:2], p.MAC[2:4], p.MAC[4:6], p.MAC[6:8], p.MAC[8:10], p.MAC[10:12])
		p.CommonFile = "y000000000199.cfg"
	case "poly":
		p.Model, p.MAC = "VVX450", fmt.Sprintf("0004f2%06x", n)
		p.UA = "FileTransport PolycomVVX-VVX_450-UA/6.4.6.2568 Type/Application"
		p.CommonFile = "000000000000.cfg"
	case "gigaset-n510": // <ProviderFrame>: <MAC>.xml, a User-Agent without the MAC
		p.Vendor, p.Model, p.MAC = "gigaset", "N510", fmt.Sprintf("7c2f80%06x", n)
		p.UA = "N510 IP PRO/42.262.00.000.000"
		p.MACFile = strings.ToUpper(p.MAC) + ".xml"
	case "gigaset-n720":
		p.Vendor, p.Model, p.MAC = "gigaset", "N720", fmt.Sprintf("7c2f80%06x", n)
		p.UA = "N720-DM-PRO/70.040.00.000.000"
		p.MACFile = strings.ToUpper(p.MAC) + ".xml"
	case "snom-m100kle", "snom-m500kle": // {mac}.xml named by the URL handed out; UA not known to carry the MAC
		model := map[string]string{"snom-m100kle": "M100KLE", "snom-m500kle": "M500KLE"}[kind]
		p.Vendor, p.Model, p.MAC = "snom", model, fmt.Sprintf("000413ab%04x", n) // letters, so the case matters
		p.UA = "Snom " + model + " 0.34.0003"
		p.MACFile = p.MAC + ".xml"
	case "snom-m3": // {mac}.cfg named by the URL handed out
		p.Vendor, p.Model, p.MAC = "snom", "m3", fmt.Sprintf("000413cd%04x", n)
		p.UA = "Snom m3 V0525"
		p.MACFile = p.MAC + ".cfg"
	case "cisco-7960": // SIPDefault.cnf, SIP<MAC>.cnf, relayed by the pnp-listener's TFTP front with its User-Agent
		p.Vendor, p.Model, p.MAC = "cisco", "7960", fmt.Sprintf("00562bab%04x", n)
		p.UA = "dialtone-pnp-listener-tftp (MAC:" + strings.ToUpper(p.MAC) + ")"
		p.CommonFile = "SIPDefault.cnf"
		p.MACFile = "SIP" + strings.ToUpper(p.MAC) + ".cnf"
	case "cisco-7961g", "cisco-7977g": // SEP<MAC>.cnf.xml, relayed by the TFTP front; 7977G: a made-up model of the 79x1 pattern
		model := map[string]string{"cisco-7961g": "7961G", "cisco-7977g": "7977G"}[kind]
		p.Vendor, p.Model, p.MAC = "cisco", model, fmt.Sprintf("00562bcd%04x", n) // letters, so the case matters
		p.UA = "dialtone-pnp-listener-tftp (MAC:" + strings.ToUpper(p.MAC) + ")"
		p.MACFile = "SEP" + strings.ToUpper(p.MAC) + ".cnf.xml"
	case "snom-pa1": // firmware 8 User-Agents carry no MAC
		p.Vendor, p.Model, p.MAC = "snom", "PA1", fmt.Sprintf("000413%06x", n)
		p.UA = "Mozilla/4.0 (compatible; snomPA1-SIP 8.7.5.35 1.1.3-s)"
		p.CommonFile = "snomPA1.htm"
		p.MACFile = strings.ToUpper(p.MAC) + ".xml"
	default:
		return Phone{}, false
	}
	if p.MACFile == "" {
		p.MACFile = p.MAC + ".cfg"
	}
	return p, true
}

// WriteCert writes a self-signed RSA certificate for prov.test with the
// given serial number (RSA, because the legacy suites need RSA key
// exchange), to temporary names renamed into place, as cert-manager and
// kubelet do.
func WriteCert(t testing.TB, certFile, keyFile string, serial int64) {
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

// capture sets deps' Logger (JSON at debug, into the returned buffer) and
// Registerer (a registry of its own).
func capture(t testing.TB, deps *provisionhttp.Deps) (*logtest.Buffer, *prometheus.Registry) {
	t.Helper()
	logs := &logtest.Buffer{}
	log, err := logging.New(logs, "json", "debug")
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	deps.Logger, deps.Registerer = log, reg
	return logs, reg
}

// Running is a Service started with Run on its own listeners.
type Running struct {
	Service           *provisionhttp.Service
	HTTPURL, HTTPSURL string // "" where the listener is off
	Logs              *logtest.Buffer
	Registry          *prometheus.Registry
}

// Run starts New(cfg, deps) with Run, its logs and metrics captured (deps'
// Logger and Registerer are replaced), and waits until it is ready. When
// the test ends it stops it and fails the test if Run returned an error.
func Run(t testing.TB, cfg provisionhttp.Config, deps provisionhttp.Deps) *Running {
	t.Helper()
	logs, reg := capture(t, &deps)
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
	r := &Running{Service: svc, Logs: logs, Registry: reg}
	if a := svc.HTTPAddr(); a != nil {
		r.HTTPURL = "http://" + a.String()
	}
	if a := svc.HTTPSAddr(); a != nil {
		r.HTTPSURL = "https://" + a.String()
	}
	return r
}

// Get sends a GET of url with the User-Agent ua and the headers hdr, not
// verifying the server's certificate, and returns the status, headers and body.
func Get(t testing.TB, url, ua string, hdr map[string]string) (int, http.Header, string) {
	t.Helper()
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	return send(t, client, http.MethodGet, url, ua, hdr)
}

// send sends one request with client and returns the status, headers and body.
func send(t testing.TB, client *http.Client, method, url, ua string, hdr map[string]string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("User-Agent", ua)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

// Served is a Service's Handler behind httptest servers, plain and TLS
// (no listeners of its own, so no connection limits or TLS files).
type Served struct {
	Service    *provisionhttp.Service
	Plain, TLS *httptest.Server
	Logs       *logtest.Buffer
	Registry   *prometheus.Registry
}

// Serve makes New(cfg, deps), its logs and metrics captured (deps' Logger
// and Registerer are replaced), and serves its Handler until the test ends.
func Serve(t testing.TB, cfg provisionhttp.Config, deps provisionhttp.Deps) *Served {
	t.Helper()
	logs, reg := capture(t, &deps)
	svc, err := provisionhttp.New(cfg, deps)
	if err != nil {
		t.Fatal(err)
	}
	s := &Served{Service: svc, Logs: logs, Registry: reg}
	// The same server settings Run uses that matter here.
	s.Plain = httptest.NewUnstartedServer(svc.Handler())
	s.Plain.Config.DisableGeneralOptionsHandler = true
	s.Plain.Start()
	t.Cleanup(s.Plain.Close)
	s.TLS = httptest.NewUnstartedServer(svc.Handler())
	s.TLS.Config.DisableGeneralOptionsHandler = true
	s.TLS.StartTLS()
	t.Cleanup(s.TLS.Close)
	return s
}

// Do sends one request through Go's client (the TLS server's with useTLS)
// and returns the status, headers and body.
func (s *Served) Do(t testing.TB, method, path, ua string, hdr map[string]string, useTLS bool) (int, http.Header, string) {
	t.Helper()
	srv := s.Plain
	if useTLS {
		srv = s.TLS
	}
	return send(t, srv.Client(), method, srv.URL+path, ua, hdr)
}

// RawGet sends one HTTP/1.1 GET of path on c, with Connection: keep-alive
// or close, and reads the response (status and body); the whole exchange
// has 30 seconds. For tests that count connections, which Go's client
// would pool.
func RawGet(c net.Conn, path, ua string, keepAlive bool) (int, string, error) {
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
