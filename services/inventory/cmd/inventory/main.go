// Command inventory serves Dialtone's InventoryService over gRPC, backed by
// Redis (or an embedded store) and NATS JetStream.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"google.golang.org/grpc"

	"github.com/dialtone-voip/dialtone/platform/adminhttp"
	"github.com/dialtone-voip/dialtone/platform/auth"
	"github.com/dialtone-voip/dialtone/platform/config"
	"github.com/dialtone-voip/dialtone/platform/grpcserver"
	"github.com/dialtone-voip/dialtone/platform/lifecycle"
	"github.com/dialtone-voip/dialtone/platform/logging"
	"github.com/dialtone-voip/dialtone/platform/natsjs"
	"github.com/dialtone-voip/dialtone/platform/redisclient"
	"github.com/dialtone-voip/dialtone/services/inventory"
)

func main() {
	ctx, stop := lifecycle.SignalContext(context.Background())
	err := run(ctx, os.Args[1:], os.Getenv)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "inventory:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, getenv func(string) string) error {
	stderr := os.Stderr
	fs := flag.NewFlagSet("inventory", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg inventory.Config
	cfg.RegisterFlags(fs)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if err := config.ApplyEnv(fs, "DIALTONE_INVENTORY", getenv); err != nil {
		return err
	}
	if err := cfg.Validate(); err != nil {
		return err
	}
	if cfg.TokensFile == "" {
		return errors.New("--tokens-file is required (API tokens and their roles)")
	}
	log, err := logging.New(stderr, cfg.LogFormat, cfg.LogLevel)
	if err != nil {
		return err
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	tokens, err := auth.LoadTokens(cfg.TokensFile)
	if err != nil {
		return err
	}
	if tokens.HasPlaintext() {
		log.Warn("tokens file holds plaintext tokens; store sha256 hashes outside development")
	}

	var st inventory.Store
	switch {
	case cfg.RedisURL != "" || cfg.RedisSentinelAddrs != "":
		rc, err := redisclient.New(redisclient.Options{
			URL: cfg.RedisURL, SentinelAddrs: cfg.SentinelAddrs(), MasterName: cfg.RedisMasterName, ClientName: "inventory",
		})
		if err != nil {
			return err
		}
		defer rc.Close()
		st = inventory.NewRedisStore(rc, cfg.RedisKeyPrefix)
	case cfg.StorePath() != "":
		if cfg.DataDir != "" {
			if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
				return err
			}
		}
		st, err = inventory.OpenBoltStore(cfg.StorePath())
		if err != nil {
			return err
		}
	default:
		return errors.New("no store: set --redis-url, --redis-sentinel-addrs or --data-dir")
	}
	defer st.Close()

	nc, js, err := natsjs.Connect(ctx, cfg.NATSURL, log, nats.Name("inventory"))
	if err != nil {
		return err
	}
	defer nc.Close()

	svc, err := inventory.New(cfg, inventory.Deps{Logger: log, Registerer: reg, Store: st, JetStream: js})
	if err != nil {
		return err
	}
	gs := grpcserver.New(grpcserver.Options{Logger: log, Auth: tokens, Registerer: reg,
		ServerOptions: []grpc.ServerOption{grpc.NumStreamWorkers(inventory.GRPCStreamWorkers)}})
	svc.RegisterGRPC(gs.GRPC())
	lis, err := net.Listen("tcp", cfg.GRPCAddr)
	if err != nil {
		return err
	}
	admin := adminhttp.New(adminhttp.Options{Addr: cfg.AdminAddr, Logger: log, Gatherer: reg, Ready: svc.Ready})

	g := lifecycle.Group{Logger: log}
	g.Add("inventory", svc.Run)
	g.Add("tokens", func(ctx context.Context) error { return tokens.Watch(ctx, 0, log) })
	g.Add("admin", admin.Run)
	g.Add("grpc", func(ctx context.Context) error { return gs.Serve(ctx, lis) })
	log.Info("inventory starting", "grpc", lis.Addr().String(), "admin", cfg.AdminAddr)
	return g.Run(ctx)
}
