// Command rps-client registers phones with their vendors' redirect
// services, driven by inventory's PhoneChanged events, and serves
// dialtone.rps.v1.RedirectService.
package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/dialtone-voip/dialtone/platform/adminhttp"
	"github.com/dialtone-voip/dialtone/platform/auth"
	"github.com/dialtone-voip/dialtone/platform/grpcserver"
	"github.com/dialtone-voip/dialtone/platform/lifecycle"
	"github.com/dialtone-voip/dialtone/platform/logging"
	"github.com/dialtone-voip/dialtone/platform/natsjs"
	"github.com/dialtone-voip/dialtone/platform/redisclient"
	"github.com/dialtone-voip/dialtone/platform/servicecmd"
	inventoryv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/inventory/v1"
	rpsclient "github.com/dialtone-voip/dialtone/services/rps-client"
)

const envPrefix = "DIALTONE_RPS_CLIENT"

func main() { servicecmd.Main("rps-client", run) }

func run(ctx context.Context, args []string, getenv func(string) string) error {
	cfg := rpsclient.Defaults()
	if err := servicecmd.Parse("rps-client", envPrefix, &cfg, args, getenv, os.Stderr); err != nil {
		return err
	}
	if cfg.RedisURL == "" && cfg.RedisSentinelAddrs == "" {
		return errors.New("--redis-url or --redis-sentinel-addrs is required (replicas share their state in Redis)")
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
	// Our own token for inventory (role service): a file, or the environment.
	invToken, err := servicecmd.ClientToken("inventory-token-file", cfg.InventoryTokenFile, envPrefix+"_INVENTORY_TOKEN", getenv)
	if err != nil {
		return err
	}
	if invToken == "" {
		return errors.New("no inventory token: set --inventory-token-file or " + envPrefix + "_INVENTORY_TOKEN")
	}
	// Plaintext gRPC: inventory is reached on the cluster network or loopback.
	conn, err := grpc.NewClient(cfg.InventoryAddr, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithPerRPCCredentials(auth.BearerToken(invToken, false)))
	if err != nil {
		return fmt.Errorf("inventory: %w", err)
	}
	defer conn.Close()

	ro := redisclient.Options{URL: cfg.RedisURL, ClientName: "rps-client"}
	if addrs := cfg.SentinelAddrs(); len(addrs) > 0 {
		ro = redisclient.Options{SentinelAddrs: addrs, MasterName: cfg.RedisMasterName, ClientName: "rps-client"}
	}
	rdb, err := redisclient.New(ro)
	if err != nil {
		return err
	}
	defer rdb.Close()

	nc, js, err := natsjs.Connect(ctx, cfg.NATSURL, log)
	if err != nil {
		return err
	}
	defer nc.Close()

	svc, err := rpsclient.New(cfg, rpsclient.Deps{Logger: log, Registerer: reg, JetStream: js, Redis: rdb,
		Inventory: inventoryv1.NewInventoryServiceClient(conn)})
	if err != nil {
		return err
	}
	gs := grpcserver.New(grpcserver.Options{Logger: log, Auth: tokens, Registerer: reg, Limits: cfg.GRPC})
	svc.RegisterGRPC(gs.GRPC())
	lis, err := net.Listen("tcp", cfg.GRPCAddr)
	if err != nil {
		return err
	}
	admin := adminhttp.New(adminhttp.Options{Addr: cfg.AdminAddr, Logger: log, Gatherer: reg, Ready: svc.Ready})

	g := lifecycle.Group{Logger: log}
	g.Add("rps-client", svc.Run)
	g.Add("tokens", func(ctx context.Context) error { return tokens.Watch(ctx, 0, log) })
	g.Add("admin", admin.Run)
	g.Add("grpc", func(ctx context.Context) error { return gs.Serve(ctx, lis) })
	log.Info("rps-client starting", "grpc", lis.Addr().String(), "admin", cfg.AdminAddr)
	return g.Run(ctx)
}
