// Command provision-http is the phone-facing HTTP(S) edge: it serves
// /p/{token}/{file} on --http-addr and --https-addr and health, readiness
// and metrics on --admin-addr. Every flag --foo-bar is also the environment
// variable DIALTONE_PROVISION_HTTP_FOO_BAR.
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/dialtone-voip/dialtone/platform/adminhttp"
	"github.com/dialtone-voip/dialtone/platform/auth"
	"github.com/dialtone-voip/dialtone/platform/config"
	"github.com/dialtone-voip/dialtone/platform/connlimit"
	"github.com/dialtone-voip/dialtone/platform/lifecycle"
	"github.com/dialtone-voip/dialtone/platform/logging"
	"github.com/dialtone-voip/dialtone/platform/natsjs"
	"github.com/dialtone-voip/dialtone/platform/servicecmd"
	inventoryv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/inventory/v1"
	rendererv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/renderer/v1"
	provisionhttp "github.com/dialtone-voip/dialtone/services/provision-http"
)

const envPrefix = "DIALTONE_PROVISION_HTTP"

func main() { servicecmd.Main("provision-http", run) }

func run(ctx context.Context, args []string, getenv func(string) string) error {
	var cfg provisionhttp.Config
	if err := servicecmd.Parse("provision-http", envPrefix, &cfg, args, getenv, os.Stderr); err != nil {
		return err
	}
	if err := config.HostPort(cfg.AdminAddr); err != nil {
		return fmt.Errorf("--admin-addr: %w", err)
	}
	// One access-log line per phone request: batch them into few writes
	// (at most 200 ms of lines are lost if the process crashes).
	logOut := logging.NewBufferedWriter(os.Stderr, 64<<10, 200*time.Millisecond)
	defer logOut.Close()
	log, err := logging.New(logOut, cfg.LogFormat, cfg.LogLevel)
	if err != nil {
		return err
	}
	// The connection limits are sized from this limit (--max-conns 0).
	if n, err := connlimit.RaiseFileLimit(); err != nil {
		log.Warn("open-file limit not raised", "limit", n, "error", err)
	}
	token, err := edgeToken(cfg.InventoryTokenFile, getenv)
	if err != nil {
		return err
	}
	invConn, err := dial(cfg.InventoryAddr, cfg.GRPCCAFile, token)
	if err != nil {
		return fmt.Errorf("inventory: %w", err)
	}
	defer invConn.Close()
	rndConn, err := dial(cfg.RendererAddr, cfg.GRPCCAFile, token)
	if err != nil {
		return fmt.Errorf("config-renderer: %w", err)
	}
	defer rndConn.Close()

	var js jetstream.JetStream
	if cfg.NATSURL != "" {
		nc, j, err := natsjs.Connect(ctx, cfg.NATSURL, log)
		if err != nil {
			return err
		}
		defer nc.Close()
		js = j
	} else {
		log.Warn("no --nats-url: no ConfigFetched events, and cached files are dropped only by --cache-ttl")
	}

	// Relay credentials of pnp-listeners (link assertions on TFTP relays).
	var relays auth.Authenticator
	g := &lifecycle.Group{Logger: log}
	if cfg.RelayTokensFile != "" {
		ts, err := auth.LoadTokens(cfg.RelayTokensFile)
		if err != nil {
			return fmt.Errorf("--relay-tokens-file: %w", err)
		}
		relays = ts
		g.Add("relay-tokens", func(ctx context.Context) error { return ts.Watch(ctx, 0, log) })
	}

	reg := servicecmd.Registry()
	svc, err := provisionhttp.New(cfg, provisionhttp.Deps{
		Logger:     log,
		Registerer: reg,
		Inventory:  inventoryv1.NewInventoryServiceClient(invConn),
		Renderer:   rendererv1.NewConfigRendererServiceClient(rndConn),
		JetStream:  js,
		Relays:     relays,
	})
	if err != nil {
		return err
	}
	g.Add("admin", adminhttp.New(adminhttp.Options{Addr: cfg.AdminAddr, Logger: log, Gatherer: reg, Ready: svc.Ready}).Run)
	g.Add("provision-http", svc.Run)
	return g.Run(ctx)
}

// edgeToken reads the bearer token (role edge) from the file, or from
// DIALTONE_PROVISION_HTTP_INVENTORY_TOKEN. It is never logged.
func edgeToken(file string, getenv func(string) string) (string, error) {
	t, err := servicecmd.ClientToken("inventory-token-file", file, envPrefix+"_INVENTORY_TOKEN", getenv)
	if err == nil && t == "" {
		err = errors.New("no edge token: set --inventory-token-file or " + envPrefix + "_INVENTORY_TOKEN")
	}
	return t, err
}

// dial connects to a gRPC service with the bearer token; over TLS when a CA
// file is given, otherwise in plaintext (loopback, or a mesh that encrypts).
func dial(addr, caFile, token string) (*grpc.ClientConn, error) {
	creds := insecure.NewCredentials()
	useTLS := caFile != ""
	if useTLS {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("--grpc-ca-file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, errors.New("--grpc-ca-file: no certificate found")
		}
		creds = credentials.NewTLS(&tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12})
	}
	return grpc.NewClient(addr, grpc.WithTransportCredentials(creds), grpc.WithPerRPCCredentials(auth.BearerToken(token, useTLS)))
}
