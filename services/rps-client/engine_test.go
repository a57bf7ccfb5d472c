package rpsclient

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/dialtone-voip/dialtone/platform/testenv/logtest"
	inventoryv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/inventory/v1"
	rpsv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/rps/v1"
	"github.com/dialtone-voip/dialtone/services/rps-client/fakes/fakeserver"
	"github.com/dialtone-voip/dialtone/services/rps-client/fakes/snomfake"
	"github.com/dialtone-voip/dialtone/services/rps-client/fakes/yealinkfake"
	"github.com/dialtone-voip/dialtone/services/rps-client/internal/store"
)

const (
	ykKey, ykSecret   = "2df23f2d9c255e7138dc603b3847b58a", "d4a4be460a8d43609d8e8a5e7d0d4ad1"
	snomUser, snomPW  = "snom-acct", "SNOM-PASSWORD-do-not-log"
	tokenA            = "TOKENaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	tokenB            = "TOKENbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
	edge              = "https://edge.example.com/p/"
	ykMAC, snomMAC    = "001565aa0001", "000413aa0001"
	changeAssigned    = inventoryv1.PhoneChangeType_PHONE_CHANGE_TYPE_ASSIGNED
	changeUpdated     = inventoryv1.PhoneChangeType_PHONE_CHANGE_TYPE_UPDATED
	changeRotated     = inventoryv1.PhoneChangeType_PHONE_CHANGE_TYPE_TOKEN_ROTATED
	changeUnassigned  = inventoryv1.PhoneChangeType_PHONE_CHANGE_TYPE_UNASSIGNED
	changeDeleted     = inventoryv1.PhoneChangeType_PHONE_CHANGE_TYPE_DELETED
	changeRPSStatus   = inventoryv1.PhoneChangeType_PHONE_CHANGE_TYPE_RPS_STATUS
	changeProvisioned = inventoryv1.PhoneChangeType_PHONE_CHANGE_TYPE_PROVISIONED
)

type env struct {
	t     testing.TB
	svc   *Service
	inv   *testInventory
	yk    *yealinkfake.RPS
	snom  *fakeserver.Server
	pub   *published
	clock *testClock
	logs  *logtest.Buffer
	creds string
	ctx   context.Context
	cfg   Config
	deps  Deps
	// boltPath is the store file on the bolt backend ("" on Redis).
	boltPath string
}

// backend is the state store an env runs on.
type backend string

const (
	redisBackend backend = "redis" // Deps.Redis: New builds the Redis store
	boltBackend  backend = "bolt"  // Deps.Store: OpenBoltStore on a temp file
)

// onBothBackends runs fn as a subtest per backend.
func onBothBackends(t *testing.T, fn func(t *testing.T, b backend)) {
	for _, b := range []backend{redisBackend, boltBackend} {
		t.Run(string(b), func(t *testing.T) { fn(t, b) })
	}
}

func newEnv(t testing.TB) *env { return newEnvOn(t, redisBackend) }

func newEnvOn(t testing.TB, b backend) *env {
	e := &env{t: t, ctx: context.Background(), pub: &published{}, logs: &logtest.Buffer{},
		clock: &testClock{now: time.Now()}}
	e.yk = yealinkfake.StartRPS(t, yealinkfake.RPSConfig{Key: ykKey, Secret: ykSecret, Window: 100 * 365 * 24 * time.Hour})
	e.snom = snomfake.Start(t, snomUser, snomPW)
	e.creds = t.TempDir()
	writeAccount(t, e.creds, "acme", "yealink", map[string]any{"key_id": ykKey, "key_secret": ykSecret, "base_url": e.yk.URL})
	writeAccount(t, e.creds, "_default", "snom", map[string]any{"api": "snom-xmlrpc", "username": snomUser,
		"password": snomPW, "base_url": e.snom.URL + snomfake.Path})
	var invClient inventoryv1.InventoryServiceClient
	e.inv, invClient = startInventory(t)
	e.cfg = Defaults()
	e.cfg.CredentialsDir = e.creds
	e.cfg.VendorTimeout = 2 * time.Second
	e.cfg.LockTTL = 30 * time.Second
	e.cfg.RetryBase = 10 * time.Second
	e.cfg.RetryMax = 5 * time.Minute
	e.deps = Deps{Logger: newLogger(e.logs), Inventory: invClient, Now: e.clock.Now}
	switch b {
	case redisBackend:
		e.deps.Redis = startRedis(t).Client()
	case boltBackend:
		e.boltPath = filepath.Join(t.TempDir(), "rps.db")
		e.openBolt()
	}
	e.svc = e.newService()
	return e
}

func (e *env) openBolt() {
	st, err := OpenBoltStore(e.boltPath)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { st.Close() })
	e.deps.Store = st
}

// restart replaces the service with a new instance, as a process restart
// would: on bolt the file is closed and opened again.
func (e *env) restart() {
	if e.boltPath != "" {
		if err := e.deps.Store.Close(); err != nil {
			e.t.Fatal(err)
		}
		e.openBolt()
	}
	e.svc = e.newService()
}

func (e *env) newService() *Service {
	s, err := New(e.cfg, e.deps)
	if err != nil {
		e.t.Fatal(err)
	}
	s.publish = e.pub.publish
	return s
}

func (e *env) handle(data []byte) {
	e.t.Helper()
	if err := e.svc.HandlePhoneChanged(e.ctx, data); err != nil {
		e.t.Fatalf("HandlePhoneChanged: %v", err)
	}
}

func (e *env) record(mac string) *store.Record {
	e.t.Helper()
	r, err := e.svc.store.Record(e.ctx, mac)
	if err != nil {
		e.t.Fatal(err)
	}
	if r == nil {
		e.t.Fatalf("no record for %s", mac)
	}
	return r
}

func TestRegisterUpdateDeregister(t *testing.T) { onBothBackends(t, testRegisterUpdateDeregister) }

func testRegisterUpdateDeregister(t *testing.T, b backend) {
	e := newEnvOn(t, b)
	ev := e.inv.set(ykMAC, "yealink", "tenants/acme", true, edge+tokenA+"/", changeAssigned)
	data := marshal(t, ev)
	e.handle(data)
	r := e.record(ykMAC)
	if r.State != stRegistered || r.RegisteredURL != edge+tokenA+"/" || r.Vendor != "yealink" || r.PhoneRevision != 1 {
		t.Fatalf("record %+v", r)
	}
	if got, _ := e.yk.Registry.Get(ykMAC); got.URL != edge+tokenA+"/" {
		t.Fatalf("vendor holds %+v", got)
	}
	if id := e.pub.ids[len(e.pub.ids)-1]; id != "rps-001565aa0001-1-REGISTRATION_STATE_REGISTERED-1" {
		t.Fatalf("msg id %q", id)
	}

	// Redelivery: compared with the stored status, no vendor call.
	before := e.yk.Requests()
	e.handle(data)
	e.handle(data)
	if n := e.yk.Requests(); n != before {
		t.Fatalf("redelivery made %d vendor requests", n-before)
	}
	// An unrelated change (provisioned) with the same URL: no vendor call either.
	e.handle(marshal(t, e.inv.set(ykMAC, "yealink", "tenants/acme", true, edge+tokenA+"/", changeProvisioned)))
	if n := e.yk.Requests(); n != before {
		t.Fatalf("unchanged URL made %d vendor requests", n-before)
	}
	if r := e.record(ykMAC); r.PhoneRevision != 2 {
		t.Fatalf("revision not recorded: %d", r.PhoneRevision)
	}
	// RPS_STATUS changes are ignored (no loop).
	e.handle(marshal(t, e.inv.set(ykMAC, "yealink", "tenants/acme", true, edge+tokenA+"/", changeRPSStatus)))
	if e.record(ykMAC).PhoneRevision != 2 || e.yk.Requests() != before {
		t.Fatal("RPS_STATUS was acted upon")
	}

	// Token rotated: update to the new URL.
	e.handle(marshal(t, e.inv.set(ykMAC, "yealink", "tenants/acme", true, edge+tokenB+"/", changeRotated)))
	if got, _ := e.yk.Registry.Get(ykMAC); got.URL != edge+tokenB+"/" {
		t.Fatalf("not updated: %+v", got)
	}
	if n := e.yk.Registry.Registrations(ykMAC); n != 2 {
		t.Fatalf("registrations = %d, want 2", n)
	}

	// A stale event (older revision) changes nothing.
	e.handle(data)
	if got, _ := e.yk.Registry.Get(ykMAC); got.URL != edge+tokenB+"/" {
		t.Fatal("stale event re-registered the old URL")
	}

	// save_to_rps off: deregister.
	e.handle(marshal(t, e.inv.set(ykMAC, "yealink", "tenants/acme", false, edge+tokenB+"/", changeUpdated)))
	if _, ok := e.yk.Registry.Get(ykMAC); ok {
		t.Fatal("still registered after save_to_rps off")
	}
	r = e.record(ykMAC)
	if r.State != stDeregistered || r.RegisteredURL != "" || r.Held {
		t.Fatalf("record %+v", r)
	}
	// Back on, then unassigned, then deleted.
	e.handle(marshal(t, e.inv.set(ykMAC, "yealink", "tenants/acme", true, edge+tokenB+"/", changeUpdated)))
	if _, ok := e.yk.Registry.Get(ykMAC); !ok {
		t.Fatal("not registered again")
	}
	e.handle(marshal(t, e.inv.set(ykMAC, "yealink", "", false, edge+"bootstrap/", changeUnassigned)))
	if _, ok := e.yk.Registry.Get(ykMAC); ok {
		t.Fatal("still registered after unassign")
	}
	before = e.yk.Requests()
	e.handle(marshal(t, e.inv.set(ykMAC, "yealink", "", false, "", changeDeleted)))
	if e.yk.Requests() != before {
		t.Fatal("deleting an already deregistered phone called the vendor")
	}
}

func TestNeverRegisteredLeavesNoState(t *testing.T) {
	onBothBackends(t, testNeverRegisteredLeavesNoState)
}

func testNeverRegisteredLeavesNoState(t *testing.T, b backend) {
	e := newEnvOn(t, b)
	e.handle(marshal(t, e.inv.set(snomMAC, "snom", "", false, edge+"boot/", inventoryv1.PhoneChangeType_PHONE_CHANGE_TYPE_DISCOVERED)))
	if r, _ := e.svc.store.Record(e.ctx, snomMAC); r != nil {
		t.Fatalf("record for a never-registered phone: %+v", r)
	}
	if e.snom.Requests() != 0 {
		t.Fatal("vendor called")
	}
}

func TestTransientRetryWithBackoffAndRetryAfter(t *testing.T) {
	onBothBackends(t, testTransientRetryWithBackoffAndRetryAfter)
}

func testTransientRetryWithBackoffAndRetryAfter(t *testing.T, b backend) {
	e := newEnvOn(t, b)
	e.snom.Inject(fakeserver.Fault{Status: 503})
	data := marshal(t, e.inv.set(snomMAC, "snom", "tenants/acme", true, edge+tokenA+"/", changeAssigned))
	e.handle(data)
	r := e.record(snomMAC)
	if r.State != stRetrying || r.Reason != rpsv1.FailureReason_FAILURE_REASON_TRANSIENT || r.Attempts != 1 {
		t.Fatalf("record %+v", r)
	}
	d := r.NextAttempt.Sub(e.clock.Now())
	if d < e.cfg.RetryBase/2 || d > e.cfg.RetryBase {
		t.Fatalf("first delay %v outside [base/2, base]", d)
	}
	at, _ := e.svc.store.ScheduledAt(e.ctx, snomMAC)
	if !at.Equal(r.NextAttempt.Truncate(time.Millisecond)) && at.UnixMilli() != r.NextAttempt.UnixMilli() {
		t.Fatalf("scheduled at %v, record says %v", at, r.NextAttempt)
	}
	// A redelivery before the retry is due does not jump the queue.
	before := e.snom.Requests()
	e.handle(data)
	if e.snom.Requests() != before {
		t.Fatal("a redelivery retried before the scheduled time")
	}

	// Not due yet: nothing happens.
	e.svc.RunDue(e.ctx)
	if e.record(snomMAC).Attempts != 1 {
		t.Fatal("retried before due")
	}
	// Second failure is a 429 with Retry-After: 120 s, beyond the backoff.
	e.snom.Inject(fakeserver.Fault{Status: 429, RetryAfter: "120"})
	e.clock.Advance(e.cfg.RetryBase)
	e.svc.RunDue(e.ctx)
	r = e.record(snomMAC)
	if r.Attempts != 2 || r.State != stRetrying {
		t.Fatalf("record %+v", r)
	}
	if d := r.NextAttempt.Sub(e.clock.Now()); d < 120*time.Second {
		t.Fatalf("Retry-After not honoured: next in %v", d)
	}
	e.clock.Advance(119 * time.Second)
	e.svc.RunDue(e.ctx)
	if e.record(snomMAC).Attempts != 2 {
		t.Fatal("retried before Retry-After elapsed")
	}
	// A restart loses nothing: a new service instance (on bolt, over the
	// reopened file) finds the retry in the store.
	e.restart()
	e.clock.Advance(2 * time.Second)
	e.svc.RunDue(e.ctx)
	r = e.record(snomMAC)
	if r.State != stRegistered || r.Attempts != 3 {
		t.Fatalf("record %+v", r)
	}
	if n, _ := e.svc.store.Pending(e.ctx); n != 0 {
		t.Fatalf("%d retries left", n)
	}
	if got, _ := e.snom.Registry.Get(snomMAC); got.URL != edge+tokenA+"/" {
		t.Fatal("not registered at the vendor")
	}
}

func TestBackoffGrowsAndCaps(t *testing.T) {
	s := &Service{cfg: Config{RetryBase: time.Second, RetryMax: 16 * time.Second}}
	for attempts, max := range map[int32]time.Duration{1: time.Second, 2: 2 * time.Second, 3: 4 * time.Second, 5: 16 * time.Second, 40: 16 * time.Second} {
		for i := 0; i < 50; i++ {
			d := s.backoff(attempts, 0)
			if d < max/2 || d > max {
				t.Fatalf("attempts %d: %v outside [%v, %v]", attempts, d, max/2, max)
			}
		}
	}
	if d := s.backoff(1, time.Minute); d != time.Minute {
		t.Fatalf("Retry-After ignored: %v", d)
	}
}

func TestPermanentFailures(t *testing.T) {
	e := newEnv(t)
	// Owned by another account.
	e.yk.Registry.SetForeign(ykMAC, "https://other.example/")
	data := marshal(t, e.inv.set(ykMAC, "yealink", "tenants/acme", true, edge+tokenA+"/", changeAssigned))
	e.handle(data)
	r := e.record(ykMAC)
	if r.State != stFailed || r.Reason != rpsv1.FailureReason_FAILURE_REASON_OWNED_BY_OTHER_ACCOUNT || r.Held {
		t.Fatalf("record %+v", r)
	}
	if ev := e.pub.last(); ev.GetFailureReason() != rpsv1.FailureReason_FAILURE_REASON_OWNED_BY_OTHER_ACCOUNT {
		t.Fatalf("published %v", ev)
	}
	// Not retried: not on redelivery, not by the scheduler.
	before := e.yk.Requests()
	e.handle(data)
	e.clock.Advance(time.Hour)
	e.svc.RunDue(e.ctx)
	if e.yk.Requests() != before {
		t.Fatal("a permanent failure was retried")
	}
	// Deregistering a MAC that was never ours does not touch the vendor.
	e.handle(marshal(t, e.inv.set(ykMAC, "yealink", "tenants/acme", false, edge+tokenA+"/", changeUpdated)))
	if e.yk.Requests() != before {
		t.Fatal("deregistered a foreign MAC")
	}
	if got, _ := e.yk.Registry.Get(ykMAC); got.Owner != fakeserver.Other {
		t.Fatal("foreign registration touched")
	}
	// The phone changes (save_to_rps back on, new revision) and the other
	// account released it meanwhile: retried and registered.
	e.yk.Registry.Delete(ykMAC)
	e.handle(marshal(t, e.inv.set(ykMAC, "yealink", "tenants/acme", true, edge+tokenA+"/", changeUpdated)))
	if r := e.record(ykMAC); r.State != stRegistered {
		t.Fatalf("record %+v", r)
	}

	// No account for the tenant/vendor.
	e.handle(marshal(t, e.inv.set("0c383e000001", "fanvil", "tenants/acme", true, edge+tokenA+"/", changeAssigned)))
	if r := e.record("0c383e000001"); r.Reason != rpsv1.FailureReason_FAILURE_REASON_NO_ACCOUNT {
		t.Fatalf("record %+v", r)
	}
	// Unsupported vendor.
	e.handle(marshal(t, e.inv.set("000b82000001", "grandstream", "tenants/acme", true, edge+tokenA+"/", changeAssigned)))
	if r := e.record("000b82000001"); r.Reason != rpsv1.FailureReason_FAILURE_REASON_UNSUPPORTED_VENDOR || r.State != stFailed {
		t.Fatalf("record %+v", r)
	}
}

// Bad credentials are permanent until the credentials file changes; the
// reload re-schedules the MAC without a phone change.
func TestBadCredentialsThenFixedFile(t *testing.T) {
	e := newEnv(t)
	writeAccount(t, e.creds, "acme", "yealink", map[string]any{"key_id": ykKey, "key_secret": "WRONG-SECRET-0000000000000000", "base_url": e.yk.URL})
	if _, err := e.svc.creds.Reload(); err != nil {
		t.Fatal(err)
	}
	e.handle(marshal(t, e.inv.set(ykMAC, "yealink", "tenants/acme", true, edge+tokenA+"/", changeAssigned)))
	if r := e.record(ykMAC); r.Reason != rpsv1.FailureReason_FAILURE_REASON_BAD_CREDENTIALS || r.State != stFailed {
		t.Fatalf("record %+v", r)
	}
	writeAccount(t, e.creds, "acme", "yealink", map[string]any{"key_id": ykKey, "key_secret": ykSecret, "base_url": e.yk.URL})
	changed, err := e.svc.creds.Reload()
	if err != nil || len(changed) != 1 {
		t.Fatalf("reload %v %v", changed, err)
	}
	e.svc.credentialsChanged(changed)
	e.svc.RunDue(e.ctx)
	if r := e.record(ykMAC); r.State != stRegistered {
		t.Fatalf("record %+v", r)
	}
	// Neither the wrong nor the right secret appears in logs or statuses.
	for _, secret := range []string{"WRONG-SECRET", ykSecret, tokenA} {
		if strings.Contains(e.logs.String(), secret) {
			t.Fatalf("logs hold %q", secret)
		}
	}
}

func TestInventoryUnavailableIsRetried(t *testing.T) {
	e := newEnv(t)
	e.inv.setFail(codes.Unavailable)
	e.handle(marshal(t, e.inv.set(snomMAC, "snom", "tenants/acme", true, edge+tokenA+"/", changeAssigned)))
	r := e.record(snomMAC)
	if r.State != stRetrying || !strings.Contains(r.LastError, "Unavailable") {
		t.Fatalf("record %+v", r)
	}
	if e.snom.Requests() != 0 {
		t.Fatal("vendor called without a URL")
	}
	e.inv.setFail(codes.OK)
	e.clock.Advance(e.cfg.RetryBase)
	e.svc.RunDue(e.ctx)
	if r := e.record(snomMAC); r.State != stRegistered {
		t.Fatalf("record %+v", r)
	}
}

// When NATS refuses the RpsResult, the MAC is scheduled and the result
// goes out on the next pass without another vendor call.
func TestPublishFailureIsRetried(t *testing.T) {
	e := newEnv(t)
	e.pub.setFail(true)
	e.handle(marshal(t, e.inv.set(snomMAC, "snom", "tenants/acme", true, edge+tokenA+"/", changeAssigned)))
	if r := e.record(snomMAC); r.State != stRegistered || r.Published {
		t.Fatalf("record %+v", r)
	}
	e.pub.setFail(false)
	before := e.snom.Requests()
	e.clock.Advance(e.cfg.RetryBase)
	e.svc.RunDue(e.ctx)
	if r := e.record(snomMAC); !r.Published {
		t.Fatal("result never published")
	}
	if e.pub.count() != 1 || e.snom.Requests() != before {
		t.Fatalf("published %d, vendor requests %d", e.pub.count(), e.snom.Requests()-before)
	}
}

// Moving a phone to another vendor removes the old registration.
func TestVendorChangeDeregistersOld(t *testing.T) {
	e := newEnv(t)
	mac := "001565aa0009"
	e.handle(marshal(t, e.inv.set(mac, "yealink", "tenants/acme", true, edge+tokenA+"/", changeAssigned)))
	e.handle(marshal(t, e.inv.set(mac, "snom", "tenants/acme", true, edge+tokenA+"/", changeUpdated)))
	if _, ok := e.yk.Registry.Get(mac); ok {
		t.Fatal("old vendor still holds the MAC")
	}
	if got, ok := e.snom.Registry.Get(mac); !ok || got.URL != edge+tokenA+"/" {
		t.Fatal("new vendor does not hold the MAC")
	}
}

// BenchmarkRedelivery measures the no-vendor-call path a redelivered
// PhoneChanged takes (intent write, lock, status compare, inventory lookup)
// against a real redis-server or the bolt file, and the loopback inventory.
func BenchmarkRedelivery(b *testing.B) {
	for _, be := range []backend{redisBackend, boltBackend} {
		b.Run(string(be), func(b *testing.B) { benchmarkRedelivery(b, be) })
	}
}

func benchmarkRedelivery(b *testing.B, be backend) {
	e := newEnvOn(b, be)
	data := marshal(b, e.inv.set(snomMAC, "snom", "tenants/acme", true, edge+tokenA+"/", changeAssigned))
	if err := e.svc.HandlePhoneChanged(e.ctx, data); err != nil {
		b.Fatal(err)
	}
	before := e.snom.Requests()
	b.ReportAllocs()
	for b.Loop() {
		if err := e.svc.HandlePhoneChanged(e.ctx, data); err != nil {
			b.Fatal(err)
		}
	}
	if e.snom.Requests() != before {
		b.Fatal("redelivery called the vendor")
	}
}

// Inventory bumps a phone's revision when it records our RpsResult
// (RPS_STATUS, which we ignore). A redelivered event must not take that for
// a phone change and retry a permanent failure.
func TestPermanentFailureIgnoresOwnStatusRevisions(t *testing.T) {
	e := newEnv(t)
	e.yk.Registry.SetForeign(ykMAC, "https://other.example/")
	data := marshal(t, e.inv.set(ykMAC, "yealink", "tenants/acme", true, edge+tokenA+"/", changeAssigned))
	e.handle(data)
	if r := e.record(ykMAC); r.State != stFailed {
		t.Fatalf("record %+v", r)
	}
	// Inventory records the result: revision 2, an RPS_STATUS change.
	e.handle(marshal(t, e.inv.set(ykMAC, "yealink", "tenants/acme", true, edge+tokenA+"/", changeRPSStatus)))
	before, published := e.yk.Requests(), e.pub.count()
	e.handle(data) // redelivery of revision 1; inventory now says revision 2
	if e.yk.Requests() != before || e.pub.count() != published {
		t.Fatal("a redelivery retried a permanent failure because of our own RPS_STATUS revision")
	}
}
