package provisionhttp_test

import (
	"context"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/dialtone-voip/dialtone/platform/logging"
	"github.com/dialtone-voip/dialtone/platform/testenv/metrictest"
	provisionhttp "github.com/dialtone-voip/dialtone/services/provision-http"
	"github.com/dialtone-voip/dialtone/services/provision-http/edgetest"
)

// TestConnectionLimitsAndIdleTimeout runs the edge on loopback (no
// namespace needed): a third connection from one address is reset and
// counted, and idle keep-alive connections are closed after
// --idle-timeout, which frees the source's slots.
func TestConnectionLimitsAndIdleTimeout(t *testing.T) {
	u := newUpstream(t)
	phone := u.addPhone(t, "yealink", false, false)
	cfg := edgetest.Config()
	cfg.MaxConnsPerSource = 2
	cfg.IdleTimeout = 200 * time.Millisecond
	cfg.TemplatePoll = 0
	reg := prometheus.NewRegistry()
	svc, err := provisionhttp.New(cfg, provisionhttp.Deps{Logger: logging.Discard(), Registerer: reg, Inventory: u.inventor, Renderer: u.renderer})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()
	defer func() { cancel(); <-done }()
	waitForCtx(t, ctx, "edge ready", func() bool { return svc.Ready() == nil })
	addr := svc.HTTPAddr().String()
	open := func() float64 { return metrictest.Value(t, reg, "dialtone_provision_http_connections_open") }

	var held []net.Conn
	for range 2 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if code, _, err := edgetest.RawGet(c, "/p/"+phone.token+"/"+phone.macFile, phone.ua, true); err != nil || code != http.StatusOK {
			t.Fatalf("held connection: %d, %v", code, err)
		}
		held = append(held, c)
	}
	third, err := net.Dial("tcp", addr)
	if err == nil {
		defer third.Close()
		if _, _, err := edgetest.RawGet(third, "/", "x", true); err == nil {
			t.Fatal("third connection from one address served, limit 2")
		}
	}
	if got := refusedConns(t, reg, "per_source"); got != 1 {
		t.Errorf("refused{per_source} = %v, want 1", got)
	}
	if got := open(); got != 2 {
		t.Errorf("open connections %v, want 2", got)
	}
	// Idle past --idle-timeout: the server closes both.
	waitForCtx(t, ctx, "idle connections closed", func() bool { return open() == 0 })
	for _, c := range held {
		if _, _, err := edgetest.RawGet(c, "/", "x", true); err == nil {
			t.Error("request on a connection closed for idleness answered")
		}
	}
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if code, _, err := edgetest.RawGet(c, "/p/"+phone.token+"/"+phone.macFile, phone.ua, false); err != nil || code != http.StatusOK {
		t.Errorf("after the idle close: %d, %v", code, err)
	}
	if got := metrictest.Value(t, reg, "dialtone_provision_http_connections_max"); got <= 0 {
		t.Errorf("connections_max %v", got)
	}
}

// waitForCtx polls cond until it holds or ctx ends.
func waitForCtx(t *testing.T, ctx context.Context, what string, cond func() bool) {
	t.Helper()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("timed out waiting for %s", what)
		case <-time.After(10 * time.Millisecond):
		}
	}
}

func refusedConns(t *testing.T, reg *prometheus.Registry, reason string) float64 {
	return metrictest.Value(t, reg, "dialtone_provision_http_connections_refused_total", "reason", reason)
}
