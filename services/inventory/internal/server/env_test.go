package server_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/dialtone-voip/dialtone/platform/auth"
	"github.com/dialtone-voip/dialtone/platform/grpcserver"
	"github.com/dialtone-voip/dialtone/platform/logging"
	"github.com/dialtone-voip/dialtone/platform/testenv/logtest"
	"github.com/dialtone-voip/dialtone/platform/testenv/redistest"
	eventsv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/events/v1"
	inventoryv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/inventory/v1"
	"github.com/dialtone-voip/dialtone/services/inventory/internal/server"
	"github.com/dialtone-voip/dialtone/services/inventory/internal/store"
	"github.com/dialtone-voip/dialtone/services/inventory/internal/store/boltstore"
	"github.com/dialtone-voip/dialtone/services/inventory/internal/store/redisstore"
)

// Principals of the test server, by the token they present.
var principals = []struct {
	name, role, tenant string
}{
	{"admin", "admin", ""},
	{"readonly", "readonly", ""},
	{"edge", "edge", ""},
	{"listener", "listener", ""},
	{"service", "service", ""},
	{"acme-admin", "admin", "acme"},
	{"beta-admin", "admin", "beta"},
	{"acme-ro", "readonly", "acme"},
}

func tokenOf(name string) string { return "test-token-of-" + name }

type env struct {
	t       testing.TB
	srv     *server.Server
	st      store.Store
	logs    *logtest.Buffer
	clients map[string]inventoryv1.InventoryServiceClient
	anon    inventoryv1.InventoryServiceClient
	addr    string
}

type envOpt func(*server.Config, *server.Options)

// grpcServerOptions are passed to the gRPC server of every env (benchmarks).
var grpcServerOptions []grpc.ServerOption

// newEnv serves a Server over real gRPC on loopback TCP, with platform's
// grpcserver and token authentication, on a fresh bbolt store.
func newEnv(t *testing.T, opts ...envOpt) *env {
	t.Helper()
	st, err := boltstore.Open(filepath.Join(t.TempDir(), "inv.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return newEnvStore(t, st, opts...)
}

// newRedisEnv is newEnv on the Redis backend (a real redis-server), where
// the profile cache is on.
func newRedisEnv(t *testing.T, opts ...envOpt) *env {
	t.Helper()
	srv := redistest.Start(t)
	return newEnvStore(t, redisstore.New(srv.Client(), ""), opts...)
}

// backends runs fn against both stores: bbolt, and Redis with the
// profile cache.
func backends(t *testing.T, fn func(t *testing.T, newEnv func(*testing.T, ...envOpt) *env)) {
	t.Run("bolt", func(t *testing.T) { fn(t, newEnv) })
	t.Run("redis", func(t *testing.T) { fn(t, newRedisEnv) })
}

func newEnvStore(t testing.TB, st store.Store, opts ...envOpt) *env {
	t.Helper()
	logs := &logtest.Buffer{}
	log, err := logging.New(logs, "json", "debug")
	if err != nil {
		t.Fatal(err)
	}
	cfg := server.Config{
		EdgeHTTPBase: "http://prov.test:8080", EdgeHTTPSBase: "https://prov.test:8443",
		Bootstrap: true, TokenGrace: time.Hour,
	}
	o := server.Options{Logger: log}
	for _, f := range opts {
		f(&cfg, &o)
	}
	log = o.Logger
	srv, err := server.New(cfg, st, o)
	if err != nil {
		t.Fatal(err)
	}
	var tf auth.TokensFile
	for _, p := range principals {
		tf.Tokens = append(tf.Tokens, auth.TokenEntry{Name: p.name, Role: auth.Role(p.role), Tenant: p.tenant, SHA256: auth.HashToken(tokenOf(p.name))})
	}
	data, err := json.Marshal(tf)
	if err != nil {
		t.Fatal(err)
	}
	tokens, err := auth.ParseTokens(data)
	if err != nil {
		t.Fatal(err)
	}
	gs := grpcserver.New(grpcserver.Options{Logger: log, Auth: tokens, ShutdownTimeout: time.Second, ServerOptions: grpcServerOptions})
	inventoryv1.RegisterInventoryServiceServer(gs.GRPC(), srv)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- gs.Serve(ctx, lis) }()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	e := &env{t: t, srv: srv, st: st, logs: logs, clients: map[string]inventoryv1.InventoryServiceClient{}, addr: lis.Addr().String()}
	for _, p := range principals {
		e.clients[p.name] = e.dial(grpc.WithPerRPCCredentials(auth.BearerToken(tokenOf(p.name), false)))
	}
	e.anon = e.dial()
	return e
}

func (e *env) dial(extra ...grpc.DialOption) inventoryv1.InventoryServiceClient {
	conn, err := grpc.NewClient(e.addr, append([]grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}, extra...)...)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { conn.Close() })
	return inventoryv1.NewInventoryServiceClient(conn)
}

func (e *env) c(name string) inventoryv1.InventoryServiceClient { return e.clients[name] }
func (e *env) admin() inventoryv1.InventoryServiceClient        { return e.clients["admin"] }

func ctx() context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	_ = cancel // bounded by the timeout
	return c
}

// wantCode fails unless err has code (and, if given, mentions field).
func wantCode(t *testing.T, err error, code codes.Code, field string) {
	t.Helper()
	if status.Code(err) != code {
		t.Fatalf("got %v, want %v", err, code)
	}
	if field != "" && !strings.Contains(status.Convert(err).Message(), field) {
		t.Fatalf("error %q does not name %q", status.Convert(err).Message(), field)
	}
}

func must[T any](t testing.TB) func(T, error) T {
	return func(v T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

// seed creates tenant acme with interface pbx (udp+tls) and extensions 100, 101.
func (e *env) seed(tenant string) {
	t := e.t
	t.Helper()
	a := e.admin()
	must[*inventoryv1.CreateTenantResponse](t)(a.CreateTenant(ctx(), &inventoryv1.CreateTenantRequest{
		TenantId: tenant, Tenant: &inventoryv1.Tenant{DisplayName: "ACME", NtpServer: "pool.ntp.org"}}))
	must[*inventoryv1.CreateSipInterfaceResponse](t)(a.CreateSipInterface(ctx(), &inventoryv1.CreateSipInterfaceRequest{
		Parent: "tenants/" + tenant, SipInterfaceId: "pbx",
		SipInterface: &inventoryv1.SipInterface{Host: "pbx.example.com", UdpPort: 5060, TlsPort: 5061}}))
	for _, n := range []string{"100", "101"} {
		must[*inventoryv1.CreateExtensionResponse](t)(a.CreateExtension(ctx(), &inventoryv1.CreateExtensionRequest{
			Parent: "tenants/" + tenant, Extension: &inventoryv1.Extension{Number: n, DisplayName: "Ext " + n, SipPassword: "sip-secret-" + tenant + n}}))
	}
}

// discovery is a PhoneDiscovered event of mac seen at at.
func discovery(mac string, at time.Time) *eventsv1.PhoneDiscovered {
	return &eventsv1.PhoneDiscovered{
		Mac: mac, Model: "T54W", Firmware: "96.86.0.100", SourceAddress: "198.18.0.10:5060",
		Contact: "<sip:" + mac + "@198.18.0.10:5060>", UserAgent: "Yealink SIP-T54W 96.86.0.100 " + mac,
		Listener: "site-a", CallId: "c-" + mac, ObservedTime: timestamppb.New(at),
	}
}

// discover feeds a PhoneDiscovered event to the server.
func (e *env) discover(mac string, at time.Time) {
	e.t.Helper()
	if err := e.srv.HandleDiscovered(context.Background(), discovery(mac, at)); err != nil {
		e.t.Fatal(err)
	}
}

// quiet drops the service's and the gRPC server's logs (benchmarks).
func quiet(_ *server.Config, o *server.Options) { o.Logger = slog.New(slog.DiscardHandler) }

type (
	serverConfig  = server.Config
	serverOptions = server.Options
)
