package ctl

import (
	"context"
	"encoding/json"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/dialtone-voip/dialtone/platform/auth"
	"github.com/dialtone-voip/dialtone/platform/grpcserver"
	rpsv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/rps/v1"
	rpsclient "github.com/dialtone-voip/dialtone/services/rps-client"
)

// startRps serves a real rps-client (embedded store, no vendor account) on
// loopback behind token authentication, as --rps-server.
func startRps(t *testing.T) (addr string, admin rpsv1.RedirectServiceClient) {
	t.Helper()
	dir := t.TempDir()
	st, err := rpsclient.OpenBoltStore(filepath.Join(dir, "rps.db"))
	if err != nil {
		t.Fatal(err)
	}
	cfg := rpsclient.Defaults()
	cfg.CredentialsDir = t.TempDir()
	svc, err := rpsclient.New(cfg, rpsclient.Deps{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	tf, _ := json.Marshal(auth.TokensFile{Tokens: []auth.TokenEntry{{Name: "admin", Role: auth.RoleAdmin, SHA256: auth.HashToken(adminToken)}}})
	tokens, err := auth.ParseTokens(tf)
	if err != nil {
		t.Fatal(err)
	}
	gs := grpcserver.New(grpcserver.Options{Auth: tokens, ShutdownTimeout: time.Second})
	svc.RegisterGRPC(gs.GRPC())
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { _ = gs.Serve(ctx, lis) })
	t.Cleanup(func() { cancel(); wg.Wait(); _ = st.Close() })
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithPerRPCCredentials(auth.BearerToken(adminToken, false)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return lis.Addr().String(), rpsv1.NewRedirectServiceClient(conn)
}

func TestRpsStatus(t *testing.T) {
	addr, admin := startRps(t)
	const token = "SECRETtokenSECRETtokenSECRETtokenSECRETtok"
	// No Yealink account is configured: a permanent, typed failure.
	if _, err := admin.RegisterDevice(context.Background(), &rpsv1.RegisterDeviceRequest{Mac: "00:15:65:aa:00:01",
		Vendor: "yealink", Url: "https://prov.test/p/" + token + "/"}); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"DIALTONE_SERVER": "127.0.0.1:1", "DIALTONE_RPS_SERVER": addr, "DIALTONE_TOKEN": adminToken}
	list := runEnv(t, env, false, "rps", "status").ok(t)
	if !strings.Contains(list.out, "00:15:65:aa:00:01") || !strings.Contains(list.out, "no account") {
		t.Fatalf("list:\n%s", list.out)
	}
	show := runEnv(t, env, false, "rps", "status", "0015.65aa.0001").ok(t)
	for _, want := range []string{"STATE", "failed", "VENDOR OBJECTS", "-"} {
		if !strings.Contains(show.out, want) {
			t.Fatalf("show lacks %q:\n%s", want, show.out)
		}
	}
	js := runEnv(t, env, false, "rps", "status", "001565aa0001", "-o", "json").ok(t)
	var st map[string]any
	if err := json.Unmarshal([]byte(js.out), &st); err != nil || st["mac"] != "001565aa0001" {
		t.Fatalf("json %v: %s", err, js.out)
	}
	for _, r := range []result{list, show, js} {
		if strings.Contains(r.out, token) {
			t.Fatalf("the registered URL's token was printed:\n%s", r.out)
		}
	}
	if h := runEnv(t, env, false, "rps", "status", "--help").ok(t); !strings.Contains(h.out, "server object") {
		t.Fatalf("help:\n%s", h.out)
	}
	runEnv(t, env, false, "rps", "status", "--state", "bogus").fails(t, 2, "--state")
	runEnv(t, env, false, "rps", "status", "not-a-mac").fails(t, 2, "MAC")
	runEnv(t, env, false, "rps", "status", "001565aa0002").fails(t, 1, "not found")
}
