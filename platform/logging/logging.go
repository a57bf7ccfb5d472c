// Package logging builds the process's *slog.Logger from configuration and
// keeps secrets out of log output: every logger made by New redacts
// attributes whose key names a secret (password, token, secret,
// authorization, …), whatever their group.
package logging

import (
	"fmt"
	"io"
	"log/slog"
	"strings"
)

// Redacted replaces the value of a secret attribute.
const Redacted = "[REDACTED]"

// New returns a logger writing to w. format is "json" (also "") or
// "text"; level is "debug", "info" (also ""), "warn" or "error". Secret
// attributes are redacted (see IsSecretKey).
func New(w io.Writer, format, level string) (*slog.Logger, error) {
	lvl, err := ParseLevel(level)
	if err != nil {
		return nil, err
	}
	opts := &slog.HandlerOptions{Level: lvl, ReplaceAttr: RedactAttr}
	switch strings.ToLower(format) {
	case "", "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("logging: unknown format %q (want json or text)", format)
}

// ParseLevel parses "debug", "info", "warn" (or "warning") and "error",
// case-insensitively; "" is info.
func ParseLevel(s string) (slog.Level, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "debug":
		return slog.LevelDebug, nil
	case "", "info":
		return slog.LevelInfo, nil
	case "warn", "warning":
		return slog.LevelWarn, nil
	case "error":
		return slog.LevelError, nil
	}
	return 0, fmt.Errorf("logging: unknown level %q (want debug, info, warn or error)", s)
}

// Discard returns a logger that drops everything, for tests and optional
// loggers.
func Discard() *slog.Logger { return slog.New(slog.DiscardHandler) }

// secretSuffixes are matched against the end of a normalised key, so that
// "sip_password", "webPassword" and "provisioning-token" are secret too.
var secretSuffixes = []string{
	"password", "passwd", "passphrase", "token", "secret", "authorization",
	"apikey", "credential", "credentials", "privatekey", "cookie",
}

// IsSecretKey reports whether an attribute with this key holds a secret.
// The key is lower-cased and stripped of '_', '-' and '.', then matched by
// suffix against password, passwd, passphrase, token, secret,
// authorization, apikey, credential(s), privatekey and cookie.
//
// It runs for every attribute of every log line, so it allocates nothing:
// the key is walked backwards, skipping separators.
func IsSecretKey(key string) bool {
	for _, s := range secretSuffixes {
		if hasNormalisedSuffix(key, s) {
			return true
		}
	}
	return false
}

// hasNormalisedSuffix reports whether key, lower-cased and without '_', '-',
// '.' and ' ', ends in suffix (lower-case ASCII).
func hasNormalisedSuffix(key, suffix string) bool {
	i, j := len(key)-1, len(suffix)-1
	for j >= 0 {
		if i < 0 {
			return false
		}
		c := key[i]
		i--
		switch c {
		case '_', '-', '.', ' ':
			continue
		}
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != suffix[j] {
			return false
		}
		j--
	}
	return true
}

// RedactAttr is a slog.HandlerOptions.ReplaceAttr function that replaces
// the value of secret attributes (IsSecretKey) with Redacted. Use it when
// building a handler yourself.
func RedactAttr(_ []string, a slog.Attr) slog.Attr {
	if a.Value.Kind() != slog.KindGroup && IsSecretKey(a.Key) {
		return slog.String(a.Key, Redacted)
	}
	return a
}
