// Package inventory is the inventory service as a library: the owner of
// tenants, SIP interfaces, extensions, phones, their provisioning settings
// and provisioning secrets. Its own main (cmd/inventory) and the one-process
// dialtone both start it through Config, Deps, New, RegisterGRPC and Run.
//
// State lives in a Store: Redis (NewRedisStore, for replicated
// deployments) or an embedded bbolt file (OpenBoltStore, for one machine).
// Run consumes PhoneDiscovered, ConfigFetched and RpsResult from JetStream
// and publishes PhoneChanged through the store's outbox.
package inventory

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"golang.org/x/crypto/bcrypt"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/proto"

	"github.com/dialtone-voip/dialtone/platform/auth"
	"github.com/dialtone-voip/dialtone/platform/backoff"
	"github.com/dialtone-voip/dialtone/platform/config"
	"github.com/dialtone-voip/dialtone/platform/grpcserver"
	"github.com/dialtone-voip/dialtone/platform/natsjs"
	inventoryv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/inventory/v1"
	rendererv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/renderer/v1"
	"github.com/dialtone-voip/dialtone/services/inventory/internal/server"
	"github.com/dialtone-voip/dialtone/services/inventory/internal/store"
	"github.com/dialtone-voip/dialtone/services/inventory/internal/store/boltstore"
	"github.com/dialtone-voip/dialtone/services/inventory/internal/store/redisstore"
	"github.com/dialtone-voip/dialtone/services/inventory/internal/store/sealstore"

	_ "time/tzdata" // time zones are validated even where the system has no zoneinfo
)

// Store is inventory's storage; build one with OpenBoltStore or NewRedisStore.
type Store = store.Store

// OpenBoltStore opens (or creates) the embedded store at path.
func OpenBoltStore(path string) (Store, error) { return boltstore.Open(path) }

// NewRedisStore returns a store over c with keys under keyPrefix ("" means
// "{dt}:"). Closing the store leaves c open.
func NewRedisStore(c redis.UniversalClient, keyPrefix string) Store {
	return redisstore.New(c, keyPrefix)
}

// Config is the service's configuration.
type Config struct {
	GRPCAddr  string
	AdminAddr string

	// Storage: Redis (URL or Sentinel) or the embedded store in DataDir / BoltPath.
	RedisURL           string
	RedisSentinelAddrs string // comma-separated host:port
	RedisMasterName    string
	RedisKeyPrefix     string
	DataDir            string
	BoltPath           string

	NATSURL string

	EdgeHTTPBase  string
	EdgeHTTPSBase string
	// HTTPSHint names what configures an HTTPS edge in refusals (default
	// "--edge-https-base"); not a flag: a program embedding inventory sets it.
	HTTPSHint  string
	Bootstrap  bool
	TokenGrace time.Duration
	TokensFile string

	// RendererAddr is config-renderer's gRPC address, asked (ResolveModel) for
	// every phone's vendor and model; "" records models unchecked.
	RendererAddr      string
	RendererTokenFile string
	// Discovered, never-assigned PnP phones: removed when unseen for
	// DiscoveredTTL, at most DiscoveredMax kept per tenant; checked every
	// DiscoveredSweep. 0 switches the TTL or the cap off.
	DiscoveredTTL   time.Duration
	DiscoveredMax   int
	DiscoveredSweep time.Duration
	// PasswordHashCost is the bcrypt work factor of new console user
	// passwords (0: bcrypt's default, 10).
	PasswordHashCost int

	// GRPC bounds the gRPC server (message sizes, streams, keep-alives);
	// the per-method caps come from GRPCRecvLimits.
	GRPC grpcserver.Limits

	LogFormat string
	LogLevel  string

	// Secrets at rest and backups (backups.go).
	KEKFile     string
	BackupDir   string
	BackupEvery time.Duration
	BackupKeep  int
}

// RegisterFlags registers the flags (env DIALTONE_INVENTORY_<FLAG>).
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.GRPCAddr, "grpc-addr", ":9090", "gRPC listen address")
	fs.StringVar(&c.AdminAddr, "admin-addr", ":9190", "admin HTTP listen address (/healthz, /readyz, /metrics)")
	fs.StringVar(&c.RedisURL, "redis-url", "", "Redis URL (redis://, rediss://, unix://)")
	fs.StringVar(&c.RedisSentinelAddrs, "redis-sentinel-addrs", "", "comma-separated Redis Sentinel addresses (with --redis-master-name)")
	fs.StringVar(&c.RedisMasterName, "redis-master-name", "", "Redis Sentinel master name")
	fs.StringVar(&c.RedisKeyPrefix, "redis-key-prefix", redisstore.DefaultPrefix, "prefix of every Redis key (keep a {hash tag} for Redis Cluster)")
	fs.StringVar(&c.DataDir, "data-dir", "", "directory of the embedded store (inventory.db), instead of Redis")
	fs.StringVar(&c.BoltPath, "bolt-path", "", "path of the embedded store file (overrides --data-dir)")
	fs.StringVar(&c.NATSURL, "nats-url", "nats://127.0.0.1:4222", "NATS server URL, or comma-separated URLs of a cluster")
	fs.StringVar(&c.EdgeHTTPBase, "edge-http-base", "", "base URL of provision-http over HTTP, e.g. http://prov.example.com:8080")
	fs.StringVar(&c.EdgeHTTPSBase, "edge-https-base", "", "base URL of provision-http over HTTPS, e.g. https://prov.example.com:8443")
	fs.BoolVar(&c.Bootstrap, "bootstrap", true, "give discovered, unassigned phones a secret-free bootstrap URL")
	fs.DurationVar(&c.TokenGrace, "token-grace", 24*time.Hour, "how long a rotated-out provisioning token keeps working")
	fs.StringVar(&c.TokensFile, "tokens-file", "", "JSON file of API tokens (hashed) and their roles")
	fs.StringVar(&c.RendererAddr, "renderer-addr", "", "config-renderer gRPC address, asked for each phone's vendor, model and family (empty: models are not checked)")
	fs.StringVar(&c.RendererTokenFile, "renderer-token-file", "", "file holding the bearer token for config-renderer")
	fs.DurationVar(&c.DiscoveredTTL, "discovered-ttl", 720*time.Hour, "remove discovered, never-assigned PnP phones unseen this long (0: never)")
	fs.IntVar(&c.DiscoveredMax, "discovered-max", 50000, "discovered, never-assigned PnP phones kept per tenant (the one whose pnp_listeners saw them; unclaimed listeners share one pool); the longest unseen are removed first (0: no cap)")
	fs.IntVar(&c.PasswordHashCost, "password-hash-cost", bcrypt.DefaultCost, "bcrypt work factor of new console user passwords (4 to 16; each step doubles a login's CPU time)")
	fs.DurationVar(&c.DiscoveredSweep, "discovered-sweep", time.Minute, "how often --discovered-ttl and --discovered-max are applied")
	c.GRPC.RegisterFlags(fs)
	fs.StringVar(&c.LogFormat, "log-format", "json", "log format: json or text")
	fs.StringVar(&c.LogLevel, "log-level", "info", "log level: debug, info, warn, error")
	c.registerBackupFlags(fs)
}

// Validate checks the configuration.
func (c Config) Validate() error {
	var errs []error
	for name, addr := range map[string]string{"grpc-addr": c.GRPCAddr, "admin-addr": c.AdminAddr} {
		if addr != "" {
			if err := config.HostPort(addr); err != nil {
				errs = append(errs, fmt.Errorf("--%s: %w", name, err))
			}
		}
	}
	redisSet := c.RedisURL != "" || c.RedisSentinelAddrs != ""
	if c.RedisURL != "" && c.RedisSentinelAddrs != "" {
		errs = append(errs, errors.New("--redis-url and --redis-sentinel-addrs exclude each other"))
	}
	if c.RedisSentinelAddrs != "" {
		if c.RedisMasterName == "" {
			errs = append(errs, errors.New("--redis-sentinel-addrs needs --redis-master-name"))
		}
		for _, a := range c.SentinelAddrs() {
			if err := config.HostPort(a); err != nil {
				errs = append(errs, fmt.Errorf("--redis-sentinel-addrs: %w", err))
			}
		}
	}
	if c.RedisURL != "" {
		if err := config.URL(c.RedisURL, "redis", "rediss", "unix"); err != nil {
			errs = append(errs, fmt.Errorf("--redis-url: %w", err))
		}
	}
	if redisSet && (c.DataDir != "" || c.BoltPath != "") {
		errs = append(errs, errors.New("choose Redis or the embedded store (--data-dir/--bolt-path), not both"))
	}
	if strings.ContainsAny(c.RedisKeyPrefix, " \n\x00") {
		errs = append(errs, errors.New("--redis-key-prefix must not contain spaces or control characters"))
	}
	if c.NATSURL != "" {
		if err := config.URLList(c.NATSURL, "nats", "tls", "ws", "wss"); err != nil {
			errs = append(errs, fmt.Errorf("--nats-url: %w", err))
		}
	}
	if c.EdgeHTTPBase != "" {
		if err := config.URL(c.EdgeHTTPBase, "http"); err != nil {
			errs = append(errs, fmt.Errorf("--edge-http-base: %w", err))
		}
	}
	if c.EdgeHTTPSBase != "" {
		if err := config.URL(c.EdgeHTTPSBase, "https"); err != nil {
			errs = append(errs, fmt.Errorf("--edge-https-base: %w", err))
		}
	}
	if c.EdgeHTTPBase == "" && c.EdgeHTTPSBase == "" {
		errs = append(errs, errors.New("set --edge-http-base and/or --edge-https-base (where phones fetch their files)"))
	}
	if c.TokenGrace < 0 || c.TokenGrace > 30*24*time.Hour {
		errs = append(errs, errors.New("--token-grace must be 0 to 720h"))
	}
	if c.DiscoveredTTL < 0 || c.DiscoveredMax < 0 {
		errs = append(errs, errors.New("--discovered-ttl and --discovered-max must not be negative (0 switches them off)"))
	}
	if c.PasswordHashCost != 0 && (c.PasswordHashCost < bcrypt.MinCost || c.PasswordHashCost > 16) {
		errs = append(errs, errors.New("--password-hash-cost must be 4 to 16"))
	}
	if c.DiscoveredSweep < time.Second {
		errs = append(errs, errors.New("--discovered-sweep must be at least 1s"))
	}
	if err := config.OneOf(strings.ToLower(c.LogFormat), "json", "text"); err != nil {
		errs = append(errs, fmt.Errorf("--log-format: %w", err))
	}
	if err := config.OneOf(strings.ToLower(c.LogLevel), "debug", "info", "warn", "error"); err != nil {
		errs = append(errs, fmt.Errorf("--log-level: %w", err))
	}
	errs = append(errs, c.validateBackup()...)
	return errors.Join(errs...)
}

// SentinelAddrs splits RedisSentinelAddrs.
func (c Config) SentinelAddrs() []string {
	var out []string
	for _, a := range strings.Split(c.RedisSentinelAddrs, ",") {
		if a = strings.TrimSpace(a); a != "" {
			out = append(out, a)
		}
	}
	return out
}

// StorePath is the embedded store's file: BoltPath, else DataDir/inventory.db.
func (c Config) StorePath() string {
	if c.BoltPath != "" {
		return c.BoltPath
	}
	if c.DataDir != "" {
		return strings.TrimRight(c.DataDir, "/") + "/inventory.db"
	}
	return ""
}

// Deps is what the process wires in.
type Deps struct {
	Logger     *slog.Logger
	Registerer prometheus.Registerer
	Store      Store
	// JetStream carries the events; nil leaves the service without events
	// (Run then only waits, WatchPhones and ReprovisionPhone are Unavailable).
	JetStream jetstream.JetStream
	// Models decides each phone's vendor, model and family (config-renderer's
	// ResolveModel). nil: dialled from Config.RendererAddr when set, else
	// models are recorded unchecked (vendor from the MAC's block).
	Models ModelResolver
}

// ModelResolver is config-renderer's ResolveModel (a
// rendererv1.ConfigRendererServiceClient is one).
type ModelResolver = server.ModelResolver

// Service is a running inventory.
type Service struct {
	cfg  Config
	deps Deps
	log  *slog.Logger
	srv  *server.Server

	mu       sync.Mutex
	streamed bool // the event streams exist

	rendererConn *grpc.ClientConn // dialled from RendererAddr; closed when Run ends
	sealed       *sealstore.Store
	backups      backupState
}

// New builds the service.
func New(cfg Config, deps Deps) (*Service, error) {
	if deps.Store == nil {
		return nil, errors.New("inventory: Deps.Store is required")
	}
	if deps.Logger == nil {
		deps.Logger = slog.New(slog.DiscardHandler)
	}
	// Seal secrets at rest (or find the store locked without a KEK);
	// migrating plaintext happens here, once, before anything serves.
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	sealed, err := sealstore.Open(sctx, deps.Store, sealstore.Options{KEKFile: cfg.KEKFile, Logger: deps.Logger})
	// A store not up yet (Redis starting with the pod) is waited for, as
	// the service would otherwise only be unready.
	b := backoff.New(backoff.Policy{Base: 200 * time.Millisecond, Max: 5 * time.Second})
	for errors.Is(err, store.ErrUnavailable) && sctx.Err() == nil {
		deps.Logger.Warn("store not reachable; retrying", "err", err)
		_ = backoff.Wait(sctx, b.Next())
		sealed, err = sealstore.Open(sctx, deps.Store, sealstore.Options{KEKFile: cfg.KEKFile, Logger: deps.Logger})
	}
	cancel()
	if err != nil {
		return nil, fmt.Errorf("inventory: %w", err)
	}
	deps.Store = sealed
	var publish server.Publisher
	if js := deps.JetStream; js != nil {
		publish = func(ctx context.Context, subject, msgID string, msg proto.Message) error {
			return natsjs.Publish(ctx, js, subject, msg, msgID)
		}
	}
	var rendererConn *grpc.ClientConn
	if deps.Models == nil && cfg.RendererAddr != "" {
		var token []byte
		if cfg.RendererTokenFile != "" {
			t, err := os.ReadFile(cfg.RendererTokenFile)
			if err != nil {
				return nil, fmt.Errorf("inventory: --renderer-token-file: %w", err)
			}
			token = bytes.TrimSpace(t)
		}
		conn, err := grpc.NewClient(cfg.RendererAddr, grpc.WithTransportCredentials(insecure.NewCredentials()),
			grpc.WithPerRPCCredentials(auth.BearerToken(string(token), false)))
		if err != nil {
			return nil, fmt.Errorf("inventory: --renderer-addr: %w", err)
		}
		deps.Models = rendererv1.NewConfigRendererServiceClient(conn)
		rendererConn = conn
	}
	srv, err := server.New(server.Config{
		EdgeHTTPBase: cfg.EdgeHTTPBase, EdgeHTTPSBase: cfg.EdgeHTTPSBase, HTTPSHint: cfg.HTTPSHint,
		Bootstrap: cfg.Bootstrap, TokenGrace: cfg.TokenGrace,
		DiscoveredTTL: cfg.DiscoveredTTL, DiscoveredMax: cfg.DiscoveredMax,
		PasswordCost: cfg.PasswordHashCost,
	}, deps.Store, server.Options{
		Logger: deps.Logger, Registerer: deps.Registerer, JetStream: deps.JetStream, Publish: publish, Models: deps.Models,
	})
	if err != nil {
		if rendererConn != nil {
			rendererConn.Close()
		}
		return nil, fmt.Errorf("inventory: %w", err)
	}
	svc := &Service{cfg: cfg, deps: deps, log: deps.Logger, srv: srv, sealed: sealed.Sealer(), rendererConn: rendererConn}
	if err := svc.registerBackupMetrics(deps.Registerer); err != nil {
		return nil, fmt.Errorf("inventory: %w", err)
	}
	return svc, nil
}

// GRPCStreamWorkers is the grpc.NumStreamWorkers a process serving
// inventory should use (cmd/inventory does): calls run on reused
// goroutines instead of a new one each, whose stack then has to grow —
// with a new goroutine per call that growth was ~8 % of a profile
// lookup's CPU (bench: BenchmarkProfileVsRedisGet).
const GRPCStreamWorkers = 64

// RegisterGRPC registers InventoryService.
func (s *Service) RegisterGRPC(r grpc.ServiceRegistrar) {
	inventoryv1.RegisterInventoryServiceServer(r, s.srv)
}

// Ready is nil when the store answers and (with JetStream) the streams
// exist and the consumers run.
func (s *Service) Ready() error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := s.deps.Store.Ping(ctx); err != nil {
		return errors.New("store not reachable")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.deps.JetStream != nil && !s.streamed {
		return errors.New("event streams not ready")
	}
	return nil
}

// GRPCRecvLimits caps InventoryService request messages below the server's
// --grpc-max-recv-bytes: every request names a resource, a page or a mask
// (4 KiB), and writes carry one resource (64 KiB, far above a phone with
// every line and setting). A caller with a token cannot make a handler,
// the store or the event stream carry megabytes.
func GRPCRecvLimits() map[string]int {
	const small, write = 4 << 10, 64 << 10
	out := map[string]int{}
	for _, m := range inventoryv1.InventoryService_ServiceDesc.Methods {
		limit := small
		if strings.HasPrefix(m.MethodName, "Create") || strings.HasPrefix(m.MethodName, "Update") {
			limit = write
		}
		out["/"+inventoryv1.InventoryService_ServiceDesc.ServiceName+"/"+m.MethodName] = limit
	}
	for _, st := range inventoryv1.InventoryService_ServiceDesc.Streams {
		out["/"+inventoryv1.InventoryService_ServiceDesc.ServiceName+"/"+st.StreamName] = small
	}
	return out
}
