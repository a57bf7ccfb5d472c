package pnplistener

import (
	"context"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/dialtone-voip/dialtone/platform/inventorytest"
	"github.com/dialtone-voip/dialtone/platform/testenv"
	inventoryv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/inventory/v1"
	"github.com/dialtone-voip/dialtone/services/pnp-listener/internal/sipsock"
	"github.com/dialtone-voip/dialtone/services/pnp-listener/phonetest"
)

const testURL = "https://edge.example/p/tok123/"

type harness struct {
	s    *Service
	addr string // "127.0.0.1:port" of the SIP socket
	inv  *inventorytest.Server
	// link is the MAC the stand-in neighbour table gives 127.0.0.1 ("" =
	// no entry): loopback has no link layer, so the link-layer tests set it.
	link *atomic.Pointer[string]
}

// startLoopback runs a listener on 127.0.0.1 (interface lo) against an
// in-test inventory over loopback gRPC.
func startLoopback(t *testing.T, mutate func(*Config), js jetstream.JetStream) *harness {
	t.Helper()
	return startWith(t, mutate, js)
}

// startLoopbackTB is startLoopback for fuzz targets (no events).
func startLoopbackTB(tb testing.TB, mutate func(*Config)) *harness {
	return startWith(tb, mutate, nil)
}

// inventoryClient starts an inventory test double for the test and returns
// a client of it.
func inventoryClient(t testing.TB) inventoryv1.InventoryServiceClient {
	t.Helper()
	return newInventory(t).client
}

type testInventory struct {
	srv    *inventorytest.Server
	client inventoryv1.InventoryServiceClient
}

func newInventory(t testing.TB) testInventory {
	t.Helper()
	inv, err := inventorytest.Start("")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(inv.Stop)
	client, closeClient, err := inv.Client()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(closeClient)
	return testInventory{inv, client}
}

func startWith(t testing.TB, mutate func(*Config), js jetstream.JetStream) *harness {
	t.Helper()
	ti := newInventory(t)
	inv, client := ti.srv, ti.client
	cfg := DefaultConfig()
	cfg.SIPAddr = "127.0.0.1:0"
	cfg.SIPInterfaces = []string{"lo"}
	cfg.Listener = "test"
	cfg.RatePerSource = 0
	cfg.NotifyTimeout = 5 * time.Second
	// The machine running the tests may be loaded; the deadline's effect
	// has its own test.
	cfg.InventoryTimeout = 3 * time.Second
	// Loopback has no neighbour entries; the link-layer tests turn the
	// check on against a stand-in table.
	cfg.LinkCheck = LinkOff
	if mutate != nil {
		mutate(&cfg)
	}
	link := new(atomic.Pointer[string])
	link.Store(new(string))
	s, err := New(cfg, Deps{Registerer: prometheus.NewRegistry(), Inventory: client, JetStream: js,
		LinkLayer: func(int, netip.Addr) (string, error) { return *link.Load(), nil }})
	if err != nil {
		t.Fatal(err)
	}
	return &harness{s: s, addr: runService(t, s), inv: inv, link: link}
}

// runService runs s until the test ends and returns its SIP address.
func runService(t testing.TB, s *Service) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("Run did not return")
		}
	})
	testenv.WaitFor(t, 5*time.Second, "the listener to be ready", func() bool {
		select {
		case err := <-done:
			t.Fatalf("Run: %v", err)
		default:
		}
		return s.Ready() == nil
	})
	return s.Addr().String()
}

func (h *harness) notifies(kind, outcome string) float64 {
	return testutil.ToFloat64(h.s.m.notifies.WithLabelValues(kind, outcome))
}

func (h *harness) subscribes(outcome string) float64 {
	return testutil.ToFloat64(h.s.m.subscribes.WithLabelValues(outcome))
}

// waitFor polls cond for up to 30 s: a safety net for a hung test, long
// enough for a loaded machine under the race detector, not a timing
// assertion (those are benchmarks).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	waitForWithin(t, what, 30*time.Second, cond)
}

// waitForWithin is waitFor with its own deadline.
func waitForWithin(t *testing.T, what string, within time.Duration, cond func() bool) {
	t.Helper()
	testenv.WaitFor(t, within, what, cond)
}

func header(m interface{ GetHeader(string) sip.Header }, name string) string {
	if h := m.GetHeader(name); h != nil {
		return h.Value()
	}
	return ""
}

// checkExchange runs one boot: SUBSCRIBE → 200 OK → NOTIFY(url) → 200.
func checkExchange(t *testing.T, h *harness, ph *phonetest.Phone, shape, mac, callID, wantURL string) {
	t.Helper()
	ph.Send(h.addr, phonetest.Subscribe(shape, mac, "127.0.0.1", ph.Port(), callID))
	res := ph.ExpectResponse(2 * time.Second)
	if res.StatusCode != 200 {
		t.Fatalf("status %d", res.StatusCode)
	}
	ourTag, _ := res.To().Params.Get("tag")
	if ourTag == "" || header(res, "Expires") != "0" || res.Contact() == nil ||
		res.Contact().Address.Host != "127.0.0.1" || res.Contact().Address.Port == 0 {
		t.Fatalf("bad 200 OK:\n%s", res)
	}
	req, from := ph.ExpectRequest(3 * time.Second)
	if req.Method != sip.NOTIFY {
		t.Fatalf("want NOTIFY, got %s", req.Method)
	}
	if string(req.Body()) != wantURL {
		t.Errorf("NOTIFY body %q, want %q", req.Body(), wantURL)
	}
	fromTag, _ := req.From().Params.Get("tag")
	if fromTag != ourTag || req.CallID().Value() != res.CallID().Value() {
		t.Errorf("NOTIFY not in the SUBSCRIBE's dialog: from-tag %q (200 had %q), call-id %q", fromTag, ourTag, req.CallID().Value())
	}
	for name, want := range map[string]string{
		"Content-Type":       "application/url",
		"Subscription-State": "terminated;reason=timeout",
	} {
		if got := header(req, name); got != want {
			t.Errorf("%s: %q, want %q", name, got, want)
		}
	}
	if ev := header(req, "Event"); !strings.HasPrefix(ev, "ua-profile") {
		t.Errorf("Event %q", ev)
	}
	if v := req.Via(); v == nil || v.Host != "127.0.0.1" || v.Port == 0 {
		t.Errorf("Via %v", req.Via())
	}
	if from.Port != res.Contact().Address.Port {
		t.Errorf("NOTIFY came from port %d, our Contact says %d", from.Port, res.Contact().Address.Port)
	}
	ph.Answer(req, from, 200)
}

func TestBootVendors(t *testing.T) {
	h := startLoopback(t, nil, nil)
	tests := []struct {
		shape, mac, url, want string
	}{
		{"yealink", "001565aabb01", testURL, testURL},
		{"snom", "000413aabb02", testURL, testURL + "{mac}.xml"},
		{"grandstream", "c074adaabb03", "https://edge.example/p/tok123", "https://edge.example/p/tok123/"},
		{"fanvil", "0c383eaabb04", testURL, testURL},
		{"gigaset", "7c2f80aabb05", testURL, testURL},
		{"panasonic", "0080f0aabb06", testURL, testURL},
	}
	for _, tt := range tests {
		t.Run(tt.shape, func(t *testing.T) {
			h.inv.Set(tt.mac, inventorytest.Entry{URL: tt.url})
			ph := phonetest.New(t, "127.0.0.1:0")
			checkExchange(t, h, ph, tt.shape, tt.mac, "c1"+tt.shape, tt.want)
		})
	}
	waitFor(t, "NOTIFY outcomes", func() bool { return h.notifies(kindBoot, outOK) == float64(len(tests)) })
}

func TestRepeatedSubscribeIsOneBoot(t *testing.T) {
	h := startLoopback(t, nil, nil)
	h.inv.Set("001565000001", inventorytest.Entry{URL: testURL})
	ph := phonetest.New(t, "127.0.0.1:0")
	checkExchange(t, h, ph, "grandstream", "001565000001", "r1", testURL)
	// The phone repeats the same SUBSCRIBE (our 200 "got lost"): answered
	// again with the same tag, no second lookup, no second NOTIFY.
	first := h.inv.Calls()
	for i := range 4 {
		ph.Send(h.addr, phonetest.Subscribe("grandstream", "001565000001", "127.0.0.1", ph.Port(), "r1"))
		res := ph.ExpectResponse(2 * time.Second)
		if res.StatusCode != 200 {
			t.Fatal(res.StatusCode)
		}
		// The next one only after this one's handler ended: a repeat that
		// meets the previous server transaction still open is answered
		// by sipgo's transaction layer and never reaches the handler.
		waitFor(t, "repeat handled", func() bool { return h.subscribes(subRepeat) >= float64(i+1) })
	}
	ph.ExpectNothing(700 * time.Millisecond)
	if h.inv.Calls() != first {
		t.Errorf("lookups %d → %d", first, h.inv.Calls())
	}
	if got := h.subscribes(subRepeat); got < 3 {
		t.Errorf("repeats %v", got)
	}
	// A new boot (new Call-ID) is a new exchange.
	checkExchange(t, h, ph, "grandstream", "001565000001", "r2", testURL)
}

func TestNotifyRetransmitted(t *testing.T) {
	h := startLoopback(t, nil, nil)
	h.inv.Set("001565000002", inventorytest.Entry{URL: testURL})
	ph := phonetest.New(t, "127.0.0.1:0")
	ph.Send(h.addr, phonetest.Subscribe("yealink", "001565000002", "127.0.0.1", ph.Port(), "x1"))
	ph.ExpectResponse(2 * time.Second)
	first, _ := ph.ExpectRequest(2 * time.Second)
	t0 := time.Now()
	// Ignore it: Timer E retransmits the same NOTIFY after T1 (500ms).
	again, from := ph.ExpectRequest(2 * time.Second)
	if d := time.Since(t0); d < 300*time.Millisecond {
		t.Errorf("retransmission after %v", d)
	}
	if again.Via().Params.GetOr("branch", "") != first.Via().Params.GetOr("branch", "x") || string(again.Body()) != testURL {
		t.Errorf("retransmission differs:\n%s\n%s", first, again)
	}
	ph.Answer(again, from, 200)
	waitFor(t, "ok outcome", func() bool { return h.notifies(kindBoot, outOK) == 1 })
}

func TestNotifyTimeoutAndRejection(t *testing.T) {
	h := startLoopback(t, func(c *Config) { c.NotifyTimeout = 300 * time.Millisecond }, nil)
	h.inv.Set("001565000003", inventorytest.Entry{URL: testURL})
	h.inv.Set("001565000004", inventorytest.Entry{URL: testURL})
	ph := phonetest.New(t, "127.0.0.1:0")
	ph.Send(h.addr, phonetest.Subscribe("yealink", "001565000003", "127.0.0.1", ph.Port(), "t1"))
	ph.ExpectResponse(2 * time.Second)
	ph.ExpectRequest(2 * time.Second) // never answered
	waitFor(t, "timeout outcome", func() bool { return h.notifies(kindBoot, outTimeout) == 1 })

	ph2 := phonetest.New(t, "127.0.0.1:0")
	ph2.Send(h.addr, phonetest.Subscribe("yealink", "001565000004", "127.0.0.1", ph2.Port(), "t2"))
	ph2.ExpectResponse(2 * time.Second)
	req, from := ph2.ExpectRequest(2 * time.Second)
	ph2.Answer(req, from, 481)
	waitFor(t, "rejected outcome", func() bool { return h.notifies(kindBoot, outRejected) == 1 })
}

func TestUnknownAndBootstrapPolicies(t *testing.T) {
	for _, policy := range []string{UnknownNothing, UnknownBootstrap} {
		t.Run(policy, func(t *testing.T) {
			h := startLoopback(t, func(c *Config) { c.UnknownPhones = policy }, nil)
			h.inv.Set("001565000010", inventorytest.Entry{URL: "https://edge.example/p/boot/", Bootstrap: true})
			ph := phonetest.New(t, "127.0.0.1:0")
			// Not in inventory at all: 200 OK, no NOTIFY (after one more
			// lookup a moment later).
			ph.Send(h.addr, phonetest.Subscribe("yealink", "001565000011", "127.0.0.1", ph.Port(), "u1"))
			if res := ph.ExpectResponse(2 * time.Second); res.StatusCode != 200 {
				t.Fatal(res.StatusCode)
			}
			ph.ExpectNothing(unknownRetry + 500*time.Millisecond)
			waitFor(t, "unknown phone counted", func() bool { return h.notifies(kindBoot, outUnknownPhone) == 1 })
			if h.inv.Calls() != 2 {
				t.Errorf("%d lookups for an unknown phone, want 2", h.inv.Calls())
			}
			if policy == UnknownNothing {
				ph.Send(h.addr, phonetest.Subscribe("yealink", "001565000010", "127.0.0.1", ph.Port(), "u2"))
				ph.ExpectResponse(2 * time.Second)
				ph.ExpectNothing(300 * time.Millisecond)
				waitFor(t, "withheld", func() bool { return h.notifies(kindBoot, outBootstrapHeld) == 1 })
				return
			}
			checkExchange(t, h, ph, "yealink", "001565000010", "u3", "https://edge.example/p/boot/")
		})
	}
}

func TestUnknownPhoneLookedUpAgain(t *testing.T) {
	h := startLoopback(t, nil, nil)
	ph := phonetest.New(t, "127.0.0.1:0")
	// Inventory learns of the phone (its discovery) just after the boot.
	ph.Send(h.addr, phonetest.Subscribe("snom", "000413000013", "127.0.0.1", ph.Port(), "k1"))
	ph.ExpectResponse(2 * time.Second)
	h.inv.Set("000413000013", inventorytest.Entry{URL: testURL, Bootstrap: true})
	req, from := ph.ExpectRequest(unknownRetry + 2*time.Second)
	if string(req.Body()) != testURL+"{mac}.xml" {
		t.Fatalf("NOTIFY body %q", req.Body())
	}
	ph.Answer(req, from, 200)
	waitFor(t, "ok", func() bool { return h.notifies(kindBoot, outOK) == 1 })
}

// TestLookupRepeatedWhileInventoryUnavailable: inventory answers
// Unavailable (a Redis failover) for the first look-ups; the phone, which
// got its 200 OK and waits, still gets its NOTIFY.
func TestLookupRepeatedWhileInventoryUnavailable(t *testing.T) {
	h := startLoopback(t, nil, nil)
	h.inv.Set("000413000014", inventorytest.Entry{URL: testURL})
	h.inv.FailNext(2)
	ph := phonetest.New(t, "127.0.0.1:0")
	ph.Send(h.addr, phonetest.Subscribe("snom", "000413000014", "127.0.0.1", ph.Port(), "k2"))
	ph.ExpectResponse(2 * time.Second)
	req, from := ph.ExpectRequest(3*unknownRetry + 3*time.Second)
	if string(req.Body()) != testURL+"{mac}.xml" {
		t.Fatalf("NOTIFY body %q", req.Body())
	}
	ph.Answer(req, from, 200)
	waitFor(t, "ok", func() bool { return h.notifies(kindBoot, outOK) == 1 })
	if n := h.inv.Calls(); n != 3 {
		t.Errorf("%d look-ups, want 3 (two Unavailable, one answered)", n)
	}
}

func TestAnswerPolicy(t *testing.T) {
	h := startLoopback(t, func(c *Config) {
		c.AnswerVendors = []string{"yealink"}
		c.AnswerOUIs = []string{"00:04:13"}
	}, nil)
	h.inv.SetFallback(&inventorytest.Entry{URL: testURL})
	ph := phonetest.New(t, "127.0.0.1:0")
	checkExchange(t, h, ph, "yealink", "00aabb000001", "p1", testURL)          // by vendor
	checkExchange(t, h, ph, "snom", "000413000001", "p2", testURL+"{mac}.xml") // by OUI
	ph.Send(h.addr, phonetest.Subscribe("grandstream", "c074ad000001", "127.0.0.1", ph.Port(), "p3"))
	ph.ExpectNothing(500 * time.Millisecond)
	if h.subscribes(subPolicy) != 1 {
		t.Errorf("policy drops %v", h.subscribes(subPolicy))
	}
}

func TestOtherEventsMethodsAndGarbage(t *testing.T) {
	h := startLoopback(t, nil, nil)
	h.inv.SetFallback(&inventorytest.Entry{URL: testURL})
	ph := phonetest.New(t, "127.0.0.1:0")
	mwi := strings.Replace(phonetest.Subscribe("yealink", "001565000020", "127.0.0.1", ph.Port(), "o1"),
		`Event: ua-profile;profile-type="device";vendor="yealink";model="SIP-T46U";version="108.86.0.20"`, "Event: message-summary", 1)
	ph.Send(h.addr, mwi)
	if res := ph.ExpectResponse(2 * time.Second); res.StatusCode != 489 || header(res, "Allow-Events") != "ua-profile" {
		t.Fatalf("other event: %s", res)
	}
	opts := "OPTIONS sip:x@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:" + itoa(ph.Port()) + ";branch=z9hG4bKo2\r\n" +
		"From: <sip:a@127.0.0.1>;tag=1\r\nTo: <sip:x@127.0.0.1>\r\nCall-ID: o2\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
	ph.Send(h.addr, opts)
	if res := ph.ExpectResponse(2 * time.Second); res.StatusCode != 405 {
		t.Fatalf("OPTIONS: %d", res.StatusCode)
	}
	for _, junk := range []string{"\x00\x01\x02", "GET / HTTP/1.0\r\n\r\n", "SUBSCRIBE sip:x SIP/2.0\r\n\x00\xff\r\n\r\n",
		"SUBSCRIBE sip:x SIP/2.0\r\nVia: nonsense\r\n\r\n", strings.Repeat("A", 5000)} {
		ph.Send(h.addr, junk)
	}
	// The loop survives and still serves.
	checkExchange(t, h, ph, "yealink", "001565000021", "o3", testURL)
	if testutil.ToFloat64(h.s.m.drops["parse"])+testutil.ToFloat64(h.s.m.drops["malformed"]) < 1 {
		t.Errorf("SIP-looking junk not counted: parse %v malformed %v", testutil.ToFloat64(h.s.m.drops["parse"]), testutil.ToFloat64(h.s.m.drops["malformed"]))
	}
	if testutil.ToFloat64(h.s.m.drops["not_sip"]) < 2 || testutil.ToFloat64(h.s.m.drops["oversize"]) != 1 {
		t.Errorf("drops not counted: not_sip %v oversize %v", testutil.ToFloat64(h.s.m.drops["not_sip"]), testutil.ToFloat64(h.s.m.drops["oversize"]))
	}
}

func TestInventorySlowNeverDelaysOK(t *testing.T) {
	h := startLoopback(t, func(c *Config) { c.InventoryTimeout = 100 * time.Millisecond }, nil)
	h.inv.SetFallback(&inventorytest.Entry{URL: testURL})
	h.inv.SetDelay(2 * time.Second)
	ph := phonetest.New(t, "127.0.0.1:0")
	t0 := time.Now()
	ph.Send(h.addr, phonetest.Subscribe("yealink", "001565000030", "127.0.0.1", ph.Port(), "s1"))
	ph.ExpectResponse(time.Second)
	if d := time.Since(t0); d > 500*time.Millisecond {
		t.Errorf("200 OK took %v", d)
	}
	ph.ExpectNothing(400 * time.Millisecond)
	waitFor(t, "lookup timeout", func() bool { return testutil.ToFloat64(h.s.m.lookups.WithLabelValues("timeout")) >= 1 })
}

func itoa(i int) string { return strconv.Itoa(i) }

func metricValue(h *harness, typ, result string) float64 {
	return testutil.ToFloat64(h.s.m.events.WithLabelValues(typ, result))
}

// A boot whose lookup timed out (inventory overloaded by a storm) is looked
// up again (after 1.5 s, then 3 and 6 s, as after Unavailable): the phone
// got its 200 OK and will not ask again.
func TestInventoryTimeoutRetriedOnce(t *testing.T) {
	h := startLoopback(t, func(c *Config) { c.InventoryTimeout = 100 * time.Millisecond }, nil)
	h.inv.SetFallback(&inventorytest.Entry{URL: testURL})
	h.inv.SetDelay(2 * time.Second)
	ph := phonetest.New(t, "127.0.0.1:0")
	ph.Send(h.addr, phonetest.Subscribe("yealink", "001565000031", "127.0.0.1", ph.Port(), "r1"))
	ph.ExpectResponse(time.Second)
	waitFor(t, "first lookup timed out", func() bool {
		return testutil.ToFloat64(h.s.m.lookups.WithLabelValues("timeout")) == 1
	})
	h.inv.SetDelay(0)
	req, from := ph.ExpectRequest(3 * time.Second)
	if string(req.Body()) != testURL {
		t.Fatalf("NOTIFY body %q", req.Body())
	}
	ph.Answer(req, from, 200)
	waitFor(t, "NOTIFY ok", func() bool { return h.notifies(kindBoot, outOK) == 1 })
}

// TestNoViaCounted: a request without Via reaches no handler; each one is
// counted (its WARN is rate-limited, not one per datagram).
func TestNoViaCounted(t *testing.T) {
	h := startLoopback(t, nil, nil)
	ph := phonetest.New(t, "127.0.0.1:0")
	const n = 20
	for i := range n {
		ph.Send(h.addr, "SUBSCRIBE sip:x@127.0.0.1 SIP/2.0\r\nFrom: <sip:a@127.0.0.1>;tag=1\r\nTo: <sip:x@127.0.0.1>\r\n"+
			"Call-ID: nv"+itoa(i)+"\r\nCSeq: 1 SUBSCRIBE\r\nEvent: ua-profile\r\nContent-Length: 0\r\n\r\n")
	}
	waitFor(t, "no_via drops", func() bool { return testutil.ToFloat64(h.s.m.drops[dropNoTransaction]) == n })
}

// TestAmplificationBudget: a SUBSCRIBE whose source never answers draws
// at most 3x its bytes (200 OK, NOTIFY, retransmissions), the rest is
// counted and not sent.
func TestAmplificationBudget(t *testing.T) {
	h := startLoopback(t, nil, nil)
	h.inv.Set("001565000077", inventorytest.Entry{URL: testURL})
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	to, err := net.ResolveUDPAddr("udp4", h.addr)
	if err != nil {
		t.Fatal(err)
	}
	sub := phonetest.Subscribe("yealink", "001565000077", "127.0.0.1", c.LocalAddr().(*net.UDPAddr).Port, "amp1")
	if _, err := c.WriteToUDP([]byte(sub), to); err != nil {
		t.Fatal(err)
	}
	got, datagrams := 0, 0
	buf := make([]byte, 65536)
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		_ = c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		n, _, err := c.ReadFromUDP(buf)
		if err == nil {
			got += n
			datagrams++
			continue
		}
		if testutil.ToFloat64(h.s.m.drops[sipsock.DropAmplification]) >= 1 {
			break
		}
	}
	if testutil.ToFloat64(h.s.m.drops[sipsock.DropAmplification]) < 1 {
		t.Fatal("no transmission withheld for the budget")
	}
	t.Logf("SUBSCRIBE %d bytes drew %d bytes in %d datagrams", len(sub), got, datagrams)
	if datagrams < 2 || got > 3*len(sub) {
		t.Fatalf("SUBSCRIBE of %d bytes drew %d bytes in %d datagrams (want 200 OK + NOTIFY, <= 3x)", len(sub), got, datagrams)
	}
}
