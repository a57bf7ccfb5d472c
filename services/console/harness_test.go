package console_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/dialtone-voip/dialtone/platform/auth"
	"github.com/dialtone-voip/dialtone/platform/grpcserver"
	"github.com/dialtone-voip/dialtone/platform/natsjs"
	"github.com/dialtone-voip/dialtone/platform/testenv"
	"github.com/dialtone-voip/dialtone/platform/testenv/logtest"
	inventoryv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/inventory/v1"
	rendererv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/renderer/v1"
	renderer "github.com/dialtone-voip/dialtone/services/config-renderer"
	"github.com/dialtone-voip/dialtone/services/console"
	"github.com/dialtone-voip/dialtone/services/inventory"
)

const (
	consoleToken = "test-console-token-0123456789"
	// edgeToken is provision-http's, for tests that play the edge.
	edgeToken = "test-edge-token-0123456789"
)

// stack is a real inventory (bbolt, embedded JetStream) and config-renderer
// behind platform's gRPC server with token authentication, and the console
// over them on an httptest TLS server.
type stack struct {
	t    *testing.T
	inv  inventoryv1.InventoryServiceClient
	edge inventoryv1.InventoryServiceClient
	js   jetstream.JetStream
	srv  *httptest.Server
	logs *logtest.Buffer
	now  *clock
	reg  *prometheus.Registry
}

// clock is the console's clock, moved by tests (session expiry, throttle).
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func newStack(t *testing.T) *stack {
	t.Helper()
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	ns, err := natsjs.StartEmbedded(natsjs.EmbeddedOptions{StoreDir: filepath.Join(dir, "nats"), DontListen: true})
	if err != nil {
		t.Fatal(err)
	}
	nc, js, err := natsjs.Connect(ctx, "", nil, natsjs.InProcess(ns))
	if err != nil {
		t.Fatal(err)
	}
	st, err := inventory.OpenBoltStore(filepath.Join(dir, "inventory.db"))
	if err != nil {
		t.Fatal(err)
	}
	inv, err := inventory.New(inventory.Config{EdgeHTTPBase: "http://prov.test:8080", EdgeHTTPSBase: "https://prov.test:8443",
		Bootstrap: true, TokenGrace: time.Hour, PasswordHashCost: 4}, inventory.Deps{Store: st, JetStream: js})
	if err != nil {
		t.Fatal(err)
	}
	ren, err := renderer.New(renderer.Config{}, renderer.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	tf, _ := json.Marshal(auth.TokensFile{Tokens: []auth.TokenEntry{
		{Name: "internal-console", Role: auth.RoleAdmin, SHA256: auth.HashToken(consoleToken)},
		{Name: "internal-edge", Role: auth.RoleEdge, SHA256: auth.HashToken(edgeToken)},
	}})
	tokens, err := auth.ParseTokens(tf)
	if err != nil {
		t.Fatal(err)
	}
	gs := grpcserver.New(grpcserver.Options{Auth: tokens, ShutdownTimeout: time.Second})
	inv.RegisterGRPC(gs.GRPC())
	ren.RegisterGRPC(gs.GRPC())
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Go(func() { _ = gs.Serve(ctx, lis) })
	wg.Go(func() { _ = inv.Run(ctx) })
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithPerRPCCredentials(auth.BearerToken(consoleToken, false)))
	if err != nil {
		t.Fatal(err)
	}
	edgeConn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithPerRPCCredentials(auth.BearerToken(edgeToken, false)))
	if err != nil {
		t.Fatal(err)
	}
	if testenv.Poll(10*time.Second, func() bool { return inv.Ready() == nil }) != nil {
		t.Fatalf("inventory not ready: %v", inv.Ready())
	}
	s := &stack{t: t, inv: inventoryv1.NewInventoryServiceClient(conn), edge: inventoryv1.NewInventoryServiceClient(edgeConn), js: js, logs: &logtest.Buffer{}, now: &clock{t: time.Now()}}
	s.reg = prometheus.NewRegistry()
	con, err := console.New(console.Config{Addr: "127.0.0.1:0"}, console.Deps{Registerer: s.reg,
		Logger: slog.New(slog.NewJSONHandler(s.logs, nil)), Inventory: s.inv,
		Renderer: rendererv1.NewConfigRendererServiceClient(conn), Now: s.now.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	wg.Go(func() { console.RunHub(ctx, con) })
	s.srv = httptest.NewTLSServer(con.Handler())
	t.Cleanup(func() {
		s.srv.CloseClientConnections()
		s.srv.Close()
		cancel()
		conn.Close()
		edgeConn.Close()
		wg.Wait()
		nc.Close()
		_ = st.Close()
		ns.Shutdown()
		ns.WaitForShutdown()
	})
	bg := context.Background()
	if _, err := s.inv.CreateTenant(bg, &inventoryv1.CreateTenantRequest{TenantId: "default"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.inv.CreateSipInterface(bg, &inventoryv1.CreateSipInterfaceRequest{Parent: "tenants/default", SipInterfaceId: "default",
		SipInterface: &inventoryv1.SipInterface{Host: "pbx.example.com", UdpPort: 5060, TcpPort: 5060}}); err != nil {
		t.Fatal(err)
	}
	for _, u := range []struct {
		id   string
		role inventoryv1.UserRole
	}{{"root", inventoryv1.UserRole_USER_ROLE_ADMIN}, {"viewer", inventoryv1.UserRole_USER_ROLE_READONLY}} {
		if _, err := s.inv.CreateUser(bg, &inventoryv1.CreateUserRequest{UserId: u.id, User: &inventoryv1.User{Role: u.role, Password: "pw-" + u.id + "-123"}}); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

// browser is an HTTP client with a cookie jar, like one browser tab.
type browser struct {
	s    *stack
	c    *http.Client
	csrf string
}

func (s *stack) browser() *browser {
	jar, _ := cookiejar.New(nil)
	// A copy: httptest hands out one client, and each tab has its own jar.
	cp := *s.srv.Client()
	c := &cp
	c.Jar = jar
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	c.Transport.(*http.Transport).TLSClientConfig = &tls.Config{InsecureSkipVerify: true}
	return &browser{s: s, c: c}
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

type resp struct {
	code int
	body string
	h    http.Header
}

func (b *browser) do(method, path string, form url.Values, hdr ...string) resp {
	b.s.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, b.s.srv.URL+path, body)
	if err != nil {
		b.s.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	r, err := b.c.Do(req)
	if err != nil {
		b.s.t.Fatal(err)
	}
	defer r.Body.Close()
	var buf bytes.Buffer
	_, _ = io.Copy(&buf, r.Body)
	if m := csrfRE.FindStringSubmatch(buf.String()); m != nil {
		b.csrf = m[1]
	}
	return resp{r.StatusCode, buf.String(), r.Header}
}

func (b *browser) get(path string) resp { return b.do(http.MethodGet, path, nil) }

// post sends a form with the page's CSRF token.
func (b *browser) post(path string, kv ...string) resp {
	f := url.Values{"csrf": {b.csrf}}
	for i := 0; i+1 < len(kv); i += 2 {
		f.Add(kv[i], kv[i+1])
	}
	return b.do(http.MethodPost, path, f)
}

func (b *browser) login(user, password string) resp {
	b.s.t.Helper()
	b.get("/login")
	r := b.post("/login", "user", user, "password", password, "next", "/phones")
	// A login that did not redirect failed: say why here, not as a puzzling
	// 303 to /login on the test's next page.
	if r.code != http.StatusSeeOther && password != "" && !strings.Contains(user, "wrong") {
		if m := pageErrorRE.FindStringSubmatch(r.body); m != nil {
			b.s.t.Logf("login %s: %d %s", user, r.code, m[1])
		} else {
			b.s.t.Logf("login %s: %d", user, r.code)
		}
	}
	return r
}

var pageErrorRE = regexp.MustCompile(`id="page-error">([^<]*)<`)
