package server_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	inventoryv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/inventory/v1"
	"github.com/dialtone-voip/dialtone/services/inventory/internal/server"
	"github.com/dialtone-voip/dialtone/services/inventory/internal/store"
)

// discoverVia feeds a PhoneDiscovered event of mac seen by listener.
func (e *env) discoverVia(mac, listener string, at time.Time) {
	e.t.Helper()
	ev := discovery(mac, at)
	ev.Listener = listener
	if err := e.srv.HandleDiscovered(context.Background(), ev); err != nil {
		e.t.Fatal(err)
	}
}

// TestTenantPnpListeners: a tenant claims pnp-listener ids; a malformed
// or repeated id is InvalidArgument naming the field, an id another
// tenant claims is AlreadyExists naming the field and that tenant; a
// field-mask update moves an id once its owner let it go.
func TestTenantPnpListeners(t *testing.T) {
	backends(t, func(t *testing.T, newEnv func(*testing.T, ...envOpt) *env) {
		e := newEnv(t)
		a := e.admin()
		create := func(id string, listeners ...string) error {
			_, err := a.CreateTenant(ctx(), &inventoryv1.CreateTenantRequest{TenantId: id, Tenant: &inventoryv1.Tenant{PnpListeners: listeners}})
			return err
		}
		update := func(id string, listeners ...string) (*inventoryv1.Tenant, error) {
			res, err := a.UpdateTenant(ctx(), &inventoryv1.UpdateTenantRequest{
				Tenant:     &inventoryv1.Tenant{Name: "tenants/" + id, PnpListeners: listeners},
				UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"pnp_listeners"}},
			})
			return res.GetTenant(), err
		}
		wantCode(t, create("acme", "site-a", "Site B"), codes.InvalidArgument, "tenant.pnp_listeners[1]")
		wantCode(t, create("acme", "site-a", "site-a"), codes.InvalidArgument, "tenant.pnp_listeners[1]")
		if err := create("acme", "site-a", "site_b"); err != nil {
			t.Fatal(err)
		}
		got := must[*inventoryv1.GetTenantResponse](t)(a.GetTenant(ctx(), &inventoryv1.GetTenantRequest{Name: "tenants/acme"})).GetTenant()
		if fmt.Sprint(got.GetPnpListeners()) != "[site-a site_b]" {
			t.Errorf("pnp_listeners %v", got.GetPnpListeners())
		}
		err := create("beta", "site-c", "site_b")
		wantCode(t, err, codes.AlreadyExists, "tenant.pnp_listeners")
		wantCode(t, err, codes.AlreadyExists, "tenants/acme")
		if err := create("beta", "site-c"); err != nil {
			t.Fatal(err)
		}
		_, err = update("beta", "site-c", "site-a")
		wantCode(t, err, codes.AlreadyExists, "tenant.pnp_listeners")
		// acme keeps its own ids through an update of other fields, and
		// may list them again.
		if _, err := a.UpdateTenant(ctx(), &inventoryv1.UpdateTenantRequest{
			Tenant: &inventoryv1.Tenant{Name: "tenants/acme", DisplayName: "ACME"}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"display_name"}},
		}); err != nil {
			t.Fatal(err)
		}
		if _, err := update("acme", "site_b", "site-a"); err != nil {
			t.Fatal(err)
		}
		// A principal scoped to acme may edit acme but not its listeners.
		scoped := e.clients["acme-admin"]
		_, err = scoped.UpdateTenant(ctx(), &inventoryv1.UpdateTenantRequest{
			Tenant: &inventoryv1.Tenant{Name: "tenants/acme", PnpListeners: []string{"site-x"}}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"pnp_listeners"}}})
		wantCode(t, err, codes.PermissionDenied, "tenant.pnp_listeners")
		if _, err := scoped.UpdateTenant(ctx(), &inventoryv1.UpdateTenantRequest{
			Tenant: &inventoryv1.Tenant{Name: "tenants/acme", DisplayName: "Acme"}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"display_name"}},
		}); err != nil {
			t.Fatal(err)
		}
		// acme lets site-a go; beta takes it.
		if _, err := update("acme", "site_b"); err != nil {
			t.Fatal(err)
		}
		if got, err := update("beta", "site-c", "site-a"); err != nil || fmt.Sprint(got.GetPnpListeners()) != "[site-c site-a]" {
			t.Fatalf("beta takes site-a: %v, %v", got.GetPnpListeners(), err)
		}
		// A deleted tenant's ids are free again.
		must[*inventoryv1.DeleteTenantResponse](t)(a.DeleteTenant(ctx(), &inventoryv1.DeleteTenantRequest{Name: "tenants/beta"}))
		if _, err := update("acme", "site_b", "site-a", "site-c"); err != nil {
			t.Fatal(err)
		}
	})
}

// TestDiscoveredCapPerTenant: --discovered-max applies to each pool — the
// tenant whose pnp_listeners saw a phone, or the shared pool of listeners
// no tenant claims. A flood through tenant acme's listener evicts only
// acme's discovered phones, even when tenant beta's are older; the
// unclaimed pool is capped on its own; assigned phones are never removed.
func TestDiscoveredCapPerTenant(t *testing.T) {
	backends(t, func(t *testing.T, newEnv func(*testing.T, ...envOpt) *env) {
		const capN, flood = 3, 40
		start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		var now atomic.Int64
		now.Store(start.Add(24 * time.Hour).UnixNano())
		reg := prometheus.NewRegistry()
		e := newEnv(t, func(c *serverConfig, o *serverOptions) {
			c.DiscoveredTTL, c.DiscoveredMax = 720*time.Hour, capN
			o.Now = func() time.Time { return time.Unix(0, now.Load()) }
			o.Registerer = reg
		})
		e.seed("acme")
		a := e.admin()
		for id, l := range map[string]string{"acme": "site-a", "beta": "site-b"} {
			if id == "beta" {
				must[*inventoryv1.CreateTenantResponse](t)(a.CreateTenant(ctx(), &inventoryv1.CreateTenantRequest{TenantId: id}))
			}
			must[*inventoryv1.UpdateTenantResponse](t)(a.UpdateTenant(ctx(), &inventoryv1.UpdateTenantRequest{
				Tenant: &inventoryv1.Tenant{Name: "tenants/" + id, PnpListeners: []string{l}}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"pnp_listeners"}}}))
		}
		at := func(minutes int) time.Time { return start.Add(time.Duration(minutes) * time.Minute) }
		// The oldest of all: an acme phone, assigned; then beta's three.
		e.discoverVia("001565000a01", "site-a", at(0))
		must[*inventoryv1.AssignPhoneResponse](t)(a.AssignPhone(ctx(), &inventoryv1.AssignPhoneRequest{Name: "phones/001565000a01", Extension: "tenants/acme/extensions/100"}))
		var beta, lobby []string
		for i := range capN {
			mac := fmt.Sprintf("001565000b%02x", i)
			beta = append(beta, mac)
			e.discoverVia(mac, "site-b", at(1+i))
		}
		// Five on listeners no tenant claims: the two longest unseen go.
		for i := range 5 {
			mac := fmt.Sprintf("001565000c%02x", i)
			lobby = append(lobby, mac)
			e.discoverVia(mac, []string{"lobby", "site-z"}[i%2], at(10+i))
		}
		// The flood through acme's listener, newer than everything else.
		var forged []string
		for i := range flood {
			mac := fmt.Sprintf("001565001%03x", i)
			forged = append(forged, mac)
			e.discoverVia(mac, "site-a", at(100+i))
		}

		removed, err := e.srv.ExpireDiscovered(ctx())
		if err != nil {
			t.Fatal(err)
		}
		if removed[server.ExpiredTTL] != 0 || removed[server.ExpiredCap] != flood-capN+2 {
			t.Errorf("removed %v, want cap %d (acme) + 2 (unclaimed)", removed, flood-capN)
		}
		exists := func(mac string) bool {
			_, err := e.st.Get(ctx(), store.KindPhone, mac)
			return err == nil
		}
		if !exists("001565000a01") {
			t.Error("the assigned phone was removed")
		}
		for _, mac := range beta {
			if !exists(mac) {
				t.Errorf("beta's phone %s was removed by a flood into acme's listener", mac)
			}
		}
		for i, mac := range lobby {
			if exists(mac) != (i >= 2) {
				t.Errorf("unclaimed phone %s (#%d) exists=%v; want the two longest unseen removed", mac, i, exists(mac))
			}
		}
		for i, mac := range forged {
			if exists(mac) != (i >= flood-capN) {
				t.Errorf("acme phone %s (#%d) exists=%v; want only the %d newest kept", mac, i, exists(mac), capN)
			}
		}
		for pool, want := range map[string]float64{"tenants/acme": capN, "tenants/beta": capN, server.PoolUnclaimed: capN} {
			if got := gaugeValue(t, reg, "dialtone_inventory_discovered_phones", "pool", pool); got != want {
				t.Errorf("discovered_phones{pool=%q} = %v, want %v", pool, got, want)
			}
		}

		// beta lets site-b go: its phones join the unclaimed pool, which is
		// then over the cap by three, and the longest unseen (beta's) go.
		must[*inventoryv1.UpdateTenantResponse](t)(a.UpdateTenant(ctx(), &inventoryv1.UpdateTenantRequest{
			Tenant: &inventoryv1.Tenant{Name: "tenants/beta"}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"pnp_listeners"}}}))
		removed, err = e.srv.ExpireDiscovered(ctx())
		if err != nil || removed[server.ExpiredCap] != capN {
			t.Fatalf("second sweep: %v, %v; want cap %d", removed, err, capN)
		}
		for _, mac := range beta {
			if exists(mac) {
				t.Errorf("%s kept; want removed as the longest unseen of the unclaimed pool", mac)
			}
		}
		if got := gaugeValue(t, reg, "dialtone_inventory_discovered_phones", "pool", "tenants/beta"); got != 0 {
			t.Errorf("discovered_phones{pool=tenants/beta} = %v after beta let its listener go", got)
		}
		if !exists("001565000a01") {
			t.Error("the assigned phone was removed")
		}
	})
}

func gaugeValue(t *testing.T, reg *prometheus.Registry, name, label, value string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == label && l.GetValue() == value {
					return m.GetGauge().GetValue()
				}
			}
		}
	}
	return 0
}
