package pnplistener

import (
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/dialtone-voip/dialtone/platform/inventorytest"
	"github.com/dialtone-voip/dialtone/platform/testenv/natstest"
	eventsv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/events/v1"
	inventoryv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/inventory/v1"
	"github.com/dialtone-voip/dialtone/proto/streams"
	"github.com/dialtone-voip/dialtone/services/pnp-listener/phonetest"
)

// TestPhoneChangedAspects: the listener acts only on changes whose aspects
// include ASSIGNMENT, URL or EXISTENCE, or carry no aspects (an older
// publisher); the others are counted and ignored.
func TestPhoneChangedAspects(t *testing.T) {
	ns := natstest.Start(t)
	js := ns.JetStream()
	h := startLoopback(t, nil, js)
	waitConsumers(t, js, h)
	const mac = "001565000041"
	h.inv.Set(mac, inventorytest.Entry{URL: testURL})
	ph := phonetest.New(t, "127.0.0.1:0")
	checkExchange(t, h, ph, "yealink", mac, "asp1", testURL)
	waitFor(t, "boot ok", func() bool { return h.notifies(kindBoot, outOK) == 1 })

	phone := &inventoryv1.Phone{Name: "phones/" + mac, Mac: mac, Vendor: "yealink"}
	changed := func(rev int64, typ inventoryv1.PhoneChangeType, aspects ...inventoryv1.PhoneAspect) {
		t.Helper()
		publish(t, js, streams.PhoneChangedPrefix, mac, fmt.Sprintf("phone-%s-%d", mac, rev),
			&eventsv1.PhoneChanged{ChangeType: typ, Phone: phone, Revision: rev, Aspects: aspects})
	}
	// A fetch, a rediscovery, settings: nothing for the listener, even
	// with a change type it would otherwise act on.
	h.inv.Set(mac, inventorytest.Entry{URL: testURL + "new1/"})
	changed(1, inventoryv1.PhoneChangeType_PHONE_CHANGE_TYPE_UPDATED, inventoryv1.PhoneAspect_PHONE_ASPECT_FETCH, inventoryv1.PhoneAspect_PHONE_ASPECT_STATE)
	changed(2, inventoryv1.PhoneChangeType_PHONE_CHANGE_TYPE_DISCOVERED, inventoryv1.PhoneAspect_PHONE_ASPECT_DISCOVERY)
	changed(3, inventoryv1.PhoneChangeType_PHONE_CHANGE_TYPE_UPDATED, inventoryv1.PhoneAspect_PHONE_ASPECT_SETTINGS)
	waitFor(t, "3 ignored", func() bool { return metricValue(h, "phone_changed", "ignored_aspects") == 3 })
	ph.ExpectNothing(300 * time.Millisecond)

	// URL (a rotation), ASSIGNMENT, and an event without aspects each
	// bring the new URL.
	for i, tt := range []struct {
		typ     inventoryv1.PhoneChangeType
		aspects []inventoryv1.PhoneAspect
	}{
		{inventoryv1.PhoneChangeType_PHONE_CHANGE_TYPE_TOKEN_ROTATED, []inventoryv1.PhoneAspect{inventoryv1.PhoneAspect_PHONE_ASPECT_URL}},
		{inventoryv1.PhoneChangeType_PHONE_CHANGE_TYPE_ASSIGNED, []inventoryv1.PhoneAspect{inventoryv1.PhoneAspect_PHONE_ASPECT_ASSIGNMENT, inventoryv1.PhoneAspect_PHONE_ASPECT_STATE}},
		{inventoryv1.PhoneChangeType_PHONE_CHANGE_TYPE_UPDATED, nil},
	} {
		url := fmt.Sprintf("%snew%d/", testURL, i+2)
		h.inv.Set(mac, inventorytest.Entry{URL: url})
		changed(int64(10+i), tt.typ, tt.aspects...)
		req, from := ph.ExpectRequest(5 * time.Second)
		if string(req.Body()) != url {
			t.Fatalf("%v %v: NOTIFY body %q, want %q", tt.typ, tt.aspects, req.Body(), url)
		}
		ph.Answer(req, from, 200)
	}
	waitFor(t, "3 late NOTIFYs", func() bool { return h.notifies(kindLate, outOK) == 3 })
	if got := metricValue(h, "phone_changed", "ignored_aspects"); got != 3 {
		t.Errorf("ignored_aspects %v, want 3", got)
	}
}

// TestKnownPhoneFirstWhenQueueFull: forged unknown boots fill the workers'
// queue (inventory is slow); a phone that is assigned and answered before
// reboots and its boot goes ahead of the queue: its NOTIFY comes while
// forged boots still wait, and every refused forged boot is counted.
func TestKnownPhoneFirstWhenQueueFull(t *testing.T) {
	const slots = 200
	h := startLoopback(t, func(c *Config) {
		c.MaxInflight = slots
		c.NotifyTimeout = 30 * time.Second
	}, nil)
	h.inv.SetFallback(&inventorytest.Entry{URL: "https://edge.example/p/boot/", Bootstrap: true})
	const mac = "001565000098"
	h.inv.Set(mac, inventorytest.Entry{URL: testURL})
	// The real phone has an address of its own: the forger's address
	// never answers.
	ph := phonetest.New(t, "127.0.0.2:0")
	ph.Send(h.addr, phonetest.Subscribe("yealink", mac, "127.0.0.2", ph.Port(), "known1"))
	ph.ExpectResponse(2 * time.Second)
	req, from := ph.ExpectRequest(5 * time.Second)
	ph.Answer(req, from, 200)
	waitFor(t, "first boot ok", func() bool { return h.notifies(kindBoot, outOK) == 1 })

	// Each lookup now takes 300 ms: 64 workers drain ~210 boots a second.
	h.inv.SetDelay(300 * time.Millisecond)
	forger := phonetest.New(t, "127.0.0.1:0")
	const forged = 3 * slots
	for i := range forged {
		forger.Send(h.addr, phonetest.Subscribe("yealink", fmt.Sprintf("0015669%05d", i), "127.0.0.1", forger.Port(), fmt.Sprintf("q%d", i)))
	}
	waitFor(t, "the unknown lane full", func() bool { return h.notifies(kindBoot, outShedQueue) >= 1 })

	ph.Send(h.addr, phonetest.Subscribe("yealink", mac, "127.0.0.2", ph.Port(), "known2"))
	if res := ph.ExpectResponse(2 * time.Second); res.StatusCode != 200 {
		t.Fatalf("known phone: %d", res.StatusCode)
	}
	req, from = ph.ExpectRequest(5 * time.Second)
	waiting := len(h.s.unknown)
	ph.Answer(req, from, 200)
	if string(req.Body()) != testURL || req.CallID().Value() != "known2@127.0.0.2" {
		t.Fatalf("known phone's NOTIFY: Call-ID %q body %q", req.CallID().Value(), req.Body())
	}
	if waiting == 0 {
		t.Error("the known phone's NOTIFY came only after the forged boots' queue drained")
	}
	waitFor(t, "second boot ok", func() bool { return h.notifies(kindBoot, outOK) == 2 })
	shedQ := h.notifies(kindBoot, outShedQueue)
	if shedQ < forged-2*slots {
		t.Errorf("%v forged boots refused by the full lane, want >= %d", shedQ, forged-2*slots)
	}
	if n := h.s.flows.Len(); n > 2*slots+notifyWorkers {
		t.Errorf("%d flows held, want <= %d", n, 2*slots+notifyWorkers)
	}
	if got := h.notifies(kindBoot, outOverload); got != 0 {
		t.Errorf("%v known-lane overloads", got)
	}
	t.Logf("%d forged boots: %v refused (shed_queue), %d still queued when the known phone's NOTIFY came, lookups %v",
		forged, shedQ, waiting, testutil.ToFloat64(h.s.m.lookups.WithLabelValues("ok")))
}

// TestEventMovesWaitingFlow: one route per phone. A new phone's boot finds
// inventory without it and waits for its retry; the PhoneChanged of its
// discovery (EXISTENCE) moves that same flow at once: one more lookup, one
// NOTIFY, and the retry timer no longer fires a third lookup.
func TestEventMovesWaitingFlow(t *testing.T) {
	ns := natstest.Start(t)
	js := ns.JetStream()
	h := startLoopback(t, nil, js)
	waitConsumers(t, js, h)
	const mac = "001565000042"
	ph := phonetest.New(t, "127.0.0.1:0")
	ph.Send(h.addr, phonetest.Subscribe("yealink", mac, "127.0.0.1", ph.Port(), "mv1"))
	ph.ExpectResponse(2 * time.Second)
	waitFor(t, "not found", func() bool { return testutil.ToFloat64(h.s.m.lookups.WithLabelValues("not_found")) == 1 })
	if n := h.s.flows.Len(); n != 1 {
		t.Fatalf("%d flows, want the phone's one", n)
	}
	h.inv.Set(mac, inventorytest.Entry{URL: "https://edge.example/p/boot/", Bootstrap: true})
	publish(t, js, streams.PhoneChangedPrefix, mac, "phone-"+mac+"-1", &eventsv1.PhoneChanged{
		ChangeType: inventoryv1.PhoneChangeType_PHONE_CHANGE_TYPE_DISCOVERED, Revision: 1,
		Phone:   &inventoryv1.Phone{Name: "phones/" + mac, Mac: mac, Vendor: "yealink"},
		Aspects: []inventoryv1.PhoneAspect{inventoryv1.PhoneAspect_PHONE_ASPECT_EXISTENCE, inventoryv1.PhoneAspect_PHONE_ASPECT_DISCOVERY}})
	req, from := ph.ExpectRequest(3 * time.Second)
	if req.CallID().Value() != "mv1@127.0.0.1" {
		t.Fatalf("NOTIFY outside the boot's dialog: %q", req.CallID().Value())
	}
	ph.Answer(req, from, 200)
	waitFor(t, "ok", func() bool { return h.notifies(kindLate, outOK) == 1 })
	ph.ExpectNothing(unknownRetry + 500*time.Millisecond)
	if c := h.inv.Calls(); c != 2 {
		t.Errorf("%d lookups, want 2 (the boot's and the event's)", c)
	}
	if n := h.s.flows.Len(); n != 0 {
		t.Errorf("%d flows left after the round", n)
	}
}
