package rpsclient

import (
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/dialtone-voip/dialtone/platform/testenv/metrictest"
	"github.com/dialtone-voip/dialtone/services/rps-client/internal/store"
)

// TestDeregisteredStatusesExpire: the status of a phone deregistered more
// than --deregistered-ttl ago is deleted by the sweep; statuses with
// something pending (a register intent, a scheduled retry) and recent ones
// stay.
func TestDeregisteredStatusesExpire(t *testing.T) { onBothBackends(t, testDeregisteredStatusesExpire) }

func testDeregisteredStatusesExpire(t *testing.T, b backend) {
	e := newEnvOn(t, b)
	e.cfg.DeregisteredTTL = 30 * 24 * time.Hour
	reg := prometheus.NewRegistry()
	e.deps.Registerer = reg
	e.svc = e.newService()
	macs := make([]string, 4)
	cycle := func(mac string) { // assigned with RPS on, then deleted
		t.Helper()
		e.handle(marshal(t, e.inv.set(mac, "snom", "tenants/acme", true, edge+tokenA+"/", changeAssigned)))
		e.handle(marshal(t, e.inv.set(mac, "snom", "", false, "", changeDeleted)))
		if r := e.record(mac); r.State != stDeregistered || r.Deregistered.IsZero() {
			t.Fatalf("%s: %+v", mac, r)
		}
	}
	for i := range macs {
		macs[i] = fmt.Sprintf("000413cc%04x", i)
	}
	for _, m := range macs[:3] {
		cycle(m)
	}
	sweep := func() int {
		t.Helper()
		n, err := e.svc.SweepDeregistered(e.ctx)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := sweep(); n != 0 {
		t.Fatalf("swept %d fresh statuses", n)
	}
	e.clock.Advance(29 * 24 * time.Hour)
	cycle(macs[3]) // deregistered two days before the sweep
	e.clock.Advance(2 * 24 * time.Hour)
	// Something pending keeps a status: a register intent (macs[1]), a
	// scheduled retry (macs[2]).
	if _, err := e.svc.store.SetIntent(e.ctx, macs[1], store.Intent{Op: store.OpRegister, Vendor: "snom", Tenant: "tenants/acme", Revision: 1 << 40}, true, time.Hour); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.store.Schedule(e.ctx, macs[2], e.clock.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if n := sweep(); n != 1 {
		t.Fatalf("swept %d, want 1 (%s)", n, macs[0])
	}
	if r, err := e.svc.store.Record(e.ctx, macs[0]); r != nil || err != nil {
		t.Fatalf("expired status still there: %+v %v", r, err)
	}
	if in, err := e.svc.store.Intent(e.ctx, macs[0]); in != nil || err != nil {
		t.Fatalf("expired intent still there: %+v %v", in, err)
	}
	for _, m := range macs[1:] {
		e.record(m)
	}
	if v := metrictest.Value(t, reg, "dialtone_rps_client_statuses_expired_total"); v != 1 {
		t.Fatalf("expired counter %v", v)
	}
	// Off: nothing is deleted.
	e.svc.cfg.DeregisteredTTL = 0
	e.clock.Advance(365 * 24 * time.Hour)
	if n := sweep(); n != 0 {
		t.Fatalf("swept %d with the TTL off", n)
	}
}
