// Package config fills a service's flag set from the environment and
// offers small validators for Config.Validate methods.
//
// Every service keeps its configuration in one struct with
// RegisterFlags(*flag.FlagSet) and Validate() error. The process parses the
// command line, then calls ApplyEnv so that every flag --foo-bar not given
// on the command line takes PREFIX_FOO_BAR from the environment: flags win
// over the environment, the environment wins over defaults.
package config

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/dialtone-voip/dialtone/platform/logging"
)

// EnvName returns the environment variable for a flag: prefix "DIALTONE_INVENTORY" and
// flag "grpc-addr" give "DIALTONE_INVENTORY_GRPC_ADDR". An empty prefix
// gives just "GRPC_ADDR".
func EnvName(prefix, flagName string) string {
	name := strings.ToUpper(strings.NewReplacer("-", "_", ".", "_").Replace(flagName))
	if prefix == "" {
		return name
	}
	return strings.TrimSuffix(prefix, "_") + "_" + name
}

// ApplyEnv sets every flag of fs that was not set on the command line (call
// it after fs.Parse) from the environment variable EnvName(prefix, flag), if
// getenv returns a non-empty value for it. getenv is usually os.Getenv.
// Errors name the variable; the value appears only for flags whose name is
// not a secret (logging.IsSecretKey).
func ApplyEnv(fs *flag.FlagSet, prefix string, getenv func(string) string) error {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var errs []error
	fs.VisitAll(func(f *flag.Flag) {
		if set[f.Name] {
			return
		}
		env := EnvName(prefix, f.Name)
		v := getenv(env)
		if v == "" {
			return
		}
		if err := fs.Set(f.Name, v); err != nil {
			if logging.IsSecretKey(f.Name) {
				// The underlying error may quote the value.
				errs = append(errs, fmt.Errorf("config: environment variable %s: invalid value for --%s", env, f.Name))
				return
			}
			errs = append(errs, fmt.Errorf("config: environment variable %s: %w", env, err))
		}
	})
	return errors.Join(errs...)
}

// HostPort checks a listen or dial address "host:port". The host may be
// empty (all interfaces) or a name or IP; the port must be a number in
// 0–65535.
func HostPort(s string) error {
	_, port, err := net.SplitHostPort(s)
	if err != nil {
		return fmt.Errorf("address %q: want host:port", s)
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return fmt.Errorf("address %q: port must be a number in 0-65535", s)
	}
	return nil
}

// URL checks an absolute URL with a host (or a path, for unix:// URLs).
// When schemes are given the URL's scheme must be one of them. Errors never
// quote the URL, which may carry a password.
func URL(s string, schemes ...string) error {
	u, err := url.Parse(s)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			return fmt.Errorf("invalid URL: %w", ue.Err)
		}
		return errors.New("invalid URL")
	}
	if u.Scheme == "" {
		return errors.New("invalid URL: missing scheme")
	}
	if len(schemes) > 0 && !slices.Contains(schemes, strings.ToLower(u.Scheme)) {
		return fmt.Errorf("invalid URL: scheme %q, want one of %s", u.Scheme, strings.Join(schemes, ", "))
	}
	if u.Host == "" && !(strings.EqualFold(u.Scheme, "unix") && u.Path != "") {
		return errors.New("invalid URL: missing host")
	}
	return nil
}

// OneOf checks that v is one of allowed.
func OneOf(v string, allowed ...string) error {
	if slices.Contains(allowed, v) {
		return nil
	}
	return fmt.Errorf("%q is not one of %s", v, strings.Join(allowed, ", "))
}

// URLList checks a comma-separated list of URLs, each with URL: the
// --nats-url of a NATS cluster ("nats://n1:4222,nats://n2:4222"), which the
// client tries in turn and keeps for reconnects. Errors name the position,
// never the URL.
func URLList(s string, schemes ...string) error {
	var errs []error
	for i, u := range strings.Split(s, ",") {
		if err := URL(strings.TrimSpace(u), schemes...); err != nil {
			errs = append(errs, fmt.Errorf("URL %d of the list: %w", i+1, err))
		}
	}
	return errors.Join(errs...)
}
