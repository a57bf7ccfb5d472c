package rpsclient

import (
	"fmt"
	"testing"
	"time"

	"github.com/dialtone-voip/dialtone/platform/testenv/metrictest"
	"github.com/prometheus/client_golang/prometheus"
)

func TestCallLimiterSlots(t *testing.T) {
	l := newCallLimiter(2, 3) // a slot every 500 ms, 3 at once
	now := time.Unix(1000, 0)
	var got []time.Duration
	for range 6 {
		got = append(got, l.reserve("acme/snom", now).Sub(now))
	}
	want := []time.Duration{0, 0, 0, 500 * time.Millisecond, time.Second, 1500 * time.Millisecond}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("slots %v, want %v", got, want)
	}
	if d := l.reserve("other/snom", now).Sub(now); d != 0 {
		t.Fatalf("another account waits %v", d)
	}
	// Idle long enough, the burst is back.
	later := now.Add(time.Minute)
	for i := range 3 {
		if d := l.reserve("acme/snom", later).Sub(later); d != 0 {
			t.Fatalf("call %d after a pause waits %v", i, d)
		}
	}
	if newCallLimiter(0, 10) != nil {
		t.Fatal("rate 0 should mean no limiter")
	}
}

// TestVendorRateLimit: a storm of assignments for one vendor account goes
// out at --vendor-rate after a burst; the others wait for their own slots
// (nothing tried, nothing published, no extra vendor call) and all end
// registered, each with one call.
func TestVendorRateLimit(t *testing.T) { onBothBackends(t, testVendorRateLimit) }

func testVendorRateLimit(t *testing.T, b backend) {
	e := newEnvOn(t, b)
	e.cfg.VendorRate, e.cfg.VendorBurst = 2, 3
	reg := prometheus.NewRegistry()
	e.deps.Registerer = reg
	e.svc = e.newService()
	const n = 8
	macs := make([]string, n)
	for i := range macs {
		macs[i] = fmt.Sprintf("000413bb%04x", i)
		e.handle(marshal(t, e.inv.set(macs[i], "snom", "tenants/acme", true, edge+tokenA+"/", changeAssigned)))
	}
	start := e.clock.Now()
	if got := e.snom.Requests(); got != 3 {
		t.Fatalf("%d vendor calls at once, want the burst of 3", got)
	}
	if e.pub.count() != 3 {
		t.Fatalf("%d results published, want 3 (deferred attempts publish nothing)", e.pub.count())
	}
	for i, mac := range macs[3:] {
		r := e.record(mac)
		if r.State != stPending || r.Attempts != 0 || r.Slot.Sub(start) != time.Duration(i+1)*500*time.Millisecond || !r.NextAttempt.Equal(r.Slot) {
			t.Fatalf("deferred %s: state %v, attempts %d, slot +%v", mac, r.State, r.Attempts, r.Slot.Sub(start))
		}
	}
	if d := metrictest.Value(t, reg, "dialtone_rps_client_attempts_deferred_total", "vendor", "snom"); d != 5 {
		t.Fatalf("deferred counter %v, want 5", d)
	}
	// A redelivery before the slot keeps the slot and calls nobody.
	slot := e.record(macs[7]).Slot
	e.handle(marshal(t, e.inv.set(macs[7], "snom", "tenants/acme", true, edge+tokenA+"/", changeAssigned)))
	if r := e.record(macs[7]); !r.Slot.Equal(slot) || e.snom.Requests() != 3 {
		t.Fatalf("redelivery moved the slot to +%v or called the vendor (%d calls)", r.Slot.Sub(start), e.snom.Requests())
	}
	// Slots come one by one.
	e.clock.Advance(500 * time.Millisecond)
	e.svc.RunDue(e.ctx)
	if got := e.snom.Requests(); got != 4 {
		t.Fatalf("%d vendor calls after the first slot, want 4", got)
	}
	e.clock.Advance(2 * time.Second)
	e.svc.RunDue(e.ctx)
	for _, mac := range macs {
		if r := e.record(mac); r.State != stRegistered || r.Attempts != 1 || !r.Slot.IsZero() {
			t.Fatalf("%s: state %v, attempts %d, slot %v", mac, r.State, r.Attempts, r.Slot)
		}
	}
	if got := e.snom.Requests(); got != n {
		t.Fatalf("%d vendor calls for %d phones", got, n)
	}
	if e.pub.count() != n {
		t.Fatalf("%d results published for %d phones", e.pub.count(), n)
	}
}
