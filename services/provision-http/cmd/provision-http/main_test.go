package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dialtone-voip/dialtone/platform/testenv"
	"github.com/dialtone-voip/dialtone/platform/testenv/natstest"
	"github.com/dialtone-voip/dialtone/services/provision-http/internal/upstreamtest"
)

func freeAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func get(t *testing.T, url, ua string) (int, string) {
	req, _ := http.NewRequest("GET", url, nil)
	req.Header.Set("User-Agent", ua)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestRun starts the binary's run with its admin listener and checks that
// health, readiness and metrics are there and only there.
func TestRun(t *testing.T) {
	ns := natstest.Start(t)
	up, err := upstreamtest.Start(context.Background(), upstreamtest.Options{JetStream: ns.JetStream()})
	if err != nil {
		t.Fatal(err)
	}
	defer up.Close()
	token, err := up.AddPhone(context.Background(), upstreamtest.Phone{MAC: "0004f2000001", Vendor: "poly", Model: "VVX450", Assigned: true, SIPPassword: "pw"})
	if err != nil {
		t.Fatal(err)
	}

	// The edge's bearer token (role edge) from a file; NATS from the environment.
	tokenFile := filepath.Join(t.TempDir(), "edge-token")
	if err := os.WriteFile(tokenFile, []byte(upstreamtest.EdgeToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	phone, admin := freeAddr(t), freeAddr(t)
	env := map[string]string{"DIALTONE_PROVISION_HTTP_ADMIN_ADDR": admin, "DIALTONE_PROVISION_HTTP_NATS_URL": ns.URL()}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{
			"--http-addr", phone, "--https-addr=", "--inventory-addr", up.InventoryAddr, "--renderer-addr", up.RendererAddr,
			"--inventory-token-file", tokenFile, "--log-level", "error",
		}, func(k string) string { return env[k] })
	}()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	}()
	testenv.WaitFor(t, 20*time.Second, "/readyz to answer 200", func() bool {
		code, _ := get(t, "http://"+admin+"/readyz", "")
		return code == 200
	})
	if code, _ := get(t, "http://"+phone+"/p/"+token+"/0004f2000001.cfg", "FileTransport PolycomVVX-VVX_450-UA/6.4.6"); code != 200 {
		t.Fatalf("phone file: %d", code)
	}
	if code, body := get(t, "http://"+admin+"/metrics", ""); code != 200 || !strings.Contains(body, `dialtone_provision_http_requests_total{code="200",outcome="served"} 1`) {
		t.Fatalf("metrics: %d\n%s", code, body)
	}
	for _, p := range []string{"/healthz", "/readyz", "/metrics"} {
		if code, _ := get(t, "http://"+phone+p, ""); code != 404 {
			t.Errorf("phone port serves %s: %d", p, code)
		}
	}
}

func TestRunRejectsBadConfig(t *testing.T) {
	for _, args := range [][]string{
		{"--https-addr", ":8443"}, // no certificate
		{"--https-addr=", "--http-addr", "nonsense"},
		{"--https-addr="}, // no token
	} {
		if err := run(context.Background(), args, func(string) string { return "" }); err == nil {
			t.Errorf("run %q succeeded", args)
		}
	}
}
