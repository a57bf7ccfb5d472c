package store

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/dialtone-voip/dialtone/platform/testenv/redistest"
	rpsv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/rps/v1"
)

func newStore(t *testing.T) (*Store, *redistest.Server) {
	srv := redistest.Start(t)
	return New(srv.Client(), "t:"), srv
}

func TestIntentRevisionGuard(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	mac := "001565aabbcc"
	// A deregister for a MAC without a record: stored briefly, nothing to do.
	n, err := s.SetIntent(ctx, mac, Intent{Op: OpDeregister, Revision: 3}, false, time.Hour)
	if err != nil || n != IntentNoOp {
		t.Fatalf("dereg without record = %d, %v", n, err)
	}
	// An older register must not override it.
	if n, _ := s.SetIntent(ctx, mac, Intent{Op: OpRegister, Revision: 2}, false, time.Hour); n != IntentStale {
		t.Fatalf("older register = %d, want stale", n)
	}
	if n, _ := s.SetIntent(ctx, mac, Intent{Op: OpRegister, Revision: 4, Vendor: "yealink"}, false, time.Hour); n != IntentStored {
		t.Fatalf("newer register = %d", n)
	}
	// Redelivery of the same revision is stored again (idempotent).
	if n, _ := s.SetIntent(ctx, mac, Intent{Op: OpRegister, Revision: 4, Vendor: "yealink"}, false, time.Hour); n != IntentStored {
		t.Fatalf("same revision = %d", n)
	}
	in, err := s.Intent(ctx, mac)
	if err != nil || in.Op != OpRegister || in.Revision != 4 {
		t.Fatalf("intent %+v %v", in, err)
	}
	// A manual (forced) intent is stored whatever the revision.
	if n, _ := s.SetIntent(ctx, mac, Intent{Op: OpDeregister, Revision: 1, Manual: true}, true, time.Hour); n == IntentStale {
		t.Fatal("forced intent refused")
	}
	if err := s.PutRecord(ctx, &Record{MAC: mac, State: rpsv1.RegistrationState_REGISTRATION_STATE_REGISTERED}); err != nil {
		t.Fatal(err)
	}
	if n, _ := s.SetIntent(ctx, mac, Intent{Op: OpDeregister, Revision: 5}, false, time.Hour); n != IntentStored {
		t.Fatalf("dereg with record = %d, want stored", n)
	}
}

func TestRecordsAndPaging(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	for i := 0; i < 25; i++ {
		v := "yealink"
		if i%2 == 1 {
			v = "snom"
		}
		if err := s.PutRecord(ctx, &Record{MAC: fmt.Sprintf("0015650000%02d", i), Vendor: v, RegisteredURL: "u"}); err != nil {
			t.Fatal(err)
		}
	}
	var all []*Record
	after := ""
	for pages := 0; ; pages++ {
		recs, next, err := s.List(ctx, after, 4, func(r *Record) bool { return r.Vendor == "snom" })
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, recs...)
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
	for i := 1; i < len(all); i++ {
		if all[i-1].MAC >= all[i].MAC {
			t.Fatal("not in MAC order")
		}
	}
	r, err := s.Record(ctx, "001565000003")
	if err != nil || r.Vendor != "snom" {
		t.Fatalf("%+v %v", r, err)
	}
	if r, err := s.Record(ctx, "ffffffffffff"); r != nil || err != nil {
		t.Fatal("missing record")
	}
}

func TestScheduleSurvivesRestart(t *testing.T) {
	srv := redistest.Start(t, redistest.AOF("always"))
	s := New(srv.Client(), "t:")
	ctx := context.Background()
	now := time.Now()
	if err := s.Schedule(ctx, "a", now.Add(-time.Second)); err != nil {
		t.Fatal(err)
	}
	if err := s.Schedule(ctx, "b", now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	srv.Restart()
	due, err := s.Due(ctx, now, 10)
	if err != nil || len(due) != 1 || due[0] != "a" {
		t.Fatalf("due %v %v", due, err)
	}
	at, _ := s.ScheduledAt(ctx, "b")
	if at.UnixMilli() != now.Add(time.Hour).UnixMilli() {
		t.Fatalf("b at %v", at)
	}
	if err := s.Unschedule(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	if n, _ := s.Pending(ctx); n != 1 {
		t.Fatalf("pending %d", n)
	}
}

func TestLock(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	unlock, err := s.Lock(ctx, "m", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Lock(ctx, "m", time.Minute); !errors.Is(err, ErrLocked) {
		t.Fatalf("second lock: %v", err)
	}
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
	if _, err := s.Lock(ctx, "m", time.Minute); !errors.Is(err, ErrLocked) {
		t.Fatal("stale release freed a live lock")
	}
	unlock3()
}
