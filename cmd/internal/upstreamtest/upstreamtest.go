// Package upstreamtest runs the real inventory and config-renderer in
// process for the edge's cross-service tests (cmd/e2e/edge) and its
// benchmark tool (cmd/edgebench): one loopback gRPC server (as
// in the one-process dialtone) with token authentication, inventory on a
// bolt store, its events on a JetStream the caller provides. The edge's
// clients of it, counting their calls, are edgetest.DialClients
// (services/provision-http/edgetest).
package upstreamtest

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/dialtone-voip/dialtone/platform/auth"
	"github.com/dialtone-voip/dialtone/platform/grpcserver"
	"github.com/dialtone-voip/dialtone/platform/logging"
	inventoryv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/inventory/v1"
	provisioningv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/provisioning/v1"
	renderer "github.com/dialtone-voip/dialtone/services/config-renderer"
	inventory "github.com/dialtone-voip/dialtone/services/inventory"
	"github.com/dialtone-voip/dialtone/services/provision-http/edgetest"
)

// Tokens the server accepts.
const (
	AdminToken = "upstreamtest-admin-0123456789abcdefghijklmnop"
	EdgeToken  = "upstreamtest-edge-0123456789abcdefghijklmnopq"
	// ListenerToken is a pnp-listener's (the attack test boots a phone
	// over SIP PnP).
	ListenerToken = "upstreamtest-listener-0123456789abcdefghijklm"
)

// Tenant and SIP interface that Seed creates and AddPhone assigns phones to.
const (
	Tenant       = "tenants/acme"
	SipInterface = "tenants/acme/sipInterfaces/pbx"
)

// Options configure Start.
type Options struct {
	// Dir holds inventory's store; required.
	Dir string
	// JetStream carries inventory's events; required (the edge's
	// invalidation and ConfigFetched need it).
	JetStream jetstream.JetStream
	// TemplatesDir holds the renderer's template overrides; "" for none.
	// The renderer does not watch it: call Renderer.Reload after a change.
	TemplatesDir string
	// Logger receives inventory's logs (log-capture tests); nil discards them.
	Logger *slog.Logger
}

// Upstreams is a running inventory + config-renderer.
type Upstreams struct {
	// Addr is the gRPC address of both services.
	Addr string
	// Admin is an admin client of inventory (for seeding).
	Admin     inventoryv1.InventoryServiceClient
	Inventory *inventory.Service
	Renderer  *renderer.Service

	seq     int
	mu      sync.Mutex
	closers []func()
}

// Start runs both services until Close.
func Start(ctx context.Context, opts Options) (_ *Upstreams, err error) {
	if opts.Dir == "" || opts.JetStream == nil {
		return nil, errors.New("upstreamtest: Dir and JetStream are required")
	}
	u := &Upstreams{}
	defer func() {
		if err != nil {
			u.Close()
		}
	}()
	st, err := inventory.OpenBoltStore(filepath.Join(opts.Dir, "inventory.db"))
	if err != nil {
		return nil, err
	}
	u.closers = append(u.closers, func() { st.Close() })
	u.Inventory, err = inventory.New(inventory.Config{
		EdgeHTTPBase: "http://prov.test:8080", EdgeHTTPSBase: "https://prov.test:8443", Bootstrap: true, TokenGrace: time.Hour,
	}, inventory.Deps{Logger: cmp.Or(opts.Logger, logging.Discard()), Store: st, JetStream: opts.JetStream})
	if err != nil {
		return nil, err
	}
	u.Renderer, err = renderer.New(renderer.Config{TemplatesDir: opts.TemplatesDir, Reload: time.Second}, renderer.Deps{})
	if err != nil {
		return nil, err
	}
	data, _ := json.Marshal(auth.TokensFile{Tokens: []auth.TokenEntry{
		{Name: "admin", Role: auth.RoleAdmin, SHA256: auth.HashToken(AdminToken)},
		{Name: "edge", Role: auth.RoleEdge, SHA256: auth.HashToken(EdgeToken)},
		{Name: "listener", Role: auth.RoleListener, SHA256: auth.HashToken(ListenerToken)},
	}})
	tokens, err := auth.ParseTokens(data)
	if err != nil {
		return nil, err
	}
	gs := grpcserver.New(grpcserver.Options{Auth: tokens, ShutdownTimeout: time.Second})
	u.Inventory.RegisterGRPC(gs.GRPC())
	u.Renderer.RegisterGRPC(gs.GRPC())
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	u.Addr = lis.Addr().String()
	sctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	var wg sync.WaitGroup
	wg.Go(func() { _ = u.Inventory.Run(sctx) })
	wg.Go(func() { _ = gs.Serve(sctx, lis) })
	u.closers = append(u.closers, func() { cancel(); wg.Wait() })
	conn, err := edgetest.Dial(u.Addr, AdminToken)
	if err != nil {
		return nil, err
	}
	u.closers = append(u.closers, func() { conn.Close() })
	u.Admin = inventoryv1.NewInventoryServiceClient(conn)
	for deadline := time.Now().Add(30 * time.Second); u.Inventory.Ready() != nil; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("upstreamtest: inventory not ready: %w", u.Inventory.Ready())
		}
	}
	return u, u.seed(ctx)
}

func (u *Upstreams) seed(ctx context.Context) error {
	if _, err := u.Admin.CreateTenant(ctx, &inventoryv1.CreateTenantRequest{TenantId: strings.TrimPrefix(Tenant, "tenants/")}); err != nil {
		return fmt.Errorf("upstreamtest: %w", err)
	}
	if _, err := u.Admin.CreateSipInterface(ctx, &inventoryv1.CreateSipInterfaceRequest{Parent: Tenant, SipInterfaceId: "pbx",
		SipInterface: &inventoryv1.SipInterface{Host: "pbx.example.com", UdpPort: 5060, TlsPort: 5061}}); err != nil {
		return fmt.Errorf("upstreamtest: %w", err)
	}
	return nil
}

// Phone describes a phone to add.
type Phone struct {
	MAC, Vendor, Model string
	// Assigned phones get one line with this SIP password and a web
	// password; unassigned phones are discovered (bootstrap) phones.
	Assigned    bool
	SIPPassword string
	WebPassword string
	HTTPS       bool
}

// AddPhone creates a phone through inventory's API and returns its token.
func (u *Upstreams) AddPhone(ctx context.Context, p Phone) (string, error) {
	phone := &inventoryv1.Phone{Mac: p.MAC, Vendor: p.Vendor, Model: p.Model}
	if p.Assigned {
		u.mu.Lock()
		u.seq++
		ext := fmt.Sprint(10000 + u.seq)
		u.mu.Unlock()
		if _, err := u.Admin.CreateExtension(ctx, &inventoryv1.CreateExtensionRequest{Parent: Tenant,
			Extension: &inventoryv1.Extension{Number: ext, DisplayName: "Ext " + ext, SipPassword: p.SIPPassword}}); err != nil {
			return "", fmt.Errorf("CreateExtension: %w", err)
		}
		phone.Tenant = Tenant
		phone.Lines = []*inventoryv1.PhoneLine{{Index: 1, Extension: Tenant + "/extensions/" + ext}}
		phone.Settings = &inventoryv1.ProvisioningSettings{
			WebPassword: p.WebPassword, Language: "en", TimeZone: "Europe/Berlin",
			SipInterface: SipInterface, Transport: provisioningv1.Transport_TRANSPORT_UDP, Https: p.HTTPS,
		}
	}
	if _, err := u.Admin.CreatePhone(ctx, &inventoryv1.CreatePhoneRequest{Phone: phone}); err != nil {
		return "", fmt.Errorf("CreatePhone: %w", err)
	}
	resp, err := u.Admin.GetProvisioningUrl(ctx, &inventoryv1.GetProvisioningUrlRequest{Name: "phones/" + p.MAC})
	if err != nil {
		return "", fmt.Errorf("GetProvisioningUrl: %w", err)
	}
	if resp.GetBootstrap() == p.Assigned {
		return "", fmt.Errorf("phone %s: bootstrap %v", p.MAC, resp.GetBootstrap())
	}
	return TokenOf(resp.GetUrl())
}

// TokenOf takes the token out of a provisioning URL ".../p/{token}/".
func TokenOf(url string) (string, error) {
	_, rest, ok := strings.Cut(url, "/p/")
	tok, _, ok2 := strings.Cut(rest, "/")
	if !ok || !ok2 || len(tok) != 43 {
		return "", errors.New("no token in the provisioning URL")
	}
	return tok, nil
}

// Close stops everything, in reverse order of start.
func (u *Upstreams) Close() {
	for i := len(u.closers) - 1; i >= 0; i-- {
		u.closers[i]()
	}
	u.closers = nil
}
