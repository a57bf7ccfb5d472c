// Command dialtone runs the whole Dialtone suite in one process: pnp-listener,
// inventory, config-renderer, provision-http and rps-client, with an embedded
// NATS JetStream server and embedded stores under --data-dir.
//
//	go run ./cmd/dialtone --pbx-host pbx.example.com
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/dialtone-voip/dialtone/cmd/internal/suite"
	"github.com/dialtone-voip/dialtone/platform/config"
	"github.com/dialtone-voip/dialtone/platform/connlimit"
	"github.com/dialtone-voip/dialtone/platform/logging"
	"github.com/dialtone-voip/dialtone/platform/servicecmd"
)

func main() {
	servicecmd.Main("dialtone", func(ctx context.Context, args []string, getenv func(string) string) error {
		return run(ctx, args, getenv, os.Stdout, os.Stderr)
	})
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("dialtone", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg suite.Config
	cfg.RegisterFlags(fs)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: dialtone [flags]\n\nRuns every Dialtone service in one process. Each flag --foo-bar is also DIALTONE_FOO_BAR.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q (see --help)", fs.Arg(0))
	}
	if err := config.ApplyEnv(fs, "DIALTONE", getenv); err != nil {
		return err
	}
	cfg.MarkExplicit(fs)
	logger, err := logging.New(stderr, cfg.LogFormat, cfg.LogLevel)
	if err != nil {
		return err
	}
	// Every service of the suite shares this process's descriptors; the
	// phone edge sizes its connection limits from this limit.
	if n, err := connlimit.RaiseFileLimit(); err != nil {
		logger.Warn("open-file limit not raised", "limit", n, "error", err)
	} else {
		logger.Debug("open-file limit", "limit", n)
	}
	return suite.Run(ctx, cfg, logger, stdout)
}
