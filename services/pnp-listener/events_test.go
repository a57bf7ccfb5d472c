package pnplistener

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"google.golang.org/protobuf/proto"

	"github.com/dialtone-voip/dialtone/platform/inventorytest"
	"github.com/dialtone-voip/dialtone/platform/natsjs"
	"github.com/dialtone-voip/dialtone/platform/testenv/natstest"
	eventsv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/events/v1"
	inventoryv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/inventory/v1"
	"github.com/dialtone-voip/dialtone/proto/streams"
	"github.com/dialtone-voip/dialtone/services/pnp-listener/phonetest"
)

// kindTotal sums the NOTIFY outcomes of one kind.
func (h *harness) kindTotal(kind string) float64 {
	ch := make(chan prometheus.Metric, 64)
	go func() { h.s.m.notifies.Collect(ch); close(ch) }()
	var n float64
	for m := range ch {
		var pb dto.Metric
		if m.Write(&pb) != nil {
			continue
		}
		for _, l := range pb.GetLabel() {
			if l.GetName() == "kind" && l.GetValue() == kind {
				n += pb.GetCounter().GetValue()
			}
		}
	}
	return n
}

func publish(t *testing.T, js jetstream.JetStream, prefix, mac, id string, m proto.Message) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := natsjs.Publish(ctx, js, streams.Subject(prefix, mac), m, id); err != nil {
		t.Fatal(err)
	}
}

func discoveries(t *testing.T, js jetstream.JetStream, mac string) uint64 {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	s, err := js.Stream(ctx, streams.Discovery)
	if err != nil {
		return 0
	}
	subj := streams.Subject(streams.PhoneDiscoveredPrefix, mac)
	info, err := s.Info(ctx, jetstream.WithSubjectFilter(subj))
	if err != nil {
		return 0
	}
	return info.State.Subjects[subj]
}

// waitConsumers waits until the listener's durable consumers exist, so
// that events published next are delivered (they start at new messages).
func waitConsumers(t *testing.T, js jetstream.JetStream, h *harness) {
	waitFor(t, "consumers", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_, err1 := js.Consumer(ctx, streams.Phones, h.s.changesDurable())
		_, err2 := js.Consumer(ctx, streams.Phones, h.s.reprovisionDurable())
		return err1 == nil && err2 == nil
	})
}

func TestLateNotifyFromPhoneChanged(t *testing.T) {
	ns := natstest.Start(t)
	js := ns.JetStream()
	h := startLoopback(t, nil, js)
	waitConsumers(t, js, h)
	const mac = "001565000040"
	ph := phonetest.New(t, "127.0.0.1:0")

	// First boot: inventory does not know the phone yet.
	ph.Send(h.addr, phonetest.Subscribe("yealink", mac, "127.0.0.1", ph.Port(), "l1"))
	ok := ph.ExpectResponse(2 * time.Second)
	ph.ExpectNothing(300 * time.Millisecond)
	waitFor(t, "PhoneDiscovered in JetStream", func() bool { return discoveries(t, js, mac) == 1 })

	phone := &inventoryv1.Phone{Name: "phones/" + mac, Mac: mac, Vendor: "yealink"}
	// Events that do not give the phone a URL are ignored.
	publish(t, js, streams.PhoneChangedPrefix, mac, "phone-"+mac+"-1", &eventsv1.PhoneChanged{
		ChangeType: inventoryv1.PhoneChangeType_PHONE_CHANGE_TYPE_RPS_STATUS, Phone: phone, Revision: 1})
	// A phone this listener never saw is not its business.
	publish(t, js, streams.PhoneChangedPrefix, "001565999999", "phone-001565999999-1", &eventsv1.PhoneChanged{
		ChangeType: inventoryv1.PhoneChangeType_PHONE_CHANGE_TYPE_ASSIGNED,
		Phone:      &inventoryv1.Phone{Mac: "001565999999"}, Revision: 1})
	// Now it is assigned: the NOTIFY follows without a new boot.
	h.inv.Set(mac, inventorytest.Entry{URL: testURL})
	publish(t, js, streams.PhoneChangedPrefix, mac, "phone-"+mac+"-2", &eventsv1.PhoneChanged{
		ChangeType: inventoryv1.PhoneChangeType_PHONE_CHANGE_TYPE_ASSIGNED, Phone: phone, Revision: 2})
	req, from := ph.ExpectRequest(5 * time.Second)
	if req.Method != sip.NOTIFY || string(req.Body()) != testURL || req.CallID().Value() != ok.CallID().Value() {
		t.Fatalf("late NOTIFY:\n%s", req)
	}
	if tag, _ := req.From().Params.Get("tag"); tag != ok.To().Params.GetOr("tag", "?") {
		t.Errorf("late NOTIFY From tag %q, our 200 OK said %q", tag, ok.To().Params.GetOr("tag", "?"))
	}
	ph.Answer(req, from, 200)
	waitFor(t, "late outcome", func() bool { return h.notifies(kindLate, outOK) == 1 })

	// A DISCOVERED event for a dialog that already has this URL changes
	// nothing; a token rotation (new URL) is sent.
	publish(t, js, streams.PhoneChangedPrefix, mac, "phone-"+mac+"-3", &eventsv1.PhoneChanged{
		ChangeType: inventoryv1.PhoneChangeType_PHONE_CHANGE_TYPE_DISCOVERED, Phone: phone, Revision: 3})
	waitFor(t, "duplicate", func() bool { return h.notifies(kindLate, outDuplicate) == 1 })
	h.inv.Set(mac, inventorytest.Entry{URL: testURL + "rotated/"})
	publish(t, js, streams.PhoneChangedPrefix, mac, "phone-"+mac+"-4", &eventsv1.PhoneChanged{
		ChangeType: inventoryv1.PhoneChangeType_PHONE_CHANGE_TYPE_TOKEN_ROTATED, Phone: phone, Revision: 4})
	req, from = ph.ExpectRequest(5 * time.Second)
	if string(req.Body()) != testURL+"rotated/" {
		t.Fatalf("rotated NOTIFY body %q", req.Body())
	}
	ph.Answer(req, from, 200)
	ph.ExpectNothing(300 * time.Millisecond)
}

func TestCheckSyncFromReprovision(t *testing.T) {
	ns := natstest.Start(t)
	js := ns.JetStream()
	h := startLoopback(t, nil, js)
	waitConsumers(t, js, h)
	h.inv.SetFallback(&inventorytest.Entry{URL: testURL})
	for _, tt := range []struct {
		shape, mac, vendor string
		reboot             bool
		event              string
	}{
		{"snom", "000413000050", "", false, "check-sync;reboot=false"}, // vendor from what the listener saw
		{"gigaset", "7c2f80000051", "gigaset", true, "check-sync;reboot=true"},
		{"yealink", "001565000052", "yealink", false, "check-sync"},
	} {
		ph := phonetest.New(t, "127.0.0.1:0")
		want := testURL
		if tt.shape == "snom" {
			want += "{mac}.xml"
		}
		checkExchange(t, h, ph, tt.shape, tt.mac, "cs"+tt.mac, want)
		publish(t, js, streams.ReprovisionRequestedPrefix, tt.mac, "reprov-"+tt.mac, &eventsv1.ReprovisionRequested{
			Mac: tt.mac, Vendor: tt.vendor, Reboot: tt.reboot, Listener: "test", Line1User: "201"})
		req, from := ph.ExpectRequest(5 * time.Second)
		if got := header(req, "Event"); req.Method != sip.NOTIFY || got != tt.event {
			t.Fatalf("%s: Event %q, want %q", tt.shape, got, tt.event)
		}
		if tt.vendor == "gigaset" && req.Recipient.User != "201" {
			t.Errorf("gigaset check-sync must name the account: %s", req.Recipient.String())
		}
		ph.Answer(req, from, 200)
	}
	// Another site's phone is left alone.
	publish(t, js, streams.ReprovisionRequestedPrefix, "001565000052", "reprov-other", &eventsv1.ReprovisionRequested{
		Mac: "001565000052", Listener: "other-site"})
	waitFor(t, "check-sync outcomes", func() bool { return h.notifies(kindCheckSync, outOK) == 3 })
	waitFor(t, "other listener ignored", func() bool { return metricValue(h, "reprovision", "other_listener") == 1 })
}

func TestNATSDownNeverBlocksSIP(t *testing.T) {
	ns := natstest.Start(t)
	js := ns.JetStream()
	h := startLoopback(t, nil, js)
	waitConsumers(t, js, h)
	h.inv.SetFallback(&inventorytest.Entry{URL: testURL})
	ns.Shutdown()
	// Phones keep booting while NATS is away: 200 OK and NOTIFY as usual.
	ph := phonetest.New(t, "127.0.0.1:0")
	for i, mac := range []string{"001565000060", "001565000061", "001565000062"} {
		start := time.Now()
		checkExchange(t, h, ph, "yealink", mac, "nd"+string(rune('a'+i)), testURL)
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("boot took %v with NATS down", d)
		}
	}
	// The discoveries wait in the outbox.
	if p := h.s.out.Stats().Published; p != 0 {
		t.Errorf("%d published with NATS down", p)
	}
	ns.Restart()
	// The outbox's retries back off to 5 s while NATS is away, and the
	// client reconnects every second: allow for both, and for a busy machine.
	for _, mac := range []string{"001565000060", "001565000061", "001565000062"} {
		waitForWithin(t, "buffered discovery "+mac, 30*time.Second, func() bool { return discoveries(t, js, mac) == 1 })
	}
}

// TestForgedBootFlood: thousands of forged boots (unknown MACs, bootstrap
// URL, never answering) take at most -shed-at of the NOTIFY slots, the
// rest are shed or refused; a real phone booting in the middle gets its
// 200 OK and, once assigned, its NOTIFY.
func TestForgedBootFlood(t *testing.T) {
	ns := natstest.Start(t)
	js := ns.JetStream()
	h := startLoopback(t, func(c *Config) {
		c.MaxInflight = 40
		c.ShedAt = 0.5
		c.NotifyTimeout = 30 * time.Second // forged transactions hold their slots
	}, js)
	waitConsumers(t, js, h)
	h.inv.SetFallback(&inventorytest.Entry{URL: "https://edge.example/p/boot/", Bootstrap: true})
	const mac = "001565000099"
	forger := phonetest.New(t, "127.0.0.1:0")
	ph := phonetest.New(t, "127.0.0.1:0")
	const forged = 3000
	var ok *sip.Response
	for i := range forged {
		forger.Send(h.addr, phonetest.Subscribe("yealink", fmt.Sprintf("0015669%05d", i), "127.0.0.1", forger.Port(), fmt.Sprintf("f%d", i)))
		if i == forged/2 {
			waitFor(t, "slots filled to the shed mark", func() bool { return h.notifies(kindBoot, outShed) >= 1 })
			ok = subscribeAnswered(t, ph, h.addr, phonetest.Subscribe("yealink", mac, "127.0.0.1", ph.Port(), "real1"))
		}
	}
	if ok.StatusCode != 200 {
		t.Fatalf("real phone: %d", ok.StatusCode)
	}
	// Every answered boot ends with an outcome, or holds a NOTIFY slot.
	// (Under load the forger's socket may lose some SUBSCRIBEs: they are
	// never answered.)
	outcomes := func() float64 { return h.kindTotal(kindBoot) + float64(len(h.s.sem)) }
	waitForWithin(t, "every answered boot decided", 30*time.Second, func() bool { return outcomes() >= h.subscribes(subAnswered) })
	if got := len(h.s.sem); got > 20 {
		t.Errorf("%d NOTIFY slots in use by forged boots, want <= 20", got)
	}
	t.Logf("%d forged boots: shed %v, overload %v, in flight %d", forged,
		h.notifies(kindBoot, outShed), h.notifies(kindBoot, outOverload), len(h.s.sem))

	h.inv.Set(mac, inventorytest.Entry{URL: testURL})
	publish(t, js, streams.PhoneChangedPrefix, mac, "phone-"+mac+"-1", &eventsv1.PhoneChanged{
		ChangeType: inventoryv1.PhoneChangeType_PHONE_CHANGE_TYPE_ASSIGNED,
		Phone:      &inventoryv1.Phone{Name: "phones/" + mac, Mac: mac, Vendor: "yealink"}, Revision: 1})
	for deadline := time.Now().Add(30 * time.Second); ; {
		if time.Now().After(deadline) {
			t.Fatal("no NOTIFY with the assigned URL within 30 s")
		}
		m, from := ph.Recv(time.Until(deadline))
		req, isReq := m.(*sip.Request)
		if !isReq {
			continue // a 200 OK to a retransmitted SUBSCRIBE
		}
		ph.Answer(req, from, 200)
		if string(req.Body()) == testURL {
			break // the assigned URL; a bootstrap NOTIFY from the boot may come first
		}
	}
	waitFor(t, "late NOTIFY ok", func() bool { return h.notifies(kindLate, outOK) == 1 })
	if !h.s.seen.Assigned(mac) {
		t.Error("real phone not marked assigned in the seen cache")
	}
}

// subscribeAnswered sends a SUBSCRIBE and retransmits it as a phone does
// over UDP (RFC 3261 timer E: 0.5 s doubling to 4 s) until a response
// comes: under a flood one datagram may be lost, and on a loaded machine
// the answer may take longer than one interval.
func subscribeAnswered(t *testing.T, ph *phonetest.Phone, to, msg string) *sip.Response {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for wait := 500 * time.Millisecond; time.Now().Before(deadline); wait = min(2*wait, 4*time.Second) {
		ph.Send(to, msg)
		m, _ := ph.Recv(wait)
		if m == nil {
			continue
		}
		res, ok := m.(*sip.Response)
		if !ok {
			t.Fatalf("want a response, got %v", m)
		}
		return res
	}
	t.Fatal("no response to the SUBSCRIBE within 30 s of retransmissions")
	return nil
}

// TestDiscoveryPublishedAtStop: the listener answers a phone's SUBSCRIBE
// while NATS is down and is stopped (SIGTERM, a restart) before NATS
// comes back (here: its stream is missing). Its PhoneDiscovered is published at the stop, not lost: a
// phone already answered fetches and binds its token alone, and without
// this boot's proof in inventory the proof of its next boot comes after
// that binding and is refused as a second identity (docs/SECURITY.md,
// "Secret release"; cmd/e2e TestChaosClusterStorm with 20 phones).
func TestDiscoveryPublishedAtStop(t *testing.T) {
	ns := natstest.Start(t)
	js := ns.JetStream()
	// Creates the streams; the harness's own listener is not used.
	startLoopback(t, nil, js)
	s, cancel, done := stoppableListener(t, js, "stop", nil)
	ctx := context.Background()

	// JetStream without the discovery stream: publishes fail at once
	// (nothing waits in the client's reconnect buffer).
	if err := js.DeleteStream(ctx, streams.Discovery); err != nil {
		t.Fatal(err)
	}
	const mac = "001565000077"
	ph := phonetest.New(t, "127.0.0.1:0")
	ph.Send(s.Addr().String(), phonetest.Subscribe("yealink", mac, "127.0.0.1", ph.Port(), "stop-1"))
	ph.ExpectResponse(2 * time.Second)
	waitFor(t, "a failed publish", func() bool { return s.out.Stats().Retries >= 1 })
	cancel()
	ectx, ecancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer ecancel()
	if err := natsjs.EnsureSuiteStreams(ectx, js); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Run did not return")
	}
	done <- nil // for the cleanup
	if n := discoveries(t, js, mac); n != 1 || s.out.Stats().Dropped != 0 {
		t.Fatalf("%d PhoneDiscovered in JetStream after the stop (want 1), %d dropped", n, s.out.Stats().Dropped)
	}
}

// TestDiscoverySavedAtStop: as above, but the stream is still missing when
// the drain at stop gives up: with --outbox-file the PhoneDiscovered is
// saved, and the next start (the restarted listener) publishes it.
func TestDiscoverySavedAtStop(t *testing.T) {
	ns := natstest.Start(t)
	js := ns.JetStream()
	startLoopback(t, nil, js) // creates the streams
	outboxFile := filepath.Join(t.TempDir(), "outbox.jsonl")
	withFile := func(c *Config) { c.OutboxFile = outboxFile }
	s, cancel, done := stoppableListener(t, js, "save", withFile)
	if err := js.DeleteStream(context.Background(), streams.Discovery); err != nil {
		t.Fatal(err)
	}
	const mac = "001565000078"
	ph := phonetest.New(t, "127.0.0.1:0")
	ph.Send(s.Addr().String(), phonetest.Subscribe("yealink", mac, "127.0.0.1", ph.Port(), "save-1"))
	ph.ExpectResponse(2 * time.Second)
	waitFor(t, "a failed publish", func() bool { return s.out.Stats().Retries >= 1 })
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	done <- nil // for the cleanup
	if _, err := os.Stat(outboxFile); err != nil || s.out.Stats().Dropped != 0 {
		t.Fatalf("outbox file after the stop: %v; %d dropped (want saved, 0)", err, s.out.Stats().Dropped)
	}

	// NATS is whole again; the listener restarts and publishes the saved event.
	ectx, ecancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer ecancel()
	if err := natsjs.EnsureSuiteStreams(ectx, js); err != nil {
		t.Fatal(err)
	}
	stoppableListener(t, js, "save", withFile)
	waitFor(t, "the saved PhoneDiscovered published", func() bool { return discoveries(t, js, mac) == 1 })
	if _, err := os.Stat(outboxFile); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the outbox file is still there after the restart: %v", err)
	}
}

// stoppableListener runs a listener on loopback with its own inventory
// double; the test stops it with cancel and reads Run's result from done
// (the cleanup cancels it and waits for one value on done).
func stoppableListener(t *testing.T, js jetstream.JetStream, name string, mutate func(*Config)) (*Service, context.CancelFunc, chan error) {
	t.Helper()
	cfg := DefaultConfig()
	cfg.SIPAddr, cfg.SIPInterfaces, cfg.Listener, cfg.RatePerSource, cfg.LinkCheck = "127.0.0.1:0", []string{"lo"}, name, 0, LinkOff
	if mutate != nil {
		mutate(&cfg)
	}
	s, err := New(cfg, Deps{Registerer: prometheus.NewRegistry(), Inventory: inventoryClient(t), JetStream: js})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	waitFor(t, "the listener to be ready", func() bool { return s.Ready() == nil })
	return s, cancel, done
}
