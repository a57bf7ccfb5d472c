package grpcserver

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	healthgrpc "google.golang.org/grpc/health/grpc_health_v1"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/dialtone-voip/dialtone/platform/auth"
	"github.com/dialtone-voip/dialtone/platform/testenv"
)

const (
	adminToken = "admin-token-for-tests-0001"
	roToken    = "readonly-token-for-tests-02"
)

// probe is a test service reusing the health messages under its own
// name, so it is not exempt from authentication. Check with service
// "panic" panics; every other call requires the admin or service role.
type probe struct {
	mu   sync.Mutex
	last auth.Principal
}

const probeService = "dialtone.test.Probe"

func (p *probe) check(ctx context.Context, req *healthpb.HealthCheckRequest) (*healthpb.HealthCheckResponse, error) {
	if req.GetService() == "panic" {
		panic("handler exploded")
	}
	if req.GetService() == "missing" {
		return nil, status.Error(codes.NotFound, "probe missing not found")
	}
	if err := auth.Require(ctx, auth.RoleAdmin, auth.RoleService); err != nil {
		return nil, err
	}
	pr, _ := auth.FromContext(ctx)
	p.mu.Lock()
	p.last = pr
	p.mu.Unlock()
	return &healthpb.HealthCheckResponse{Status: healthpb.HealthCheckResponse_SERVING}, nil
}

var probeDesc = grpc.ServiceDesc{
	ServiceName: probeService,
	HandlerType: (*any)(nil),
	Methods: []grpc.MethodDesc{{
		MethodName: "Check",
		Handler: func(srv any, ctx context.Context, dec func(any) error, ic grpc.UnaryServerInterceptor) (any, error) {
			in := new(healthpb.HealthCheckRequest)
			if err := dec(in); err != nil {
				return nil, err
			}
			h := func(ctx context.Context, req any) (any, error) {
				return srv.(*probe).check(ctx, req.(*healthpb.HealthCheckRequest))
			}
			return ic(ctx, in, &grpc.UnaryServerInfo{Server: srv, FullMethod: "/" + probeService + "/Check"}, h)
		},
	}},
	Streams: []grpc.StreamDesc{{
		StreamName:    "Watch",
		ServerStreams: true,
		Handler: func(srv any, ss grpc.ServerStream) error {
			in := new(healthpb.HealthCheckRequest)
			if err := ss.RecvMsg(in); err != nil {
				return err
			}
			resp, err := srv.(*probe).check(ss.Context(), in)
			if err != nil {
				return err
			}
			return ss.SendMsg(resp)
		},
	}},
}

func registerProbe(s *Server) *probe {
	p := &probe{}
	s.GRPC().RegisterService(&probeDesc, p)
	return p
}

func callProbe(ctx context.Context, conn *grpc.ClientConn, service string, opts ...grpc.CallOption) error {
	return conn.Invoke(ctx, "/"+probeService+"/Check", &healthpb.HealthCheckRequest{Service: service}, &healthpb.HealthCheckResponse{}, opts...)
}

// watchProbe calls the server-streaming method and reads its one reply.
func watchProbe(ctx context.Context, conn *grpc.ClientConn, opts ...grpc.CallOption) error {
	st, err := conn.NewStream(ctx, &probeDesc.Streams[0], "/"+probeService+"/Watch", opts...)
	if err != nil {
		return err
	}
	if err := st.SendMsg(&healthpb.HealthCheckRequest{}); err != nil {
		return err
	}
	if err := st.CloseSend(); err != nil {
		return err
	}
	return st.RecvMsg(&healthpb.HealthCheckResponse{})
}

func tokens(t *testing.T) *auth.TokenSet {
	t.Helper()
	ts, err := auth.ParseTokens(fmt.Appendf(nil, `{"tokens": [
		{"name": "ops", "role": "admin", "sha256": %q},
		{"name": "viewer", "role": "readonly", "sha256": %q}]}`,
		auth.HashToken(adminToken), auth.HashToken(roToken)))
	if err != nil {
		t.Fatal(err)
	}
	return ts
}

type running struct {
	srv  *Server
	conn *grpc.ClientConn
	// stop cancels Serve's context and returns its result; safe to call twice.
	stop func() error
}

func start(t *testing.T, opts Options, dial ...grpc.DialOption) *running {
	t.Helper()
	srv := New(opts)
	registerProbe(srv)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, lis) }()
	if len(dial) == 0 {
		dial = []grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}
	}
	conn, err := grpc.NewClient(lis.Addr().String(), dial...)
	if err != nil {
		t.Fatal(err)
	}
	stop := sync.OnceValue(func() error { cancel(); return <-done })
	t.Cleanup(func() {
		conn.Close()
		stop()
	})
	return &running{srv: srv, conn: conn, stop: stop}
}

func TestHealthServingThenNotServingOnShutdown(t *testing.T) {
	srv := New(Options{Auth: tokens(t)})
	registerProbe(srv)
	// Before Serve: not serving.
	resp, err := srv.Health().Check(t.Context(), &healthpb.HealthCheckRequest{})
	if err != nil || resp.Status != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Fatalf("before Serve: %v, %v", resp, err)
	}

	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, lis) }()
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	hc := healthgrpc.NewHealthClient(conn)

	// Health needs no token.
	for _, svc := range []string{"", probeService} {
		resp, err := hc.Check(t.Context(), &healthpb.HealthCheckRequest{Service: svc}, grpc.WaitForReady(true))
		if err != nil || resp.Status != healthpb.HealthCheckResponse_SERVING {
			t.Fatalf("Check(%q) while serving = %v, %v", svc, resp, err)
		}
	}

	watchCtx, stopWatch := context.WithCancel(t.Context())
	defer stopWatch()
	w, err := hc.Watch(watchCtx, &healthpb.HealthCheckRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if m, err := w.Recv(); err != nil || m.Status != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("first Watch update = %v, %v", m, err)
	}

	cancel() // shutdown starts
	m, err := w.Recv()
	if err != nil || m.Status != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Fatalf("Watch update after shutdown started = %v, %v; want NOT_SERVING", m, err)
	}
	stopWatch() // the open stream is the last in-flight call
	if err := <-done; err != nil {
		t.Fatalf("Serve = %v", err)
	}
}

func TestDrainDelayAnswersNotServing(t *testing.T) {
	srv := New(Options{DrainDelay: time.Hour})
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, lis) }()
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	hc := healthgrpc.NewHealthClient(conn)
	if _, err := hc.Check(t.Context(), &healthpb.HealthCheckRequest{}, grpc.WaitForReady(true)); err != nil {
		t.Fatal(err)
	}
	cancel()
	// During the drain delay the server still answers, with NOT_SERVING.
	testenv.WaitFor(t, 10*time.Second, "NOT_SERVING during the drain", func() bool {
		resp, err := hc.Check(t.Context(), &healthpb.HealthCheckRequest{})
		if err != nil {
			t.Fatalf("Check during drain: %v", err)
		}
		return resp.Status == healthpb.HealthCheckResponse_NOT_SERVING
	})
	srv.GRPC().Stop() // end the test without waiting an hour
	if err := <-done; err != nil {
		t.Errorf("Serve after external Stop = %v", err)
	}
}

func TestAuthCodes(t *testing.T) {
	var logs bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	reg := prometheus.NewRegistry()
	r := start(t, Options{Auth: tokens(t), Logger: log, Registerer: reg})
	ctx := t.Context()
	wait := grpc.WaitForReady(true)
	for _, tc := range []struct {
		name  string
		opts  []grpc.CallOption
		code  codes.Code
		token string
	}{
		{"no token", nil, codes.Unauthenticated, ""},
		{"invalid token", []grpc.CallOption{grpc.PerRPCCredentials(auth.BearerToken("wrong-"+adminToken, false))}, codes.Unauthenticated, "wrong-" + adminToken},
		{"wrong role", []grpc.CallOption{grpc.PerRPCCredentials(auth.BearerToken(roToken, false))}, codes.PermissionDenied, roToken},
		{"admin", []grpc.CallOption{grpc.PerRPCCredentials(auth.BearerToken(adminToken, false))}, codes.OK, adminToken},
	} {
		err := callProbe(ctx, r.conn, "", append(tc.opts, wait)...)
		if got := status.Code(err); got != tc.code {
			t.Errorf("%s: code %v (%v), want %v", tc.name, got, err, tc.code)
		}
		serr := watchProbe(ctx, r.conn, tc.opts...)
		if got := status.Code(serr); got != tc.code {
			t.Errorf("%s (stream): code %v (%v), want %v", tc.name, got, serr, tc.code)
		}
		if tc.token != "" && err != nil && strings.Contains(err.Error(), tc.token) {
			t.Errorf("%s: error echoes the token", tc.name)
		}
	}
	if err := r.stop(); err != nil {
		t.Errorf("Serve = %v", err)
	}
	out := logs.String()
	for _, tok := range []string{adminToken, roToken} {
		if strings.Contains(out, tok) {
			t.Errorf("token in logs:\n%s", out)
		}
	}
	if !strings.Contains(out, `"principal":"ops"`) || !strings.Contains(out, `"grpc.code":"PermissionDenied"`) {
		t.Errorf("call log lacks principal or code:\n%s", out)
	}
	// Unauthenticated calls are refused by the tap, before the interceptors
	// that log: they are counted, not logged (a flood would be a log flood).
	if strings.Contains(out, `"grpc.code":"Unauthenticated"`) {
		t.Errorf("unauthenticated call logged:\n%s", out)
	}
	if got := refusedCount(t, reg, reasonUnauthenticated); got != 4 {
		t.Errorf("refused{unauthenticated} = %v, want 4 (2 unary + 2 stream)", got)
	}
}

// TestClientErrorsAtDebug: a NotFound answer is a normal flow and is logged
// at debug only; refused credentials stay at info, faults at error.
func TestClientErrorsAtDebug(t *testing.T) {
	var logs bytes.Buffer
	r := start(t, Options{Auth: tokens(t), Logger: slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo}))})
	admin := grpc.PerRPCCredentials(auth.BearerToken(adminToken, false))
	if err := callProbe(t.Context(), r.conn, "missing", admin, grpc.WaitForReady(true)); status.Code(err) != codes.NotFound {
		t.Fatalf("call = %v, want NotFound", err)
	}
	if err := callProbe(t.Context(), r.conn, ""); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("call without token = %v, want Unauthenticated", err)
	}
	if err := r.stop(); err != nil {
		t.Errorf("Serve = %v", err)
	}
	out := logs.String()
	// The call without a token is refused by the tap before any logging
	// interceptor (counted, not logged); the NotFound answer is below info.
	if strings.Contains(out, "NotFound") || strings.Contains(out, `"grpc.code"`) {
		t.Errorf("at info, want neither the NotFound nor the refused call logged:\n%s", out)
	}
	for code, want := range map[codes.Code]slog.Level{
		codes.OK: slog.LevelDebug, codes.NotFound: slog.LevelDebug, codes.AlreadyExists: slog.LevelDebug,
		codes.InvalidArgument: slog.LevelDebug, codes.FailedPrecondition: slog.LevelDebug, codes.Aborted: slog.LevelDebug,
		codes.Unauthenticated: slog.LevelInfo, codes.PermissionDenied: slog.LevelInfo, codes.Unavailable: slog.LevelInfo,
		codes.Internal: slog.LevelError,
	} {
		if got := CallLevel(code); got != want {
			t.Errorf("CallLevel(%v) = %v, want %v", code, got, want)
		}
	}
}

func TestNoAuthIsAnonymousAdmin(t *testing.T) {
	r := start(t, Options{})
	if err := callProbe(t.Context(), r.conn, "", grpc.WaitForReady(true)); err != nil {
		t.Fatalf("call without auth configured: %v", err)
	}
}

func TestRecoveryAndMetrics(t *testing.T) {
	var logs bytes.Buffer
	reg := prometheus.NewRegistry()
	r := start(t, Options{Logger: slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})), Registerer: reg})
	err := callProbe(t.Context(), r.conn, "panic", grpc.WaitForReady(true))
	if status.Code(err) != codes.Internal || strings.Contains(err.Error(), "exploded") {
		t.Fatalf("panicking call = %v; want Internal without the panic text", err)
	}
	// The server survives the panic.
	if err := callProbe(t.Context(), r.conn, ""); err != nil {
		t.Fatalf("call after panic: %v", err)
	}
	if !strings.Contains(logs.String(), "handler exploded") || !strings.Contains(logs.String(), "grpcserver_test.go") {
		t.Errorf("panic or stack not logged:\n%s", logs.String())
	}
	if err := r.stop(); err != nil {
		t.Errorf("Serve = %v", err)
	}

	// A second server on the same registry shares the collectors.
	New(Options{Registerer: reg})

	expected := `
# HELP grpc_server_handled_total gRPC calls completed on the server, by method and status code.
# TYPE grpc_server_handled_total counter
grpc_server_handled_total{grpc_code="Internal",grpc_method="Check",grpc_service="dialtone.test.Probe"} 1
grpc_server_handled_total{grpc_code="OK",grpc_method="Check",grpc_service="dialtone.test.Probe"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(expected), "grpc_server_handled_total"); err != nil {
		t.Error(err)
	}
	if n, err := testutil.GatherAndCount(reg, "grpc_server_handling_seconds"); err != nil || n != 1 {
		t.Errorf("latency histogram series = %d, %v", n, err)
	}
}

func TestMutualTLSPrincipal(t *testing.T) {
	ca, caKey := newCA(t)
	serverCert := leaf(t, ca, caKey, "server", nil, true)
	clientCert := leaf(t, ca, caKey, "rps-client", []string{"service"}, false)
	pool := x509.NewCertPool()
	pool.AddCert(ca)

	srvTLS := &tls.Config{Certificates: []tls.Certificate{serverCert}, ClientCAs: pool, ClientAuth: tls.VerifyClientCertIfGiven, MinVersion: tls.VersionTLS13}
	srv := New(Options{Auth: tokens(t), TLSConfig: srvTLS})
	p := registerProbe(srv)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	go srv.Serve(ctx, lis)

	dial := func(certs ...tls.Certificate) *grpc.ClientConn {
		cfg := &tls.Config{RootCAs: pool, Certificates: certs, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS13}
		conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(credentials.NewTLS(cfg)))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		return conn
	}
	if err := callProbe(ctx, dial(clientCert), "", grpc.WaitForReady(true)); err != nil {
		t.Fatalf("call with client certificate: %v", err)
	}
	p.mu.Lock()
	got := p.last
	p.mu.Unlock()
	if got != (auth.Principal{Name: "rps-client", Role: auth.RoleService}) {
		t.Errorf("principal = %+v", got)
	}
	// Without a certificate or token: Unauthenticated; a token over TLS works.
	noCert := dial()
	if err := callProbe(ctx, noCert, "", grpc.WaitForReady(true)); status.Code(err) != codes.Unauthenticated {
		t.Errorf("no certificate: %v", err)
	}
	if err := callProbe(ctx, noCert, "", grpc.PerRPCCredentials(auth.BearerToken(adminToken, true))); err != nil {
		t.Errorf("token over TLS: %v", err)
	}
}

func newCA(t *testing.T) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return ca, key
}

func leaf(t *testing.T, ca *x509.Certificate, caKey *ecdsa.PrivateKey, cn string, ou []string, server bool) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{
		SerialNumber: serial, Subject: pkix.Name{CommonName: cn, OrganizationalUnit: ou},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	if server {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		tmpl.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1)}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}
