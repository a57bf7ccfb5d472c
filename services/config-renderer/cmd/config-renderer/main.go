// Command config-renderer serves Dialtone's ConfigRendererService over gRPC:
// vendor provisioning files rendered from a neutral profile, the model catalog,
// and device identification.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/dialtone-voip/dialtone/platform/adminhttp"
	"github.com/dialtone-voip/dialtone/platform/auth"
	"github.com/dialtone-voip/dialtone/platform/config"
	"github.com/dialtone-voip/dialtone/platform/grpcserver"
	"github.com/dialtone-voip/dialtone/platform/lifecycle"
	"github.com/dialtone-voip/dialtone/platform/logging"
	renderer "github.com/dialtone-voip/dialtone/services/config-renderer"
)

func main() {
	ctx, stop := lifecycle.SignalContext(context.Background())
	err := run(ctx, os.Args[1:], os.Getenv)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "config-renderer:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, getenv func(string) string) error {
	fs := flag.NewFlagSet("config-renderer", flag.ContinueOnError)
	fs.SetOutput(os.Stderr)
	var cfg renderer.Config
	cfg.RegisterFlags(fs)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if err := config.ApplyEnv(fs, "DIALTONE_CONFIG_RENDERER", getenv); err != nil {
		return err
	}
	if err := cfg.Validate(); err != nil {
		return err
	}
	if cfg.TokensFile == "" {
		return errors.New("--tokens-file is required (API tokens and their roles)")
	}
	log, err := logging.New(os.Stderr, cfg.LogFormat, cfg.LogLevel)
	if err != nil {
		return err
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	tokens, err := auth.LoadTokens(cfg.TokensFile)
	if err != nil {
		return err
	}
	svc, err := renderer.New(cfg, renderer.Deps{Logger: log, Registerer: reg})
	if err != nil {
		return err
	}
	// Every authenticated role may render: the caller supplies the profile,
	// secrets included, so the response reveals nothing it did not send.
	gs := grpcserver.New(grpcserver.Options{Logger: log, Auth: tokens, Registerer: reg})
	svc.RegisterGRPC(gs.GRPC())
	lis, err := net.Listen("tcp", cfg.GRPCAddr)
	if err != nil {
		return err
	}
	admin := adminhttp.New(adminhttp.Options{Addr: cfg.AdminAddr, Logger: log, Gatherer: reg, Ready: svc.Ready})

	g := lifecycle.Group{Logger: log}
	g.Add("templates", svc.Run)
	g.Add("tokens", func(ctx context.Context) error { return tokens.Watch(ctx, 0, log) })
	g.Add("admin", admin.Run)
	g.Add("grpc", func(ctx context.Context) error { return gs.Serve(ctx, lis) })
	log.Info("config-renderer starting", "grpc", lis.Addr().String(), "admin", cfg.AdminAddr, "templates", svc.TemplateVersion())
	return g.Run(ctx)
}
