package server_test

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/proto"

	eventsv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/events/v1"
	inventoryv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/inventory/v1"
	"github.com/dialtone-voip/dialtone/services/inventory/internal/server"
	"github.com/dialtone-voip/dialtone/services/inventory/internal/store"
)

// TestDiscoveredExpiry: discovered PnP phones unseen past the TTL, and the
// longest-unseen ones over the cap, are removed with a DELETED event each;
// assigned phones and phones added by hand never are, however old.
func TestDiscoveredExpiry(t *testing.T) {
	backends(t, func(t *testing.T, newEnv func(*testing.T, ...envOpt) *env) {
		const ttl = 720 * time.Hour
		start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		var now atomic.Int64
		now.Store(start.UnixNano())
		reg := prometheus.NewRegistry()
		e := newEnv(t, func(c *serverConfig, o *serverOptions) {
			c.DiscoveredTTL, c.DiscoveredMax = ttl, 3
			o.Now = func() time.Time { return time.Unix(0, now.Load()) }
			o.Registerer = reg
		})
		e.seed("acme")
		a := e.admin()
		// Old: an assigned phone and one added by hand, both unseen for 2×TTL.
		e.discover("001565000a01", start)
		must[*inventoryv1.AssignPhoneResponse](t)(a.AssignPhone(ctx(), &inventoryv1.AssignPhoneRequest{Name: "phones/001565000a01", Extension: "tenants/acme/extensions/100"}))
		must[*inventoryv1.CreatePhoneResponse](t)(a.CreatePhone(ctx(), &inventoryv1.CreatePhoneRequest{Phone: &inventoryv1.Phone{Mac: "001565000a02", Model: "T54W"}}))
		e.discover("001565000b01", start) // unseen past the TTL
		now.Store(start.Add(2 * ttl).UnixNano())
		// Five recent ones for a cap of 3: the two longest unseen go.
		for i := range 5 {
			e.discover(fmt.Sprintf("001565000c%02d", i), start.Add(2*ttl-time.Duration(10-i)*time.Hour))
		}

		removed, err := e.srv.ExpireDiscovered(ctx())
		if err != nil {
			t.Fatal(err)
		}
		if removed[server.ExpiredTTL] != 1 || removed[server.ExpiredCap] != 2 {
			t.Errorf("removed %v, want ttl 1, cap 2", removed)
		}
		gone := []string{"001565000b01", "001565000c00", "001565000c01"}
		kept := []string{"001565000a01", "001565000a02", "001565000c02", "001565000c03", "001565000c04"}
		for _, mac := range gone {
			if _, err := e.st.Get(ctx(), store.KindPhone, mac); err == nil {
				t.Errorf("phone %s kept, want removed", mac)
			}
		}
		for _, mac := range kept {
			if _, err := e.st.Get(ctx(), store.KindPhone, mac); err != nil {
				t.Errorf("phone %s: %v, want kept", mac, err)
			}
		}
		// One DELETED event per removed phone in the outbox.
		entries, err := e.st.Outbox(ctx(), 1000)
		if err != nil {
			t.Fatal(err)
		}
		deleted := map[string]bool{}
		for _, en := range entries {
			ev := &eventsv1.PhoneChanged{}
			if err := proto.Unmarshal(en.Data, ev); err != nil {
				t.Fatal(err)
			}
			if ev.GetChangeType() == inventoryv1.PhoneChangeType_PHONE_CHANGE_TYPE_DELETED {
				deleted[ev.GetPhone().GetMac()] = true
				if ev.GetPhone().GetModel() != "T54W" || ev.GetPhone().GetName() != "phones/"+ev.GetPhone().GetMac() || ev.GetRevision() == 0 {
					t.Errorf("DELETED event phone %v, revision %d", ev.GetPhone(), ev.GetRevision())
				}
				if ev.GetPreviousState() != inventoryv1.PhoneState_PHONE_STATE_DISCOVERED {
					t.Errorf("%s: previous state %v", ev.GetPhone().GetMac(), ev.GetPreviousState())
				}
			}
		}
		for _, mac := range gone {
			if !deleted[mac] {
				t.Errorf("no DELETED event for %s (events: %v)", mac, deleted)
			}
		}
		if len(deleted) != len(gone) {
			t.Errorf("DELETED events for %v, want %v", deleted, gone)
		}
		if got := counterValue(t, reg, "dialtone_inventory_discovered_expired_total", "reason", server.ExpiredCap); got != 2 {
			t.Errorf("expired{cap} = %v, want 2", got)
		}
		// A second sweep finds nothing more to do.
		removed, err = e.srv.ExpireDiscovered(ctx())
		if err != nil || removed[server.ExpiredTTL]+removed[server.ExpiredCap] != 0 {
			t.Errorf("second sweep: %v, %v", removed, err)
		}
	})
}

// TestDiscoveredFloodBounded: a flood of forged discoveries ends at the cap
// after a sweep, in batches, on both backends.
func TestDiscoveredFloodBounded(t *testing.T) {
	backends(t, func(t *testing.T, newEnv func(*testing.T, ...envOpt) *env) {
		const flood, capN = 2000, 300
		e := newEnv(t, quiet, func(c *serverConfig, _ *serverOptions) { c.DiscoveredTTL, c.DiscoveredMax = 720*time.Hour, capN })
		if _, err := e.srv.BulkLoad(ctx(), 0x100000, flood, "", ""); err != nil {
			t.Fatal(err)
		}
		removed, err := e.srv.ExpireDiscovered(ctx())
		if err != nil {
			t.Fatal(err)
		}
		if removed[server.ExpiredCap] != flood-capN {
			t.Errorf("removed %v, want cap %d", removed, flood-capN)
		}
		recs, err := e.st.List(ctx(), store.ListQuery{Kind: store.KindPhone, Limit: 10 * flood})
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) != capN {
			t.Errorf("%d phones after the sweep, want %d", len(recs), capN)
		}
	})
}

func counterValue(t *testing.T, reg *prometheus.Registry, name, label, value string) float64 {
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
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}
