// Package servicecmd is the start every service command shares before its
// own wiring: the exit status and signals of main, flags completed from
// DIALTONE_* environment variables and validated, the logger, the metrics
// registry and the API tokens file. Each cmd/<service>/main.go then only
// says what is particular to it.
package servicecmd

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/dialtone-voip/dialtone/platform/auth"
	"github.com/dialtone-voip/dialtone/platform/config"
	"github.com/dialtone-voip/dialtone/platform/lifecycle"
)

// RunFunc is a command's body: it returns when ctx is cancelled (SIGINT or
// SIGTERM) or on failure.
type RunFunc func(ctx context.Context, args []string, getenv func(string) string) error

// Main runs run with the process's arguments and environment and a context
// cancelled by SIGINT or SIGTERM, then exits with ExitCode.
func Main(name string, run RunFunc) {
	ctx, stop := lifecycle.SignalContext(context.Background())
	err := run(ctx, os.Args[1:], os.Getenv)
	stop()
	os.Exit(ExitCode(name, err, os.Stderr))
}

// ExitCode is the exit status for run's result: 0 for nil and for a help
// request (flag.ErrHelp, usage already printed), otherwise 1 after writing
// "name: err" to stderr.
func ExitCode(name string, err error, stderr io.Writer) int {
	if err == nil || errors.Is(err, flag.ErrHelp) {
		return 0
	}
	fmt.Fprintf(stderr, "%s: %v\n", name, err)
	return 1
}

// Config is a service's configuration: flags, and a check of their values
// together.
type Config interface {
	RegisterFlags(fs *flag.FlagSet)
	Validate() error
}

// Parse fills cfg from args, then from envPrefix_* variables for the flags
// not given (platform/config.ApplyEnv), and validates it. extra registers
// flags that are not part of cfg. Usage and flag errors go to stderr; a
// help request returns flag.ErrHelp, which Main treats as success.
// Positional arguments are refused: every setting is a flag.
func Parse(name, envPrefix string, cfg Config, args []string, getenv func(string) string, stderr io.Writer, extra ...func(*flag.FlagSet)) error {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg.RegisterFlags(fs)
	for _, f := range extra {
		f(fs)
	}
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: %s [flags]\n\nEvery flag --foo-bar can also be set as %s.\n\n", name, config.EnvName(envPrefix, "foo-bar"))
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q: every setting is a flag (see --help)", fs.Arg(0))
	}
	if err := config.ApplyEnv(fs, envPrefix, getenv); err != nil {
		return err
	}
	return cfg.Validate()
}

// Registry returns a metrics registry holding the Go runtime and process
// collectors, for a service's own metrics and its admin /metrics.
func Registry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// Tokens loads the API tokens file given by --tokens-file (required: a
// gRPC service without it would refuse every call) and warns when it holds
// plaintext tokens.
func Tokens(path string, log *slog.Logger) (*auth.TokenSet, error) {
	if path == "" {
		return nil, errors.New("--tokens-file is required (API tokens and their roles)")
	}
	tokens, err := auth.LoadTokens(path)
	if err != nil {
		return nil, err
	}
	if tokens.HasPlaintext() {
		log.Warn("tokens file holds plaintext tokens; store sha256 hashes outside development")
	}
	return tokens, nil
}

// ClientToken is the bearer token a service presents to another: the
// trimmed content of file (flag names the flag that gave it, for errors),
// else the environment variable envVar, else "". It is never a flag value,
// so it stays out of process listings.
func ClientToken(flag, file, envVar string, getenv func(string) string) (string, error) {
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return "", fmt.Errorf("--%s: %w", flag, err)
		}
		if t := strings.TrimSpace(string(b)); t != "" {
			return t, nil
		}
		return "", fmt.Errorf("--%s: %s is empty", flag, file)
	}
	return strings.TrimSpace(getenv(envVar)), nil
}
