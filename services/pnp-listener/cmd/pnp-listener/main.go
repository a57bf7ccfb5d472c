// Command pnp-listener answers IP phones' SIP multicast Plug-and-Play
// SUBSCRIBEs on the LAN and hands them their provisioning URL.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/nats-io/nats.go"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/dialtone-voip/dialtone/platform/adminhttp"
	"github.com/dialtone-voip/dialtone/platform/auth"
	"github.com/dialtone-voip/dialtone/platform/lifecycle"
	"github.com/dialtone-voip/dialtone/platform/logging"
	"github.com/dialtone-voip/dialtone/platform/natsjs"
	"github.com/dialtone-voip/dialtone/platform/servicecmd"
	inventoryv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/inventory/v1"
	pnplistener "github.com/dialtone-voip/dialtone/services/pnp-listener"
)

const envPrefix = "DIALTONE_PNP_LISTENER"

func main() {
	servicecmd.Main("pnp-listener", func(ctx context.Context, args []string, getenv func(string) string) error {
		return run(ctx, args, getenv, os.Stderr)
	})
}

func run(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) error {
	cfg := pnplistener.DefaultConfig()
	var logFormat, logLevel string
	logFlags := func(fs *flag.FlagSet) {
		fs.StringVar(&logFormat, "log-format", "json", "log format: json or text")
		fs.StringVar(&logLevel, "log-level", "info", "log level: debug, info, warn, error")
	}
	if err := servicecmd.Parse("pnp-listener", envPrefix, &cfg, args, getenv, stderr, logFlags); err != nil {
		return err
	}
	logger, err := logging.New(stderr, logFormat, logLevel)
	if err != nil {
		return err
	}

	token, err := servicecmd.ClientToken("inventory-token-file", cfg.InventoryTokenFile, envPrefix+"_INVENTORY_TOKEN", getenv)
	if err != nil {
		return err
	}
	relayToken, err := servicecmd.ClientToken("tftp-relay-token-file", cfg.TFTPRelayTokenFile, envPrefix+"_TFTP_RELAY_TOKEN", getenv)
	if err != nil {
		return err
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

	reg := servicecmd.Registry()
	svc, err := pnplistener.New(cfg, pnplistener.Deps{
		Logger:     logger,
		Registerer: reg,
		JetStream:  js,
		Inventory:  inventoryv1.NewInventoryServiceClient(cc),
		// The edge's credential for the TFTP front's link assertion.
		TFTPRelayToken: relayToken,
	})
	if err != nil {
		return err
	}
	admin := adminhttp.New(adminhttp.Options{Addr: cfg.AdminAddr, Logger: logger, Gatherer: reg, Ready: svc.Ready, Warnings: svc.Warnings})
	g := lifecycle.Group{Logger: logger}
	g.Add("pnp-listener", svc.Run)
	g.Add("admin-http", admin.Run)
	return g.Run(ctx)
}
