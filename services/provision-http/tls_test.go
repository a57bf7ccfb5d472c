package provisionhttp_test

import (
	"crypto/tls"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/dialtone-voip/dialtone/platform/testenv"
	"github.com/dialtone-voip/dialtone/platform/testenv/logtest"
	"github.com/dialtone-voip/dialtone/platform/testenv/metrictest"
	provisionhttp "github.com/dialtone-voip/dialtone/services/provision-http"
	"github.com/dialtone-voip/dialtone/services/provision-http/edgetest"
)

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

func handshake(addr string, conf *tls.Config) (*tls.ConnectionState, error) {
	conf.InsecureSkipVerify = true
	c, err := tls.Dial("tcp", addr, conf)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	st := c.ConnectionState()
	return &st, nil
}

func TestTLS(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	edgetest.WriteCert(t, certFile, keyFile, 1)
	u := newUpstream(t)
	p := u.addPhone(t, "yealink", true, false)
	r := startService(t, u, provisionhttp.Deps{}, func(c *provisionhttp.Config) {
		c.HTTPSAddr, c.TLSCert, c.TLSKey = "127.0.0.1:0", certFile, keyFile
	})
	addr := r.svc.HTTPSAddr().String()

	// Serves the phone over HTTPS via Run's listener; secrets not over HTTP.
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, ForceAttemptHTTP2: true}}
	req, _ := http.NewRequest("GET", r.httpsURL+"/p/"+p.token+"/"+p.macFile, nil)
	req.Header.Set("User-Agent", p.ua)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.ProtoMajor != 1 {
		t.Fatalf("HTTPS GET: %d over %s (want 200 over HTTP/1.1)", resp.StatusCode, resp.Proto)
	}
	req, _ = http.NewRequest("GET", r.httpURL+"/p/"+p.token+"/"+p.macFile, nil)
	req.Header.Set("User-Agent", p.ua)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 404 {
		t.Fatalf("HTTP GET of secrets for an HTTPS phone: %v %v", resp, err)
	}

	// TLS 1.2 minimum.
	for _, v := range []uint16{tls.VersionTLS10, tls.VersionTLS11} {
		if _, err := handshake(addr, &tls.Config{MinVersion: v, MaxVersion: v}); err == nil {
			t.Errorf("handshake with TLS version %x succeeded", v)
		}
	}
	if st, err := handshake(addr, &tls.Config{}); err != nil || st.Version != tls.VersionTLS13 {
		t.Fatalf("modern client: %v", err)
	}
	// The CBC suites older phones need, with forward secrecy.
	for _, cs := range []uint16{tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA, tls.TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA} {
		st, err := handshake(addr, &tls.Config{MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{cs}})
		if err != nil || st.CipherSuite != cs {
			t.Errorf("TLS 1.2 with %s: %v", tls.CipherSuiteName(cs), err)
		}
	}
	// No RSA key exchange unless asked for.
	if _, err := handshake(addr, &tls.Config{MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{tls.TLS_RSA_WITH_AES_128_CBC_SHA}}); err == nil {
		t.Error("RSA key exchange accepted without --tls-legacy-ciphers")
	}

	// The certificate is reloaded when the files change.
	edgetest.WriteCert(t, certFile, keyFile, 2)
	var hsErr error
	if testenv.Poll(10*time.Second, func() bool {
		st, err := handshake(addr, &tls.Config{})
		hsErr = err
		return err == nil && st.PeerCertificates[0].SerialNumber.Int64() == 2
	}) != nil {
		t.Fatalf("certificate not reloaded (err %v)", hsErr)
	}
	// A broken file keeps the previous certificate.
	if err := os.WriteFile(certFile, []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	// Handshakes check the files at most once a second: shake hands until
	// one has tried the broken file, each still with the previous certificate.
	failed := metrictest.Value(t, r.reg, "dialtone_provision_http_tls_reloads_total", "result", "error")
	testenv.WaitFor(t, 10*time.Second, "a reload of the broken file", func() bool {
		st, err := handshake(addr, &tls.Config{})
		if err != nil || st.PeerCertificates[0].SerialNumber.Int64() != 2 {
			t.Fatalf("broken certificate file: %v", err)
		}
		return metrictest.Value(t, r.reg, "dialtone_provision_http_tls_reloads_total", "result", "error") > failed
	})
	st, err := handshake(addr, &tls.Config{})
	if err != nil || st.PeerCertificates[0].SerialNumber.Int64() != 2 {
		t.Fatalf("broken certificate file: %v", err)
	}
}

func TestTLSLegacyCiphers(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	edgetest.WriteCert(t, certFile, keyFile, 1)
	r := startService(t, newUpstream(t), provisionhttp.Deps{}, func(c *provisionhttp.Config) {
		c.HTTPAddr, c.HTTPSAddr, c.TLSCert, c.TLSKey, c.TLSLegacyCiphers = "", "127.0.0.1:0", certFile, keyFile, true
	})
	st, err := handshake(r.svc.HTTPSAddr().String(), &tls.Config{MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{tls.TLS_RSA_WITH_AES_128_CBC_SHA}})
	if err != nil || st.CipherSuite != tls.TLS_RSA_WITH_AES_128_CBC_SHA {
		t.Fatalf("legacy suite: %v", err)
	}
	if _, err := handshake(r.svc.HTTPSAddr().String(), &tls.Config{MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{tls.TLS_RSA_WITH_3DES_EDE_CBC_SHA}}); err == nil {
		t.Fatal("3DES accepted")
	}
}

func TestConfigValidate(t *testing.T) {
	c := provisionhttp.Defaults()
	if err := c.Validate(); err == nil {
		t.Fatal("defaults without certificate files validate")
	}
	c.TLSCert, c.TLSKey = "a", "b"
	if err := c.Validate(); err != nil {
		t.Fatalf("defaults with certificate files: %v", err)
	}
	for _, poll := range []time.Duration{-time.Second, time.Millisecond} {
		c := c
		c.TemplatePoll = poll
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "--template-poll") {
			t.Fatalf("--template-poll %v: %v", poll, err)
		}
	}
	c.TemplatePoll = 0 // off
	if err := c.Validate(); err != nil {
		t.Fatalf("--template-poll 0: %v", err)
	}
	c.HTTPAddr, c.HTTPSAddr = "", ""
	if err := c.Validate(); err == nil {
		t.Fatal("no listener validates")
	}
	_, err := provisionhttp.New(edgetest.Config(), provisionhttp.Deps{})
	if err == nil || errors.Is(err, nil) {
		t.Fatal("New without clients succeeded")
	}
}
