package rpsclient

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"golang.org/x/sync/errgroup"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"

	inventoryv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/inventory/v1"
	rpsv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/rps/v1"
	"github.com/dialtone-voip/dialtone/services/rps-client/internal/credentials"
	"github.com/dialtone-voip/dialtone/services/rps-client/internal/store"
	"github.com/dialtone-voip/dialtone/services/rps-client/internal/vendors"
)

// Deps are what the process wires in.
type Deps struct {
	Logger     *slog.Logger
	Registerer prometheus.Registerer
	// JetStream consumes PhoneChanged and publishes RpsResult.
	JetStream jetstream.JetStream
	// Store holds the state. When nil, New builds NewRedisStore(Redis,
	// cfg.RedisPrefix); one of the two is required. The caller closes
	// Store (and Redis).
	Store Store
	Redis redis.UniversalClient
	// Inventory answers GetProvisioningUrl (the process dials it with a
	// role-service token).
	Inventory inventoryv1.InventoryServiceClient
	// HTTPClient, if set, is used for vendor calls (tests); otherwise one
	// with --vendor-timeout.
	HTTPClient *http.Client
	// Now is the clock (tests); nil means time.Now.
	Now func() time.Time
}

// Service is rps-client.
type Service struct {
	cfg       Config
	log       *slog.Logger
	js        jetstream.JetStream
	store     store.Store
	creds     *credentials.Store
	inventory inventoryv1.InventoryServiceClient
	metrics   *metrics
	opts      vendors.Options
	now       func() time.Time
	publish   func(ctx context.Context, subject, msgID string, m proto.Message) error

	mu      sync.Mutex
	clients map[string]cachedClient // account key → client built from its fingerprint
	limit   *callLimiter            // nil: no client-side rate limit

	consuming atomic.Bool
	runErr    atomic.Value // error of a failed background component

	rpsv1.UnimplementedRedirectServiceServer
}

type cachedClient struct {
	fp     string
	api    string
	client vendors.Client
}

// New builds the service. Credentials are loaded now: a broken directory
// fails start-up (later reloads keep the last good accounts).
func New(cfg Config, deps Deps) (*Service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	st := deps.Store
	if st == nil {
		if deps.Redis == nil {
			return nil, errors.New("rpsclient: Deps.Store or Deps.Redis is required")
		}
		st = NewRedisStore(deps.Redis, cfg.RedisPrefix)
	}
	log := deps.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	m, err := newMetrics(deps.Registerer)
	if err != nil {
		return nil, fmt.Errorf("rpsclient: metrics: %w", err)
	}
	now := deps.Now
	if now == nil {
		now = time.Now
	}
	s := &Service{
		cfg: cfg, log: log, js: deps.JetStream, store: st,
		inventory: deps.Inventory, metrics: m, now: now, clients: map[string]cachedClient{},
		limit: newCallLimiter(cfg.VendorRate, cfg.VendorBurst),
	}
	s.opts = vendors.Options{HTTPClient: deps.HTTPClient, Timeout: cfg.VendorTimeout, Logger: log, Observe: m.observeHTTP}
	creds, err := credentials.Open(cfg.CredentialsDir, s.validateAccount, log)
	if err != nil {
		return nil, fmt.Errorf("rpsclient: credentials: %w", err)
	}
	s.creds = creds
	m.accounts.Set(float64(len(creds.Accounts())))
	if deps.JetStream != nil {
		s.publish = s.publishJS
	}
	return s, nil
}

// validateAccount checks an account by building its client.
func (s *Service) validateAccount(a vendors.Account) error {
	acct, ap, err := resolve(a, s.cfg.BaseURLs)
	if err != nil {
		return err
	}
	_, err = ap.build(acct, s.opts)
	return err
}

// client returns the (cached) client of acct, rebuilt when its
// fingerprint changes.
func (s *Service) client(acct vendors.Account, fp string) (vendors.Client, string, error) {
	key := acct.Tenant + "/" + acct.Vendor
	s.mu.Lock()
	defer s.mu.Unlock()
	if c, ok := s.clients[key]; ok && c.fp == fp {
		return c.client, c.api, nil
	}
	resolved, ap, err := resolve(acct, s.cfg.BaseURLs)
	if err != nil {
		return nil, "", err
	}
	c, err := ap.build(resolved, s.opts)
	if err != nil {
		return nil, "", err
	}
	s.clients[key] = cachedClient{fp: fp, api: resolved.API, client: c}
	return c, resolved.API, nil
}

// RegisterGRPC registers RedirectService.
func (s *Service) RegisterGRPC(r grpc.ServiceRegistrar) {
	rpsv1.RegisterRedirectServiceServer(r, s)
}

// Ready reports whether the service can do its work.
func (s *Service) Ready() error {
	if err, _ := s.runErr.Load().(error); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := s.store.Ping(ctx); err != nil {
		return fmt.Errorf("state store: %w", err)
	}
	if s.js != nil && !s.consuming.Load() {
		return errors.New("PhoneChanged consumer not running")
	}
	return nil
}

// Run consumes events, runs the retry scheduler and reloads credentials
// until ctx ends.
func (s *Service) Run(ctx context.Context) error {
	// The first component to fail (only the consumer can) stops the others.
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		s.creds.Watch(ctx, s.cfg.CredentialsPoll, s.credentialsChanged, func(err error) {
			if err != nil {
				s.metrics.reloads.WithLabelValues("error").Inc()
				return
			}
			s.metrics.reloads.WithLabelValues("ok").Inc()
			s.metrics.accounts.Set(float64(len(s.creds.Accounts())))
		})
		return nil
	})
	g.Go(func() error { s.schedule(ctx); return nil })
	if s.cfg.DeregisteredTTL > 0 {
		g.Go(func() error { s.sweepLoop(ctx); return nil })
	}
	if s.js != nil {
		g.Go(func() error {
			err := s.consume(ctx)
			if err != nil && ctx.Err() == nil {
				s.runErr.Store(err)
				return err
			}
			return nil
		})
	}
	return g.Wait()
}

// schedule processes due retries.
func (s *Service) schedule(ctx context.Context) {
	t := time.NewTicker(s.cfg.RetryPoll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		s.RunDue(ctx)
	}
}

// RunDue processes every MAC whose retry is due (the scheduler's one pass).
func (s *Service) RunDue(ctx context.Context) {
	for {
		macs, err := s.store.Due(ctx, s.now(), 64)
		if err != nil {
			if ctx.Err() == nil {
				s.log.Warn("reading the retry schedule failed", "error", err.Error())
			}
			return
		}
		if n, err := s.store.Pending(ctx); err == nil {
			s.metrics.retryPending.Set(float64(n))
		}
		progressed := false
		for _, mac := range macs {
			if ctx.Err() != nil {
				return
			}
			_, err := s.process(ctx, mac, byScheduler)
			switch {
			case err == nil:
				progressed = true
			case errors.Is(err, store.ErrLocked):
			default:
				s.log.Warn("retry failed", "mac", mac, "error", err.Error())
				_ = s.store.Schedule(ctx, mac, s.now().Add(s.cfg.RetryBase))
			}
		}
		if len(macs) < 64 || !progressed {
			return
		}
	}
}

// credentialsChanged schedules every failed or retrying MAC whose account
// changed, so a fixed password or a new account takes effect at once.
func (s *Service) credentialsChanged(keys []credentials.Key) {
	changed := map[credentials.Key]bool{}
	for _, k := range keys {
		changed[k] = true
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	after := ""
	for {
		recs, next, err := s.store.List(ctx, after, 500, func(r *store.Record) bool {
			if r.State != stFailed && r.State != stRetrying {
				return false
			}
			t := credentials.NormalizeTenant(r.Tenant)
			return changed[credentials.Key{Tenant: t, Vendor: r.Vendor}] ||
				changed[credentials.Key{Tenant: credentials.DefaultTenant, Vendor: r.Vendor}]
		})
		if err != nil {
			s.log.Warn("listing statuses after a credentials change failed", "error", err.Error())
			return
		}
		for _, r := range recs {
			_ = s.store.Schedule(ctx, r.MAC, s.now())
		}
		if next == "" {
			return
		}
		after = next
	}
}
