package adminhttp

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestEndpoints(t *testing.T) {
	reg := prometheus.NewRegistry()
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "dialtone_test_total", Help: "test"})
	reg.MustRegister(c)
	c.Add(3)
	var notReady atomic.Pointer[error]
	srv := New(Options{Gatherer: reg, Ready: func() error {
		if p := notReady.Load(); p != nil {
			return *p
		}
		return nil
	}})

	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, lis) }()
	base := "http://" + lis.Addr().String()

	if code, body := get(t, base+"/healthz"); code != 200 || strings.TrimSpace(body) != "ok" {
		t.Errorf("/healthz = %d %q", code, body)
	}
	if code, _ := get(t, base+"/readyz"); code != 200 {
		t.Errorf("/readyz ready = %d", code)
	}
	e := errors.New("inventory store not loaded")
	notReady.Store(&e)
	if code, body := get(t, base+"/readyz"); code != 503 || !strings.Contains(body, "inventory store not loaded") {
		t.Errorf("/readyz not ready = %d %q", code, body)
	}
	if code, body := get(t, base+"/metrics"); code != 200 || !strings.Contains(body, "dialtone_test_total 3") {
		t.Errorf("/metrics = %d %q", code, body)
	}
	for _, p := range []string{"/", "/debug/pprof/", "/healthz/x", "/metricsx"} {
		if code, _ := get(t, base+p); code != 404 {
			t.Errorf("%s = %d, want 404", p, code)
		}
	}
	resp, err := http.Post(base+"/healthz", "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST /healthz = %d", resp.StatusCode)
	}

	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Serve = %v", err)
	}
	if _, err := http.Get(base + "/healthz"); err == nil {
		t.Error("server still answering after shutdown")
	}
}

func TestReadyzDuringShutdown(t *testing.T) {
	srv := New(Options{})
	srv.draining.Store(true)
	rec := httptest.NewRecorder()
	srv.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/readyz", nil))
	if rec.Code != 503 {
		t.Errorf("/readyz while draining = %d", rec.Code)
	}
}

func TestRunBadAddr(t *testing.T) {
	if err := New(Options{Addr: "256.0.0.1:x"}).Run(t.Context()); err == nil {
		t.Error("Run on a bad address succeeded")
	}
}

func TestRun(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := New(Options{Addr: "127.0.0.1:0"}).Run(ctx); err != nil {
		t.Errorf("Run with ended ctx = %v", err)
	}
}

func TestReadyzWarnings(t *testing.T) {
	srv := New(Options{Gatherer: prometheus.NewRegistry(), Warnings: func() []string { return []string{"pnp link-layer check off"} }})
	rec := httptest.NewRecorder()
	srv.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/readyz", nil))
	if rec.Code != 200 || rec.Body.String() != "ok\nwarning: pnp link-layer check off\n" {
		t.Errorf("/readyz = %d %q", rec.Code, rec.Body.String())
	}
}

// Profiling on: net/http/pprof answers under /debug/pprof/ (off: 404, above).
func TestProfiling(t *testing.T) {
	ts := httptest.NewServer(New(Options{Profiling: true}).Handler())
	defer ts.Close()
	for _, p := range []string{"/debug/pprof/", "/debug/pprof/heap?debug=1", "/debug/pprof/mutex?debug=1", "/debug/pprof/cmdline"} {
		if code, _ := get(t, ts.URL+p); code != 200 {
			t.Errorf("%s = %d, want 200", p, code)
		}
	}
}
