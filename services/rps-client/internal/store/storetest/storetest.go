// Package storetest is the conformance suite every store.Store backend
// passes (after dex's storage/conformance): revision-guarded intents and
// their expiry, records and paging (cursor for cursor, so the gRPC page
// tokens mean the same on every backend), the retry schedule and its
// survival of a restart, per-MAC locks, and atomicity under concurrent
// writers.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	rpsv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/rps/v1"
	"github.com/dialtone-voip/dialtone/services/rps-client/internal/store"
)

// Opener returns an empty store and a restart function that simulates a
// process restart: it returns a store over the same persisted state (the
// old one must not be used afterwards). The suite closes the store it
// holds last; register other cleanup with t.Cleanup.
type Opener func(t *testing.T) (s store.Store, restart func() store.Store)

// Run runs the suite.
func Run(t *testing.T, open Opener) {
	tests := []struct {
		name string
		fn   func(t *testing.T, h *harness)
	}{
		{"Ping", testPing},
		{"IntentRevisionGuard", testIntentRevisionGuard},
		{"IntentExpiry", testIntentExpiry},
		{"ConcurrentIntentsKeepTheLatest", testConcurrentIntents},
		{"RecordsAndPaging", testRecordsAndPaging},
		{"Schedule", testSchedule},
		{"DeleteRecord", testDeleteRecord},
		{"StateSurvivesRestart", testRestart},
		{"Lock", testLock},
		{"LockIsExclusive", testLockExclusive},
		{"CancelledContext", testCancelled},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, restart := open(t)
			h := &harness{s: s, restart: restart}
			defer func() { _ = h.s.Close() }()
			tc.fn(t, h)
		})
	}
}

type harness struct {
	s       store.Store
	restart func() store.Store
}

func (h *harness) reopen() { h.s = h.restart() }

var ctx = context.Background()

func testPing(t *testing.T, h *harness) {
	if err := h.s.Ping(ctx); err != nil {
		t.Fatal(err)
	}
}

func setIntent(t *testing.T, s store.Store, mac string, in store.Intent, force bool, ttl time.Duration) int {
	t.Helper()
	n, err := s.SetIntent(ctx, mac, in, force, ttl)
	if err != nil {
		t.Fatalf("SetIntent(%s, %+v): %v", mac, in, err)
	}
	return n
}

func testIntentRevisionGuard(t *testing.T, h *harness) {
	s := h.s
	mac := "001565aabbcc"
	if in, err := s.Intent(ctx, mac); in != nil || err != nil {
		t.Fatalf("intent of an unknown MAC: %+v %v", in, err)
	}
	// A deregister for a MAC without a record: stored briefly, nothing to do.
	if n := setIntent(t, s, mac, store.Intent{Op: store.OpDeregister, Revision: 3}, false, time.Hour); n != store.IntentNoOp {
		t.Fatalf("dereg without record = %d, want no-op", n)
	}
	// An older register must not override it.
	if n := setIntent(t, s, mac, store.Intent{Op: store.OpRegister, Revision: 2}, false, time.Hour); n != store.IntentStale {
		t.Fatalf("older register = %d, want stale", n)
	}
	if in, _ := s.Intent(ctx, mac); in == nil || in.Op != store.OpDeregister || in.Revision != 3 {
		t.Fatalf("a stale intent replaced the stored one: %+v", in)
	}
	want := store.Intent{Op: store.OpRegister, Revision: 4, Vendor: "yealink", Tenant: "acme"}
	if n := setIntent(t, s, mac, want, false, time.Hour); n != store.IntentStored {
		t.Fatalf("newer register = %d", n)
	}
	// Redelivery of the same revision is stored again (idempotent).
	if n := setIntent(t, s, mac, want, false, time.Hour); n != store.IntentStored {
		t.Fatalf("same revision = %d", n)
	}
	in, err := s.Intent(ctx, mac)
	if err != nil || in == nil || *in != want {
		t.Fatalf("intent %+v %v, want %+v", in, err, want)
	}
	// A manual (forced) intent is stored whatever the revision.
	manual := store.Intent{Op: store.OpRegister, Revision: 1, Manual: true, URL: "https://edge/p/x/", Vendor: "snom"}
	if n := setIntent(t, s, mac, manual, true, time.Hour); n != store.IntentStored {
		t.Fatalf("forced intent = %d", n)
	}
	if in, _ := s.Intent(ctx, mac); in == nil || *in != manual {
		t.Fatalf("forced intent not stored: %+v", in)
	}
	if err := s.PutRecord(ctx, &store.Record{MAC: mac, State: rpsv1.RegistrationState_REGISTRATION_STATE_REGISTERED}); err != nil {
		t.Fatal(err)
	}
	// With a record, a deregister is work to do.
	if n := setIntent(t, s, mac, store.Intent{Op: store.OpDeregister, Revision: 5}, false, time.Hour); n != store.IntentStored {
		t.Fatalf("dereg with record = %d, want stored", n)
	}
	// Guards are per MAC.
	if n := setIntent(t, s, "001565aabbcd", store.Intent{Op: store.OpRegister, Revision: 1}, false, time.Hour); n != store.IntentStored {
		t.Fatalf("other MAC = %d", n)
	}
}

// A no-record deregister intent expires; any other intent does not.
func testIntentExpiry(t *testing.T, h *harness) {
	s := h.s
	const ttl = 20 * time.Millisecond
	if n := setIntent(t, s, "a", store.Intent{Op: store.OpDeregister, Revision: 7}, false, ttl); n != store.IntentNoOp {
		t.Fatalf("dereg = %d", n)
	}
	// Rewritten as a register before it expires: it stays.
	if n := setIntent(t, s, "b", store.Intent{Op: store.OpDeregister, Revision: 7}, false, ttl); n != store.IntentNoOp {
		t.Fatalf("dereg = %d", n)
	}
	if n := setIntent(t, s, "b", store.Intent{Op: store.OpRegister, Revision: 8}, false, ttl); n != store.IntentStored {
		t.Fatalf("register = %d", n)
	}
	time.Sleep(4 * ttl)
	if in, err := s.Intent(ctx, "a"); in != nil || err != nil {
		t.Fatalf("expired intent still there: %+v %v", in, err)
	}
	// Gone means no guard either: an older revision is stored.
	if n := setIntent(t, s, "a", store.Intent{Op: store.OpRegister, Revision: 2}, false, ttl); n != store.IntentStored {
		t.Fatalf("register after expiry = %d", n)
	}
	if in, _ := s.Intent(ctx, "a"); in == nil || in.Revision != 2 {
		t.Fatalf("intent %+v", in)
	}
	time.Sleep(4 * ttl) // a stored register never expires
	if in, _ := s.Intent(ctx, "a"); in == nil || in.Revision != 2 {
		t.Fatalf("register intent expired: %+v", in)
	}
	if in, _ := s.Intent(ctx, "b"); in == nil || in.Revision != 8 {
		t.Fatalf("register intent expired: %+v", in)
	}
}

// Concurrent writers of one MAC: the guard is atomic, so the highest
// revision wins whatever the interleaving.
func testConcurrentIntents(t *testing.T, h *harness) {
	const writers, per = 8, 25
	var wg sync.WaitGroup
	errc := make(chan error, writers)
	for w := range writers {
		wg.Go(func() {
			for i := range per {
				rev := int64(i*writers + w + 1)
				if _, err := h.s.SetIntent(ctx, "m", store.Intent{Op: store.OpRegister, Revision: rev}, false, time.Hour); err != nil {
					errc <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Fatal(err)
	}
	in, err := h.s.Intent(ctx, "m")
	if err != nil || in == nil || in.Revision != writers*per {
		t.Fatalf("intent %+v %v, want revision %d", in, err, writers*per)
	}
}

func mac(i int) string { return fmt.Sprintf("0015650000%02d", i) }

func testRecordsAndPaging(t *testing.T, h *harness) {
	s := h.s
	if recs, next, err := s.List(ctx, "", 10, nil); len(recs) != 0 || next != "" || err != nil {
		t.Fatalf("empty list: %v %q %v", recs, next, err)
	}
	for i := range 25 {
		v := "yealink"
		if i%2 == 1 {
			v = "snom"
		}
		if err := s.PutRecord(ctx, &store.Record{MAC: mac(i), Vendor: v, RegisteredURL: "u"}); err != nil {
			t.Fatal(err)
		}
	}
	// Records round-trip, including times.
	at := time.Date(2026, 3, 4, 5, 6, 7, 8000, time.UTC)
	full := &store.Record{MAC: mac(3), Vendor: "snom", Tenant: "acme", State: rpsv1.RegistrationState_REGISTRATION_STATE_RETRYING,
		Reason: rpsv1.FailureReason_FAILURE_REASON_TRANSIENT, LastError: "503", LastAttempt: at, NextAttempt: at.Add(time.Minute),
		Attempts: 2, RegisteredURL: "u", PhoneRevision: 9, IntentRevision: 8, Held: true, HeldVendor: "snom",
		HeldAccount: "acme/snom", Target: "t", FailedURL: "f", CredFP: "c", Published: true,
		Slot: at.Add(2 * time.Minute), Deregistered: at.Add(3 * time.Minute),
		Objects: []string{"server 0123456789abcdef0123", "server fedcba9876543210fedc"}}
	if err := s.PutRecord(ctx, full); err != nil {
		t.Fatal(err)
	}
	r, err := s.Record(ctx, mac(3))
	if err != nil || r == nil || !r.LastAttempt.Equal(at) || !r.NextAttempt.Equal(full.NextAttempt) ||
		!r.Slot.Equal(full.Slot) || !r.Deregistered.Equal(full.Deregistered) {
		t.Fatalf("%+v %v", r, err)
	}
	r.LastAttempt, r.NextAttempt, r.Slot, r.Deregistered = full.LastAttempt, full.NextAttempt, full.Slot, full.Deregistered
	if !reflect.DeepEqual(r, full) {
		t.Fatalf("record %+v, want %+v", r, full)
	}
	if r, err := s.Record(ctx, "ffffffffffff"); r != nil || err != nil {
		t.Fatalf("missing record: %+v %v", r, err)
	}

	// Filtered pages: cursor for cursor what the Redis backend has always
	// returned (the last MAC scanned; "" at the end).
	snom := func(r *store.Record) bool { return r.Vendor == "snom" }
	var all []*store.Record
	var cursors []string
	after := ""
	for pages := 0; ; pages++ {
		recs, next, err := s.List(ctx, after, 4, snom)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, recs...)
		cursors = append(cursors, next)
		if next == "" {
			break
		}
		after = next
		if pages > 10 {
			t.Fatal("paging does not end")
		}
	}
	if len(all) != 12 {
		t.Fatalf("%d snom records, want 12", len(all))
	}
	if want := []string{mac(7), mac(15), mac(23), ""}; !slices.Equal(cursors, want) {
		t.Fatalf("cursors %q, want %q", cursors, want)
	}
	for i := 1; i < len(all); i++ {
		if all[i-1].MAC >= all[i].MAC {
			t.Fatal("not in MAC order")
		}
	}
	// Unfiltered: a page that ends exactly at the last record still
	// returns its MAC; the next page is empty.
	recs, next, err := s.List(ctx, "", 25, nil)
	if err != nil || len(recs) != 25 || next != mac(24) {
		t.Fatalf("%d records, next %q, %v", len(recs), next, err)
	}
	if recs, next, _ := s.List(ctx, next, 25, nil); len(recs) != 0 || next != "" {
		t.Fatalf("after the end: %d records, next %q", len(recs), next)
	}
	// A short last page ends the listing.
	recs, next, _ = s.List(ctx, mac(19), 10, nil)
	if len(recs) != 5 || recs[0].MAC != mac(20) || next != "" {
		t.Fatalf("%d records from %s, next %q", len(recs), recs[0].MAC, next)
	}
	// after need not be a stored MAC.
	if recs, _, _ := s.List(ctx, "0015650000105", 2, nil); len(recs) != 2 || recs[0].MAC != mac(11) {
		t.Fatalf("after a missing MAC: %v", recs)
	}
	// Storing the same record again changes nothing; overwriting one does
	// not duplicate it.
	if err := s.PutRecord(ctx, full); err != nil {
		t.Fatal(err)
	}
	if r, _ := s.Record(ctx, mac(3)); r == nil || r.Attempts != full.Attempts {
		t.Fatalf("record %+v", r)
	}
	if err := s.PutRecord(ctx, &store.Record{MAC: mac(0), Vendor: "poly"}); err != nil {
		t.Fatal(err)
	}
	if recs, _, _ := s.List(ctx, "", 100, nil); len(recs) != 25 || recs[0].Vendor != "poly" {
		t.Fatalf("%d records after an overwrite", len(recs))
	}
}

func schedule(t *testing.T, s store.Store, mac string, at time.Time) {
	t.Helper()
	if err := s.Schedule(ctx, mac, at); err != nil {
		t.Fatal(err)
	}
}

func pending(t *testing.T, s store.Store) int64 {
	t.Helper()
	n, err := s.Pending(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func testSchedule(t *testing.T, h *harness) {
	s := h.s
	now := time.UnixMilli(time.Now().UnixMilli())
	if due, err := s.Due(ctx, now, 10); len(due) != 0 || err != nil {
		t.Fatalf("empty schedule: %v %v", due, err)
	}
	if at, err := s.ScheduledAt(ctx, "x"); !at.IsZero() || err != nil {
		t.Fatalf("unscheduled: %v %v", at, err)
	}
	if err := s.Unschedule(ctx, "x"); err != nil {
		t.Fatalf("unscheduling a MAC that is not scheduled: %v", err)
	}
	schedule(t, s, "c", now.Add(-3*time.Second))
	schedule(t, s, "a", now.Add(-time.Second))
	schedule(t, s, "b", now.Add(-time.Second)) // same time: MAC order
	schedule(t, s, "d", now)                   // due exactly now
	schedule(t, s, "e", now.Add(time.Millisecond))
	schedule(t, s, "f", now.Add(time.Hour))
	schedule(t, s, "d", now) // again, unchanged
	if n := pending(t, s); n != 6 {
		t.Fatalf("pending %d", n)
	}
	if due, _ := s.Due(ctx, now, 10); !slices.Equal(due, []string{"c", "a", "b", "d"}) {
		t.Fatalf("due %v", due)
	}
	if due, _ := s.Due(ctx, now, 2); !slices.Equal(due, []string{"c", "a"}) {
		t.Fatalf("due (2) %v", due)
	}
	// Rescheduling moves a MAC; it is not counted twice.
	schedule(t, s, "c", now.Add(time.Minute))
	schedule(t, s, "f", now.Add(-time.Hour))
	if n := pending(t, s); n != 6 {
		t.Fatalf("pending after rescheduling %d", n)
	}
	if due, _ := s.Due(ctx, now, 10); !slices.Equal(due, []string{"f", "a", "b", "d"}) {
		t.Fatalf("due after rescheduling %v", due)
	}
	if at, _ := s.ScheduledAt(ctx, "c"); !at.Equal(now.Add(time.Minute)) {
		t.Fatalf("c at %v", at)
	}
	// Millisecond precision.
	schedule(t, s, "g", now.Add(1500*time.Microsecond))
	if at, _ := s.ScheduledAt(ctx, "g"); at.UnixMilli() != now.Add(time.Millisecond).UnixMilli() {
		t.Fatalf("g at %v", at)
	}
	for _, m := range []string{"a", "b", "c", "d", "f", "g"} {
		if err := s.Unschedule(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Unschedule(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	if n := pending(t, s); n != 1 {
		t.Fatalf("pending %d", n)
	}
	if due, _ := s.Due(ctx, now.Add(time.Hour), 0); !slices.Equal(due, []string{"e"}) {
		t.Fatalf("due %v", due)
	}
}

func testRestart(t *testing.T, h *harness) {
	now := time.Now()
	schedule(t, h.s, "a", now.Add(-time.Second))
	schedule(t, h.s, "b", now.Add(time.Hour))
	schedule(t, h.s, "c", now.Add(time.Hour))
	if err := h.s.Unschedule(ctx, "c"); err != nil {
		t.Fatal(err)
	}
	setIntent(t, h.s, "a", store.Intent{Op: store.OpRegister, Revision: 5, Vendor: "snom"}, false, time.Hour)
	if err := h.s.PutRecord(ctx, &store.Record{MAC: "a", Vendor: "snom", Attempts: 3}); err != nil {
		t.Fatal(err)
	}
	h.reopen()
	due, err := h.s.Due(ctx, now, 10)
	if err != nil || !slices.Equal(due, []string{"a"}) {
		t.Fatalf("due %v %v", due, err)
	}
	if at, _ := h.s.ScheduledAt(ctx, "b"); at.UnixMilli() != now.Add(time.Hour).UnixMilli() {
		t.Fatalf("b at %v", at)
	}
	if n := pending(t, h.s); n != 2 {
		t.Fatalf("pending %d", n)
	}
	if r, _ := h.s.Record(ctx, "a"); r == nil || r.Attempts != 3 {
		t.Fatalf("record %+v", r)
	}
	// The revision guard survives too.
	if n := setIntent(t, h.s, "a", store.Intent{Op: store.OpDeregister, Revision: 4}, false, time.Hour); n != store.IntentStale {
		t.Fatalf("older intent after restart = %d", n)
	}
	if err := h.s.Unschedule(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	if n := pending(t, h.s); n != 1 {
		t.Fatalf("pending %d", n)
	}
}

func testLock(t *testing.T, h *harness) {
	s := h.s
	unlock, err := s.Lock(ctx, "m", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Lock(ctx, "m", time.Minute); !errors.Is(err, store.ErrLocked) {
		t.Fatalf("second lock: %v", err)
	}
	// Locks are per MAC.
	other, err := s.Lock(ctx, "n", time.Minute)
	if err != nil {
		t.Fatalf("other MAC: %v", err)
	}
	other()
	unlock()
	unlock2, err := s.Lock(ctx, "m", 50*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	defer unlock2()
	// An expired lock is free again, and the old holder's release does not
	// free the new holder's lock.
	time.Sleep(100 * time.Millisecond)
	unlock3, err := s.Lock(ctx, "m", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	unlock2()
	if _, err := s.Lock(ctx, "m", time.Minute); !errors.Is(err, store.ErrLocked) {
		t.Fatal("stale release freed a live lock")
	}
	unlock3()
	unlock3() // a second release is harmless
	u, err := s.Lock(ctx, "m", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	u()
}

// Many workers race for one MAC: at any time at most one holds it.
func testLockExclusive(t *testing.T, h *harness) {
	var holders, maxHolders, got atomic.Int32
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 20 {
				unlock, err := h.s.Lock(ctx, "m", time.Minute)
				if errors.Is(err, store.ErrLocked) {
					continue
				}
				if err != nil {
					t.Error(err)
					return
				}
				got.Add(1)
				n := holders.Add(1)
				for {
					m := maxHolders.Load()
					if n <= m || maxHolders.CompareAndSwap(m, n) {
						break
					}
				}
				holders.Add(-1)
				unlock()
			}
		})
	}
	wg.Wait()
	if maxHolders.Load() != 1 || got.Load() == 0 {
		t.Fatalf("max concurrent holders %d, acquisitions %d", maxHolders.Load(), got.Load())
	}
}

func testCancelled(t *testing.T, h *harness) {
	c, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := h.s.SetIntent(c, "m", store.Intent{Op: store.OpRegister, Revision: 1}, false, time.Hour); err == nil {
		t.Fatal("SetIntent with a cancelled context succeeded")
	}
	if err := h.s.Schedule(c, "m", time.Now()); err == nil {
		t.Fatal("Schedule with a cancelled context succeeded")
	}
	if n := pending(t, h.s); n != 0 {
		t.Fatalf("pending %d", n)
	}
}

// testDeleteRecord: a deleted MAC has no record, intent, retry or list
// entry, also after a restart; its neighbours keep theirs; deleting again
// or a MAC never seen is fine.
func testDeleteRecord(t *testing.T, h *harness) {
	for i := range 3 {
		if err := h.s.PutRecord(ctx, &store.Record{MAC: mac(i), Vendor: "snom"}); err != nil {
			t.Fatal(err)
		}
		setIntent(t, h.s, mac(i), store.Intent{Op: store.OpDeregister, Vendor: "snom", Revision: 3}, false, time.Hour)
		if err := h.s.Schedule(ctx, mac(i), time.Now().Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	// An intent with an expiry (deregister of a MAC without a record).
	setIntent(t, h.s, mac(9), store.Intent{Op: store.OpDeregister, Vendor: "snom", Revision: 1}, false, time.Hour)
	for _, m := range []string{mac(1), mac(1), mac(9), "ffffffffffff"} {
		if err := h.s.DeleteRecord(ctx, m); err != nil {
			t.Fatalf("DeleteRecord(%s): %v", m, err)
		}
	}
	check := func() {
		t.Helper()
		if r, err := h.s.Record(ctx, mac(1)); r != nil || err != nil {
			t.Fatalf("record after delete: %+v %v", r, err)
		}
		for _, m := range []string{mac(1), mac(9)} {
			if in, err := h.s.Intent(ctx, m); in != nil || err != nil {
				t.Fatalf("intent of %s after delete: %+v %v", m, in, err)
			}
		}
		if at, err := h.s.ScheduledAt(ctx, mac(1)); !at.IsZero() || err != nil {
			t.Fatalf("still scheduled at %v (%v)", at, err)
		}
		if n, err := h.s.Pending(ctx); n != 2 || err != nil {
			t.Fatalf("pending %d (%v), want 2", n, err)
		}
		recs, _, err := h.s.List(ctx, "", 10, nil)
		if err != nil || len(recs) != 2 || recs[0].MAC != mac(0) || recs[1].MAC != mac(2) {
			t.Fatalf("list after delete: %v %v", recs, err)
		}
		if in, err := h.s.Intent(ctx, mac(2)); in == nil || err != nil {
			t.Fatalf("a neighbour lost its intent: %v", err)
		}
	}
	check()
	h.reopen()
	check()
	// The MAC can come back.
	if err := h.s.PutRecord(ctx, &store.Record{MAC: mac(1), Vendor: "snom"}); err != nil {
		t.Fatal(err)
	}
	if recs, _, _ := h.s.List(ctx, "", 10, nil); len(recs) != 3 {
		t.Fatalf("%d records after re-adding", len(recs))
	}
}
