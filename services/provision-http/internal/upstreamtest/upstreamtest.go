// Package upstreamtest runs the edge's upstreams in process for its tests:
// the real config-renderer behind a loopback gRPC server with token
// authentication, and inventory's test double (platform/inventorytest:
// tokens resolved to profiles, secret release, PhoneChanged on the
// JetStream the caller provides); the edge's clients of them are
// edgetest.DialClients. Tests that need the real inventory (phone state, release
// policies, SIP PnP) are cross-service and live in cmd/e2e/edge.
package upstreamtest

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/dialtone-voip/dialtone/platform/auth"
	"github.com/dialtone-voip/dialtone/platform/grpcserver"
	"github.com/dialtone-voip/dialtone/platform/inventorytest"
	provisioningv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/provisioning/v1"
	renderer "github.com/dialtone-voip/dialtone/services/config-renderer"
)

// EdgeToken is the bearer token both upstreams accept (role edge).
const EdgeToken = "upstreamtest-edge-0123456789abcdefghijklmnopq"

// Tenant and SIP server of the assigned phones AddPhone creates.
const (
	Tenant  = "tenants/acme"
	SIPHost = "pbx.example.com"
	SIPPort = 5060
)

// Options configure Start.
type Options struct {
	// JetStream carries inventory's PhoneChanged; nil publishes none.
	JetStream jetstream.JetStream
	// TemplatesDir holds the renderer's template overrides; "" for none.
	// The renderer does not watch it: call Renderer.Reload after a change.
	TemplatesDir string
}

// Upstreams is a running inventory double + config-renderer.
type Upstreams struct {
	// InventoryAddr and RendererAddr are the gRPC addresses.
	InventoryAddr, RendererAddr string
	Inventory                   *inventorytest.Server
	Renderer                    *renderer.Service

	seq     int
	mu      sync.Mutex
	closers []func()
}

// Start runs both until Close.
func Start(ctx context.Context, opts Options) (_ *Upstreams, err error) {
	u := &Upstreams{}
	defer func() {
		if err != nil {
			u.Close()
		}
	}()
	u.Inventory, err = inventorytest.Start(EdgeToken)
	if err != nil {
		return nil, err
	}
	u.closers = append(u.closers, u.Inventory.Stop)
	if err := u.Inventory.SetJetStream(opts.JetStream); err != nil {
		return nil, err
	}
	u.InventoryAddr = u.Inventory.Addr()
	u.Renderer, err = renderer.New(renderer.Config{TemplatesDir: opts.TemplatesDir, Reload: time.Second}, renderer.Deps{})
	if err != nil {
		return nil, err
	}
	data, _ := json.Marshal(auth.TokensFile{Tokens: []auth.TokenEntry{
		{Name: "edge", Role: auth.RoleEdge, SHA256: auth.HashToken(EdgeToken)},
	}})
	tokens, err := auth.ParseTokens(data)
	if err != nil {
		return nil, err
	}
	gs := grpcserver.New(grpcserver.Options{Auth: tokens, ShutdownTimeout: time.Second})
	u.Renderer.RegisterGRPC(gs.GRPC())
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	u.RendererAddr = lis.Addr().String()
	sctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	var wg sync.WaitGroup
	wg.Go(func() { _ = gs.Serve(sctx, lis) })
	u.closers = append(u.closers, func() { cancel(); wg.Wait() })
	return u, nil
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

// AddPhone adds a phone to the inventory double and returns its token. An
// assigned phone's profile is what inventory composes for a phone of
// Tenant with one extension, language en, time zone Europe/Berlin and the
// SIP interface SIPHost over UDP (inventory's profile.go).
func (u *Upstreams) AddPhone(ctx context.Context, p Phone) (string, error) {
	prof := &provisioningv1.ProvisioningProfile{Mac: p.MAC, Vendor: p.Vendor, Model: p.Model, Bootstrap: !p.Assigned}
	if p.Assigned {
		u.mu.Lock()
		u.seq++
		ext := fmt.Sprint(10000 + u.seq)
		u.mu.Unlock()
		prof.Tenant = Tenant
		prof.WebPassword, prof.Language, prof.TimeZone = p.WebPassword, "en", "Europe/Berlin"
		prof.Lines = []*provisioningv1.Line{{
			Index: 1, Extension: ext, DisplayName: "Ext " + ext, AuthUser: ext, Password: p.SIPPassword, Label: "Ext " + ext,
		}}
		prof.SipServer = &provisioningv1.SipServer{
			Host: SIPHost, Port: SIPPort, Transport: provisioningv1.Transport_TRANSPORT_UDP, RegistrationExpiry: durationpb.New(time.Hour),
		}
	}
	return u.Inventory.AddPhone(inventorytest.Phone{Profile: prof, HTTPS: p.HTTPS && p.Assigned})
}

// Change changes a phone's settings (language de), as an administrator's
// UpdatePhone does: a new revision and PhoneChanged with files changed.
func (u *Upstreams) Change(mac string) (int64, error) {
	return u.Inventory.ChangePhone(mac, func(p *provisioningv1.ProvisioningProfile) { p.Language = "de" })
}

// Rotate gives a phone a new token; the previous one keeps working for
// an hour (inventory's default grace).
func (u *Upstreams) Rotate(mac string) (string, error) {
	return u.Inventory.RotateToken(mac, time.Hour)
}

// Close stops everything, in reverse order of start.
func (u *Upstreams) Close() {
	for i := len(u.closers) - 1; i >= 0; i-- {
		u.closers[i]()
	}
	u.closers = nil
}
