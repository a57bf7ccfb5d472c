package pnplan

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/dialtone-voip/dialtone/platform/auth"
	"github.com/dialtone-voip/dialtone/platform/grpcserver"
	"github.com/dialtone-voip/dialtone/platform/testenv"
	"github.com/dialtone-voip/dialtone/platform/testenv/lantest"
	"github.com/dialtone-voip/dialtone/platform/testenv/metrictest"
	"github.com/dialtone-voip/dialtone/platform/testenv/natstest"
	inventoryv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/inventory/v1"
	"github.com/dialtone-voip/dialtone/proto/streams"
	renderer "github.com/dialtone-voip/dialtone/services/config-renderer"
	"github.com/dialtone-voip/dialtone/services/inventory"
	pnplistener "github.com/dialtone-voip/dialtone/services/pnp-listener"
	"github.com/dialtone-voip/dialtone/services/pnp-listener/phonetest"
)

const (
	adminToken    = "admin-token-for-tests-0123456789abcdef0123456"
	listenerToken = "listener-token-for-tests-0123456789abcdef012"
	group         = "224.0.1.75:5060"
)

// env is one test's world: the LAN, JetStream, inventory, the listener.
type env struct {
	t     *testing.T
	ctx   context.Context
	lan   *lantest.LAN
	pbx   *lantest.Host
	nats  *natstest.Server
	js    jetstream.JetStream
	admin inventoryv1.InventoryServiceClient
	// invAddr is inventory's (and config-renderer's) gRPC address
	// (loopback of the test's namespace).
	invAddr string
	reg     *prometheus.Registry
	// relayToken, when set, is the listener's TFTP relay credential at the
	// edge (startListener passes it).
	relayToken string
}

func logger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// newEnv builds a LAN with the given hosts ("pbx" first), JetStream and a
// real inventory (embedded store, bootstrap on) serving gRPC with tokens.
func newEnv(t *testing.T, hosts ...string) *env {
	t.Helper()
	return newEnvWith(t, "http://prov.example.test:8080", hosts...)
}

// newEnvWith is newEnv with inventory's edge base URL (and an edge-role token).
func newEnvWith(t *testing.T, edgeBase string, hosts ...string) *env {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	e := &env{t: t, ctx: ctx, lan: lantest.New(t, append([]string{"pbx"}, hosts...)...)}
	e.pbx = e.lan.Host("pbx")
	e.nats = natstest.Start(t)
	e.js = e.nats.JetStream()

	store, err := inventory.OpenBoltStore(t.TempDir() + "/inventory.db")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	inv, err := inventory.New(inventory.Config{
		EdgeHTTPBase: edgeBase, Bootstrap: true, TokenGrace: time.Hour,
	}, inventory.Deps{Logger: logger(t), Store: store, JetStream: e.js})
	if err != nil {
		t.Fatal(err)
	}
	tokens, err := auth.ParseTokens([]byte(fmt.Sprintf(`{"tokens": [
		{"name": "admin", "role": "admin", "token": %q},
		{"name": "site1", "role": "listener", "token": %q},
		{"name": "edge", "role": "edge", "token": %q}]}`, adminToken, listenerToken, edgeToken)))
	if err != nil {
		t.Fatal(err)
	}
	// The real config-renderer beside inventory, for the tests that run
	// the real edge (tftp_test.go); it costs nothing when unused.
	rend, err := renderer.New(renderer.Config{}, renderer.Deps{Logger: logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	gs := grpcserver.New(grpcserver.Options{Logger: logger(t), Auth: tokens})
	inv.RegisterGRPC(gs.GRPC())
	rend.RegisterGRPC(gs.GRPC())
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	run(t, ctx, "inventory", inv.Run)
	run(t, ctx, "inventory-grpc", func(ctx context.Context) error { return gs.Serve(ctx, lis) })
	waitFor(t, "inventory ready", func() bool { return inv.Ready() == nil })
	e.invAddr = lis.Addr().String()
	e.admin = dial(t, e.invAddr, adminToken)
	return e
}

func dial(t *testing.T, addr, token string) inventoryv1.InventoryServiceClient {
	cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithPerRPCCredentials(auth.BearerToken(token, false)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	return inventoryv1.NewInventoryServiceClient(cc)
}

// run runs a component until the test ends and checks it stopped cleanly.
func run(t *testing.T, ctx context.Context, name string, fn func(context.Context) error) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- fn(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("%s: %v", name, err)
			}
		case <-time.After(15 * time.Second):
			t.Errorf("%s did not stop", name)
		}
	})
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	testenv.WaitFor(t, 15*time.Second, what, cond)
}

// startListener runs pnp-listener inside the pbx namespace.
func (e *env) startListener(mutate func(*pnplistener.Config)) *pnplistener.Service {
	t := e.t
	t.Helper()
	cfg := pnplistener.DefaultConfig()
	cfg.SIPAddr = ":5060"
	cfg.Listener = "site1"
	cfg.InventoryTimeout = 3 * time.Second // the test machine may be loaded
	cfg.NotifyTimeout = 10 * time.Second
	if mutate != nil {
		mutate(&cfg)
	}
	e.reg = prometheus.NewRegistry()
	svc, err := pnplistener.New(cfg, pnplistener.Deps{
		Logger: logger(t), Registerer: e.reg, JetStream: e.js,
		Inventory: dial(t, e.invAddr, listenerToken), InNetns: e.pbx.Run,
		TFTPRelayToken: e.relayToken,
	})
	if err != nil {
		t.Fatal(err)
	}
	run(t, e.ctx, "pnp-listener", svc.Run)
	waitFor(t, "listener ready", func() bool { return svc.Ready() == nil })
	// Its consumers start at new events; wait until they exist.
	waitFor(t, "listener consumers", func() bool {
		for _, name := range []string{"pnp-listener-" + cfg.Listener, "pnp-listener-reprovision-" + cfg.Listener} {
			if _, err := e.js.Consumer(e.ctx, streams.Phones, name); err != nil {
				return false
			}
		}
		return true
	})
	return svc
}

// phone opens a phone's SIP socket on port inside host's namespace.
func (e *env) phone(host string, port int) (*phonetest.Phone, *lantest.Host) {
	t := e.t
	h := e.lan.Host(host)
	var c *net.UDPConn
	if err := h.Run(func() (err error) {
		c, err = net.ListenUDP("udp4", &net.UDPAddr{IP: net.IP(h.Addr().AsSlice()), Port: port})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return phonetest.Wrap(t, c), h
}

// counter reads a listener counter from the registry (the sum of the
// series with these label pairs).
func (e *env) counter(name string, labels ...string) float64 {
	return metrictest.Value(e.t, e.reg, name, labels...)
}

// discoveries counts PhoneDiscovered messages for mac in the stream.
func (e *env) discoveries(mac string) uint64 {
	s, err := e.js.Stream(e.ctx, streams.Discovery)
	if err != nil {
		return 0
	}
	subj := streams.Subject(streams.PhoneDiscoveredPrefix, mac)
	info, err := s.Info(e.ctx, jetstream.WithSubjectFilter(subj))
	if err != nil {
		e.t.Fatal(err)
	}
	return info.State.Subjects[subj]
}

func (e *env) url(mac string) (string, bool) {
	res, err := e.admin.GetProvisioningUrl(e.ctx, &inventoryv1.GetProvisioningUrlRequest{Name: "phones/" + mac})
	if err != nil {
		e.t.Fatalf("GetProvisioningUrl: %v", err)
	}
	return res.GetUrl(), res.GetBootstrap()
}

func header(m interface{ GetHeader(string) sip.Header }, name string) string {
	if h := m.GetHeader(name); h != nil {
		return h.Value()
	}
	return ""
}

// boot sends a phone's multicast SUBSCRIBE and checks the 200 OK: it comes
// from the pbx's LAN address and its Contact names that address.
func boot(t *testing.T, ph *phonetest.Phone, h *lantest.Host, pbx netip.Addr, shape, mac, callID string) *sip.Response {
	t.Helper()
	ph.Send(group, phonetest.Subscribe(shape, mac, h.Addr().String(), ph.Port(), callID))
	m, from := ph.Recv(5 * time.Second)
	res, ok := m.(*sip.Response)
	if !ok || res.StatusCode != 200 {
		t.Fatalf("want 200 OK to the multicast SUBSCRIBE, got %v", m)
	}
	if from.IP.String() != pbx.String() || res.Contact() == nil || res.Contact().Address.Host != pbx.String() || header(res, "Expires") != "0" {
		t.Fatalf("200 OK from %v with Contact %v", from, res.Contact())
	}
	return res
}

// expectNotify waits for a NOTIFY, checks that it is in the SUBSCRIBE's
// dialog and sent from and naming the pbx address, answers it and returns it.
func expectNotify(t *testing.T, ph *phonetest.Phone, pbx netip.Addr, callID string, code int) *sip.Request {
	t.Helper()
	req, from := ph.ExpectRequest(10 * time.Second)
	if req.Method != sip.NOTIFY {
		t.Fatalf("want NOTIFY, got %s", req.Method)
	}
	if !strings.HasPrefix(req.CallID().Value(), callID) {
		t.Errorf("NOTIFY Call-ID %q, want the SUBSCRIBE's %q", req.CallID().Value(), callID)
	}
	if from.IP.String() != pbx.String() || req.Via().Host != pbx.String() || req.Contact().Address.Host != pbx.String() {
		t.Errorf("NOTIFY from %v, Via %v, Contact %v: want %v everywhere", from, req.Via(), req.Contact(), pbx)
	}
	ph.Answer(req, from, code)
	return req
}

func TestMulticastBootLateAssignAndCheckSync(t *testing.T) {
	e := newEnv(t, "phone1", "phone2", "phone3")
	e.startListener(nil)
	pbx := e.pbx.Addr()
	if _, err := e.admin.CreateTenant(e.ctx, &inventoryv1.CreateTenantRequest{TenantId: "acme", Tenant: &inventoryv1.Tenant{DisplayName: "ACME"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.admin.CreateSipInterface(e.ctx, &inventoryv1.CreateSipInterfaceRequest{Parent: "tenants/acme", SipInterfaceId: "pbx",
		SipInterface: &inventoryv1.SipInterface{DisplayName: "PBX", Host: pbx.String(), UdpPort: 5060}}); err != nil {
		t.Fatal(err)
	}
	settings := &inventoryv1.ProvisioningSettings{SipInterface: "tenants/acme/sipInterfaces/pbx"}
	ph1, h1 := e.phone("phone1", 5059) // Yealink's PnP source port
	const mac1 = "001565a0b0c1"
	e.setMAC("phone1", mac1) // the link-layer check wants the phone's real MAC

	t.Run("discovery, bootstrap NOTIFY, repeated SUBSCRIBE discovered once", func(t *testing.T) {
		boot(t, ph1, h1, pbx, "yealink", mac1, "yl1")
		// The phone is new to inventory: the discovery creates it with a
		// bootstrap token, and PhoneChanged(DISCOVERED) brings the NOTIFY.
		n := expectNotify(t, ph1, pbx, "yl1", 200)
		url, bootstrap := e.url(mac1)
		if !bootstrap || string(n.Body()) != url {
			t.Fatalf("NOTIFY body %q; inventory's URL %q (bootstrap %v)", n.Body(), url, bootstrap)
		}
		// The phone repeats its SUBSCRIBE: answered each time, discovered once.
		for range 3 {
			boot(t, ph1, h1, pbx, "yealink", mac1, "yl1")
		}
		ph1.ExpectNothing(500 * time.Millisecond)
		waitFor(t, "the discovery in the stream", func() bool { return e.discoveries(mac1) >= 1 })
		// Every answered SUBSCRIBE's event has left the outbox: a second
		// discovery would be in the stream now.
		waitFor(t, "the listener's outbox empty", func() bool { return e.counter("dialtone_pnp_listener_outbox_depth") == 0 })
		if got := e.discoveries(mac1); got != 1 {
			t.Errorf("%d PhoneDiscovered in the stream for one boot, want 1", got)
		}
	})

	t.Run("late assignment NOTIFY", func(t *testing.T) {
		res, err := e.admin.AssignPhone(e.ctx, &inventoryv1.AssignPhoneRequest{
			Name: "phones/" + mac1, Tenant: "tenants/acme",
			CreateExtension: &inventoryv1.Extension{Number: "201", DisplayName: "Reception", SipPassword: "s3cret-sip-pw"},
			Settings:        settings,
		})
		if err != nil {
			t.Fatal(err)
		}
		// No new boot: PhoneChanged(ASSIGNED) reaches the phone at its last
		// contact, in the dialog of its last SUBSCRIBE.
		n := expectNotify(t, ph1, pbx, "yl1", 200)
		if string(n.Body()) != res.GetProvisioningUrl() {
			t.Fatalf("late NOTIFY body %q, want the assigned URL %q", n.Body(), res.GetProvisioningUrl())
		}
		if url, bootstrap := e.url(mac1); bootstrap || url != res.GetProvisioningUrl() {
			t.Fatalf("inventory says %q bootstrap=%v", url, bootstrap)
		}
		if n.CSeq().SeqNo < 2 {
			t.Errorf("late NOTIFY CSeq %d: want a higher number than the first NOTIFY's", n.CSeq().SeqNo)
		}
	})

	t.Run("check-sync from ReprovisionRequested", func(t *testing.T) {
		if _, err := e.admin.ReprovisionPhone(e.ctx, &inventoryv1.ReprovisionPhoneRequest{Name: "phones/" + mac1, Reboot: true}); err != nil {
			t.Fatal(err)
		}
		req, from := ph1.ExpectRequest(10 * time.Second)
		if req.Method != sip.NOTIFY || header(req, "Event") != "check-sync;reboot=true" {
			t.Fatalf("want a Yealink check-sync NOTIFY, got %s Event %q", req.Method, header(req, "Event"))
		}
		if from.IP.String() != pbx.String() || req.Via().Host != pbx.String() {
			t.Errorf("check-sync from %v Via %v", from, req.Via())
		}
		ph1.Answer(req, from, 200)
		waitFor(t, "check-sync outcome", func() bool {
			return e.counter("dialtone_pnp_listener_notifies_total", "kind", "check_sync", "outcome", "ok") == 1
		})
	})

	t.Run("assigned phone gets its URL at boot", func(t *testing.T) {
		ph, h := e.phone("phone3", 5060)
		const mac = "000b82a0b0c3" // Grandstream
		e.setMAC("phone3", mac)
		_, err := e.admin.CreatePhone(e.ctx, &inventoryv1.CreatePhoneRequest{Phone: &inventoryv1.Phone{
			Mac: mac, Model: "GRP2612W", Tenant: "tenants/acme",
			Lines:    []*inventoryv1.PhoneLine{{Index: 1, Extension: "tenants/acme/extensions/201"}},
			Settings: settings,
		}})
		if err != nil {
			t.Fatal(err)
		}
		boot(t, ph, h, pbx, "grandstream", mac, "gs1")
		n := expectNotify(t, ph, pbx, "gs1", 200)
		url, bootstrap := e.url(mac)
		if bootstrap || string(n.Body()) != url || !strings.HasSuffix(url, "/") {
			t.Fatalf("boot NOTIFY body %q, inventory URL %q (bootstrap %v)", n.Body(), url, bootstrap)
		}
	})

	t.Run("phone without a MAC is found in the neighbour table", func(t *testing.T) {
		ph, h := e.phone("phone2", 5060)
		var hw net.HardwareAddr
		if err := h.Run(func() error {
			ifi, err := net.InterfaceByName(h.Iface())
			if err == nil {
				hw = ifi.HardwareAddr
			}
			return err
		}); err != nil {
			t.Fatal(err)
		}
		mac := strings.ReplaceAll(hw.String(), ":", "")
		boot(t, ph, h, pbx, "audiocodes", "", "ac1")
		waitFor(t, "the MAC-less phone's discovery", func() bool { return e.discoveries(mac) == 1 })
		n := expectNotify(t, ph, pbx, "ac1", 200)
		if url, _ := e.url(mac); string(n.Body()) != url {
			t.Fatalf("NOTIFY body %q, inventory URL %q", n.Body(), url)
		}
	})

	if got := e.counter("dialtone_pnp_listener_datagrams_dropped_total", "reason", "foreign_source"); got != 0 {
		t.Errorf("LAN phones dropped as foreign: %v", got)
	}
}
