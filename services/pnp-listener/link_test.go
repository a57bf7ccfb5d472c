package pnplistener

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"google.golang.org/protobuf/proto"

	"github.com/dialtone-voip/dialtone/platform/inventorytest"
	"github.com/dialtone-voip/dialtone/platform/testenv/natstest"
	eventsv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/events/v1"
	inventoryv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/inventory/v1"
	"github.com/dialtone-voip/dialtone/proto/streams"
	"github.com/dialtone-voip/dialtone/services/pnp-listener/phonetest"
)

func (h *harness) setLink(mac string) { h.link.Store(&mac) }

func (h *harness) dropped(reason string) float64 {
	return testutil.ToFloat64(h.s.m.drops[reason])
}

// On loopback the stand-in neighbour table plays the kernel's; the real
// table (and real hosts with their own MACs) are in integration/.
func TestLinkMismatchDropped(t *testing.T) {
	ns := natstest.Start(t)
	js := ns.JetStream()
	h := startLoopback(t, func(c *Config) { c.LinkCheck = LinkRequire }, js)
	const victim, attacker = "001565000141", "02aabbccdd01"
	h.inv.Set(victim, inventorytest.Entry{URL: testURL})
	h.setLink(attacker)
	ph := phonetest.New(t, "127.0.0.1:0")

	ph.Send(h.addr, phonetest.Subscribe("yealink", victim, "127.0.0.1", ph.Port(), "m1"))
	if res := ph.ExpectResponse(2 * time.Second); res.StatusCode != 200 {
		t.Fatalf("status %d", res.StatusCode) // the 200 OK carries nothing
	}
	waitFor(t, "mismatch counted", func() bool { return h.dropped(dropLinkMismatch) == 1 })
	ph.ExpectNothing(500 * time.Millisecond)
	if _, ok := h.s.seen.Get(victim, time.Now()); ok {
		t.Error("the forged SUBSCRIBE made the phone seen")
	}
	if n := discoveries(t, js, victim); n != 0 {
		t.Errorf("%d PhoneDiscovered for a forged SUBSCRIBE", n)
	}

	// The real phone (its own MAC at that address) gets its URL, and the
	// discovery says the link layer proved it.
	h.setLink(victim)
	checkExchange(t, h, ph, "yealink", victim, "m2", testURL)
	waitFor(t, "PhoneDiscovered", func() bool { return discoveries(t, js, victim) == 1 })
	ev := lastDiscovery(t, js, victim)
	if ev.GetLinkMac() != victim || !ev.GetLinkVerified() {
		t.Errorf("PhoneDiscovered link_mac %q verified %v", ev.GetLinkMac(), ev.GetLinkVerified())
	}
}

func TestLinkUnresolvedDropped(t *testing.T) {
	h := startLoopback(t, func(c *Config) { c.LinkCheck = LinkRequire }, nil)
	const mac = "001565000142"
	h.inv.Set(mac, inventorytest.Entry{URL: testURL})
	ph := phonetest.New(t, "127.0.0.1:0")
	ph.Send(h.addr, phonetest.Subscribe("yealink", mac, "127.0.0.1", ph.Port(), "u1"))
	ph.ExpectResponse(2 * time.Second)
	waitFor(t, "unresolved counted", func() bool { return h.dropped(dropLinkUnresolved) == 1 })
	ph.ExpectNothing(300 * time.Millisecond)
}

// Late NOTIFYs and check-sync are checked again at send time: the address
// the phone booted from now belongs to another host.
func TestLinkCheckedAtSendTime(t *testing.T) {
	ns := natstest.Start(t)
	js := ns.JetStream()
	h := startLoopback(t, func(c *Config) { c.LinkCheck = LinkRequire }, js)
	waitConsumers(t, js, h)
	const mac = "001565000143"
	h.inv.Set(mac, inventorytest.Entry{URL: testURL})
	h.setLink(mac)
	ph := phonetest.New(t, "127.0.0.1:0")
	checkExchange(t, h, ph, "yealink", mac, "s1", testURL)

	h.setLink("02aabbccdd02")
	phone := &inventoryv1.Phone{Name: "phones/" + mac, Mac: mac, Vendor: "yealink"}
	publish(t, js, streams.PhoneChangedPrefix, mac, "phone-"+mac+"-9", &eventsv1.PhoneChanged{
		ChangeType: inventoryv1.PhoneChangeType_PHONE_CHANGE_TYPE_TOKEN_ROTATED, Phone: phone, Revision: 9})
	publish(t, js, streams.ReprovisionRequestedPrefix, mac, "reprov-"+mac+"-9", &eventsv1.ReprovisionRequested{Mac: mac, Vendor: "yealink"})
	waitFor(t, "late NOTIFY withheld", func() bool { return h.notifies(kindLate, outLinkMismatch) == 1 })
	waitFor(t, "check-sync withheld", func() bool { return h.notifies(kindCheckSync, outLinkMismatch) == 1 })
	ph.ExpectNothing(300 * time.Millisecond)

	// Back to the phone: both reach it.
	h.setLink(mac)
	publish(t, js, streams.ReprovisionRequestedPrefix, mac, "reprov-"+mac+"-10", &eventsv1.ReprovisionRequested{Mac: mac, Vendor: "yealink"})
	req, from := ph.ExpectRequest(3 * time.Second)
	if req.Method != sip.NOTIFY || !strings.HasPrefix(header(req, "Event"), "check-sync") {
		t.Fatalf("want check-sync, got\n%s", req)
	}
	ph.Answer(req, from, 200)
}

func TestLinkCheckOffWarns(t *testing.T) {
	var log lockedBuffer
	client := inventoryClient(t)
	cfg := DefaultConfig()
	if cfg.LinkCheck != LinkRequire {
		t.Errorf("default --pnp-link-check %q", cfg.LinkCheck)
	}
	cfg.SIPAddr, cfg.SIPInterfaces, cfg.Listener, cfg.LinkCheck = "127.0.0.1:0", []string{"lo"}, "test", LinkOff
	s, err := New(cfg, Deps{Logger: slog.New(slog.NewTextHandler(&log, nil)), Inventory: client})
	if err != nil {
		t.Fatal(err)
	}
	runService(t, s)
	if got := log.String(); !strings.Contains(got, "level=WARN") || !strings.Contains(got, "link-layer check is OFF") {
		t.Errorf("no WARN at start:\n%s", got)
	}
	if got := s.LinkCheckStatus(); !strings.Contains(got, "--pnp-link-check=off") {
		t.Errorf("LinkCheckStatus = %q", got)
	}
	cfg.LinkCheck = "maybe"
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "--pnp-link-check") {
		t.Errorf("--pnp-link-check=maybe: %v", err)
	}
}

func TestWarnLimit(t *testing.T) {
	var w warnLimit
	now := time.Unix(1000, 0)
	if ok, _ := w.allow(now); !ok {
		t.Fatal("first WARN held back")
	}
	for range 5 {
		if ok, _ := w.allow(now.Add(100 * time.Millisecond)); ok {
			t.Fatal("second WARN within a second let through")
		}
	}
	if ok, n := w.allow(now.Add(time.Second)); !ok || n != 5 {
		t.Errorf("after a second: %v, %d suppressed", ok, n)
	}
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func lastDiscovery(t *testing.T, js jetstream.JetStream, mac string) *eventsv1.PhoneDiscovered {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	st, err := js.Stream(ctx, streams.Discovery)
	if err != nil {
		t.Fatal(err)
	}
	m, err := st.GetLastMsgForSubject(ctx, streams.Subject(streams.PhoneDiscoveredPrefix, mac))
	if err != nil {
		t.Fatal(err)
	}
	var ev eventsv1.PhoneDiscovered
	if err := proto.Unmarshal(m.Data, &ev); err != nil {
		t.Fatal(err)
	}
	return &ev
}

// With the check off the sender's link address is still recorded, as
// unverified, so inventory can tell a second host announcing the MAC.
func TestLinkOffRecordsUnverified(t *testing.T) {
	ns := natstest.Start(t)
	js := ns.JetStream()
	h := startLoopback(t, func(c *Config) { c.LinkCheck = LinkOff }, js)
	const mac, other = "001565000144", "02aabbccdd03"
	h.inv.Set(mac, inventorytest.Entry{URL: testURL})
	h.setLink(other)
	ph := phonetest.New(t, "127.0.0.1:0")
	checkExchange(t, h, ph, "yealink", mac, "o1", testURL) // believed: the check is off
	waitFor(t, "PhoneDiscovered", func() bool { return discoveries(t, js, mac) == 1 })
	if ev := lastDiscovery(t, js, mac); ev.GetLinkMac() != other || ev.GetLinkVerified() {
		t.Errorf("PhoneDiscovered link_mac %q verified %v; want %s unverified", ev.GetLinkMac(), ev.GetLinkVerified(), other)
	}
}
