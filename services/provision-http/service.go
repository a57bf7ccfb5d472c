// Package provisionhttp is the phone-facing HTTP(S) edge of Dialtone: the
// only part phones on the internet can reach. It answers GET and HEAD
// /p/{token}/{file}: it resolves the token with inventory, checks the
// User-Agent and the file against the phone's catalog model, renders the file
// with config-renderer, serves it, and publishes ConfigFetched. Failures from
// one source are throttled; unknown tokens, wrong files, wrong MACs and wrong
// User-Agents all get the same 404 after the same work. See README.md.
package provisionhttp

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"
	"golang.org/x/sync/singleflight"
	"golang.org/x/time/rate"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/dialtone-voip/dialtone/platform/auth"
	"github.com/dialtone-voip/dialtone/platform/connlimit"
	"github.com/dialtone-voip/dialtone/platform/logging"
	eventsv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/events/v1"
	inventoryv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/inventory/v1"
	provisioningv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/provisioning/v1"
	rendererv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/renderer/v1"
	"github.com/dialtone-voip/dialtone/services/provision-http/internal/lru"
	"github.com/dialtone-voip/dialtone/services/provision-http/internal/throttle"
)

// Deps is what the process wires in.
type Deps struct {
	Logger     *slog.Logger
	Registerer prometheus.Registerer
	// Inventory is called with role edge (GetProvisioningProfile only).
	Inventory inventoryv1.InventoryServiceClient
	Renderer  rendererv1.ConfigRendererServiceClient
	// JetStream publishes ConfigFetched and delivers PhoneChanged. Nil: no
	// events; caches then rely on Config.CacheTTL alone.
	JetStream jetstream.JetStream
	// Relays authenticates the credential of a pnp-listener relaying a
	// phone's fetch with a link assertion (LinkProofHeader); only role
	// listener is honoured. Nil: every assertion is ignored and counted.
	Relays auth.Authenticator
}

// Service is the edge. Handler serves phone requests; Run also listens.
type Service struct {
	cfg Config
	log *slog.Logger
	inv inventoryv1.InventoryServiceClient
	rnd rendererv1.ConfigRendererServiceClient
	js  jetstream.JetStream
	met *metrics
	// relays: credentials of pnp-listeners whose link assertions count.
	relays auth.Authenticator

	thr    *throttle.Table
	budget *rate.Limiter
	known  *lru.Cache[[32]byte, struct{}]
	tokens *lru.Cache[[32]byte, *tokenEntry]
	files  *lru.Cache[fileKey, *fileEntry]
	models *lru.Cache[modelKey, *modelEntry]
	recent *lru.Cache[string, struct{}] // ConfigFetched message ids published lately
	sf     singleflight.Group
	gen    *generations           // invalidations of tokens, files and models (per phone)
	tmpl   atomic.Pointer[string] // the renderer's template set version last seen
	decoy  *tokenEntry

	events chan *eventsv1.ConfigFetched
	certs  *certLoader
	cas    *deviceCAs                     // nil: no --device-ca-dir
	grants *lru.Cache[[32]byte, struct{}] // secret releases inventory allowed lately
	// grantGen: invalidations of grants, which a release binding drops
	// without touching the phone's files.
	grantGen *generations
	now      func() time.Time

	conns atomic.Pointer[connlimit.Limiter] // set by Run

	mu        sync.Mutex
	httpAddr  net.Addr
	httpsAddr net.Addr
	running   bool
	consuming bool
}

// New validates cfg and builds the service. It does not contact anything.
func New(cfg Config, deps Deps) (*Service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("provisionhttp: %w", err)
	}
	if deps.Inventory == nil || deps.Renderer == nil {
		return nil, errors.New("provisionhttp: Deps.Inventory and Deps.Renderer are required")
	}
	log := deps.Logger
	if log == nil {
		log = logging.Discard()
	}
	s := &Service{
		cfg:    cfg,
		log:    log,
		inv:    deps.Inventory,
		rnd:    deps.Renderer,
		js:     deps.JetStream,
		relays: deps.Relays,
		thr: throttle.New(throttle.Config{
			Size: cfg.ThrottleSize, Threshold: cfg.ThrottleThreshold, Leak: cfg.ThrottleLeak,
			Base: cfg.ThrottleBase, Max: cfg.ThrottleMax, Forget: cfg.ThrottleForget,
		}),
		budget: rate.NewLimiter(rate.Limit(cfg.ThrottledLookupRate), max(1, int(cfg.ThrottledLookupRate))),
		known:  lru.New[[32]byte, struct{}](int64(cfg.KnownTokens), knownTTL),
		tokens: lru.New[[32]byte, *tokenEntry](int64(cfg.TokenCacheSize), cfg.CacheTTL),
		files:  lru.New[fileKey, *fileEntry](cfg.FileCacheBytes, cfg.CacheTTL),
		models: lru.New[modelKey, *modelEntry](4096, cfg.ModelCacheTTL),
		recent: lru.New[string, struct{}](65536, recentTTL),
		grants: lru.New[[32]byte, struct{}](int64(max(1, cfg.TokenCacheSize)), cfg.CacheTTL),
		gen:    newGenerations(), grantGen: newGenerations(),
		events: make(chan *eventsv1.ConfigFetched, cfg.EventQueue),
		now:    time.Now,
	}
	s.decoy = newDecoy(cfg.Decoy)
	if cfg.HTTPSAddr != "" {
		s.certs = &certLoader{certFile: cfg.TLSCert, keyFile: cfg.TLSKey, every: time.Second, log: log}
	}
	m, err := newMetrics(deps.Registerer, s)
	if err != nil {
		return nil, fmt.Errorf("provisionhttp: metrics: %w", err)
	}
	s.met = m
	if s.certs != nil {
		s.certs.reloads = m.tlsReloads
		if err := s.certs.load(); err != nil {
			return nil, fmt.Errorf("provisionhttp: %w", err)
		}
	}
	if cfg.DeviceCADir != "" {
		s.cas = &deviceCAs{dir: cfg.DeviceCADir, every: time.Second, log: log, reloads: m.caReloads}
		if err := s.cas.load(); err != nil {
			return nil, fmt.Errorf("provisionhttp: %w", err)
		}
	}
	return s, nil
}

const (
	knownTTL  = 24 * time.Hour
	recentTTL = time.Minute // below JetStream's default 2 min duplicate window
)

// newDecoy builds the profile unknown tokens are served with: a bootstrap
// profile of a real catalog model and a random, locally administered MAC that
// no phone has, so its cached files are never any phone's.
func newDecoy(model string) *tokenEntry {
	vendor, m, _ := strings.Cut(model, "/")
	var b [6]byte
	_, _ = rand.Read(b[:])
	b[0] = b[0]&0xfc | 0x02
	p := &provisioningv1.ProvisioningProfile{
		Mac:             hex.EncodeToString(b[:]),
		Vendor:          vendor,
		Model:           m,
		Bootstrap:       true,
		Language:        "en",
		TimeZone:        "UTC",
		ProvisioningUrl: "https://decoy.invalid/p/decoy/",
		PollInterval:    durationpb.New(time.Hour),
		Revision:        1,
	}
	return &tokenEntry{profile: p, key: profileKey(p)}
}

func profileKey(p *provisioningv1.ProvisioningProfile) [32]byte {
	b, _ := proto.MarshalOptions{Deterministic: true}.Marshal(p)
	return sha256.Sum256(b)
}

// Handler returns the phone-facing handler. It serves every path: there is
// nothing else (no health, no metrics) on the phone port.
func (s *Service) Handler() http.Handler { return http.HandlerFunc(s.serve) }

// Ready reports whether the service serves: listeners bound, certificate
// loaded, and (with JetStream) the invalidation consumer running.
func (s *Service) Ready() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case !s.running:
		return errors.New("provision-http: not listening yet")
	case s.js != nil && !s.consuming:
		return errors.New("provision-http: PhoneChanged consumer not running")
	}
	return nil
}

// HTTPAddr returns the bound plain-HTTP address once Run listens (nil before or when off).
func (s *Service) HTTPAddr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.httpAddr
}

// HTTPSAddr returns the bound HTTPS address once Run listens (nil before or when off).
func (s *Service) HTTPSAddr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.httpsAddr
}

// Run listens on the phone ports, publishes ConfigFetched events and
// consumes PhoneChanged until ctx ends, then shuts the listeners down.
func (s *Service) Run(ctx context.Context) error {
	var lc net.ListenConfig
	var servers []*http.Server
	limiter, err := s.connLimiter()
	if err != nil {
		return err
	}
	g, gctx := errgroup.WithContext(ctx)
	listen := func(addr string, tlsConf *tls.Config, store *net.Addr) error {
		ln, err := lc.Listen(ctx, "tcp", addr)
		if err != nil {
			return fmt.Errorf("provision-http: listen %s: %w", addr, err)
		}
		s.mu.Lock()
		*store = ln.Addr()
		s.mu.Unlock()
		// Limited before TLS: a refused connection costs no handshake.
		ln = limiter.Listen(ln)
		srv := s.newServer()
		if tlsConf != nil {
			srv.TLSConfig = tlsConf
			ln = tls.NewListener(ln, tlsConf)
		}
		servers = append(servers, srv)
		g.Go(func() error {
			if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
				return fmt.Errorf("provision-http: serve %s: %w", addr, err)
			}
			return nil
		})
		return nil
	}
	if s.cfg.HTTPAddr != "" {
		err = listen(s.cfg.HTTPAddr, nil, &s.httpAddr)
	}
	if err == nil && s.cfg.HTTPSAddr != "" {
		err = listen(s.cfg.HTTPSAddr, s.tlsConfig(), &s.httpsAddr)
	}
	if err != nil {
		for _, srv := range servers {
			srv.Close()
		}
		_ = g.Wait()
		return err
	}
	// The publisher outlives the listeners so that it can flush the queue.
	pubCtx, stopPub := context.WithCancel(context.WithoutCancel(ctx))
	defer stopPub()
	drain := make(chan struct{})
	pubDone := make(chan struct{})
	go func() {
		defer close(pubDone)
		s.publishLoop(pubCtx, drain)
	}()
	if s.js != nil {
		g.Go(func() error { return s.consumeChanges(gctx) })
	}
	if s.cfg.TemplatePoll > 0 {
		g.Go(func() error { s.watchTemplates(gctx); return nil })
	}
	s.mu.Lock()
	s.running = true
	s.mu.Unlock()
	s.log.Info("provision-http listening", "http", addrString(s.HTTPAddr()), "https", addrString(s.HTTPSAddr()))

	<-gctx.Done()
	s.mu.Lock()
	s.running = false
	s.mu.Unlock()
	shutCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	for _, srv := range servers {
		if err := srv.Shutdown(shutCtx); err != nil {
			srv.Close()
		}
	}
	err = g.Wait()
	// Publish what is queued, within the shutdown budget.
	close(drain)
	select {
	case <-pubDone:
	case <-shutCtx.Done():
		stopPub()
		<-pubDone
	}
	if ctx.Err() != nil && (err == nil || errors.Is(err, context.Canceled)) {
		return nil
	}
	return err
}

func addrString(a net.Addr) string {
	if a == nil {
		return ""
	}
	return a.String()
}

func (s *Service) newServer() *http.Server {
	return &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: s.cfg.ReadHeaderTimeout,
		ReadTimeout:       s.cfg.ReadTimeout,
		WriteTimeout:      s.cfg.WriteTimeout,
		IdleTimeout:       s.cfg.IdleTimeout,
		MaxHeaderBytes:    16 << 10,
		// "OPTIONS *" reaches the handler (and gets 405) instead of Go's 200.
		DisableGeneralOptionsHandler: true,
		// Phones speak HTTP/1.x; no HTTP/2 on the phone port.
		TLSNextProto: map[string]func(*http.Server, *tls.Conn, http.Handler){},
		ErrorLog:     slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
}

// connLimiter sizes the phone listeners' connection limits: --max-conns,
// or the file limit minus --fd-reserve, so that a flood of idle
// connections leaves the store, NATS and gRPC their descriptors.
func (s *Service) connLimiter() (*connlimit.Limiter, error) {
	total := s.cfg.MaxConns
	if total == 0 {
		nofile, err := connlimit.FileLimit()
		if err != nil {
			return nil, fmt.Errorf("provision-http: %w", err)
		}
		if total, err = connlimit.Size(nofile, s.cfg.FDReserve); err != nil {
			return nil, fmt.Errorf("provision-http: --fd-reserve: %w", err)
		}
	}
	l := connlimit.New(total, s.cfg.MaxConnsPerSource, s.met.refuse)
	s.conns.Store(l)
	s.log.Info("provision-http connection limits", "max_conns", total, "max_conns_per_source", s.cfg.MaxConnsPerSource)
	return l, nil
}
