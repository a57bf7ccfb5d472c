package boltstore

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/dialtone-voip/dialtone/services/rps-client/internal/store"
)

// Expired no-record intents are removed from the file (not only hidden),
// so phones that were never registered leave no state behind.
func TestExpiredIntentsAreSwept(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "rps.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	now := time.Unix(1_800_000_000, 0)
	s.now = func() time.Time { return now }
	ctx := context.Background()
	const n = sweepBatch + 44
	for i := range n {
		if r, err := s.SetIntent(ctx, fmt.Sprintf("m%04d", i), store.Intent{Op: store.OpDeregister, Revision: 1}, false, time.Hour); err != nil || r != store.IntentNoOp {
			t.Fatalf("%d %v", r, err)
		}
	}
	// One of them is rewritten as a register: it must survive the sweep.
	if r, _ := s.SetIntent(ctx, "m0000", store.Intent{Op: store.OpRegister, Revision: 2}, false, time.Hour); r != store.IntentStored {
		t.Fatalf("register = %d", r)
	}
	if got := s.count(t, bIntent); got != n {
		t.Fatalf("%d intents", got)
	}
	now = now.Add(time.Hour)
	for range 2 { // each write sweeps at most sweepBatch
		if _, err := s.SetIntent(ctx, "x", store.Intent{Op: store.OpRegister, Revision: 1}, false, time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	if got := s.count(t, bIntent); got != 2 { // m0000 and x
		t.Fatalf("%d intents left, want 2", got)
	}
	if got := s.count(t, bIntentExp); got != 0 {
		t.Fatalf("%d expiry entries left", got)
	}
	if in, _ := s.Intent(ctx, "m0000"); in == nil || in.Revision != 2 {
		t.Fatalf("register swept: %+v", in)
	}
}

// Lock TTLs follow the store's clock.
func TestLockExpiresWithClock(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "rps.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	now := time.Unix(1_800_000_000, 0)
	s.now = func() time.Time { return now }
	ctx := context.Background()
	if _, err := s.Lock(ctx, "m", time.Minute); err != nil {
		t.Fatal(err)
	}
	now = now.Add(59 * time.Second)
	if _, err := s.Lock(ctx, "m", time.Minute); err != store.ErrLocked {
		t.Fatalf("lock before expiry: %v", err)
	}
	now = now.Add(time.Second)
	if _, err := s.Lock(ctx, "m", time.Minute); err != nil {
		t.Fatalf("lock after expiry: %v", err)
	}
}

func (s *Store) count(t *testing.T, bucket []byte) int {
	t.Helper()
	var n int
	if err := s.db.View(func(tx *bolt.Tx) error { n = tx.Bucket(bucket).Stats().KeyN; return nil }); err != nil {
		t.Fatal(err)
	}
	return n
}
