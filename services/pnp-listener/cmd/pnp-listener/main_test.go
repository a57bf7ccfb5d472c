package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dialtone-voip/dialtone/platform/inventorytest"
	"github.com/dialtone-voip/dialtone/platform/testenv"
	"github.com/dialtone-voip/dialtone/platform/testenv/logtest"
	"github.com/dialtone-voip/dialtone/platform/testenv/natstest"
	"github.com/dialtone-voip/dialtone/services/pnp-listener/phonetest"
)

func TestRunRejectsBadConfig(t *testing.T) {
	for _, args := range [][]string{
		{"--sip-bind-mode", "sideways"},
		{"--answer-vendors", "acme"},
		{"--unknown-phones", "maybe"},
		{"--listener", " "},
		{"--url-template", "snom=http://x/"},
	} {
		var out bytes.Buffer
		err := run(context.Background(), args, func(string) string { return "" }, &out)
		if err == nil {
			t.Errorf("%v accepted", args)
		}
	}
	env := map[string]string{"DIALTONE_PNP_LISTENER_SIP_BIND_MODE": "sideways"}
	if err := run(context.Background(), nil, func(k string) string { return env[k] }, &bytes.Buffer{}); err == nil || !strings.Contains(err.Error(), "sip-bind-mode") {
		t.Errorf("env not applied: %v", err)
	}
}

func freePort(t *testing.T, network string) int {
	t.Helper()
	switch network {
	case "udp":
		c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		return c.LocalAddr().(*net.UDPAddr).Port
	default:
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		return l.Addr().(*net.TCPAddr).Port
	}
}

// TestRunServes runs the real main wiring: NATS, inventory with the token
// from --inventory-token-file, admin HTTP and SIP on loopback.
func TestRunServes(t *testing.T) {
	ns := natstest.Start(t)
	inv, err := inventorytest.Start("listener-secret-token")
	if err != nil {
		t.Fatal(err)
	}
	defer inv.Stop()
	inv.SetFallback(&inventorytest.Entry{URL: "https://edge.example/p/tok/"})
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte("listener-secret-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	sipPort, adminPort := freePort(t, "udp"), freePort(t, "tcp")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	logs := &logtest.Buffer{}
	go func() {
		done <- run(ctx, []string{
			"--sip-addr", fmt.Sprintf("127.0.0.1:%d", sipPort), "--sip-interfaces", "lo",
			"--admin-addr", fmt.Sprintf("127.0.0.1:%d", adminPort), "--listener", "smoke",
			"--inventory-addr", inv.Addr(), "--inventory-token-file", tokenFile, "--log-level", "warn",
			// Loopback has no link layer to prove a phone by.
			"--pnp-link-check", "off",
		}, func(k string) string {
			return map[string]string{"DIALTONE_PNP_LISTENER_NATS_URL": ns.URL()}[k]
		}, logs)
	}()
	var readyErr error
	if testenv.Poll(10*time.Second, func() bool {
		res, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/readyz", adminPort))
		if readyErr = err; err != nil {
			return false
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != 200 {
			return false
		}
		if !strings.Contains(string(body), "warning: pnp link-layer check off") {
			t.Errorf("/readyz with --pnp-link-check=off: %q", body)
		}
		return true
	}) != nil {
		t.Fatalf("never ready: %v\n%s", readyErr, logs.String())
	}
	ph := phonetest.New(t, "127.0.0.1:0")
	ph.Send(fmt.Sprintf("127.0.0.1:%d", sipPort), phonetest.Subscribe("yealink", "001565000777", "127.0.0.1", ph.Port(), "m1"))
	if res := ph.ExpectResponse(3 * time.Second); res.StatusCode != 200 {
		t.Fatalf("status %d", res.StatusCode)
	}
	req, from := ph.ExpectRequest(3 * time.Second)
	if string(req.Body()) != "https://edge.example/p/tok/" {
		t.Fatalf("NOTIFY body %q (the token file must reach inventory)", req.Body())
	}
	ph.Answer(req, from, 200)
	res, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/metrics", adminPort))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if !strings.Contains(string(body), "dialtone_pnp_listener_subscribes_total") {
		t.Error("/metrics lacks the listener's metrics")
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("run did not return")
	}
	if !strings.Contains(logs.String(), "link-layer check is OFF") {
		t.Error("no WARN about --pnp-link-check=off at start")
	}
	if strings.Contains(logs.String(), "listener-secret-token") {
		t.Error("the inventory token was logged")
	}
}
