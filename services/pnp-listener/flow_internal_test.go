package pnplistener

import (
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	inventoryv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/inventory/v1"
	"github.com/dialtone-voip/dialtone/services/pnp-listener/internal/seen"
	"github.com/dialtone-voip/dialtone/services/pnp-listener/internal/sipmsg"
)

// TestFlowTransitions drives one phone's flow record through the README's
// table without workers: every trigger moves the one record, jobs of a
// replaced round are skipped, and the lanes bound what is queued.
func TestFlowTransitions(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Listener = "test"
	cfg.MaxInflight = 4
	s, err := New(cfg, Deps{Registerer: prometheus.NewRegistry(), Inventory: inventoryv1.NewInventoryServiceClient(nil)})
	if err != nil {
		t.Fatal(err)
	}
	phone := func(mac, callID string) seen.Phone {
		p := seen.Phone{MAC: mac, Dialog: sipmsg.Dialog{CallID: callID}, LastSeen: time.Now()}
		s.seen.Observe(p)
		return p
	}
	state := func(mac string) flowState {
		s.flows.mu.Lock()
		defer s.flows.mu.Unlock()
		if f, ok := s.flows.m[mac]; ok {
			return f.state
		}
		return 0
	}
	const mac = "001565000001"

	// An unknown phone's boot waits in the unknown lane; a discovery event
	// (not known) folds into it; an assignment moves it to the known lane.
	p := phone(mac, "a")
	s.bootFlow(p, time.Now(), false)
	if len(s.unknown) != 1 || state(mac) != flowQueued {
		t.Fatalf("boot: unknown lane %d, state %v", len(s.unknown), state(mac))
	}
	if got := s.changedFlow(p, true, false); got != "coalesced" || len(s.unknown) != 1 || len(s.known) != 0 {
		t.Fatalf("discovery event: %s, lanes %d/%d", got, len(s.known), len(s.unknown))
	}
	if got := s.changedFlow(p, false, true); got != "notify" || len(s.known) != 1 {
		t.Fatalf("assignment event: %s, known lane %d", got, len(s.known))
	}
	if _, ok := s.flows.start(<-s.unknown, 0); ok {
		t.Fatal("the replaced round's job was not skipped")
	}
	r, ok := s.flows.start(<-s.known, 0)
	if !ok || r.kind != kindLate || state(mac) != flowLookup {
		t.Fatalf("start: ok %v kind %s state %v", ok, r.kind, state(mac))
	}

	// A reboot during the lookup: one more round follows, in its dialog.
	s.bootFlow(phone(mac, "b"), time.Now(), false)
	if len(s.known)+len(s.unknown) != 0 {
		t.Fatal("a second round queued while the first runs")
	}
	if !s.flows.wait(s, r, false) || len(s.known) != 1 {
		t.Fatalf("not found with a trigger pending: known lane %d", len(s.known))
	}
	r, ok = s.flows.start(<-s.known, 0)
	if !ok || r.kind != kindBoot || r.phone.Dialog.CallID != "b" {
		t.Fatalf("next round: ok %v kind %s dialog %q", ok, r.kind, r.phone.Dialog.CallID)
	}

	// Not found: waits for its retry; an event ends the wait at once.
	if !s.flows.wait(s, r, false) || state(mac) != flowRetry {
		t.Fatalf("state %v, want retry", state(mac))
	}
	if got := s.changedFlow(p, false, true); got != "notify" || state(mac) != flowQueued || len(s.known) != 1 {
		t.Fatalf("event during retry: %s, state %v", got, state(mac))
	}
	r, ok = s.flows.start(<-s.known, 0)
	if !ok || r.kind != kindLate {
		t.Fatalf("taken-over round: ok %v kind %s", ok, r.kind)
	}
	// Events during the NOTIFY fold into one more round.
	s.flows.notifying(mac, r.round, "", nil)
	for range 3 {
		if got := s.changedFlow(p, false, true); got != "coalesced" {
			t.Fatalf("event during NOTIFY: %s", got)
		}
	}
	s.flows.finish(s, mac, r.round)
	if len(s.known) != 1 {
		t.Fatalf("%d rounds after three events, want 1", len(s.known))
	}
	r, _ = s.flows.start(<-s.known, 0)
	s.flows.finish(s, mac, r.round)
	if n := s.flows.Len(); n != 0 {
		t.Fatalf("%d flows after the last round", n)
	}

	// A boot round that waited too long is stale.
	s.bootFlow(phone(mac, "c"), time.Now(), false)
	r, _ = s.flows.start(<-s.unknown, staleAfter+time.Second)
	if !r.stale {
		t.Error("boot round queued past staleAfter not stale")
	}
	s.flows.finish(s, mac, r.round)
	if n := s.flows.Len(); n != 0 {
		t.Fatalf("%d flows after the stale round", n)
	}

	// The unknown lane holds MaxInflight rounds; more are refused and
	// counted, while a known phone still gets in.
	for i := range cfg.MaxInflight + 3 {
		m := fmt.Sprintf("0015660000%02d", i)
		s.bootFlow(phone(m, "x"), time.Now(), false)
	}
	if got := testutil.ToFloat64(s.m.notifies.WithLabelValues(kindBoot, outShedQueue)); got != 3 {
		t.Errorf("shed_queue %v, want 3", got)
	}
	s.bootFlow(phone("001565000099", "k"), time.Now(), true)
	if len(s.known) != 1 {
		t.Error("a known phone's boot refused while the unknown lane is full")
	}
}

// TestFlowUnavailableRetries: a boot whose lookups inventory answers
// Unavailable (a failover) waits at most unavailableRetries times, after
// 1.5, 3 and 6 s; then the round ends. The retry timers are stopped by
// hand: the test drives the table, not the clock.
func TestFlowUnavailableRetries(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Listener = "test"
	s, err := New(cfg, Deps{Registerer: prometheus.NewRegistry(), Inventory: inventoryv1.NewInventoryServiceClient(nil)})
	if err != nil {
		t.Fatal(err)
	}
	const mac = "001565000002"
	p := seen.Phone{MAC: mac, Dialog: sipmsg.Dialog{CallID: "u"}, LastSeen: time.Now()}
	s.seen.Observe(p)
	s.bootFlow(p, time.Now(), false)
	r, ok := s.flows.start(<-s.unknown, 0)
	if !ok {
		t.Fatal("boot round not started")
	}
	for i := range unavailableRetries {
		if !s.flows.wait(s, r, true) {
			t.Fatalf("Unavailable %d: no retry scheduled", i+1)
		}
		s.flows.mu.Lock()
		f := s.flows.m[mac]
		f.timer.Stop()
		if f.state != flowRetry || f.unavailable != i+1 {
			s.flows.mu.Unlock()
			t.Fatalf("Unavailable %d: state %v, count %d", i+1, f.state, f.unavailable)
		}
		f.state = flowLookup // as if the timer had fired and the lookup run
		s.flows.mu.Unlock()
	}
	if s.flows.wait(s, r, true) {
		t.Fatalf("a retry after %d Unavailable answers", unavailableRetries)
	}
	// The not-found retry is counted on its own.
	if !s.flows.wait(s, r, false) {
		t.Fatal("the not-found retry was taken by the Unavailable ones")
	}
	s.flows.mu.Lock()
	s.flows.m[mac].timer.Stop()
	s.flows.mu.Unlock()
}
