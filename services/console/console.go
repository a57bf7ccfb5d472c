// Package console is Dialtone's web console: server-rendered pages
// (html/template, assets in an embed.FS, htmx vendored) for the
// administrator's two provisioning flows — assign a discovered phone, add a
// remote phone by MAC — and the lists around them. It talks to inventory,
// config-renderer and rps-client over their gRPC APIs only, with its own
// token, like any other PBX component; users log in with the console users
// inventory stores (AuthenticateUser), and the console enforces their role
// and tenant on every page.
package console

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	inventoryv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/inventory/v1"
	rendererv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/renderer/v1"
	rpsv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/rps/v1"
)

// Config is the console's configuration.
type Config struct {
	// Addr is the listen address (":8088").
	Addr string
	// CertFile and KeyFile are the HTTPS certificate; when empty (and
	// Insecure is off) the caller passes a certificate in Deps.TLS.
	CertFile, KeyFile string
	// Insecure serves plain HTTP (cookies without Secure). Only for a
	// console behind a TLS-terminating proxy or on loopback.
	Insecure bool
	// SecureBrowser: with Insecure, browsers still reach the console over
	// HTTPS (a TLS-terminating proxy in front), so cookies stay Secure and
	// HSTS is sent.
	SecureBrowser bool
	// SessionTTL is how long a session lives without use; 0 means 30 min.
	SessionTTL time.Duration
	// SessionMaxAge bounds a session's whole life; 0 means 12 h.
	SessionMaxAge time.Duration
	// DefaultTenant is the tenant unscoped users see first ("default").
	DefaultTenant string
}

// Deps are the console's collaborators.
type Deps struct {
	Logger    *slog.Logger
	Inventory inventoryv1.InventoryServiceClient
	Renderer  rendererv1.ConfigRendererServiceClient
	// Registerer receives the dialtone_console_* metrics (nil: none).
	Registerer prometheus.Registerer
	// Rps may be nil (no RPS status shown).
	Rps rpsv1.RedirectServiceClient
	// TLS, when set, is the server's TLS configuration (a self-signed
	// certificate made by the caller); otherwise CertFile/KeyFile are loaded.
	TLS *tls.Config
	// Now is the clock (tests); nil means time.Now.
	Now func() time.Time
}

// Console is the web console.
type Console struct {
	cfg      Config
	d        Deps
	log      *slog.Logger
	now      func() time.Time
	sessions *sessions
	throttle *throttle
	views    *views
	hub      *hub
	m        *metrics
	handler  http.Handler

	mu   sync.Mutex
	addr net.Addr
	up   chan struct{}
}

// New returns a console; Run serves it.
func New(cfg Config, d Deps) (*Console, error) {
	if d.Inventory == nil || d.Renderer == nil {
		return nil, errors.New("console: Inventory and Renderer clients are required")
	}
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	if cfg.SessionTTL == 0 {
		cfg.SessionTTL = 30 * time.Minute
	}
	if cfg.SessionMaxAge == 0 {
		cfg.SessionMaxAge = 12 * time.Hour
	}
	if cfg.DefaultTenant == "" {
		cfg.DefaultTenant = "default"
	}
	v, err := loadViews()
	if err != nil {
		return nil, err
	}
	m, err := newMetrics(d.Registerer)
	if err != nil {
		return nil, err
	}
	c := &Console{
		cfg: cfg, d: d, log: d.Logger, now: d.Now, views: v, m: m, up: make(chan struct{}),
		sessions: newSessions(cfg.SessionTTL, cfg.SessionMaxAge, d.Now),
		throttle: newThrottle(d.Now),
	}
	c.hub = newHub(d.Inventory, d.Logger)
	c.handler = c.routes()
	return c, nil
}

// Handler returns the console's HTTP handler (every page, the event stream
// and the static assets, behind the security headers).
func (c *Console) Handler() http.Handler { return c.handler }

// Addr returns the listening address once Run listens (nil before).
func (c *Console) Addr() net.Addr {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.addr
}

// Listening is closed once Run listens.
func (c *Console) Listening() <-chan struct{} { return c.up }

// browserSecure: browsers see HTTPS (directly, or through a TLS proxy).
func (c *Console) browserSecure() bool { return !c.cfg.Insecure || c.cfg.SecureBrowser }

// Run listens on cfg.Addr and serves until ctx ends.
func (c *Console) Run(ctx context.Context) error {
	var tcfg *tls.Config
	if !c.cfg.Insecure {
		tcfg = c.d.TLS
		if tcfg == nil {
			cert, err := tls.LoadX509KeyPair(c.cfg.CertFile, c.cfg.KeyFile)
			if err != nil {
				return fmt.Errorf("console certificate: %w", err)
			}
			tcfg = &tls.Config{Certificates: []tls.Certificate{cert}}
		}
		tcfg = tcfg.Clone()
		tcfg.MinVersion = tls.VersionTLS12
	}
	lis, err := net.Listen("tcp", c.cfg.Addr)
	if err != nil {
		return fmt.Errorf("console: %w", err)
	}
	c.mu.Lock()
	c.addr = lis.Addr()
	c.mu.Unlock()
	close(c.up)
	srv := &http.Server{
		Handler: c.handler, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute,
		ErrorLog:    slog.NewLogLogger(c.log.Handler(), slog.LevelWarn),
		BaseContext: func(net.Listener) context.Context { return ctx },
	}
	hubCtx, stopHub := context.WithCancel(ctx)
	defer stopHub()
	go c.hub.run(hubCtx)
	go c.sessions.sweep(hubCtx)
	errc := make(chan error, 1)
	go func() {
		if tcfg != nil {
			errc <- srv.Serve(tls.NewListener(lis, tcfg))
			return
		}
		errc <- srv.Serve(lis)
	}()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	stopHub() // ends the event streams, so Shutdown does not wait for them
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = srv.Shutdown(sctx)
	return nil
}
