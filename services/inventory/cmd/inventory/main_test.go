package main

import (
	"context"
	"encoding/json"
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
	inventoryv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/inventory/v1"
)

func freeAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// TestRun starts the real main (Redis, NATS, tokens file, gRPC, admin
// HTTP), waits for /readyz, makes an authenticated call and shuts down.
func TestRun(t *testing.T) {
	rs := redistest.Start(t, redistest.AOF("everysec"))
	ns := natstest.Start(t)
	dir := t.TempDir()
	tokens := filepath.Join(dir, "tokens.json")
	data, _ := json.Marshal(auth.TokensFile{Tokens: []auth.TokenEntry{{Name: "ops", Role: auth.RoleAdmin, SHA256: auth.HashToken("ops-token")}}})
	if err := os.WriteFile(tokens, data, 0o600); err != nil {
		t.Fatal(err)
	}
	grpcAddr, adminAddr := freeAddr(t), freeAddr(t)
	env := map[string]string{
		"DIALTONE_INVENTORY_EDGE_HTTP_BASE": "http://prov.test:8080",
		"DIALTONE_INVENTORY_REDIS_URL":      rs.URL(),
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"--grpc-addr", grpcAddr, "--admin-addr", adminAddr, "--nats-url", ns.URL(),
			"--tokens-file", tokens, "--log-level", "warn"}, func(k string) string { return env[k] })
	}()
	var readyErr error
	if testenv.Poll(20*time.Second, func() bool {
		select {
		case err := <-done:
			t.Fatalf("run returned early: %v", err)
		default:
		}
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
		grpc.WithPerRPCCredentials(auth.BearerToken("ops-token", false)))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	c := inventoryv1.NewInventoryServiceClient(conn)
	cctx, ccancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer ccancel()
	if _, err := c.CreateTenant(cctx, &inventoryv1.CreateTenantRequest{TenantId: "acme"}); err != nil {
		t.Fatal(err)
	}
	if n, err := rs.Client().Exists(cctx, "{dt}:t:acme").Result(); err != nil || n != 1 {
		t.Fatalf("tenant not in Redis: %d %v", n, err)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("run did not return after cancel")
	}
}

func TestRunRefusesBadConfig(t *testing.T) {
	for _, args := range [][]string{
		{"--edge-http-base", "ftp://x"},
		{"--edge-http-base", "http://x", "--redis-url", "redis://x:1", "--data-dir", "/tmp/x"},
		{"--edge-http-base", "http://x", "--token-grace", "-1s"},
		{"--edge-http-base", "http://x", "--grpc-addr", "nope"},
		{"--edge-http-base", "http://x", "--data-dir", t.TempDir()}, // no tokens file
		{"--no-such-flag"},
	} {
		err := run(context.Background(), args, func(string) string { return "" })
		if err == nil {
			t.Errorf("%v: accepted", args)
		} else if strings.Contains(err.Error(), "x:1") && strings.Contains(err.Error(), "redis://") {
			t.Errorf("%v: error quotes the URL: %v", args, err)
		}
	}
}
