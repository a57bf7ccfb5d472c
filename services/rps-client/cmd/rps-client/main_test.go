package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/dialtone-voip/dialtone/platform/auth"
	"github.com/dialtone-voip/dialtone/platform/testenv"
	"github.com/dialtone-voip/dialtone/platform/testenv/natstest"
	"github.com/dialtone-voip/dialtone/platform/testenv/redistest"
	rpsv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/rps/v1"
)

func freeAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func TestRun(t *testing.T) {
	ns := natstest.Start(t)
	rds := redistest.Start(t)
	dir := t.TempDir()
	tokens := filepath.Join(dir, "tokens.json")
	os.WriteFile(tokens, []byte(fmt.Sprintf(`{"tokens":[{"name":"a","role":"admin","sha256":"%s"}]}`, auth.HashToken("adm"))), 0o600)
	creds := filepath.Join(dir, "creds")
	os.Mkdir(creds, 0o700)
	os.WriteFile(filepath.Join(creds, "acme.snom.json"), []byte(`{"api":"snom-xmlrpc","username":"u","password":"SECRET-PW"}`), 0o600)
	grpcAddr, adminAddr := freeAddr(t), freeAddr(t)
	env := map[string]string{
		"DIALTONE_RPS_CLIENT_INVENTORY_TOKEN": "svc-token",
		"DIALTONE_RPS_CLIENT_REDIS_URL":       rds.URL(),
	}
	args := []string{"--grpc-addr", grpcAddr, "--admin-addr", adminAddr, "--nats-url", ns.URL(),
		"--tokens-file", tokens, "--credentials-dir", creds, "--inventory-addr", "127.0.0.1:1", "--log-level", "warn"}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- run(ctx, args, func(k string) string { return env[k] }) }()
	t.Cleanup(func() {
		cancel()
		if err := <-errc; err != nil {
			t.Errorf("run: %v", err)
		}
	})

	var readyErr error
	if testenv.Poll(15*time.Second, func() bool {
		resp, err := http.Get("http://" + adminAddr + "/readyz")
		if readyErr = err; err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}) != nil {
		t.Fatalf("not ready: %v", readyErr)
	}
	conn, err := grpc.NewClient(grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithPerRPCCredentials(auth.BearerToken("adm", false)))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	accts, err := rpsv1.NewRedirectServiceClient(conn).ListVendorAccounts(ctx, &rpsv1.ListVendorAccountsRequest{})
	if err != nil || len(accts.GetAccounts()) != 1 || accts.GetAccounts()[0].GetApi() != "snom-xmlrpc" {
		t.Fatalf("accounts %v %v", accts, err)
	}
	resp, err := http.Get("http://" + adminAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), "dialtone_rps_client_vendor_accounts 1") {
		t.Fatal("metrics lack dialtone_rps_client_vendor_accounts")
	}
}

func TestRunRefusesIncompleteConfig(t *testing.T) {
	ctx := context.Background()
	none := func(string) string { return "" }
	if err := run(ctx, []string{"--retry-base", "0s"}, none); err == nil {
		t.Fatal("accepted --retry-base 0")
	}
	if err := run(ctx, nil, none); err == nil || !strings.Contains(err.Error(), "--tokens-file") {
		t.Fatalf("err = %v", err)
	}
	if err := run(ctx, []string{"--redis-url", "", "--tokens-file", "x"}, none); err == nil || !strings.Contains(err.Error(), "--redis-url") {
		t.Fatalf("without Redis: err = %v", err)
	}
	// --help prints usage and returns flag.ErrHelp, which main exits 0 on.
	if err := run(ctx, []string{"--help"}, none); !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("--help: %v", err)
	}
}
