// Package redisclient builds a go-redis UniversalClient from Dialtone's
// configuration: a single server URL (redis://, rediss://, unix://) or a
// Sentinel-monitored master. Passwords never appear in errors.
package redisclient

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Options select the server. Set either URL or SentinelAddrs.
type Options struct {
	// URL of one server: "redis://[user:pass@]host:port/db",
	// "rediss://…" (TLS) or "unix:///path/redis.sock?db=N".
	URL string
	// SentinelAddrs ("host:port") of the Sentinels monitoring MasterName.
	SentinelAddrs []string
	MasterName    string
	// SentinelPassword authenticates to the Sentinels, if they need it.
	SentinelPassword string
	// Username and Password authenticate to Redis; when set they override
	// the URL's user information (so the password can come from a secret
	// rather than the URL).
	Username string
	Password string
	// DB selects the database; non-zero overrides the URL's.
	DB int
	// ClientName is sent with CLIENT SETNAME, for CLIENT LIST.
	ClientName string
}

// New returns a client for opts: a *redis.Client for URL, a failover
// client for Sentinel. It does not connect; use Ping to check.
func New(opts Options) (redis.UniversalClient, error) {
	switch {
	case opts.URL != "" && len(opts.SentinelAddrs) > 0:
		return nil, errors.New("redisclient: set either URL or SentinelAddrs, not both")
	case len(opts.SentinelAddrs) > 0:
		if opts.MasterName == "" {
			return nil, errors.New("redisclient: SentinelAddrs needs MasterName")
		}
		return redis.NewUniversalClient(&redis.UniversalOptions{
			Addrs:            opts.SentinelAddrs,
			MasterName:       opts.MasterName,
			SentinelPassword: opts.SentinelPassword,
			Username:         opts.Username,
			Password:         opts.Password,
			DB:               opts.DB,
			ClientName:       opts.ClientName,
		}), nil
	case opts.URL != "":
		ro, err := parseURL(opts.URL)
		if err != nil {
			return nil, err
		}
		if opts.Username != "" {
			ro.Username = opts.Username
		}
		if opts.Password != "" {
			ro.Password = opts.Password
		}
		if opts.DB != 0 {
			ro.DB = opts.DB
		}
		if opts.ClientName != "" {
			ro.ClientName = opts.ClientName
		}
		return redis.NewClient(ro), nil
	}
	return nil, errors.New("redisclient: no URL or SentinelAddrs configured")
}

// parseURL wraps redis.ParseURL so that no error text carries the URL's
// password.
func parseURL(raw string) (*redis.Options, error) {
	u, err := url.Parse(raw)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) && !strings.Contains(ue.Err.Error(), raw) {
			return nil, fmt.Errorf("redisclient: invalid URL: %v", ue.Err)
		}
		return nil, errors.New("redisclient: invalid URL")
	}
	ro, err := redis.ParseURL(raw)
	if err != nil {
		if pw, ok := u.User.Password(); ok && pw != "" && strings.Contains(err.Error(), pw) {
			return nil, errors.New("redisclient: invalid URL")
		}
		return nil, fmt.Errorf("redisclient: %w", err)
	}
	return ro, nil
}

// Ping checks the connection within timeout (default 5s when <= 0).
func Ping(ctx context.Context, c redis.UniversalClient, timeout time.Duration) error {
	if timeout <= 0 {
		timeout = 5 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := c.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("redisclient: ping: %w", err)
	}
	return nil
}
