// Command pnp-listener answers IP phones' SIP multicast Plug-and-Play
// SUBSCRIBEs on the LAN and hands them their provisioning URL.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/dialtone-voip/dialtone/platform/adminhttp"
	"github.com/dialtone-voip/dialtone/platform/auth"
	"github.com/dialtone-voip/dialtone/platform/config"
	"github.com/dialtone-voip/dialtone/platform/lifecycle"
	"github.com/dialtone-voip/dialtone/platform/logging"
	"github.com/dialtone-voip/dialtone/platform/natsjs"
	inventoryv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/inventory/v1"
	pnplistener "github.com/dialtone-voip/dialtone/services/pnp-listener"
)

const envPrefix = "DIALTONE_PNP_LISTENER"

func main() {
	ctx, stop := lifecycle.SignalContext(context.Background())
	err := run(ctx, os.Args[1:], os.Getenv, os.Stderr)
	stop()
	if err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(os.Stderr, "pnp-listener:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) error {
	fs := flag.NewFlagSet("pnp-listener", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg := pnplistener.DefaultConfig()
	cfg.RegisterFlags(fs)
	logFormat := fs.String("log-format", "json", "log format: json or text")
	logLevel := fs.String("log-level", "info", "log level: debug, info, warn, error")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := config.ApplyEnv(fs, envPrefix, getenv); err != nil {
		return err
	}
	if err := cfg.Validate(); err != nil {
		return err
	}
	logger, err := logging.New(stderr, *logFormat, *logLevel)
	if err != nil {
		return err
	}

	// The token comes from a file, or from the environment; never a flag.
	token := getenv(envPrefix + "_INVENTORY_TOKEN")
	if cfg.InventoryTokenFile != "" {
		b, err := os.ReadFile(cfg.InventoryTokenFile)
		if err != nil {
			return fmt.Errorf("--inventory-token-file: %w", err)
		}
		token = strings.TrimSpace(string(b))
	}
	dialOpts := []grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}
	if token != "" {
		dialOpts = append(dialOpts, grpc.WithPerRPCCredentials(auth.BearerToken(token, false)))
	}
	cc, err := grpc.NewClient(cfg.InventoryAddr, dialOpts...)
	if err != nil {
		return fmt.Errorf("inventory client: %w", err)
	}
	defer cc.Close()

	// RetryOnFailedConnect: the SIP side starts even while NATS is away;
	// events wait in the outbox.
	nc, js, err := natsjs.Connect(ctx, cfg.NATSURL, logger, nats.RetryOnFailedConnect(true))
	if err != nil {
		return err
	}
	defer nc.Close()

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	svc, err := pnplistener.New(cfg, pnplistener.Deps{
		Logger:     logger,
		Registerer: reg,
		JetStream:  js,
		Inventory:  inventoryv1.NewInventoryServiceClient(cc),
	})
	if err != nil {
		return err
	}
	admin := adminhttp.New(adminhttp.Options{Addr: cfg.AdminAddr, Logger: logger, Gatherer: reg, Ready: svc.Ready})
	g := lifecycle.Group{Logger: logger}
	g.Add("pnp-listener", svc.Run)
	g.Add("admin-http", admin.Run)
	return g.Run(ctx)
}
