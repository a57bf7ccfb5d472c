// Command config-renderer serves Dialtone's ConfigRendererService over gRPC:
// vendor provisioning files rendered from a neutral profile, the model catalog,
// and device identification.
package main

import (
	"context"
	"net"
	"os"

	"github.com/dialtone-voip/dialtone/platform/adminhttp"
	"github.com/dialtone-voip/dialtone/platform/grpcserver"
	"github.com/dialtone-voip/dialtone/platform/lifecycle"
	"github.com/dialtone-voip/dialtone/platform/logging"
	"github.com/dialtone-voip/dialtone/platform/servicecmd"
	renderer "github.com/dialtone-voip/dialtone/services/config-renderer"
)

func main() { servicecmd.Main("config-renderer", run) }

func run(ctx context.Context, args []string, getenv func(string) string) error {
	var cfg renderer.Config
	if err := servicecmd.Parse("config-renderer", "DIALTONE_CONFIG_RENDERER", &cfg, args, getenv, os.Stderr); err != nil {
		return err
	}
	log, err := logging.New(os.Stderr, cfg.LogFormat, cfg.LogLevel)
	if err != nil {
		return err
	}
	reg := servicecmd.Registry()
	tokens, err := servicecmd.Tokens(cfg.TokensFile, log)
	if err != nil {
		return err
	}
	svc, err := renderer.New(cfg, renderer.Deps{Logger: log, Registerer: reg})
	if err != nil {
		return err
	}
	// Every authenticated role may render: the caller supplies the profile,
	// secrets included, so the response reveals nothing it did not send.
	gs := grpcserver.New(grpcserver.Options{Logger: log, Auth: tokens, Registerer: reg, Limits: cfg.GRPC})
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
