package console

import (
	"errors"
	"flag"
	"fmt"
	"time"

	"github.com/dialtone-voip/dialtone/platform/config"
)

// ServiceConfig is the standalone console's configuration
// (services/console/cmd/console; `dialtone` sets Config directly). Every
// flag --foo-bar is also DIALTONE_CONSOLE_FOO_BAR.
type ServiceConfig struct {
	HTTPSAddr, HTTPAddr   string
	CertFile, KeyFile     string
	BehindTLSProxy        bool
	AdminAddr             string
	InventoryAddr         string
	RendererAddr, RpsAddr string
	TokenFile             string
	GRPCCAFile            string
	DefaultTenant         string
	SessionTTL            time.Duration
	LogFormat, LogLevel   string
}

// RegisterFlags registers the flags on fs.
func (c *ServiceConfig) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.HTTPSAddr, "https-addr", ":8088", "HTTPS listen address of the console (needs --cert-file and --key-file)")
	fs.StringVar(&c.HTTPAddr, "http-addr", "", "plain-HTTP listen address instead of --https-addr (only behind a TLS-terminating proxy)")
	fs.StringVar(&c.CertFile, "cert-file", "", "TLS certificate (PEM) for --https-addr")
	fs.StringVar(&c.KeyFile, "key-file", "", "TLS private key (PEM) for --https-addr")
	fs.BoolVar(&c.BehindTLSProxy, "behind-tls-proxy", false, "with --http-addr: browsers reach the console over HTTPS (Secure cookies, HSTS)")
	fs.StringVar(&c.AdminAddr, "admin-addr", ":9195", "admin HTTP listen address (/healthz, /readyz, /metrics)")
	fs.StringVar(&c.InventoryAddr, "inventory-addr", "127.0.0.1:9090", "inventory gRPC address")
	fs.StringVar(&c.RendererAddr, "renderer-addr", "127.0.0.1:9091", "config-renderer gRPC address")
	fs.StringVar(&c.RpsAddr, "rps-addr", "", "rps-client gRPC address (empty: no RPS status on the phone page)")
	fs.StringVar(&c.TokenFile, "token-file", "", "file holding the console's bearer token (role admin; the console enforces its users' roles)")
	fs.StringVar(&c.GRPCCAFile, "grpc-ca-file", "", "CA bundle to verify the gRPC services over TLS (empty: plaintext)")
	fs.StringVar(&c.DefaultTenant, "default-tenant", "default", "tenant that users not limited to one work on")
	fs.DurationVar(&c.SessionTTL, "session-ttl", 30*time.Minute, "idle time after which a session ends")
	fs.StringVar(&c.LogFormat, "log-format", "json", "log format: json or text")
	fs.StringVar(&c.LogLevel, "log-level", "info", "log level: debug, info, warn, error")
}

// Validate checks the configuration.
func (c ServiceConfig) Validate() error {
	var errs []error
	switch {
	case c.HTTPAddr != "":
		if err := config.HostPort(c.HTTPAddr); err != nil {
			errs = append(errs, fmt.Errorf("--http-addr: %w", err))
		}
	case c.HTTPSAddr == "":
		errs = append(errs, errors.New("set --https-addr (or --http-addr behind a TLS proxy)"))
	default:
		if err := config.HostPort(c.HTTPSAddr); err != nil {
			errs = append(errs, fmt.Errorf("--https-addr: %w", err))
		}
		if c.CertFile == "" || c.KeyFile == "" {
			errs = append(errs, errors.New("--https-addr needs --cert-file and --key-file"))
		}
	}
	for name, addr := range map[string]string{"admin-addr": c.AdminAddr, "inventory-addr": c.InventoryAddr, "renderer-addr": c.RendererAddr, "rps-addr": c.RpsAddr} {
		if addr == "" {
			continue
		}
		if err := config.HostPort(addr); err != nil {
			errs = append(errs, fmt.Errorf("--%s: %w", name, err))
		}
	}
	if c.InventoryAddr == "" || c.RendererAddr == "" {
		errs = append(errs, errors.New("--inventory-addr and --renderer-addr are required"))
	}
	if c.SessionTTL <= 0 {
		errs = append(errs, errors.New("--session-ttl must be positive"))
	}
	if err := config.OneOf(c.LogFormat, "text", "json"); err != nil {
		errs = append(errs, fmt.Errorf("--log-format: %w", err))
	}
	return errors.Join(errs...)
}

// Console returns the library configuration: HTTPS on --https-addr, or
// plain HTTP on --http-addr.
func (c ServiceConfig) Console() Config {
	cc := Config{Addr: c.HTTPSAddr, CertFile: c.CertFile, KeyFile: c.KeyFile, SessionTTL: c.SessionTTL, DefaultTenant: c.DefaultTenant}
	if c.HTTPAddr != "" {
		cc.Addr, cc.Insecure, cc.CertFile, cc.KeyFile = c.HTTPAddr, true, "", ""
		cc.SecureBrowser = c.BehindTLSProxy
	}
	return cc
}
