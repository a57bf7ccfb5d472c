// Command rps-client registers phones with their vendors' redirect
// services, driven by inventory's PhoneChanged events, and serves
// dialtone.rps.v1.RedirectService.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/dialtone-voip/dialtone/platform/adminhttp"
	"github.com/dialtone-voip/dialtone/platform/auth"
	"github.com/dialtone-voip/dialtone/platform/config"
	"github.com/dialtone-voip/dialtone/platform/grpcserver"
	"github.com/dialtone-voip/dialtone/platform/lifecycle"
	"github.com/dialtone-voip/dialtone/platform/logging"
	"github.com/dialtone-voip/dialtone/platform/natsjs"
	"github.com/dialtone-voip/dialtone/platform/redisclient"
	inventoryv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/inventory/v1"
	rpsclient "github.com/dialtone-voip/dialtone/services/rps-client"
)

const envPrefix = "DIALTONE_RPS_CLIENT"

func main() {
	ctx, stop := lifecycle.SignalContext(context.Background())
	err := run(ctx, os.Args[1:], os.Getenv)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "rps-client:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, getenv func(string) string) error {
	fs := flag.NewFlagSet("rps-client", flag.ContinueOnError)
	cfg := rpsclient.Defaults()
	cfg.RegisterFlags(fs)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if err := config.ApplyEnv(fs, envPrefix, getenv); err != nil {
		return err
	}
	if err := cfg.Validate(); err != nil {
		return err
	}
	if cfg.RedisURL == "" && cfg.RedisSentinelAddrs == "" {
		return errors.New("--redis-url or --redis-sentinel-addrs is required (replicas share their state in Redis)")
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
	if tokens.HasPlaintext() {
		log.Warn("tokens file holds plaintext tokens; store sha256 hashes outside development")
	}
	// Our own token for inventory (role service): a file, or the environment.
	invToken := getenv(envPrefix + "_INVENTORY_TOKEN")
	if cfg.InventoryTokenFile != "" {
		b, err := os.ReadFile(cfg.InventoryTokenFile)
		if err != nil {
			return fmt.Errorf("--inventory-token-file: %w", err)
		}
		invToken = strings.TrimSpace(string(b))
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
	gs := grpcserver.New(grpcserver.Options{Logger: log, Auth: tokens, Registerer: reg})
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
