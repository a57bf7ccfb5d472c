package pnplistener

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/dialtone-voip/dialtone/platform/inventorytest"
	"github.com/dialtone-voip/dialtone/platform/testenv/natstest"
	eventsv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/events/v1"
	inventoryv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/inventory/v1"
	"github.com/dialtone-voip/dialtone/proto/streams"
	"github.com/dialtone-voip/dialtone/services/pnp-listener/phonetest"
)

// drain reads what ph has already received (the messages sent before the
// moment the caller cares about) and returns how many there were.
func drain(ph *phonetest.Phone) int {
	n := 0
	for {
		m, _ := ph.Recv(50 * time.Millisecond)
		if m == nil {
			return n
		}
		n++
	}
}

// TestRebootSupersedesNotify (found by the cluster tour test): a phone
// boots unassigned and its session goes away; the admin assigns it, so the
// NOTIFY goes to the dead dialog and is retransmitted for --notify-timeout
// (30 s here). The phone boots again (new Call-ID, new port): the old
// transaction stops (superseded) and the new dialog gets its NOTIFY at
// once — while the old one would still be retransmitting.
func TestRebootSupersedesNotify(t *testing.T) {
	ns := natstest.Start(t)
	js := ns.JetStream()
	h := startLoopback(t, func(c *Config) { c.NotifyTimeout = 30 * time.Second }, js)
	waitConsumers(t, js, h)
	const mac = "001565000051"
	old := phonetest.New(t, "127.0.0.1:0")
	old.Send(h.addr, phonetest.Subscribe("yealink", mac, "127.0.0.1", old.Port(), "boot1"))
	old.ExpectResponse(2 * time.Second)
	waitFor(t, "first boot looked up twice", func() bool { return h.notifies(kindBoot, outUnknownPhone) == 1 })

	// Assigned: the late NOTIFY goes to the first boot's dialog, which
	// never answers (Timer E retransmits it).
	h.inv.Set(mac, inventorytest.Entry{URL: testURL})
	publish(t, js, streams.PhoneChangedPrefix, mac, "phone-"+mac+"-1", &eventsv1.PhoneChanged{
		ChangeType: inventoryv1.PhoneChangeType_PHONE_CHANGE_TYPE_ASSIGNED,
		Phone:      &inventoryv1.Phone{Name: "phones/" + mac, Mac: mac, Vendor: "yealink"}, Revision: 1})
	req, _ := old.ExpectRequest(5 * time.Second)
	if !strings.HasPrefix(req.CallID().Value(), "boot1") {
		t.Fatalf("late NOTIFY in dialog %q", req.CallID().Value())
	}

	// The phone boots again, from another port.
	ph := phonetest.New(t, "127.0.0.1:0")
	ph.Send(h.addr, phonetest.Subscribe("yealink", mac, "127.0.0.1", ph.Port(), "boot2"))
	if res := ph.ExpectResponse(2 * time.Second); res.StatusCode != 200 {
		t.Fatalf("status %d", res.StatusCode)
	}
	req, from := ph.ExpectRequest(5 * time.Second)
	if req.Method != sip.NOTIFY || !strings.HasPrefix(req.CallID().Value(), "boot2") || string(req.Body()) != testURL {
		t.Fatalf("NOTIFY after the reboot:\n%s", req)
	}
	// It came while the old transaction would still be retransmitting
	// (30 s): that one was cut short, not timed out.
	if got, to := h.notifies(kindLate, outSuperseded), h.notifies(kindLate, outTimeout); got != 1 || to != 0 {
		t.Fatalf("late superseded %v, timeout %v; want 1, 0", got, to)
	}
	ph.Answer(req, from, 200)
	waitFor(t, "boot ok", func() bool { return h.notifies(kindBoot, outOK) == 1 })
	// The old dialog gets no more retransmissions (Timer E's next one
	// would come within 4 s).
	drain(old)
	old.ExpectNothing(4500 * time.Millisecond)
	ph.ExpectNothing(100 * time.Millisecond)
}

// TestRetransmittedSubscribeDoesNotSupersede: the same SUBSCRIBE again
// (same Call-ID and CSeq, a retransmission over UDP) while its NOTIFY is in
// flight changes nothing: the same transaction goes on.
func TestRetransmittedSubscribeDoesNotSupersede(t *testing.T) {
	h := startLoopback(t, func(c *Config) { c.NotifyTimeout = 30 * time.Second }, nil)
	const mac = "001565000052"
	h.inv.Set(mac, inventorytest.Entry{URL: testURL})
	ph := phonetest.New(t, "127.0.0.1:0")
	sub := phonetest.Subscribe("yealink", mac, "127.0.0.1", ph.Port(), "same1")
	ph.Send(h.addr, sub)
	ph.ExpectResponse(2 * time.Second)
	first, _ := ph.ExpectRequest(5 * time.Second)
	ph.Send(h.addr, sub)
	waitFor(t, "repeat handled", func() bool { return h.subscribes(subRepeat) == 1 })
	// Whatever arrives next (our 200 OK again, Timer E's retransmission)
	// belongs to the first transaction.
	branch := first.Via().Params.GetOr("branch", "")
	for {
		m, from := ph.Recv(5 * time.Second)
		if m == nil {
			t.Fatal("no retransmission of the NOTIFY")
		}
		req, ok := m.(*sip.Request)
		if !ok {
			continue
		}
		if got := req.Via().Params.GetOr("branch", "x"); got != branch {
			t.Fatalf("a new NOTIFY transaction (branch %q, first %q)", got, branch)
		}
		ph.Answer(req, from, 200)
		break
	}
	waitFor(t, "boot ok", func() bool { return h.notifies(kindBoot, outOK) == 1 })
	if got := h.notifies(kindBoot, outSuperseded); got != 0 {
		t.Errorf("superseded %v, want 0", got)
	}
	ph.ExpectNothing(300 * time.Millisecond)
}

// TestSupersedeBounded: a burst of new Call-IDs for one MAC while its
// NOTIFY is in flight (a forger, or a phone in a boot loop) supersedes it
// once: the listener starts at most one more NOTIFY for the burst, plus
// the one round that follows for the latest dialog — not one per Call-ID.
func TestSupersedeBounded(t *testing.T) {
	h := startLoopback(t, func(c *Config) { c.NotifyTimeout = 30 * time.Second }, nil)
	const mac = "001565000053"
	const burst = 10
	h.inv.Set(mac, inventorytest.Entry{URL: testURL})
	ph := phonetest.New(t, "127.0.0.1:0")
	ph.Send(h.addr, phonetest.Subscribe("yealink", mac, "127.0.0.1", ph.Port(), "b0"))
	ph.ExpectResponse(2 * time.Second)
	first, _ := ph.ExpectRequest(5 * time.Second) // in flight, never answered
	firstBranch := first.Via().Params.GetOr("branch", "")
	for i := 1; i <= burst; i++ {
		ph.Send(h.addr, phonetest.Subscribe("yealink", mac, "127.0.0.1", ph.Port(), fmt.Sprintf("b%d", i)))
	}
	waitFor(t, "the burst answered", func() bool { return h.subscribes(subAnswered) == burst+1 })
	// Answer every NOTIFY (so each round ends) and count the
	// transactions until the flow is over.
	txs := map[string]bool{}
	waitFor(t, "the flow to end", func() bool {
		for {
			m, from := ph.Recv(20 * time.Millisecond)
			if m == nil {
				break
			}
			if req, ok := m.(*sip.Request); ok && req.Via().Params.GetOr("branch", "") != firstBranch {
				txs[req.Via().Params.GetOr("branch", "")] = true
				ph.Answer(req, from, 200)
			}
		}
		return h.s.flows.Len() == 0
	})
	if got := h.notifies(kindBoot, outSuperseded); got != 1 {
		t.Errorf("superseded %v, want 1", got)
	}
	// b0's (superseded), the one the supersede started, and at most the
	// round after it for the latest dialog; b0's is not in txs (its
	// retransmissions before the burst are not answered).
	if len(txs) > 2 {
		t.Errorf("%d more NOTIFY transactions for a burst of %d boots, want at most 2", len(txs), burst)
	}
	if got := h.notifies(kindBoot, outOK); got < 1 || got > 2 {
		t.Errorf("ok %v", got)
	}
}
