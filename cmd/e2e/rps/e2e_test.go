package rps_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/dialtone-voip/dialtone/platform/auth"
	"github.com/dialtone-voip/dialtone/platform/grpcserver"
	"github.com/dialtone-voip/dialtone/platform/testenv"
	"github.com/dialtone-voip/dialtone/platform/testenv/logtest"
	"github.com/dialtone-voip/dialtone/platform/testenv/natstest"
	"github.com/dialtone-voip/dialtone/platform/testenv/redistest"
	inventoryv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/inventory/v1"
	rpsv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/rps/v1"
	"github.com/dialtone-voip/dialtone/proto/streams"
	"github.com/dialtone-voip/dialtone/services/inventory"
	rpsclient "github.com/dialtone-voip/dialtone/services/rps-client"
	"github.com/dialtone-voip/dialtone/services/rps-client/fakes/fakeserver"
	"github.com/dialtone-voip/dialtone/services/rps-client/fakes/fanvilfake"
	"github.com/dialtone-voip/dialtone/services/rps-client/fakes/gigasetfake"
	"github.com/dialtone-voip/dialtone/services/rps-client/fakes/htekfake"
	"github.com/dialtone-voip/dialtone/services/rps-client/fakes/polyfake"
	"github.com/dialtone-voip/dialtone/services/rps-client/fakes/srapsfake"
	"github.com/dialtone-voip/dialtone/services/rps-client/fakes/yealinkfake"
)

const (
	sipPassword = "SIP-PASSWORD-never-at-a-vendor"
	tokAdmin    = "e2e-admin-token"
	tokService  = "e2e-service-token"
	tokRead     = "e2e-readonly-token"
)

type vendorFake struct {
	vendor, oui string
	server      *fakeserver.Server
	secret      string
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, what string, d time.Duration, cond func() error) {
	t.Helper()
	var err error
	if testenv.Poll(d, func() bool { err = cond(); return err == nil }) != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func dial(t *testing.T, addr, token string) *grpc.ClientConn {
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithPerRPCCredentials(auth.BearerToken(token, false)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

type cancelKey struct{}

func cancelAll(ctx context.Context) { ctx.Value(cancelKey{}).(context.CancelFunc)() }

func serve(t *testing.T, ctx context.Context, register func(grpc.ServiceRegistrar)) string {
	tokens, err := auth.ParseTokens([]byte(fmt.Sprintf(`{"tokens":[
		{"name":"admin","role":"admin","sha256":"%s"},
		{"name":"rps-client","role":"service","sha256":"%s"},
		{"name":"dash","role":"readonly","sha256":"%s"}]}`,
		auth.HashToken(tokAdmin), auth.HashToken(tokService), auth.HashToken(tokRead))))
	if err != nil {
		t.Fatal(err)
	}
	gs := grpcserver.New(grpcserver.Options{Auth: tokens})
	register(gs.GRPC())
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { gs.Serve(ctx, lis); close(done) }()
	t.Cleanup(func() { cancelAll(ctx); <-done })
	return lis.Addr().String()
}

// TestEndToEnd runs the real inventory (bolt store) and two rps-client
// replicas on an embedded JetStream and a real redis-server, against the
// fakes of six vendor APIs. Phones are created in inventory; NATS restarts
// in the middle. Every phone must end registered exactly once, with the URL
// inventory hands out, and inventory must show the RPS status.
func TestEndToEnd(t *testing.T) {
	ns := natstest.Start(t)
	rds := redistest.Start(t)
	// Cleanups run last-in first-out: each one that waits for a goroutine
	// cancels the context first.
	ctx, cancel := context.WithCancel(context.Background())
	ctx = context.WithValue(ctx, cancelKey{}, cancel)

	// Vendor fakes and the credentials directory (flat Secret-style files).
	creds := t.TempDir()
	write := func(name string, v map[string]any) {
		raw, _ := json.Marshal(v)
		if err := os.WriteFile(filepath.Join(creds, name), raw, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	yk := yealinkfake.StartRPS(t, yealinkfake.RPSConfig{Key: "yk-key-id-0001", Secret: "yk-SECRET-0001"})
	write("_default.yealink.json", map[string]any{"key_id": "yk-key-id-0001", "key_secret": "yk-SECRET-0001", "base_url": yk.URL})
	sr := srapsfake.Start(t, srapsfake.Config{Prefix: "/api/v1", ID: "sraps-id", Key: "sraps-HAWK-KEY-0001", Setting: "setting_server"})
	write("acme.snom.json", map[string]any{"api": "snom-sraps", "key_id": "sraps-id", "key_secret": "sraps-HAWK-KEY-0001", "base_url": sr.URL + "/api/v1/"})
	gg := gigasetfake.Start(t, "giga", "giga-PASSWORD-0001")
	write("acme.gigaset.json", map[string]any{"username": "giga", "password": "giga-PASSWORD-0001", "base_url": gg.URL + gigasetfake.Path})
	fv := fanvilfake.Start(t, "fanvil", "fanvil-PASSWORD-0001")
	write("acme.fanvil.json", map[string]any{"username": "fanvil", "password": "fanvil-PASSWORD-0001", "base_url": fv.URL + fanvilfake.Path})
	ht := htekfake.Start(t, "htek", "htek-PASSWORD-0001")
	write("_default.htek.json", map[string]any{"username": "htek", "password": "htek-PASSWORD-0001", "base_url": ht.URL + htekfake.Path})
	pl := polyfake.Start(t, "poly-API-KEY-0001")
	write("acme.poly.json", map[string]any{"api_key": "poly-API-KEY-0001", "base_url": pl.URL + polyfake.Prefix})
	ym := yealinkfake.StartYMCS(t, yealinkfake.YMCSConfig{ClientID: "ymcs-client", ClientSecret: "ymcs-SECRET-0001", AllowAddByMac: true})
	write("globex.yealink.json", map[string]any{"api": "yealink-ymcs", "key_id": "ymcs-client", "key_secret": "ymcs-SECRET-0001", "base_url": ym.URL})
	fakes := []vendorFake{
		{"yealink", "001565", yk.Server, "yk-SECRET-0001"},
		{"snom", "000413", sr.Server, "sraps-HAWK-KEY-0001"},
		{"gigaset", "7c2f80", gg, "giga-PASSWORD-0001"},
		{"fanvil", "0c383e", fv.Server, "fanvil-PASSWORD-0001"},
		{"htek", "001fc1", ht.Server, "htek-PASSWORD-0001"},
		{"poly", "0004f2", pl.Server, "poly-API-KEY-0001"},
	}
	// Tenant globex has its own Yealink account (YMCS); acme uses the default (RPS JSON).
	fakes = append(fakes, vendorFake{"yealink", "805ec0", ym.Server, "ymcs-SECRET-0001"})

	// The real inventory.
	st, err := inventory.OpenBoltStore(filepath.Join(t.TempDir(), "inventory.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	invCfg := inventory.Config{NATSURL: ns.URL(), EdgeHTTPSBase: "https://edge.example.com:8443",
		EdgeHTTPBase: "http://edge.example.com:8080", Bootstrap: true, TokenGrace: time.Hour, LogFormat: "json", LogLevel: "info"}
	inv, err := inventory.New(invCfg, inventory.Deps{Store: st, JetStream: ns.JetStream()})
	if err != nil {
		t.Fatal(err)
	}
	invAddr := serve(t, ctx, inv.RegisterGRPC)
	invDone := make(chan struct{})
	go func() { inv.Run(ctx); close(invDone) }()
	t.Cleanup(func() { cancel(); <-invDone })
	admin := inventoryv1.NewInventoryServiceClient(dial(t, invAddr, tokAdmin))

	// Two rps-client replicas sharing the durable consumer and Redis.
	logs := &logtest.Buffer{}
	var rpsAddr string
	for i := 0; i < 2; i++ {
		cfg := rpsclient.Defaults()
		cfg.CredentialsDir = creds
		cfg.VendorTimeout = 2 * time.Second
		cfg.LockTTL = 10 * time.Second
		cfg.RetryBase, cfg.RetryMax, cfg.RetryPoll = 200*time.Millisecond, 2*time.Second, 100*time.Millisecond
		svc, err := rpsclient.New(cfg, rpsclient.Deps{
			Logger:    slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})).With("replica", i),
			Redis:     rds.Client(),
			JetStream: ns.JetStream(),
			Inventory: inventoryv1.NewInventoryServiceClient(dial(t, invAddr, tokService)),
		})
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan struct{})
		go func() { svc.Run(ctx); close(done) }()
		t.Cleanup(func() { cancel(); <-done })
		if i == 0 {
			rpsAddr = serve(t, ctx, svc.RegisterGRPC)
		}
		eventually(t, "replica ready", 10*time.Second, svc.Ready)
	}
	rps := rpsv1.NewRedirectServiceClient(dial(t, rpsAddr, tokAdmin))
	rpsRead := rpsv1.NewRedirectServiceClient(dial(t, rpsAddr, tokRead))

	// Tenant, extensions, phones: three per vendor.
	if _, err := admin.CreateTenant(ctx, &inventoryv1.CreateTenantRequest{TenantId: "acme", Tenant: &inventoryv1.Tenant{DisplayName: "Acme"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.CreateTenant(ctx, &inventoryv1.CreateTenantRequest{TenantId: "globex", Tenant: &inventoryv1.Tenant{DisplayName: "Globex"}}); err != nil {
		t.Fatal(err)
	}
	for _, tenant := range []string{"acme", "globex"} {
		if _, err := admin.CreateSipInterface(ctx, &inventoryv1.CreateSipInterfaceRequest{Parent: "tenants/" + tenant, SipInterfaceId: "pbx",
			SipInterface: &inventoryv1.SipInterface{Host: "pbx.example.com", UdpPort: 5060}}); err != nil {
			t.Fatal(err)
		}
	}
	type phone struct{ mac, vendor, tenant string }
	var phones []phone
	for _, f := range fakes {
		tenant := "acme"
		if f.server == ym.Server {
			tenant = "globex"
		}
		for j := 1; j <= 3; j++ {
			phones = append(phones, phone{fmt.Sprintf("%s0000%02d", f.oui, j), f.vendor, tenant})
		}
	}
	create := func(i int, p phone) {
		ext := fmt.Sprintf("%d", 1000+i)
		parent := "tenants/" + p.tenant
		if _, err := admin.CreateExtension(ctx, &inventoryv1.CreateExtensionRequest{Parent: parent,
			Extension: &inventoryv1.Extension{Number: ext, SipPassword: sipPassword}}); err != nil {
			t.Fatalf("extension %s: %v", ext, err)
		}
		if _, err := admin.CreatePhone(ctx, &inventoryv1.CreatePhoneRequest{Phone: &inventoryv1.Phone{
			Mac: p.mac, Vendor: p.vendor, Model: "desk", Tenant: parent,
			Lines: []*inventoryv1.PhoneLine{{Index: 1, Extension: parent + "/extensions/" + ext}},
			Settings: &inventoryv1.ProvisioningSettings{SaveToRps: true, Https: true, WebPassword: "WEB-PASSWORD-never",
				SipInterface: parent + "/sipInterfaces/pbx"},
		}}); err != nil {
			t.Fatalf("phone %s: %v", p.mac, err)
		}
	}
	// Transient vendor failures, so retries are pending across the restart.
	yk.Inject(fakeserver.Fault{Status: 503}, fakeserver.Fault{Status: 502})
	sr.Inject(fakeserver.Fault{Status: 429, RetryAfter: "1"})
	gg.Inject(fakeserver.Fault{Hang: true}) // the client times out (2s)
	half := len(phones) / 2
	for i, p := range phones[:half] {
		create(i, p)
	}
	// NATS restarts while the first half is in flight; then it is down
	// while the second half is created (inventory keeps the events in its
	// outbox), and comes back.
	ns.Restart()
	ns.Shutdown()
	for i, p := range phones[half:] {
		create(half+i, p)
	}
	ns.Restart()

	fakeOf := map[string]*fakeserver.Server{} // by MAC
	for _, f := range fakes {
		for j := 1; j <= 3; j++ {
			fakeOf[fmt.Sprintf("%s0000%02d", f.oui, j)] = f.server
		}
	}
	urlOf := func(mac string) string {
		r, err := admin.GetProvisioningUrl(ctx, &inventoryv1.GetProvisioningUrlRequest{Name: "phones/" + mac})
		if err != nil {
			t.Fatal(err)
		}
		return r.GetUrl()
	}
	allRegistered := func() error {
		for _, p := range phones {
			e, ok := fakeOf[p.mac].Registry.Get(p.mac)
			if !ok {
				return fmt.Errorf("%s (%s) not registered", p.mac, p.vendor)
			}
			if want := urlOf(p.mac); e.URL != want {
				return fmt.Errorf("%s registered with another URL", p.mac)
			}
			ph, err := admin.GetPhone(ctx, &inventoryv1.GetPhoneRequest{Name: "phones/" + p.mac})
			if err != nil {
				return err
			}
			if ph.GetPhone().GetRpsStatus().GetState() != rpsv1.RegistrationState_REGISTRATION_STATE_REGISTERED {
				return fmt.Errorf("inventory shows %s as %v", p.mac, ph.GetPhone().GetRpsStatus().GetState())
			}
		}
		return nil
	}
	start := time.Now()
	eventually(t, "every phone registered", 60*time.Second, allRegistered)
	t.Logf("%d phones at 7 vendor APIs in 2 tenants registered %v after the last create (NATS restarted midway)", len(phones), time.Since(start).Round(time.Millisecond))

	// Nothing left in flight: the consumer has no pending or unacked
	// messages, so any redelivery has happened. Then: exactly once.
	js := ns.JetStream()
	eventually(t, "consumer drained", 30*time.Second, func() error {
		c, err := js.Consumer(ctx, streams.Phones, "rps-client-changes")
		if err != nil {
			return err
		}
		info, err := c.Info(ctx)
		if err != nil {
			return err
		}
		if info.NumPending != 0 || info.NumAckPending != 0 {
			return fmt.Errorf("pending %d, ack pending %d", info.NumPending, info.NumAckPending)
		}
		return nil
	})
	for _, p := range phones {
		if n := fakeOf[p.mac].Registry.Registrations(p.mac); n != 1 {
			t.Errorf("%s (%s) registered %d times, want exactly once", p.mac, p.vendor, n)
		}
	}

	// Every URL handed out, to check later that none reached a log line.
	var urls []string
	for _, p := range phones {
		urls = append(urls, urlOf(p.mac))
	}

	// Token rotation → update; unassign → deregister; delete → deregister.
	rot := phones[0]
	old := urlOf(rot.mac)
	if _, err := admin.RotateProvisioningToken(ctx, &inventoryv1.RotateProvisioningTokenRequest{Name: "phones/" + rot.mac}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "rotated URL registered", 30*time.Second, func() error {
		if e, _ := fakeOf[rot.mac].Registry.Get(rot.mac); e.URL == old || e.URL != urlOf(rot.mac) {
			return fmt.Errorf("still the old URL")
		}
		return nil
	})
	urls = append(urls, urlOf(rot.mac))
	if n := fakeOf[rot.mac].Registry.Registrations(rot.mac); n != 2 {
		t.Errorf("rotation: %d registrations, want 2", n)
	}
	un := phones[3] // snom
	if _, err := admin.UnassignPhone(ctx, &inventoryv1.UnassignPhoneRequest{Name: "phones/" + un.mac}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "unassigned phone deregistered", 30*time.Second, func() error {
		if _, ok := fakeOf[un.mac].Registry.Get(un.mac); ok {
			return fmt.Errorf("still registered")
		}
		st, err := rps.GetDeviceStatus(ctx, &rpsv1.GetDeviceStatusRequest{Name: "devices/" + un.mac})
		if err != nil {
			return err
		}
		if st.GetStatus().GetState() != rpsv1.RegistrationState_REGISTRATION_STATE_DEREGISTERED {
			return fmt.Errorf("status %v", st.GetStatus().GetState())
		}
		return nil
	})
	del := phones[17] // poly
	if _, err := admin.DeletePhone(ctx, &inventoryv1.DeletePhoneRequest{Name: "phones/" + del.mac}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "deleted phone deregistered", 30*time.Second, func() error {
		if _, ok := fakeOf[del.mac].Registry.Get(del.mac); ok {
			return fmt.Errorf("still registered")
		}
		return nil
	})

	// The status API: admin sees URLs, readonly does not.
	list, err := rpsRead.ListDeviceStatuses(ctx, &rpsv1.ListDeviceStatusesRequest{PageSize: 1000})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.GetStatuses()) != len(phones) {
		t.Errorf("%d statuses, want %d", len(list.GetStatuses()), len(phones))
	}
	for _, s := range list.GetStatuses() {
		if s.GetRegisteredUrl() != "" {
			t.Fatal("readonly caller got a registered URL")
		}
	}

	// Nothing secret left the building or reached a log line.
	for _, f := range fakes {
		for _, secret := range []string{sipPassword, "WEB-PASSWORD-never"} {
			if f.server.Received(secret) {
				t.Errorf("%s fake received %q", f.vendor, secret)
			}
		}
	}
	text := logs.String()
	secrets := []string{sipPassword}
	for _, f := range fakes {
		secrets = append(secrets, f.secret)
	}
	for _, u := range urls {
		if u == "" {
			t.Fatal("a phone had no URL")
		}
		secrets = append(secrets, u, u[strings.LastIndex(strings.TrimRight(u, "/"), "/")+1:])
	}
	for _, s := range secrets {
		if s != "" && strings.Contains(text, strings.TrimRight(s, "/")) {
			t.Errorf("rps-client logs contain a secret (%.12s…)", s)
		}
	}
	if strings.Count(text, "FAILURE_REASON_TRANSIENT") < 4 {
		t.Error("the injected transient failures were not all seen")
	}
	if !strings.Contains(text, "registered at vendor") {
		t.Error("no registration was logged at all (log capture broken?)")
	}
}
