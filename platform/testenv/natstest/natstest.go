// Package natstest runs an embedded JetStream-enabled NATS server for a
// test, on 127.0.0.1 and a random port, with its store under t.TempDir().
// A test can shut it down and restart it on the same port and store, so
// that clients reconnect and file-backed streams come back with their
// messages. Everything is stopped when the test ends.
package natstest

import (
	"context"
	"net"
	"net/url"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/dialtone-voip/dialtone/platform/logging"
	"github.com/dialtone-voip/dialtone/platform/natsjs"
)

// Option configures Start.
type Option func(*natsjs.EmbeddedOptions)

// StoreDir sets the JetStream store directory (default: a t.TempDir()).
func StoreDir(dir string) Option { return func(o *natsjs.EmbeddedOptions) { o.StoreDir = dir } }

// Verbose routes the server's log to the test output (noisy; for debugging).
func Verbose(t testing.TB) Option {
	return func(o *natsjs.EmbeddedOptions) { o.Logger, _ = logging.New(t.Output(), "text", "info") }
}

// Server is an embedded NATS server owned by a test.
type Server struct {
	t    testing.TB
	opts natsjs.EmbeddedOptions

	mu    sync.Mutex
	srv   *server.Server
	url   string
	conns []*nats.Conn
}

// Start starts the server and stops it (and every connection made with
// Conn) at the end of the test.
func Start(t testing.TB, opts ...Option) *Server {
	t.Helper()
	s := &Server{t: t, opts: natsjs.EmbeddedOptions{Host: "127.0.0.1", Port: -1, StoreDir: t.TempDir()}}
	for _, o := range opts {
		o(&s.opts)
	}
	srv, err := natsjs.StartEmbedded(s.opts)
	if err != nil {
		t.Fatalf("natstest: %v", err)
	}
	s.srv, s.url = srv, srv.ClientURL()
	// Later restarts must reuse the port so that clients find it again.
	u, err := url.Parse(s.url)
	if err != nil {
		t.Fatalf("natstest: %v", err)
	}
	s.opts.Port, _ = strconv.Atoi(u.Port())
	t.Cleanup(func() {
		s.mu.Lock()
		conns := s.conns
		s.mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
		s.Shutdown()
	})
	return s
}

// URL is the client URL, "nats://127.0.0.1:<port>"; it does not change on
// Restart.
func (s *Server) URL() string { return s.url }

// Addr is "127.0.0.1:<port>".
func (s *Server) Addr() string { return net.JoinHostPort(s.opts.Host, strconv.Itoa(s.opts.Port)) }

// StoreDir is the JetStream store directory.
func (s *Server) StoreDir() string { return s.opts.StoreDir }

// Server returns the running server, or nil after Shutdown.
func (s *Server) Server() *server.Server {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.srv
}

// Shutdown stops the server and waits until it is down. Shutting down a
// stopped server does nothing.
func (s *Server) Shutdown() {
	s.mu.Lock()
	srv := s.srv
	s.srv = nil
	s.mu.Unlock()
	if srv != nil {
		srv.Shutdown()
		srv.WaitForShutdown()
	}
}

// Restart shuts the server down (if running) and starts a new one on the
// same port and store directory.
func (s *Server) Restart() {
	s.t.Helper()
	s.Shutdown()
	var err error
	// The port was just released; retry briefly in case the kernel (or
	// another test) holds it for a moment.
	for range 50 {
		var srv *server.Server
		srv, err = natsjs.StartEmbedded(s.opts)
		if err == nil {
			s.mu.Lock()
			s.srv = srv
			s.mu.Unlock()
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	s.t.Fatalf("natstest: restart on %s: %v", s.Addr(), err)
}

// Conn connects a client that reconnects forever and quickly (every 20ms),
// closed at the end of the test.
func (s *Server) Conn() *nats.Conn {
	s.t.Helper()
	nc, _ := s.connect()
	return nc
}

// JetStream connects like Conn and returns the JetStream context.
func (s *Server) JetStream() jetstream.JetStream {
	s.t.Helper()
	_, js := s.connect()
	return js
}

func (s *Server) connect() (*nats.Conn, jetstream.JetStream) {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	nc, js, err := natsjs.Connect(ctx, s.url, nil, nats.ReconnectWait(20*time.Millisecond), nats.ReconnectJitter(0, 0))
	if err != nil {
		s.t.Fatalf("natstest: %v", err)
	}
	s.mu.Lock()
	s.conns = append(s.conns, nc)
	s.mu.Unlock()
	return nc, js
}
