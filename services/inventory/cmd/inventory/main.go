// Command inventory serves Dialtone's InventoryService over gRPC, backed by
// Redis (or an embedded store) and NATS JetStream.
package main

import (
	"context"
	"errors"
	"net"
	"os"

	"github.com/nats-io/nats.go"
	"google.golang.org/grpc"

	"github.com/dialtone-voip/dialtone/platform/adminhttp"
	"github.com/dialtone-voip/dialtone/platform/grpcserver"
	"github.com/dialtone-voip/dialtone/platform/lifecycle"
	"github.com/dialtone-voip/dialtone/platform/logging"
	"github.com/dialtone-voip/dialtone/platform/natsjs"
	"github.com/dialtone-voip/dialtone/platform/redisclient"
	"github.com/dialtone-voip/dialtone/platform/servicecmd"
	"github.com/dialtone-voip/dialtone/services/inventory"
)

func main() { servicecmd.Main("inventory", run) }

func run(ctx context.Context, args []string, getenv func(string) string) error {
	var cfg inventory.Config
	if err := servicecmd.Parse("inventory", "DIALTONE_INVENTORY", &cfg, args, getenv, os.Stderr); err != nil {
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
	limits := cfg.GRPC
	limits.MethodMaxRecvMsgSize = inventory.GRPCRecvLimits()
	gs := grpcserver.New(grpcserver.Options{Logger: log, Auth: tokens, Registerer: reg, Limits: limits,
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
