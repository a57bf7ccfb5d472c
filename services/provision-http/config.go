package provisionhttp

import (
	"errors"
	"flag"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/dialtone-voip/dialtone/platform/config"
)

// Config is provision-http's configuration. RegisterFlags sets the defaults.
type Config struct {
	// Phone listeners. An empty address disables that listener.
	HTTPAddr  string
	HTTPSAddr string
	// PEM files of the certificate chain and key for HTTPS, re-read when they change.
	TLSCert string
	TLSKey  string
	// Also offer TLS_RSA_WITH_AES_{128,256}_CBC_SHA (no forward secrecy) for
	// phones whose firmware knows no ECDHE suite. Off by default.
	TLSLegacyCiphers bool
	// Directory of per-vendor CA bundles ("{vendor}.pem") that verify the
	// phones' factory certificates; empty: no client certificate is asked for.
	DeviceCADir string

	// Process wiring, used by the service's main (the one-process binary
	// wires these itself).
	AdminAddr          string
	InventoryAddr      string
	RendererAddr       string
	InventoryTokenFile string
	// RelayTokensFile is a tokens file (platform/auth's JSON, hashes) of
	// the pnp-listeners whose link assertions on relayed fetches are
	// honoured (role listener); empty: none are.
	RelayTokensFile string
	GRPCCAFile      string
	NATSURL         string
	LogFormat       string
	LogLevel        string

	// Clients whose address is in one of these prefixes are proxies: the
	// client address is then taken from X-Forwarded-For. Default none.
	TrustedProxies []netip.Prefix

	// Throttling of failing sources (see internal/throttle).
	ThrottleSize      int
	ThrottleThreshold float64
	ThrottleLeak      float64
	ThrottleBase      time.Duration
	ThrottleMax       time.Duration
	ThrottleForget    time.Duration
	// Inventory look-ups per second, shared by all blocked sources, for
	// tokens this replica has never seen valid.
	ThrottledLookupRate float64
	// Token hashes remembered as valid (for 24h) so that phones behind a
	// blocked address keep being served.
	KnownTokens int

	// Caches. Size 0 disables a cache.
	TokenCacheSize  int           // token look-ups (valid and unknown alike)
	FileCacheBytes  int64         // rendered files
	CacheTTL        time.Duration // upper bound on staleness when an event is missed
	ModelCacheTTL   time.Duration
	UpstreamTimeout time.Duration
	// How often the renderer's template set version is checked; a change
	// drops every cached file and model. 0: never (then --cache-ttl and
	// --model-cache-ttl bound how long a template change takes to show).
	TemplatePoll time.Duration

	// Every 404 answer takes at least this long (0: no padding), so that the
	// work behind it cannot be timed.
	NotFoundMinLatency time.Duration

	// Decoy is the catalog model ("vendor/model") whose bootstrap profile
	// unknown tokens are rendered with, so they cost what a known one costs.
	Decoy string

	// ConfigFetched events waiting to be published; beyond this they are dropped.
	EventQueue int
	// Log one line per request (never the token, never a body).
	AccessLog bool

	// Connection limits of the phone listeners (HTTP and HTTPS together).
	// MaxConns 0 sizes the total from RLIMIT_NOFILE minus FDReserve, the
	// descriptors kept for the store, NATS, gRPC, the admin port and files.
	MaxConns          int
	MaxConnsPerSource int
	FDReserve         int
	// Timeouts of phone connections: phones fetch a few files and go, so
	// idle keep-alive connections are closed soon.
	ReadHeaderTimeout time.Duration
	ReadTimeout       time.Duration
	WriteTimeout      time.Duration
	IdleTimeout       time.Duration
}

// RegisterFlags registers the flags and sets the defaults.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.HTTPAddr, "http-addr", ":8080", "phone-facing HTTP listen address (empty: off)")
	fs.StringVar(&c.HTTPSAddr, "https-addr", ":8443", "phone-facing HTTPS listen address (empty: off)")
	fs.StringVar(&c.TLSCert, "tls-cert", "", "PEM certificate chain for HTTPS (re-read when it changes)")
	fs.StringVar(&c.TLSKey, "tls-key", "", "PEM private key for HTTPS (re-read when it changes)")
	fs.BoolVar(&c.TLSLegacyCiphers, "tls-legacy-ciphers", false, "also offer TLS_RSA_WITH_AES_*_CBC_SHA for very old phones (no forward secrecy)")
	fs.StringVar(&c.DeviceCADir, "device-ca-dir", "", "directory of per-vendor CA bundles ({vendor}.pem: cisco, grandstream, poly, snom, yealink) that verify phones' factory certificates; HTTPS then asks for a client certificate (re-read when they change)")
	fs.StringVar(&c.AdminAddr, "admin-addr", ":9193", "admin HTTP listen address (/healthz, /readyz, /metrics)")
	fs.StringVar(&c.InventoryAddr, "inventory-addr", "127.0.0.1:9090", "inventory gRPC address")
	fs.StringVar(&c.RendererAddr, "renderer-addr", "127.0.0.1:9091", "config-renderer gRPC address")
	fs.StringVar(&c.InventoryTokenFile, "inventory-token-file", "", "file holding the bearer token (role edge) for inventory and config-renderer")
	fs.StringVar(&c.RelayTokensFile, "relay-tokens-file", "", "tokens file (JSON, SHA-256 hashes; re-read when it changes) of the pnp-listeners whose link assertion on a relayed TFTP fetch is honoured (role listener): the fetch then proves the phone's link (empty: assertions are ignored and counted)")
	fs.StringVar(&c.GRPCCAFile, "grpc-ca-file", "", "CA bundle to verify inventory and config-renderer over TLS (empty: plaintext)")
	fs.StringVar(&c.NATSURL, "nats-url", "", "NATS URL, or comma-separated URLs of a cluster, for ConfigFetched events and cache invalidation (empty: none; caches then rely on --cache-ttl)")
	fs.StringVar(&c.LogFormat, "log-format", "json", "log format: json or text")
	fs.StringVar(&c.LogLevel, "log-level", "info", "log level: debug, info, warn or error")
	fs.Func("trusted-proxies", "comma-separated CIDRs of proxies whose X-Forwarded-For is believed (default none)", func(s string) error {
		p, err := parsePrefixes(s)
		if err != nil {
			return err
		}
		c.TrustedProxies = p
		return nil
	})
	fs.IntVar(&c.ThrottleSize, "throttle-size", 65536, "sources tracked by the failure throttle (fixed memory)")
	fs.Float64Var(&c.ThrottleThreshold, "throttle-threshold", 20, "failure score above which a source is blocked")
	fs.Float64Var(&c.ThrottleLeak, "throttle-leak", 0.5, "failures forgiven per second")
	fs.DurationVar(&c.ThrottleBase, "throttle-base", time.Second, "first block; doubles with every further block")
	fs.DurationVar(&c.ThrottleMax, "throttle-max", 5*time.Minute, "longest block")
	fs.DurationVar(&c.ThrottleForget, "throttle-forget", 15*time.Minute, "quiet time after which a source's blocks are forgotten")
	fs.Float64Var(&c.ThrottledLookupRate, "throttled-lookup-rate", 20, "inventory look-ups per second for never-seen tokens from blocked sources (all sources together)")
	fs.IntVar(&c.KnownTokens, "known-tokens", 100000, "valid token hashes remembered for 24h so phones behind a blocked address are served")
	fs.IntVar(&c.TokenCacheSize, "token-cache-size", 100000, "token look-ups cached (0: off)")
	fs.Int64Var(&c.FileCacheBytes, "file-cache-bytes", 64<<20, "bytes of rendered files cached (0: off)")
	fs.DurationVar(&c.CacheTTL, "cache-ttl", time.Minute, "longest time a cached look-up or file is used")
	fs.DurationVar(&c.ModelCacheTTL, "model-cache-ttl", 10*time.Minute, "how long catalog models are cached")
	fs.DurationVar(&c.UpstreamTimeout, "upstream-timeout", 5*time.Second, "timeout of one inventory or renderer call")
	fs.DurationVar(&c.TemplatePoll, "template-poll", 2*time.Second, "how often to check the renderer's template set; a change drops cached files and models (0: never)")
	fs.DurationVar(&c.NotFoundMinLatency, "not-found-min-latency", 25*time.Millisecond, "minimum time of every 404 answer (0: off)")
	fs.StringVar(&c.Decoy, "decoy-model", "yealink/T54W", "catalog model (vendor/model) rendered for unknown tokens")
	fs.IntVar(&c.EventQueue, "event-queue", 4096, "ConfigFetched events queued for publishing; more are dropped and counted")
	fs.BoolVar(&c.AccessLog, "access-log", true, "log every request (token redacted, no bodies)")
	fs.IntVar(&c.MaxConns, "max-conns", 0, "open phone connections in all, HTTP and HTTPS together (0: RLIMIT_NOFILE minus --fd-reserve)")
	fs.IntVar(&c.MaxConnsPerSource, "max-conns-per-source", 256, "open phone connections from one IPv4 address or IPv6 /64 (raise it for sites with more phones behind one NAT address)")
	fs.IntVar(&c.FDReserve, "fd-reserve", 1024, "file descriptors kept free of phone connections, for the store, NATS, gRPC, the admin port and files")
	fs.DurationVar(&c.ReadHeaderTimeout, "read-header-timeout", 5*time.Second, "time a phone has to send its request headers")
	fs.DurationVar(&c.ReadTimeout, "read-timeout", 15*time.Second, "time a phone has to send a whole request")
	fs.DurationVar(&c.WriteTimeout, "write-timeout", 60*time.Second, "time to write one response")
	fs.DurationVar(&c.IdleTimeout, "idle-timeout", 5*time.Second, "how long an idle keep-alive connection is kept")
}

// Defaults returns a Config with the flag defaults, for tests and embedders.
func Defaults() Config {
	var c Config
	c.RegisterFlags(flag.NewFlagSet("defaults", flag.ContinueOnError))
	return c
}

func parsePrefixes(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		if !strings.Contains(f, "/") {
			a, err := netip.ParseAddr(f)
			if err != nil {
				return nil, fmt.Errorf("trusted proxy %q: %w", f, err)
			}
			out = append(out, netip.PrefixFrom(a, a.BitLen()))
			continue
		}
		p, err := netip.ParsePrefix(f)
		if err != nil {
			return nil, fmt.Errorf("trusted proxy %q: %w", f, err)
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

// Validate checks the configuration the service itself uses.
func (c Config) Validate() error {
	var errs []error
	if c.HTTPAddr == "" && c.HTTPSAddr == "" {
		errs = append(errs, errors.New("--http-addr and --https-addr are both empty"))
	}
	for name, a := range map[string]string{"--http-addr": c.HTTPAddr, "--https-addr": c.HTTPSAddr} {
		if a != "" {
			if err := config.HostPort(a); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", name, err))
			}
		}
	}
	if c.HTTPSAddr != "" && (c.TLSCert == "" || c.TLSKey == "") {
		errs = append(errs, errors.New("--https-addr needs --tls-cert and --tls-key (or set --https-addr= to serve plain HTTP only)"))
	}
	if c.DeviceCADir != "" && c.HTTPSAddr == "" {
		errs = append(errs, errors.New("--device-ca-dir needs --https-addr (client certificates exist only over TLS)"))
	}
	if c.ThrottleSize < 1 {
		errs = append(errs, errors.New("--throttle-size must be at least 1"))
	}
	if c.ThrottleThreshold <= 0 || c.ThrottleLeak <= 0 || c.ThrottleBase <= 0 || c.ThrottleMax < c.ThrottleBase || c.ThrottleForget <= 0 {
		errs = append(errs, errors.New("throttle: threshold, leak, base and forget must be positive and max at least base"))
	}
	if c.ThrottledLookupRate < 0 || c.KnownTokens < 0 || c.TokenCacheSize < 0 || c.FileCacheBytes < 0 {
		errs = append(errs, errors.New("rates and sizes must not be negative"))
	}
	if c.CacheTTL <= 0 || c.ModelCacheTTL <= 0 || c.UpstreamTimeout <= 0 {
		errs = append(errs, errors.New("--cache-ttl, --model-cache-ttl and --upstream-timeout must be positive"))
	}
	if c.TemplatePoll < 0 || c.TemplatePoll > 0 && c.TemplatePoll < 100*time.Millisecond {
		errs = append(errs, errors.New("--template-poll must be 0 (off) or at least 100ms"))
	}
	if c.NotFoundMinLatency < 0 || c.NotFoundMinLatency > 5*time.Second {
		errs = append(errs, errors.New("--not-found-min-latency must be between 0 and 5s"))
	}
	if v, m, ok := strings.Cut(c.Decoy, "/"); !ok || v == "" || m == "" {
		errs = append(errs, errors.New("--decoy-model must be vendor/model"))
	}
	if c.MaxConns < 0 || c.MaxConnsPerSource < 1 || c.FDReserve < 0 {
		errs = append(errs, errors.New("--max-conns and --fd-reserve must not be negative, --max-conns-per-source must be at least 1"))
	}
	if c.ReadHeaderTimeout <= 0 || c.ReadTimeout <= 0 || c.WriteTimeout <= 0 || c.IdleTimeout <= 0 {
		errs = append(errs, errors.New("--read-header-timeout, --read-timeout, --write-timeout and --idle-timeout must be positive"))
	}
	if c.EventQueue < 1 {
		errs = append(errs, errors.New("--event-queue must be at least 1"))
	}
	return errors.Join(errs...)
}
