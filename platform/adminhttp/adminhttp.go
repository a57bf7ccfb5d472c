// Package adminhttp serves a process's operational endpoints on their own
// listener: /healthz (liveness: 200 while the process runs), /readyz
// (readiness: 200 when Ready returns nil, else 503 with the reason),
// /metrics (Prometheus) and, only when Options.Profiling is set,
// net/http/pprof's /debug/pprof/. Everything else is 404.
package adminhttp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"runtime"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// DefaultShutdownTimeout bounds the graceful shutdown when
// Options.ShutdownTimeout is zero.
const DefaultShutdownTimeout = 5 * time.Second

// Options configure New.
type Options struct {
	// Addr is the listen address for Run, e.g. "127.0.0.1:9190".
	Addr string
	// Logger logs start, stop and failures; nil discards.
	Logger *slog.Logger
	// Gatherer is served on /metrics; nil means prometheus.DefaultGatherer.
	Gatherer prometheus.Gatherer
	// Ready reports readiness; nil means always ready. Its error text is
	// the 503 body, so it must not contain secrets.
	Ready func() error
	// Warnings, when set, returns lines /readyz adds after "ok" while ready:
	// a policy that weakens security (e.g. pnp-listener's link-layer check
	// turned off) stays visible to whoever probes readiness.
	Warnings func() []string
	// ShutdownTimeout bounds the graceful shutdown; zero means
	// DefaultShutdownTimeout.
	ShutdownTimeout time.Duration
	// Profiling serves net/http/pprof under /debug/pprof/ and samples
	// mutex and blocking events (1 in ProfileRate). Off by default: a
	// profile shows the process's code paths and costs CPU while taken.
	Profiling bool
}

// ProfileRate is the mutex and block profile sampling rate set when
// Options.Profiling is on (1 in ProfileRate events; block: nanoseconds).
const ProfileRate = 100

// Server is the admin HTTP server.
type Server struct {
	opts     Options
	log      *slog.Logger
	handler  http.Handler
	draining atomic.Bool
}

// New builds the server.
func New(opts Options) *Server {
	s := &Server{opts: opts, log: opts.Logger}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	g := opts.Gatherer
	if g == nil {
		g = prometheus.DefaultGatherer
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		text(w, http.StatusOK, "ok")
	})
	mux.HandleFunc("GET /readyz", s.readyz)
	mux.Handle("GET /metrics", promhttp.HandlerFor(g, promhttp.HandlerOpts{ErrorLog: slogErrorLog{s.log}}))
	if opts.Profiling {
		runtime.SetMutexProfileFraction(ProfileRate)
		runtime.SetBlockProfileRate(ProfileRate * 1000)
		mux.HandleFunc("GET /debug/pprof/", pprof.Index)
		mux.HandleFunc("GET /debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	}
	s.handler = mux
	return s
}

// Handler returns the routes, for tests and for mounting elsewhere.
func (s *Server) Handler() http.Handler { return s.handler }

func (s *Server) readyz(w http.ResponseWriter, _ *http.Request) {
	if s.draining.Load() {
		text(w, http.StatusServiceUnavailable, "shutting down")
		return
	}
	if s.opts.Ready != nil {
		if err := s.opts.Ready(); err != nil {
			text(w, http.StatusServiceUnavailable, "not ready: "+err.Error())
			return
		}
	}
	body := "ok"
	if s.opts.Warnings != nil {
		for _, l := range s.opts.Warnings() {
			body += "\nwarning: " + l
		}
	}
	text(w, http.StatusOK, body)
}

func text(w http.ResponseWriter, code int, body string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	fmt.Fprintln(w, body)
}

// Run listens on Options.Addr and serves until ctx ends (see Serve).
func (s *Server) Run(ctx context.Context) error {
	var lc net.ListenConfig
	lis, err := lc.Listen(ctx, "tcp", s.opts.Addr)
	if err != nil {
		return fmt.Errorf("adminhttp: %w", err)
	}
	return s.Serve(ctx, lis)
}

// Serve serves on lis until ctx ends, then shuts down gracefully within
// the shutdown timeout; /readyz answers 503 from the moment shutdown
// starts. It returns nil after a shutdown caused by ctx.
func (s *Server) Serve(ctx context.Context, lis net.Listener) error {
	srv := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: 5 * time.Second,
		ErrorLog:          slogErrorLog{s.log}.logger(),
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(lis) }()
	s.log.Info("admin HTTP serving", "addr", lis.Addr().String())
	select {
	case err := <-errc:
		return fmt.Errorf("adminhttp: %w", err)
	case <-ctx.Done():
	}
	s.draining.Store(true)
	timeout := s.opts.ShutdownTimeout
	if timeout <= 0 {
		timeout = DefaultShutdownTimeout
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		srv.Close()
		return fmt.Errorf("adminhttp: shutdown: %w", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("adminhttp: %w", err)
	}
	s.log.Info("admin HTTP stopped")
	return nil
}
