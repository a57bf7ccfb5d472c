// Package rpsclient is Dialtone's rps-client service: it registers phones
// with their vendors' redirect services (RPS), so that a phone booting
// anywhere is sent to its provisioning URL. It follows inventory's
// PhoneChanged events through the durable JetStream consumer
// "rps-client-changes", keeps each MAC's status in a Store (Redis, shared
// by replicas, or an embedded bbolt file in the one-process dialtone),
// retries transient failures from the Store's persisted schedule, publishes
// RpsResult events and serves dialtone.rps.v1.RedirectService.
package rpsclient

import (
	"errors"
	"flag"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/dialtone-voip/dialtone/platform/config"
	"github.com/dialtone-voip/dialtone/platform/grpcserver"
)

// Config is rps-client's configuration. The fields up to TokensFile are
// read by the process (main or dialtone); the rest by the service.
type Config struct {
	// GRPC bounds the gRPC server (--grpc-max-recv-bytes, --grpc-max-streams, keep-alives).
	GRPC               grpcserver.Limits
	GRPCAddr           string
	AdminAddr          string
	NATSURL            string
	RedisURL           string
	RedisSentinelAddrs string // comma-separated host:port list; enables Sentinel
	RedisMasterName    string // Sentinel master name
	InventoryAddr      string
	InventoryTokenFile string
	LogFormat          string
	LogLevel           string
	TokensFile         string

	// CredentialsDir holds the vendor accounts (see README.md).
	CredentialsDir  string
	CredentialsPoll time.Duration
	// BaseURLs overrides an API's base URL: api → URL.
	BaseURLs BaseURLs
	// VendorTimeout bounds one HTTP exchange with a vendor.
	VendorTimeout time.Duration
	// VendorRate bounds the attempts per second made with one vendor
	// account (per replica), with bursts of VendorBurst; 0: no limit.
	VendorRate  float64
	VendorBurst int
	// Retry policy for transient failures: delay = min(RetryMax,
	// RetryBase·2^(attempts-1)) with equal jitter, never less than the
	// vendor's Retry-After.
	RetryBase time.Duration
	RetryMax  time.Duration
	// RetryPoll is how often the schedule is scanned for due retries.
	RetryPoll time.Duration
	// LockTTL bounds how long one worker may hold a MAC.
	LockTTL time.Duration
	// DeregisteredTTL is how long the status of a deregistered phone is
	// kept (0: for ever); every SweepInterval older ones are deleted.
	DeregisteredTTL time.Duration
	SweepInterval   time.Duration
	// RedisPrefix prefixes every Redis key.
	RedisPrefix string
	// Consumer is the durable JetStream consumer name.
	Consumer string
}

// Defaults returns the default configuration.
func Defaults() Config {
	return Config{
		GRPCAddr: ":9092", AdminAddr: ":9192", NATSURL: "nats://127.0.0.1:4222",
		RedisURL: "redis://127.0.0.1:6379/0", RedisMasterName: "mymaster", InventoryAddr: "127.0.0.1:9090",
		LogFormat: "json", LogLevel: "info",
		CredentialsPoll: 10 * time.Second, VendorTimeout: 15 * time.Second, VendorRate: 10, VendorBurst: 20,
		RetryBase: 5 * time.Second, RetryMax: 15 * time.Minute, RetryPoll: time.Second, LockTTL: 3 * time.Minute,
		DeregisteredTTL: 30 * 24 * time.Hour, SweepInterval: time.Hour,
		RedisPrefix: "dialtone:rps:", Consumer: "rps-client-changes", BaseURLs: BaseURLs{},
	}
}

// RegisterFlags binds the configuration to fs, with c's values as defaults.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.GRPCAddr, "grpc-addr", c.GRPCAddr, "gRPC listen address (RedirectService)")
	c.GRPC.RegisterFlags(fs)
	fs.StringVar(&c.AdminAddr, "admin-addr", c.AdminAddr, "admin HTTP listen address (/healthz, /readyz, /metrics)")
	fs.StringVar(&c.NATSURL, "nats-url", c.NATSURL, "NATS server URL, or comma-separated URLs of a cluster")
	fs.StringVar(&c.RedisURL, "redis-url", c.RedisURL, "Redis URL (redis://, rediss://, unix://)")
	fs.StringVar(&c.RedisSentinelAddrs, "redis-sentinel-addrs", c.RedisSentinelAddrs, "comma-separated Sentinel addresses (host:port); used instead of --redis-url")
	fs.StringVar(&c.RedisMasterName, "redis-master-name", c.RedisMasterName, "Sentinel master name")
	fs.StringVar(&c.InventoryAddr, "inventory-addr", c.InventoryAddr, "inventory gRPC address")
	fs.StringVar(&c.InventoryTokenFile, "inventory-token-file", c.InventoryTokenFile, "file holding the bearer token (role service) for inventory")
	fs.StringVar(&c.LogFormat, "log-format", c.LogFormat, "log format: json or text")
	fs.StringVar(&c.LogLevel, "log-level", c.LogLevel, "log level: debug, info, warn, error")
	fs.StringVar(&c.TokensFile, "tokens-file", c.TokensFile, "tokens file authenticating gRPC callers (SHA-256 hashes)")
	fs.StringVar(&c.CredentialsDir, "credentials-dir", c.CredentialsDir, "directory of vendor account files (per tenant and vendor)")
	fs.DurationVar(&c.CredentialsPoll, "credentials-poll", c.CredentialsPoll, "how often the credentials directory is re-read")
	fs.Var(&c.BaseURLs, "base-url", "override an API's base URL: api=url (repeatable or comma-separated), e.g. yealink-rps=https://sandbox.example")
	fs.DurationVar(&c.VendorTimeout, "vendor-timeout", c.VendorTimeout, "timeout of one HTTP exchange with a vendor")
	fs.Float64Var(&c.VendorRate, "vendor-rate", c.VendorRate, "register/deregister attempts per second per vendor account, per replica (0: no limit); the rest wait for a slot")
	fs.IntVar(&c.VendorBurst, "vendor-burst", c.VendorBurst, "attempts per vendor account that may go at once before --vendor-rate spaces them")
	fs.DurationVar(&c.RetryBase, "retry-base", c.RetryBase, "first retry delay after a transient failure")
	fs.DurationVar(&c.RetryMax, "retry-max", c.RetryMax, "largest retry delay")
	fs.DurationVar(&c.RetryPoll, "retry-poll", c.RetryPoll, "how often due retries are looked for")
	fs.DurationVar(&c.LockTTL, "lock-ttl", c.LockTTL, "how long one worker may hold a MAC")
	fs.DurationVar(&c.DeregisteredTTL, "deregistered-ttl", c.DeregisteredTTL, "how long a deregistered phone's status is kept (0: for ever)")
	fs.DurationVar(&c.SweepInterval, "sweep-interval", c.SweepInterval, "how often statuses older than --deregistered-ttl are deleted")
	fs.StringVar(&c.RedisPrefix, "redis-prefix", c.RedisPrefix, "prefix of every Redis key")
	fs.StringVar(&c.Consumer, "consumer", c.Consumer, "durable JetStream consumer name (shared by replicas)")
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
	for api, u := range c.BaseURLs {
		if _, ok := apis[api]; !ok {
			errs = append(errs, fmt.Errorf("--base-url: unknown api %q", api))
		}
		if err := config.URL(u, "http", "https"); err != nil {
			errs = append(errs, fmt.Errorf("--base-url %s: %w", api, err))
		}
	}
	pos := map[string]time.Duration{"credentials-poll": c.CredentialsPoll, "vendor-timeout": c.VendorTimeout,
		"retry-base": c.RetryBase, "retry-max": c.RetryMax, "retry-poll": c.RetryPoll, "lock-ttl": c.LockTTL,
		"sweep-interval": c.SweepInterval}
	for name, d := range pos {
		if d <= 0 {
			errs = append(errs, fmt.Errorf("--%s must be positive", name))
		}
	}
	if c.DeregisteredTTL < 0 {
		errs = append(errs, errors.New("--deregistered-ttl must not be negative"))
	}
	if c.VendorRate < 0 || c.VendorRate > 10000 || c.VendorBurst < 1 || c.VendorBurst > 100000 {
		errs = append(errs, errors.New("--vendor-rate must be within [0, 10000] and --vendor-burst within [1, 100000]"))
	}
	if c.RetryMax < c.RetryBase {
		errs = append(errs, errors.New("--retry-max must not be below --retry-base"))
	}
	if c.LockTTL < 4*c.VendorTimeout {
		errs = append(errs, errors.New("--lock-ttl must be at least 4 × --vendor-timeout (one attempt makes several calls)"))
	}
	if c.NATSURL != "" {
		for _, u := range strings.Split(c.NATSURL, ",") {
			if err := config.URL(strings.TrimSpace(u), "nats", "tls", "ws", "wss"); err != nil {
				errs = append(errs, fmt.Errorf("--nats-url: %w", err))
			}
		}
	}
	if c.RedisSentinelAddrs != "" {
		for _, a := range c.SentinelAddrs() {
			if err := config.HostPort(a); err != nil {
				errs = append(errs, fmt.Errorf("--redis-sentinel-addrs: %w", err))
			}
		}
		if c.RedisMasterName == "" {
			errs = append(errs, errors.New("--redis-sentinel-addrs needs --redis-master-name"))
		}
	} else if c.RedisURL != "" { // empty: the process passes Deps.Store (cmd/rps-client requires Redis)
		if err := config.URL(c.RedisURL, "redis", "rediss", "unix"); err != nil {
			errs = append(errs, fmt.Errorf("--redis-url: %w", err))
		}
	}
	if c.InventoryAddr != "" {
		if err := config.HostPort(c.InventoryAddr); err != nil && !strings.Contains(c.InventoryAddr, "://") {
			errs = append(errs, fmt.Errorf("--inventory-addr: %w", err))
		}
	}
	if err := config.OneOf(strings.ToLower(c.LogFormat), "json", "text"); err != nil {
		errs = append(errs, fmt.Errorf("--log-format: %w", err))
	}
	if err := config.OneOf(strings.ToLower(c.LogLevel), "debug", "info", "warn", "error"); err != nil {
		errs = append(errs, fmt.Errorf("--log-level: %w", err))
	}
	if strings.ContainsAny(c.RedisPrefix, " \n\x00") {
		errs = append(errs, errors.New("--redis-prefix must not contain spaces or control characters"))
	}
	if c.Consumer == "" {
		errs = append(errs, errors.New("--consumer is required"))
	}
	return errors.Join(errs...)
}

// SentinelAddrs splits --redis-sentinel-addrs.
func (c Config) SentinelAddrs() []string {
	var out []string
	for _, a := range strings.Split(c.RedisSentinelAddrs, ",") {
		if a = strings.TrimSpace(a); a != "" {
			out = append(out, a)
		}
	}
	return out
}

// BaseURLs maps an API name to a base URL; it is a flag.Value.
type BaseURLs map[string]string

func (b BaseURLs) String() string {
	keys := make([]string, 0, len(b))
	for k := range b {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + b[k]
	}
	return strings.Join(parts, ",")
}

// Set adds "api=url" pairs (comma-separated).
func (b *BaseURLs) Set(s string) error {
	if *b == nil {
		*b = BaseURLs{}
	}
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		k, v, ok := strings.Cut(part, "=")
		if !ok || k == "" || v == "" {
			return fmt.Errorf("want api=url, got %q", part)
		}
		(*b)[strings.TrimSpace(k)] = strings.TrimSpace(v)
	}
	return nil
}
