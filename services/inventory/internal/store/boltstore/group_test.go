package boltstore_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	"github.com/dialtone-voip/dialtone/services/inventory/internal/store"
	"github.com/dialtone-voip/dialtone/services/inventory/internal/store/boltstore"
)

// TestGroupCommit: concurrent Applies share commits (group commit), and a
// write that fails — an error, a panic, a conflict with a write of its own
// group — fails alone: every other write commits, each with its own
// revision, and nothing of the failed ones is stored, also after a reopen.
func TestGroupCommit(t *testing.T) {
	path := filepath.Join(t.TempDir(), "inv.db")
	s, err := boltstore.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	put := func(id string, expect int64) func(int64) (store.Batch, error) {
		return func(int64) (store.Batch, error) {
			return store.Batch{Ops: []store.Op{{Kind: store.KindPhone, ID: id, Expect: expect, Terms: []string{"s=1"}, Value: []byte(id)}}}, nil
		}
	}
	const n = 400
	errBuild := errors.New("build refused")
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		revs []int64
		errs = map[string]error{}
	)
	for i := range n {
		wg.Go(func() {
			id := fmt.Sprintf("%012d", i)
			build := put(id, store.ExpectAbsent)
			switch i % 50 {
			case 7:
				build = func(int64) (store.Batch, error) { return store.Batch{}, errBuild }
			case 11:
				build = func(int64) (store.Batch, error) { panic("a bug in a write") }
			case 13:
				// Both create "dup": one of them must get ErrExists.
				build = put("dup", store.ExpectAbsent)
			}
			rev, err := s.Apply(ctx, build)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs[id] = err
				return
			}
			revs = append(revs, rev)
		})
	}
	wg.Wait()
	var built, panicked, exists int
	for id, err := range errs {
		switch {
		case errors.Is(err, errBuild):
			built++
		case errors.Is(err, store.ErrExists):
			exists++
		case err != nil && err.Error() == "boltstore: panic in a write: a bug in a write":
			panicked++
		default:
			t.Errorf("%s: unexpected error %v", id, err)
		}
	}
	if built != n/50 || panicked != n/50 || exists != n/50-1 {
		t.Errorf("failed writes: %d build errors, %d panics, %d ErrExists; want %d, %d, %d", built, panicked, exists, n/50, n/50, n/50-1)
	}
	slices.Sort(revs)
	if len(revs) != n-len(errs) || len(slices.Compact(slices.Clone(revs))) != len(revs) {
		t.Fatalf("%d revisions (%d distinct) for %d committed writes", len(revs), len(slices.Compact(slices.Clone(revs))), n-len(errs))
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if s, err = boltstore.Open(path); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for i := range n {
		id := fmt.Sprintf("%012d", i)
		_, err := s.Get(ctx, store.KindPhone, id)
		_, failed := errs[id]
		switch {
		case i%50 == 13 && err == nil:
			t.Errorf("%s stored; its write was of \"dup\"", id)
		case i%50 != 13 && failed && err == nil:
			t.Errorf("%s stored after its write failed", id)
		case i%50 != 13 && !failed && err != nil:
			t.Errorf("%s: committed write not found after reopen: %v", id, err)
		}
	}
	if r, err := s.Get(ctx, store.KindPhone, "dup"); err != nil || r.Rev == 0 {
		t.Errorf("dup = %+v, %v; want it stored once", r, err)
	}
}
