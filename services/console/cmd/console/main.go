// Command console is Dialtone's web console as its own service (Kubernetes);
// `dialtone` serves the same console in-process. It serves HTTPS on
// --https-addr (or plain HTTP on --http-addr behind a TLS proxy) and
// health, readiness and metrics on --admin-addr. Every flag --foo-bar is
// also the environment variable DIALTONE_CONSOLE_FOO_BAR.
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/dialtone-voip/dialtone/platform/adminhttp"
	"github.com/dialtone-voip/dialtone/platform/auth"
	"github.com/dialtone-voip/dialtone/platform/lifecycle"
	"github.com/dialtone-voip/dialtone/platform/logging"
	"github.com/dialtone-voip/dialtone/platform/servicecmd"
	inventoryv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/inventory/v1"
	rendererv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/renderer/v1"
	rpsv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/rps/v1"
	"github.com/dialtone-voip/dialtone/services/console"
)

const envPrefix = "DIALTONE_CONSOLE"

func main() { servicecmd.Main("console", run) }

func run(ctx context.Context, args []string, getenv func(string) string) error {
	var cfg console.ServiceConfig
	if err := servicecmd.Parse("console", envPrefix, &cfg, args, getenv, os.Stderr); err != nil {
		return err
	}
	log, err := logging.New(os.Stderr, cfg.LogFormat, cfg.LogLevel)
	if err != nil {
		return err
	}
	token, err := servicecmd.ClientToken("token-file", cfg.TokenFile, envPrefix+"_TOKEN", getenv)
	if err == nil && token == "" {
		err = errors.New("no console token: set --token-file or " + envPrefix + "_TOKEN")
	}
	if err != nil {
		return err
	}
	dialOne := func(name, addr string) (*grpc.ClientConn, error) {
		c, err := dial(addr, cfg.GRPCCAFile, token)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		return c, nil
	}
	invConn, err := dialOne("inventory", cfg.InventoryAddr)
	if err != nil {
		return err
	}
	defer invConn.Close()
	rndConn, err := dialOne("config-renderer", cfg.RendererAddr)
	if err != nil {
		return err
	}
	defer rndConn.Close()
	deps := console.Deps{Logger: log, Inventory: inventoryv1.NewInventoryServiceClient(invConn),
		Renderer: rendererv1.NewConfigRendererServiceClient(rndConn)}
	if cfg.RpsAddr != "" {
		rpsConn, err := dialOne("rps-client", cfg.RpsAddr)
		if err != nil {
			return err
		}
		defer rpsConn.Close()
		deps.Rps = rpsv1.NewRedirectServiceClient(rpsConn)
	}
	reg := servicecmd.Registry()
	deps.Registerer = reg
	con, err := console.New(cfg.Console(), deps)
	if err != nil {
		return err
	}
	ready := func() error {
		if con.Addr() == nil {
			return errors.New("not listening yet")
		}
		return nil
	}
	g := &lifecycle.Group{Logger: log}
	g.Add("admin", adminhttp.New(adminhttp.Options{Addr: cfg.AdminAddr, Logger: log, Gatherer: reg, Ready: ready}).Run)
	g.Add("console", con.Run)
	return g.Run(ctx)
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
