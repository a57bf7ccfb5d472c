package server

import (
	"testing"

	eventsv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/events/v1"
	inventoryv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/inventory/v1"
)

// TestWatchedPhone covers the tenant filter of WatchPhones, including a
// phone that moved straight into another tenant (the API cannot do that
// today): the old tenant's watcher learns it left, but sees nothing of
// the new tenant's configuration.
func TestWatchedPhone(t *testing.T) {
	ph := func(tenant string) *inventoryv1.Phone {
		p := &inventoryv1.Phone{Name: "phones/001565aabbcc", Mac: "001565aabbcc", Tenant: tenant, Revision: 7, Etag: "7"}
		if tenant != "" {
			p.Lines = []*inventoryv1.PhoneLine{{Index: 1, Extension: tenant + "/extensions/100"}}
			p.Settings = &inventoryv1.ProvisioningSettings{Language: "de"}
		}
		return p
	}
	for _, tc := range []struct {
		name, watch, prev, now string
		shown, full            bool
	}{
		{"unfiltered", "", "tenants/beta", "", true, true},
		{"in tenant", "acme", "", "tenants/acme", true, true},
		{"stays in tenant", "acme", "tenants/acme", "tenants/acme", true, true},
		{"unassigned from tenant", "acme", "tenants/acme", "", true, true},
		{"other tenant", "acme", "tenants/beta", "tenants/beta", false, false},
		{"unassigned from other tenant", "acme", "tenants/beta", "", false, false},
		{"never assigned", "acme", "", "", false, false},
		{"moved to other tenant", "acme", "tenants/acme", "tenants/beta", true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ev := &eventsv1.PhoneChanged{Phone: ph(tc.now), PreviousTenant: tc.prev}
			p, ok := watchedPhone(ev, tc.watch)
			if ok != tc.shown {
				t.Fatalf("shown %v, want %v", ok, tc.shown)
			}
			if !ok {
				return
			}
			if full := p == ev.GetPhone(); full != tc.full {
				t.Fatalf("full phone %v, want %v", full, tc.full)
			}
			if !tc.full && (p.GetTenant() != "" || len(p.GetLines()) > 0 || p.GetSettings() != nil || p.GetMac() == "" || p.GetRevision() != 7) {
				t.Fatalf("redacted phone: %v", p)
			}
		})
	}
}
