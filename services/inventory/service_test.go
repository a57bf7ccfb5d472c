package inventory_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/dialtone-voip/dialtone/platform/auth"
	"github.com/dialtone-voip/dialtone/platform/grpcserver"
	"github.com/dialtone-voip/dialtone/platform/logging"
	"github.com/dialtone-voip/dialtone/platform/natsjs"
	"github.com/dialtone-voip/dialtone/platform/testenv"
	"github.com/dialtone-voip/dialtone/platform/testenv/metrictest"
	"github.com/dialtone-voip/dialtone/platform/testenv/natstest"
	"github.com/dialtone-voip/dialtone/platform/testenv/redistest"
	eventsv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/events/v1"
	inventoryv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/inventory/v1"
	"github.com/dialtone-voip/dialtone/proto/streams"
	"github.com/dialtone-voip/dialtone/services/inventory"
)

const adminToken = "service-test-admin-token"

// harness runs the whole service: store, JetStream, Run, gRPC with auth.
type harness struct {
	t     testing.TB
	svc   *inventory.Service
	js    jetstream.JetStream
	admin inventoryv1.InventoryServiceClient
	svcCl inventoryv1.InventoryServiceClient
}

func start(t testing.TB, st inventory.Store, js jetstream.JetStream, opts ...func(*inventory.Config, *inventory.Deps)) *harness {
	t.Helper()
	log, _ := logging.New(io.Discard, "json", "info")
	if testing.Verbose() {
		log, _ = logging.New(&tlog{t}, "text", "info")
	}
	cfg := inventory.Config{EdgeHTTPBase: "http://prov.test:8080", EdgeHTTPSBase: "https://prov.test:8443", Bootstrap: true, TokenGrace: time.Hour}
	deps := inventory.Deps{Logger: log, Store: st, JetStream: js}
	for _, o := range opts {
		o(&cfg, &deps)
	}
	svc, err := inventory.New(cfg, deps)
	if err != nil {
		t.Fatal(err)
	}
	data, _ := json.Marshal(auth.TokensFile{Tokens: []auth.TokenEntry{
		{Name: "admin", Role: auth.RoleAdmin, SHA256: auth.HashToken(adminToken)},
		{Name: "svc", Role: auth.RoleService, SHA256: auth.HashToken(adminToken + "-svc")},
	}})
	tokens, err := auth.ParseTokens(data)
	if err != nil {
		t.Fatal(err)
	}
	gs := grpcserver.New(grpcserver.Options{Logger: log, Auth: tokens, ShutdownTimeout: time.Second})
	svc.RegisterGRPC(gs.GRPC())
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { _ = svc.Run(ctx) })
	wg.Go(func() { _ = gs.Serve(ctx, lis) })
	t.Cleanup(func() { cancel(); wg.Wait() })
	h := &harness{t: t, svc: svc, js: js}
	h.admin = dial(t, lis.Addr().String(), adminToken)
	h.svcCl = dial(t, lis.Addr().String(), adminToken+"-svc")
	waitFor(t, 20*time.Second, "service ready", func() bool { return svc.Ready() == nil })
	return h
}

type tlog struct{ t testing.TB }

func (l *tlog) Write(p []byte) (int, error) {
	l.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

func dial(t testing.TB, addr, token string) inventoryv1.InventoryServiceClient {
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithPerRPCCredentials(auth.BearerToken(token, false)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return inventoryv1.NewInventoryServiceClient(conn)
}

func waitFor(t testing.TB, d time.Duration, what string, ok func() bool) {
	t.Helper()
	testenv.WaitFor(t, d, what, ok)
}

func cctx() context.Context {
	c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	time.AfterFunc(11*time.Second, cancel)
	return c
}

func boltStore(t testing.TB) inventory.Store {
	st, err := inventory.OpenBoltStore(filepath.Join(t.TempDir(), "inventory.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func seed(t testing.TB, a inventoryv1.InventoryServiceClient, exts int) {
	t.Helper()
	if _, err := a.CreateTenant(cctx(), &inventoryv1.CreateTenantRequest{TenantId: "acme"}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.CreateSipInterface(cctx(), &inventoryv1.CreateSipInterfaceRequest{Parent: "tenants/acme", SipInterfaceId: "pbx",
		SipInterface: &inventoryv1.SipInterface{Host: "pbx.example.com", UdpPort: 5060}}); err != nil {
		t.Fatal(err)
	}
	for i := range exts {
		if _, err := a.CreateExtension(cctx(), &inventoryv1.CreateExtensionRequest{Parent: "tenants/acme",
			Extension: &inventoryv1.Extension{Number: fmt.Sprint(100 + i), SipPassword: "pw"}}); err != nil {
			t.Fatal(err)
		}
	}
}

func publishDiscovery(ctx context.Context, js jetstream.JetStream, mac string) error {
	ev := &eventsv1.PhoneDiscovered{Mac: mac, Model: "T54W", SourceAddress: "198.18.0.7:5060", Contact: "<sip:x@198.18.0.7>",
		Listener: "site-a", CallId: "call-" + mac, ObservedTime: timestamppb.Now()}
	return natsjs.Publish(ctx, js, streams.Subject(streams.PhoneDiscoveredPrefix, mac), ev, "disc-"+mac+"-call-"+mac)
}

// phoneEvents reads every PhoneChanged in the stream: msg id -> count, and
// the events in stream order.
func phoneEvents(t testing.TB, js jetstream.JetStream) (map[string]int, []*eventsv1.PhoneChanged) {
	t.Helper()
	ctx := cctx()
	cons, err := js.OrderedConsumer(ctx, streams.Phones, jetstream.OrderedConsumerConfig{FilterSubjects: []string{streams.PhoneChangedAll}})
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]int{}
	var evs []*eventsv1.PhoneChanged
	for {
		batch, err := cons.FetchNoWait(500)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for m := range batch.Messages() {
			n++
			ev := &eventsv1.PhoneChanged{}
			if err := natsjs.Decode(m, ev); err != nil {
				t.Fatal(err)
			}
			ids[m.Headers().Get(jetstream.MsgIDHeader)]++
			evs = append(evs, ev)
		}
		if n == 0 {
			return ids, evs
		}
	}
}

// TestEventsEndToEnd: discoveries, fetches and RPS results arrive over
// JetStream; PhoneChanged leaves through the outbox; WatchPhones resumes
// after a sequence without missing anything; ReprovisionPhone publishes.
func TestEventsEndToEnd(t *testing.T) {
	ns := natstest.Start(t)
	js := ns.JetStream()
	h := start(t, boltStore(t), js)
	seed(t, h.admin, 1)

	watchCtx, stopWatch := context.WithCancel(context.Background())
	// Replay, not "new changes": no phone has changed yet, so the watch sees
	// every change however late its consumer starts.
	w, err := h.svcCl.WatchPhones(watchCtx, &inventoryv1.WatchPhonesRequest{Replay: true})
	if err != nil {
		t.Fatal(err)
	}

	const mac = "001565000001"
	if err := publishDiscovery(context.Background(), js, mac); err != nil {
		t.Fatal(err)
	}
	first, err := w.Recv()
	if err != nil {
		t.Fatal(err)
	}
	if first.GetChangeType() != inventoryv1.PhoneChangeType_PHONE_CHANGE_TYPE_DISCOVERED || first.GetPhone().GetMac() != mac || first.GetSequence() == 0 {
		t.Fatalf("first change: %v", first)
	}
	stopWatch() // the client goes away...

	as, err := h.admin.AssignPhone(cctx(), &inventoryv1.AssignPhoneRequest{Name: mac, Extension: "tenants/acme/extensions/100"})
	if err != nil {
		t.Fatal(err)
	}
	prof := as.GetPhone().GetRevision()
	fetch := &eventsv1.ConfigFetched{Mac: mac, FileName: "y000000000000.cfg", Revision: prof, FetchTime: timestamppb.Now()}
	if err := natsjs.Publish(context.Background(), js, streams.Subject(streams.ConfigFetchedPrefix, mac), fetch, "fetch-1"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "provisioned", func() bool {
		p, err := h.admin.GetPhone(cctx(), &inventoryv1.GetPhoneRequest{Name: mac})
		return err == nil && p.GetPhone().GetState() == inventoryv1.PhoneState_PHONE_STATE_PROVISIONED
	})
	rps := &eventsv1.RpsResult{Mac: mac, State: 2, Time: timestamppb.Now()}
	if err := natsjs.Publish(context.Background(), js, streams.Subject(streams.RpsResultPrefix, mac), rps, "rps-1"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "rps status", func() bool {
		p, err := h.admin.GetPhone(cctx(), &inventoryv1.GetPhoneRequest{Name: mac})
		return err == nil && p.GetPhone().GetRpsStatus().GetState() == 2
	})

	// ...and resumes after the last sequence it saw: nothing is missed.
	w2, err := h.svcCl.WatchPhones(context.Background(), &inventoryv1.WatchPhonesRequest{StartAfterSequence: first.GetSequence()})
	if err != nil {
		t.Fatal(err)
	}
	want := []inventoryv1.PhoneChangeType{
		inventoryv1.PhoneChangeType_PHONE_CHANGE_TYPE_ASSIGNED,
		inventoryv1.PhoneChangeType_PHONE_CHANGE_TYPE_PROVISIONED,
		inventoryv1.PhoneChangeType_PHONE_CHANGE_TYPE_RPS_STATUS,
	}
	wantAspects := [][]inventoryv1.PhoneAspect{
		{inventoryv1.PhoneAspect_PHONE_ASPECT_ASSIGNMENT, inventoryv1.PhoneAspect_PHONE_ASPECT_URL, inventoryv1.PhoneAspect_PHONE_ASPECT_STATE},
		{inventoryv1.PhoneAspect_PHONE_ASPECT_STATE, inventoryv1.PhoneAspect_PHONE_ASPECT_FETCH},
		{inventoryv1.PhoneAspect_PHONE_ASPECT_RPS_STATUS},
	}
	if !first.GetFilesChanged() || !slices.Contains(first.GetAspects(), inventoryv1.PhoneAspect_PHONE_ASPECT_EXISTENCE) {
		t.Fatalf("discovered: aspects %v files_changed %v", first.GetAspects(), first.GetFilesChanged())
	}
	last := first.GetSequence()
	for i, typ := range want {
		r, err := w2.Recv()
		if err != nil {
			t.Fatal(err)
		}
		if r.GetChangeType() != typ || r.GetSequence() <= last || r.GetPhone().GetProvisioningUrl() != "" || r.GetPhone().GetSettings().GetWebPassword() != "" {
			t.Fatalf("resumed change %d: %v, want %v", i, r, typ)
		}
		// What changed, as the PhoneChanged said it (issue 20).
		if !slices.Equal(r.GetAspects(), wantAspects[i]) || r.GetFilesChanged() != (i == 0) {
			t.Fatalf("resumed change %d (%v): aspects %v files_changed %v; want %v %v", i, typ, r.GetAspects(), r.GetFilesChanged(), wantAspects[i], i == 0)
		}
		last = r.GetSequence()
	}

	// Reprovision publishes ReprovisionRequested.
	sub, err := ns.Conn().SubscribeSync(streams.ReprovisionRequestedAll)
	if err != nil {
		t.Fatal(err)
	}
	// The service publishes on its own connection: make sure the server
	// has our subscription before it does (SUB is sent asynchronously).
	if err := ns.Conn().Flush(); err != nil {
		t.Fatal(err)
	}
	if _, err := h.admin.ReprovisionPhone(cctx(), &inventoryv1.ReprovisionPhoneRequest{Name: mac, Reboot: true}); err != nil {
		t.Fatal(err)
	}
	m, err := sub.NextMsg(5 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	rr := &eventsv1.ReprovisionRequested{}
	if err := proto.Unmarshal(m.Data, rr); err != nil || rr.GetMac() != mac || !rr.GetReboot() || rr.GetLine1User() != "100" || rr.GetListener() != "site-a" {
		t.Fatalf("ReprovisionRequested: %v %v", rr, err)
	}
	// Every change went out exactly once; the outbox is empty.
	ids, _ := phoneEvents(t, js)
	for id, n := range ids {
		if n != 1 || !strings.HasPrefix(id, "phone-"+mac+"-") {
			t.Fatalf("event %s seen %d times", id, n)
		}
	}
	if len(ids) != 4 {
		t.Fatalf("%d PhoneChanged events, want 4", len(ids))
	}
}

// TestOutboxSurvivesNATSOutage: changes made while NATS is down are
// published once it is back, each exactly once.
func TestOutboxSurvivesNATSOutage(t *testing.T) {
	ns := natstest.Start(t)
	reg := prometheus.NewRegistry()
	h := start(t, boltStore(t), ns.JetStream(), func(_ *inventory.Config, d *inventory.Deps) { d.Registerer = reg })
	seed(t, h.admin, 1)
	ns.Shutdown()
	for i := range 5 {
		if _, err := h.admin.CreatePhone(cctx(), &inventoryv1.CreatePhoneRequest{Phone: &inventoryv1.Phone{Mac: fmt.Sprintf("0015650001%02x", i), Model: "T54W"}}); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, 20*time.Second, "the relay failed to publish and backs off", func() bool {
		return metrictest.Value(t, reg, "dialtone_inventory_outbox_publish_errors_total") > 0
	})
	ns.Restart()
	js := ns.JetStream()
	waitFor(t, 20*time.Second, "outbox drained", func() bool {
		ids, _ := phoneEvents(t, js)
		return len(ids) == 5
	})
	ids, _ := phoneEvents(t, js)
	for id, n := range ids {
		if n != 1 {
			t.Fatalf("%s published %d times", id, n)
		}
	}
}

// assignWithRetry assigns until the call is acknowledged; Unavailable
// (the store or the bus is down) is retried, as a client would.
func assignWithRetry(ctx context.Context, a inventoryv1.InventoryServiceClient, mac, ext string) error {
	for ctx.Err() == nil {
		c, cancel := context.WithTimeout(ctx, 5*time.Second)
		_, err := a.AssignPhone(c, &inventoryv1.AssignPhoneRequest{Name: mac, Extension: ext})
		cancel()
		switch status.Code(err) {
		case codes.OK:
			return nil
		case codes.NotFound, codes.Unavailable, codes.DeadlineExceeded, codes.Aborted, codes.Internal:
			time.Sleep(50 * time.Millisecond) // sleep: a client's pause before retrying while the store or bus is down (the chaos under test)
			continue
		}
		return err
	}
	return ctx.Err()
}

// chaos runs a stream of discoveries (over JetStream) and assignments (over
// gRPC) while breakOnce breaks a dependency in the middle, then checks that
// every acknowledged discovery and assignment is there, every phone's last
// change was published, and no event was published twice.
func chaos(t *testing.T, h *harness, js func() jetstream.JetStream, breakOnce func()) {
	const n = 40
	seed(t, h.admin, n)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	mac := func(i int) string { return fmt.Sprintf("0015650002%02x", i) }
	var (
		wg        sync.WaitGroup
		mu        sync.Mutex
		assigned  = map[string]bool{}
		errs      []error
		published atomic.Int64
	)
	wg.Go(func() { // discoveries, each retried until JetStream acknowledges it
		for i := range n {
			for {
				c, cc := context.WithTimeout(ctx, 2*time.Second)
				err := publishDiscovery(c, js(), mac(i))
				cc()
				if err == nil || ctx.Err() != nil {
					break
				}
				time.Sleep(50 * time.Millisecond) // sleep: a publisher's pause before retrying while NATS is down (the chaos under test)
			}
			published.Add(1)
			time.Sleep(10 * time.Millisecond) // sleep: paces the stream so that the break falls inside it
		}
	})
	wg.Go(func() { // assignments of every even phone once it is known
		for i := 0; i < n; i += 2 {
			if err := assignWithRetry(ctx, h.admin, mac(i), fmt.Sprintf("tenants/acme/extensions/%d", 100+i)); err != nil {
				mu.Lock()
				errs = append(errs, fmt.Errorf("assign %s: %w", mac(i), err))
				mu.Unlock()
				return
			}
			mu.Lock()
			assigned[mac(i)] = true
			mu.Unlock()
		}
	})
	waitFor(t, 30*time.Second, "a quarter of the discoveries published", func() bool { return published.Load() >= n/4 })
	breakOnce()
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	// Everything acknowledged is there.
	waitFor(t, 30*time.Second, "all phones discovered", func() bool {
		r, err := h.admin.ListPhones(cctx(), &inventoryv1.ListPhonesRequest{PageSize: 1000})
		return err == nil && len(r.GetPhones()) == n
	})
	r, err := h.admin.ListPhones(cctx(), &inventoryv1.ListPhonesRequest{PageSize: 1000})
	if err != nil {
		t.Fatal(err)
	}
	revs := map[string]int64{}
	for _, p := range r.GetPhones() {
		revs[p.GetMac()] = p.GetRevision()
		if assigned[p.GetMac()] && (p.GetState() != inventoryv1.PhoneState_PHONE_STATE_ASSIGNED || p.GetTenant() != "tenants/acme") {
			t.Fatalf("acknowledged assignment of %s lost: %v", p.GetMac(), p)
		}
	}
	if len(assigned) != n/2 {
		t.Fatalf("%d assignments acknowledged, want %d", len(assigned), n/2)
	}
	// Every phone's current revision was published, and nothing twice.
	waitFor(t, 30*time.Second, "every change published", func() bool {
		_, evs := phoneEvents(t, js())
		seen := map[string]bool{}
		for _, ev := range evs {
			seen[fmt.Sprintf("%s-%d", ev.GetPhone().GetMac(), ev.GetRevision())] = true
		}
		for m, rev := range revs {
			if !seen[fmt.Sprintf("%s-%d", m, rev)] {
				return false
			}
		}
		return true
	})
	ids, evs := phoneEvents(t, js())
	for id, c := range ids {
		if c != 1 {
			t.Fatalf("event %s published %d times", id, c)
		}
	}
	created := map[string]int{}
	for _, ev := range evs {
		if ev.GetChangeType() == inventoryv1.PhoneChangeType_PHONE_CHANGE_TYPE_DISCOVERED && ev.GetPhone().GetCreateTime().AsTime().Equal(ev.GetPhone().GetUpdateTime().AsTime()) {
			created[ev.GetPhone().GetMac()]++
		}
	}
	for m, c := range created {
		if c != 1 {
			t.Fatalf("phone %s created %d times", m, c)
		}
	}
	t.Logf("%d phones, %d assignments, %d PhoneChanged events, no loss, no duplicate", n, len(assigned), len(evs))
}

// TestNATSRestartMidStream kills (shuts down) the NATS server in the middle
// of the stream and starts it again on the same store.
func TestNATSRestartMidStream(t *testing.T) {
	ns := natstest.Start(t)
	var mu sync.Mutex
	cur := ns.JetStream()
	js := func() jetstream.JetStream { mu.Lock(); defer mu.Unlock(); return cur }
	h := start(t, boltStore(t), cur)
	chaos(t, h, js, func() {
		ns.Shutdown()
		time.Sleep(time.Second) // sleep: the outage under test, not a wait for something
		ns.Restart()
	})
}

// TestRedisKillMidStream kills redis-server (SIGKILL) in the middle of the
// stream and restarts it on its AOF (appendfsync always).
func TestRedisKillMidStream(t *testing.T) {
	rs := redistest.Start(t, redistest.AOF("always"))
	ns := natstest.Start(t)
	js := ns.JetStream()
	h := start(t, inventory.NewRedisStore(rs.Client(), ""), js)
	chaos(t, h, func() jetstream.JetStream { return js }, func() {
		rs.Kill()
		time.Sleep(time.Second) // sleep: the outage under test, not a wait for something
		rs.Restart()
	})
}

// TestStreamsUseSuiteConfig: Run ensures the suite's streams with the one
// configuration every service uses (natsjs.StreamConfig).
func TestStreamsUseSuiteConfig(t *testing.T) {
	ns := natstest.Start(t)
	js := ns.JetStream()
	start(t, boltStore(t), js)
	for _, want := range natsjs.SuiteStreams() {
		s, err := js.Stream(cctx(), want.Name)
		if err != nil {
			t.Fatalf("stream %s: %v", want.Name, err)
		}
		got := s.CachedInfo().Config
		if got.Duplicates != natsjs.StreamDuplicates || got.MaxAge != want.MaxAge || got.Storage != want.Storage ||
			got.Retention != want.Retention || strings.Join(got.Subjects, ",") != strings.Join(want.Subjects, ",") {
			t.Fatalf("stream %s: %+v, want %+v", want.Name, got, want)
		}
	}
}

// TestWatchTenantSeesPhonesLeave: every PhoneChanged carries the tenant
// before the change, and a watcher filtering by tenant sees the phones that
// leave it (UNASSIGNED, DELETED) but nothing of other tenants.
func TestWatchTenantSeesPhonesLeave(t *testing.T) {
	ns := natstest.Start(t)
	js := ns.JetStream()
	h := start(t, boltStore(t), js)
	seed(t, h.admin, 2)
	a := h.admin
	if _, err := a.CreateTenant(cctx(), &inventoryv1.CreateTenantRequest{TenantId: "beta"}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.CreateSipInterface(cctx(), &inventoryv1.CreateSipInterfaceRequest{Parent: "tenants/beta", SipInterfaceId: "pbx",
		SipInterface: &inventoryv1.SipInterface{Host: "pbx.beta.example.com", UdpPort: 5060}}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.CreateExtension(cctx(), &inventoryv1.CreateExtensionRequest{Parent: "tenants/beta",
		Extension: &inventoryv1.Extension{Number: "200", SipPassword: "pw"}}); err != nil {
		t.Fatal(err)
	}

	watchCtx, stopWatch := context.WithCancel(context.Background())
	defer stopWatch()
	// Replay: no phone has changed yet, so the watch sees every change
	// however late its consumer starts.
	w, err := h.svcCl.WatchPhones(watchCtx, &inventoryv1.WatchPhonesRequest{Tenant: "tenants/acme", Replay: true})
	if err != nil {
		t.Fatal(err)
	}

	const (
		macA, macB, macC, macD = "001565000a01", "001565000a02", "001565000a03", "001565000a04"
		acme100, acme101       = "tenants/acme/extensions/100", "tenants/acme/extensions/101"
	)
	create := func(mac, ext string) {
		t.Helper()
		p := &inventoryv1.Phone{Mac: mac, Model: "T54W"}
		if ext != "" {
			p.Lines = []*inventoryv1.PhoneLine{{Index: 1, Extension: ext}}
		}
		if _, err := a.CreatePhone(cctx(), &inventoryv1.CreatePhoneRequest{Phone: p}); err != nil {
			t.Fatal(err)
		}
	}
	create(macA, acme100)                                                                             // acme: CREATED
	create(macB, "tenants/beta/extensions/200")                                                       // beta: not shown
	create(macC, "")                                                                                  // unassigned: not shown
	if _, err := a.UnassignPhone(cctx(), &inventoryv1.UnassignPhoneRequest{Name: macA}); err != nil { // leaves acme: shown
		t.Fatal(err)
	}
	if _, err := a.AssignPhone(cctx(), &inventoryv1.AssignPhoneRequest{Name: macC, Extension: acme101}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.DeletePhone(cctx(), &inventoryv1.DeletePhoneRequest{Name: macC}); err != nil { // leaves acme: shown
		t.Fatal(err)
	}
	if _, err := a.UnassignPhone(cctx(), &inventoryv1.UnassignPhoneRequest{Name: macB}); err != nil { // leaves beta: not shown
		t.Fatal(err)
	}
	create(macD, acme100) // the last one: everything before it has been filtered

	type seen struct {
		mac, tenant string
		typ         inventoryv1.PhoneChangeType
	}
	want := []seen{
		{macA, "tenants/acme", inventoryv1.PhoneChangeType_PHONE_CHANGE_TYPE_CREATED},
		{macA, "", inventoryv1.PhoneChangeType_PHONE_CHANGE_TYPE_UNASSIGNED},
		{macC, "tenants/acme", inventoryv1.PhoneChangeType_PHONE_CHANGE_TYPE_ASSIGNED},
		{macC, "tenants/acme", inventoryv1.PhoneChangeType_PHONE_CHANGE_TYPE_DELETED},
		{macD, "tenants/acme", inventoryv1.PhoneChangeType_PHONE_CHANGE_TYPE_CREATED},
	}
	for i, wt := range want {
		r, err := w.Recv()
		if err != nil {
			t.Fatal(err)
		}
		got := seen{r.GetPhone().GetMac(), r.GetPhone().GetTenant(), r.GetChangeType()}
		if got != wt {
			t.Fatalf("watch event %d: %+v, want %+v", i, got, wt)
		}
	}

	// Every PhoneChanged names the tenant before the change.
	wantPrev := map[string][]string{
		macA: {"", "tenants/acme"},
		macB: {"", "tenants/beta"},
		macC: {"", "", "tenants/acme"},
		macD: {""},
	}
	_, evs := phoneEvents(t, js)
	gotPrev := map[string][]string{}
	for _, ev := range evs {
		gotPrev[ev.GetPhone().GetMac()] = append(gotPrev[ev.GetPhone().GetMac()], ev.GetPreviousTenant())
	}
	for mac, wp := range wantPrev {
		if fmt.Sprint(gotPrev[mac]) != fmt.Sprint(wp) {
			t.Fatalf("previous_tenant of %s's events: %q, want %q", mac, gotPrev[mac], wp)
		}
	}
}
