// Package storetest is the conformance suite every store.Store backend
// passes (after dex's storage/conformance): CRUD, optimistic concurrency,
// unique keys, references, atomic batches, the outbox, paging stability under
// concurrent inserts, lost-update freedom under concurrent writers, and index
// consistency checked against a model after every operation.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/dialtone-voip/dialtone/services/inventory/internal/store"
)

// Run runs the suite. newStore returns an empty store; it is closed by the
// suite (register other cleanup with t.Cleanup).
func Run(t *testing.T, newStore func(t *testing.T) store.Store) {
	run(t, newStore)
}

// run runs the suite against stores made by newStore.
func run(t *testing.T, newStore func(t *testing.T) store.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s store.Store)
	}{
		{"CRUD", testCRUD},
		{"RevisionsIncrease", testRevisions},
		{"IndexTerms", testTerms},
		{"UniqueKeys", testKeys},
		{"References", testRefs},
		{"AtomicBatch", testAtomic},
		{"Outbox", testOutbox},
		{"InvalidBatch", testInvalid},
		{"PagingUnderConcurrentInserts", testPaging},
		{"NoLostUpdates", testLostUpdates},
		{"ModelConsistency", testModel},
		{"ChangeLog", testChangeLog},
		{"ChangeLogConcurrentWriters", testChangeLogConcurrent},
		{"EveryKind", testEveryKind},
	}
	// The change-log tests run only where the backend keeps one (Redis:
	// replicas keep their profile caches coherent by it); bbolt is one
	// process and has none, which is not a skipped test but a capability.
	probe := newStore(t)
	_, hasLog := probe.(store.ChangeLog)
	probe.Close()
	for _, tc := range tests {
		if !hasLog && strings.HasPrefix(tc.name, "ChangeLog") {
			continue
		}
		t.Run(tc.name, func(t *testing.T) {
			s := newStore(t)
			defer s.Close()
			tc.fn(t, s)
		})
	}
}

func put(k store.Kind, id string, expect int64, value string) store.Op {
	return store.Op{Kind: k, ID: id, Expect: expect, Value: []byte(value)}
}

func one(ops ...store.Op) func(int64) (store.Batch, error) {
	return func(int64) (store.Batch, error) { return store.Batch{Ops: ops}, nil }
}

func mustApply(t *testing.T, s store.Store, ops ...store.Op) int64 {
	t.Helper()
	rev, err := s.Apply(context.Background(), one(ops...))
	if err != nil {
		t.Fatalf("Apply: %v", err)
	}
	return rev
}

func wantErr(t *testing.T, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("error = %v, want %v", err, want)
	}
}

func testCRUD(t *testing.T, s store.Store) {
	ctx := context.Background()
	_, err := s.Get(ctx, store.KindPhone, "001565aabbcc")
	wantErr(t, err, store.ErrNotFound)

	rev := mustApply(t, s, put(store.KindPhone, "001565aabbcc", store.ExpectAbsent, "v1"))
	r, err := s.Get(ctx, store.KindPhone, "001565aabbcc")
	if err != nil || string(r.Value) != "v1" || r.Rev != rev || r.Kind != store.KindPhone || r.ID != "001565aabbcc" {
		t.Fatalf("Get = %+v, %v (rev %d)", r, err, rev)
	}
	// Create twice: the id is unique within the kind.
	_, err = s.Apply(ctx, one(put(store.KindPhone, "001565aabbcc", store.ExpectAbsent, "v2")))
	wantErr(t, err, store.ErrExists)
	var oe *store.OpError
	if !errors.As(err, &oe) || oe.Index != 0 || oe.ID != "001565aabbcc" {
		t.Fatalf("OpError = %+v", oe)
	}
	// The same id in another kind is a different record.
	mustApply(t, s, put(store.KindExtension, "001565aabbcc", store.ExpectAbsent, "ext"))

	rev2 := mustApply(t, s, put(store.KindPhone, "001565aabbcc", rev, "v2"))
	if rev2 <= rev {
		t.Fatalf("revision did not grow: %d -> %d", rev, rev2)
	}
	_, err = s.Apply(ctx, one(put(store.KindPhone, "001565aabbcc", rev, "stale")))
	wantErr(t, err, store.ErrConflict)
	_, err = s.Apply(ctx, one(store.Op{Kind: store.KindPhone, ID: "001565aabbcc", Delete: true, Expect: rev}))
	wantErr(t, err, store.ErrConflict)
	_, err = s.Apply(ctx, one(put(store.KindPhone, "000000000001", 5, "x")))
	wantErr(t, err, store.ErrNotFound)

	// ExpectAny upserts.
	mustApply(t, s, put(store.KindPhone, "001565aabbcc", store.ExpectAny, "v3"))
	mustApply(t, s, put(store.KindPhone, "000000000002", store.ExpectAny, "new"))
	r, _ = s.Get(ctx, store.KindPhone, "001565aabbcc")
	if string(r.Value) != "v3" {
		t.Fatalf("upsert value %q", r.Value)
	}
	mustApply(t, s, store.Op{Kind: store.KindPhone, ID: "001565aabbcc", Delete: true, Expect: r.Rev})
	_, err = s.Get(ctx, store.KindPhone, "001565aabbcc")
	wantErr(t, err, store.ErrNotFound)
	_, err = s.Apply(ctx, one(store.Op{Kind: store.KindPhone, ID: "001565aabbcc", Delete: true, Expect: store.ExpectAny}))
	wantErr(t, err, store.ErrNotFound)
	// Binary values survive.
	bin := string([]byte{0, 1, 2, '\n', ' ', 0xff, 0xfe})
	mustApply(t, s, put(store.KindPhone, "bin", store.ExpectAbsent, bin))
	r, _ = s.Get(ctx, store.KindPhone, "bin")
	if string(r.Value) != bin {
		t.Fatalf("binary value changed: %q", r.Value)
	}
}

func testRevisions(t *testing.T, s store.Store) {
	var last int64
	for i := range 20 {
		rev := mustApply(t, s, put(store.KindTenant, "t"+strconv.Itoa(i%3), store.ExpectAny, "x"))
		if rev <= last {
			t.Fatalf("revision %d after %d", rev, last)
		}
		last = rev
	}
	// Concurrent batches still commit in revision order: every record's
	// revision equals the revision its batch returned.
	var wg sync.WaitGroup
	revs := make([]int64, 16)
	for i := range revs {
		wg.Go(func() {
			rev, err := s.Apply(context.Background(), one(put(store.KindTenant, "c"+strconv.Itoa(i), store.ExpectAbsent, "x")))
			if err != nil {
				t.Error(err)
			}
			revs[i] = rev
		})
	}
	wg.Wait()
	seen := map[int64]bool{}
	for i, rev := range revs {
		r, err := s.Get(context.Background(), store.KindTenant, "c"+strconv.Itoa(i))
		if err != nil || r.Rev != rev || rev <= last || seen[rev] {
			t.Fatalf("record %d: rev %d, batch rev %d, err %v", i, r.Rev, rev, err)
		}
		seen[rev] = true
	}
}

func ids(rs []store.Record) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.ID
	}
	return out
}

func list(t *testing.T, s store.Store, k store.Kind, terms ...string) []string {
	t.Helper()
	var out []string
	after := ""
	for {
		rs, err := s.List(context.Background(), store.ListQuery{Kind: k, Terms: terms, After: after, Limit: 3})
		if err != nil {
			t.Fatalf("List: %v", err)
		}
		out = append(out, ids(rs)...)
		if len(rs) < 3 {
			return out
		}
		after = rs[len(rs)-1].ID
	}
}

func testTerms(t *testing.T, s store.Store) {
	ph := func(id string, expect int64, terms ...string) store.Op {
		return store.Op{Kind: store.KindPhone, ID: id, Expect: expect, Terms: terms, Value: []byte(id)}
	}
	mustApply(t, s, ph("a1", 0, "t=acme", "s=1"), ph("a2", 0, "t=acme", "s=2"), ph("b1", 0, "t=beta", "s=1"), ph("c1", 0, "s=1"))
	mustApply(t, s, store.Op{Kind: store.KindExtension, ID: "acme/100", Terms: []string{"t=acme"}, Value: []byte("e")})
	check := func(want []string, terms ...string) {
		t.Helper()
		if got := list(t, s, store.KindPhone, terms...); !slices.Equal(got, want) {
			t.Fatalf("List(%v) = %v, want %v", terms, got, want)
		}
	}
	check([]string{"a1", "a2", "b1", "c1"})
	check([]string{"a1", "a2"}, "t=acme")
	check([]string{"a1", "b1", "c1"}, "s=1")
	check([]string{"a1"}, "t=acme", "s=1")
	check([]string{"a1"}, "s=1", "t=acme")
	check(nil, "t=none")
	// Changing terms moves the record between indexes.
	a1, _ := s.Get(context.Background(), store.KindPhone, "a1")
	mustApply(t, s, ph("a1", a1.Rev, "t=beta", "s=3"))
	check([]string{"a2"}, "t=acme")
	check([]string{"a1", "b1"}, "t=beta")
	check([]string{"b1", "c1"}, "s=1")
	mustApply(t, s, store.Op{Kind: store.KindPhone, ID: "b1", Delete: true, Expect: store.ExpectAny})
	check([]string{"a1"}, "t=beta")
	check([]string{"a1", "a2", "c1"})
	// Paging with After and a limit.
	rs, err := s.List(context.Background(), store.ListQuery{Kind: store.KindPhone, After: "a1", Limit: 1})
	if err != nil || !slices.Equal(ids(rs), []string{"a2"}) {
		t.Fatalf("List after a1: %v %v", ids(rs), err)
	}
	if got := list(t, s, store.KindExtension, "t=acme"); !slices.Equal(got, []string{"acme/100"}) {
		t.Fatalf("extensions: %v", got)
	}
}

func testKeys(t *testing.T, s store.Store) {
	ctx := context.Background()
	ph := func(id string, expect int64, keys ...string) store.Op {
		return store.Op{Kind: store.KindPhone, ID: id, Expect: expect, Keys: keys, Value: []byte(id)}
	}
	mustApply(t, s, ph("p1", 0, "k1", "k2"))
	r, refs, err := s.Resolve(ctx, store.KindPhone, "k2")
	if err != nil || r.ID != "p1" || len(refs) != 0 {
		t.Fatalf("Resolve k2 = %v %v %v", r.ID, refs, err)
	}
	_, _, err = s.Resolve(ctx, store.KindPhone, "k3")
	wantErr(t, err, store.ErrNotFound)
	_, _, err = s.Resolve(ctx, store.KindExtension, "k1")
	wantErr(t, err, store.ErrNotFound)
	_, err = s.Apply(ctx, one(ph("p2", 0, "k3", "k1")))
	wantErr(t, err, store.ErrDuplicateKey)
	if _, err := s.Get(ctx, store.KindPhone, "p2"); !errors.Is(err, store.ErrNotFound) {
		t.Fatal("failed op was applied")
	}
	if _, _, err := s.Resolve(ctx, store.KindPhone, "k3"); !errors.Is(err, store.ErrNotFound) {
		t.Fatal("failed op's key was indexed")
	}
	// The same key in another kind is independent.
	mustApply(t, s, store.Op{Kind: store.KindExtension, ID: "x", Keys: []string{"k1"}, Value: []byte("x")})
	// Releasing a key lets another record take it.
	p1, _ := s.Get(ctx, store.KindPhone, "p1")
	mustApply(t, s, ph("p1", p1.Rev, "k2", "k4"))
	_, _, err = s.Resolve(ctx, store.KindPhone, "k1")
	wantErr(t, err, store.ErrNotFound)
	mustApply(t, s, ph("p2", 0, "k1"))
	if r, _, _ := s.Resolve(ctx, store.KindPhone, "k1"); r.ID != "p2" {
		t.Fatalf("k1 -> %q", r.ID)
	}
	mustApply(t, s, store.Op{Kind: store.KindPhone, ID: "p1", Delete: true, Expect: store.ExpectAny})
	_, _, err = s.Resolve(ctx, store.KindPhone, "k4")
	wantErr(t, err, store.ErrNotFound)
}

func testRefs(t *testing.T, s store.Store) {
	ctx := context.Background()
	ten := store.Ref(store.KindTenant, "acme")
	ext := store.Ref(store.KindExtension, "acme/100")
	phone := func(expect int64, refs ...string) store.Op {
		return store.Op{Kind: store.KindPhone, ID: "p1", Expect: expect, Refs: refs, Keys: []string{"tok"}, Value: []byte("p")}
	}
	_, err := s.Apply(ctx, one(phone(0, ten)))
	wantErr(t, err, store.ErrMissingRef)
	var oe *store.OpError
	if !errors.As(err, &oe) || oe.Detail != ten {
		t.Fatalf("OpError %+v", oe)
	}
	// Target and referrer created in one batch.
	mustApply(t, s,
		store.Op{Kind: store.KindTenant, ID: "acme", Value: []byte("t")},
		store.Op{Kind: store.KindExtension, ID: "acme/100", Refs: []string{ten}, Value: []byte("e")},
		phone(0, ten, ext))
	_, refs, err := s.Resolve(ctx, store.KindPhone, "tok")
	if err != nil || len(refs) != 2 || refs[0].ID != "acme" || refs[1].ID != "acme/100" || string(refs[1].Value) != "e" {
		t.Fatalf("Resolve refs %+v %v", refs, err)
	}
	got, err := s.Referrers(ctx, ten)
	sort.Strings(got)
	if err != nil || !slices.Equal(got, []string{"e:acme/100", "p:p1"}) {
		t.Fatalf("Referrers = %v %v", got, err)
	}
	_, err = s.Apply(ctx, one(store.Op{Kind: store.KindExtension, ID: "acme/100", Delete: true, Expect: store.ExpectAny}))
	wantErr(t, err, store.ErrReferenced)
	_, err = s.Apply(ctx, one(store.Op{Kind: store.KindTenant, ID: "acme", Delete: true, Expect: store.ExpectAny}))
	wantErr(t, err, store.ErrReferenced)
	// A batch deleting a target then writing a referrer to it fails whole.
	_, err = s.Apply(ctx, one(
		store.Op{Kind: store.KindTenant, ID: "other", Value: []byte("t")},
		store.Op{Kind: store.KindPhone, ID: "p2", Refs: []string{store.Ref(store.KindTenant, "gone")}, Value: []byte("p")}))
	wantErr(t, err, store.ErrMissingRef)
	if _, err := s.Get(ctx, store.KindTenant, "other"); !errors.Is(err, store.ErrNotFound) {
		t.Fatal("first op of a failed batch applied")
	}
	// Dropping the reference releases the target.
	p, _ := s.Get(ctx, store.KindPhone, "p1")
	mustApply(t, s, phone(p.Rev, ten))
	if got, _ := s.Referrers(ctx, ext); len(got) != 0 {
		t.Fatalf("stale referrer %v", got)
	}
	mustApply(t, s, store.Op{Kind: store.KindExtension, ID: "acme/100", Delete: true, Expect: store.ExpectAny})
	mustApply(t, s, store.Op{Kind: store.KindPhone, ID: "p1", Delete: true, Expect: store.ExpectAny})
	mustApply(t, s, store.Op{Kind: store.KindTenant, ID: "acme", Delete: true, Expect: store.ExpectAny})
	if got, _ := s.Referrers(ctx, ten); len(got) != 0 {
		t.Fatalf("referrers after delete %v", got)
	}
}

func testAtomic(t *testing.T, s store.Store) {
	ctx := context.Background()
	mustApply(t, s, put(store.KindTenant, "x", 0, "x"))
	_, err := s.Apply(ctx, func(int64) (store.Batch, error) {
		return store.Batch{
			Ops: []store.Op{
				{Kind: store.KindPhone, ID: "a", Terms: []string{"s=1"}, Keys: []string{"ka"}, Value: []byte("a")},
				put(store.KindTenant, "x", 0, "dup"),
			},
			Outbox: []store.Message{{Subject: "s", MsgID: "m", Data: []byte("d")}},
		}, nil
	})
	wantErr(t, err, store.ErrExists)
	var oe *store.OpError
	if !errors.As(err, &oe) || oe.Index != 1 || oe.Kind != store.KindTenant {
		t.Fatalf("OpError %+v", oe)
	}
	if _, err := s.Get(ctx, store.KindPhone, "a"); !errors.Is(err, store.ErrNotFound) {
		t.Fatal("partial batch applied")
	}
	if got := list(t, s, store.KindPhone, "s=1"); len(got) != 0 {
		t.Fatalf("partial index %v", got)
	}
	if _, _, err := s.Resolve(ctx, store.KindPhone, "ka"); !errors.Is(err, store.ErrNotFound) {
		t.Fatal("partial key")
	}
	if ob, _ := s.Outbox(ctx, 10); len(ob) != 0 {
		t.Fatalf("partial outbox %v", ob)
	}
	// An error from build aborts too.
	boom := errors.New("boom")
	_, err = s.Apply(ctx, func(int64) (store.Batch, error) { return store.Batch{}, boom })
	wantErr(t, err, boom)
}

func testOutbox(t *testing.T, s store.Store) {
	ctx := context.Background()
	for i := range 5 {
		_, err := s.Apply(ctx, func(rev int64) (store.Batch, error) {
			return store.Batch{
				Ops:    []store.Op{put(store.KindPhone, "p", store.ExpectAny, "v")},
				Outbox: []store.Message{{Subject: "subj." + strconv.Itoa(i), MsgID: fmt.Sprintf("m-%d", rev), Data: []byte{byte(i), 0, '\n'}}},
			}, nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	ob, err := s.Outbox(ctx, 3)
	if err != nil || len(ob) != 3 {
		t.Fatalf("Outbox = %v %v", ob, err)
	}
	for i, e := range ob {
		if e.Subject != "subj."+strconv.Itoa(i) || !slices.Equal(e.Data, []byte{byte(i), 0, '\n'}) || e.ID == "" {
			t.Fatalf("entry %d = %+v", i, e)
		}
	}
	if err := s.AckOutbox(ctx, ob[0].ID, ob[1].ID, "999999999", "0-1"); err != nil {
		t.Fatal(err)
	}
	ob, _ = s.Outbox(ctx, 10)
	if len(ob) != 3 || ob[0].Subject != "subj.2" {
		t.Fatalf("after ack: %+v", ob)
	}
	// Acking twice is harmless.
	if err := s.AckOutbox(ctx, ob[0].ID); err != nil {
		t.Fatal(err)
	}
	if err := s.AckOutbox(ctx, ob[0].ID); err != nil {
		t.Fatal(err)
	}
	if ob, _ = s.Outbox(ctx, 10); len(ob) != 2 {
		t.Fatalf("after double ack: %d", len(ob))
	}
}

func testInvalid(t *testing.T, s store.Store) {
	bad := []store.Batch{
		{Ops: []store.Op{{Kind: store.KindPhone, ID: ""}}},
		{Ops: []store.Op{{Kind: store.KindPhone, ID: "a b"}}},
		{Ops: []store.Op{{Kind: store.KindPhone, ID: "a", Terms: []string{"x\ny"}}}},
		{Ops: []store.Op{{Kind: store.KindPhone, ID: "a", Refs: []string{"nope"}}}},
		{Ops: []store.Op{{Kind: store.KindPhone, ID: "a"}, {Kind: store.KindPhone, ID: "a"}}},
		{Ops: []store.Op{{Kind: store.KindPhone, ID: "a", Delete: true, Expect: store.ExpectAbsent}}},
	}
	for i, b := range bad {
		_, err := s.Apply(context.Background(), func(int64) (store.Batch, error) { return b, nil })
		if !errors.Is(err, store.ErrInvalid) {
			t.Errorf("batch %d: %v, want ErrInvalid", i, err)
		}
	}
}

func testPaging(t *testing.T, s store.Store) {
	ctx := context.Background()
	const n = 300
	initial := map[string]bool{}
	for i := 0; i < n; i += 50 {
		var ops []store.Op
		for j := i; j < i+50; j++ {
			id := fmt.Sprintf("%06d", j*2)
			initial[id] = true
			ops = append(ops, store.Op{Kind: store.KindPhone, ID: id, Terms: []string{"s=1"}, Value: []byte("v")})
		}
		mustApply(t, s, ops...)
	}
	for _, terms := range [][]string{nil, {"s=1"}} {
		stop := make(chan struct{})
		var wg sync.WaitGroup
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				id := fmt.Sprintf("%06d", rand.IntN(2*n)|1) + strconv.Itoa(len(terms)) + strconv.Itoa(i)
				if _, err := s.Apply(ctx, one(store.Op{Kind: store.KindPhone, ID: id, Terms: []string{"s=1"}, Value: []byte("n")})); err != nil {
					t.Error(err)
					return
				}
			}
		})
		seen := map[string]int{}
		after, last := "", ""
		for {
			rs, err := s.List(ctx, store.ListQuery{Kind: store.KindPhone, Terms: terms, After: after, Limit: 7})
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range rs {
				if r.ID <= last {
					t.Fatalf("out of order: %q after %q", r.ID, last)
				}
				last = r.ID
				seen[r.ID]++
			}
			if len(rs) < 7 {
				break
			}
			after = rs[len(rs)-1].ID
		}
		close(stop)
		wg.Wait()
		for id := range initial {
			if seen[id] != 1 {
				t.Fatalf("terms %v: %s seen %d times", terms, id, seen[id])
			}
		}
	}
}

func testLostUpdates(t *testing.T, s store.Store) {
	ctx := context.Background()
	mustApply(t, s, put(store.KindTenant, "counter", 0, "0"))
	const workers, each = 6, 15
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for range each {
				for {
					r, err := s.Get(ctx, store.KindTenant, "counter")
					if err != nil {
						t.Error(err)
						return
					}
					n, _ := strconv.Atoi(string(r.Value))
					_, err = s.Apply(ctx, one(put(store.KindTenant, "counter", r.Rev, strconv.Itoa(n+1))))
					if err == nil {
						break
					}
					if !errors.Is(err, store.ErrConflict) {
						t.Error(err)
						return
					}
				}
			}
		})
	}
	wg.Wait()
	r, _ := s.Get(ctx, store.KindTenant, "counter")
	if string(r.Value) != strconv.Itoa(workers*each) {
		t.Fatalf("counter = %s, want %d (lost updates)", r.Value, workers*each)
	}
}

// changeLog returns s's ChangeLog (run registers the change-log tests only
// for backends that keep one).
func changeLog(t *testing.T, s store.Store) store.ChangeLog {
	cl, ok := s.(store.ChangeLog)
	if !ok {
		t.Fatal("backend has no change log")
	}
	return cl
}

func changes(t *testing.T, cl store.ChangeLog, since store.Cursor) (store.Cursor, []string, bool) {
	t.Helper()
	next, refs, ok, err := cl.Changes(context.Background(), since)
	if err != nil {
		t.Fatalf("Changes(%v): %v", since, err)
	}
	return next, refs, ok
}

func testChangeLog(t *testing.T, s store.Store) {
	cl := changeLog(t, s)
	ctx := context.Background()
	// A zero cursor never continues. On an empty log there is nothing to
	// continue from; a store that writes at open (sealstore's first data
	// key) yields that batch's cursor.
	if c, refs, ok := changes(t, cl, store.Cursor{}); ok || refs != nil {
		t.Fatalf("fresh log: %v %v %v", c, refs, ok)
	}
	r1 := mustApply(t, s, put(store.KindTenant, "acme", 0, "t"), put(store.KindExtension, "acme/100", 0, "e"))
	// A zero cursor never continues; it yields the last batch.
	c1, refs, ok := changes(t, cl, store.Cursor{})
	if ok || c1.Rev != r1 || c1.Tag == "" || refs != nil {
		t.Fatalf("from zero: %v %v %v", c1, refs, ok)
	}
	if c, refs, ok := changes(t, cl, c1); !ok || c != c1 || len(refs) != 0 {
		t.Fatalf("no change: %v %v %v", c, refs, ok)
	}
	ph := put(store.KindPhone, "p1", 0, "p")
	ph.Refs = []string{"t:acme"}
	r2 := mustApply(t, s, ph)
	// Failed batches are not logged.
	_, err := s.Apply(ctx, one(put(store.KindPhone, "p1", 0, "dup")))
	wantErr(t, err, store.ErrExists)
	r3 := mustApply(t, s, store.Op{Kind: store.KindExtension, ID: "acme/100", Delete: true, Expect: store.ExpectAny})
	c3, refs, ok := changes(t, cl, c1)
	if !ok || c3.Rev != r3 || c3.Tag == "" || c3.Tag == c1.Tag || r3 <= r2 {
		t.Fatalf("after two batches: %v %v %v", c3, refs, ok)
	}
	if want := []string{"p:p1", "e:acme/100"}; !slices.Equal(refs, want) {
		t.Fatalf("refs %v, want %v", refs, want)
	}
	// A cursor the log does not hold — another tag for the revision (a
	// failover's other history), a revision never committed — yields the
	// last batch and ok false.
	for _, bad := range []store.Cursor{{Rev: r3, Tag: "other"}, {Rev: r3 + 100, Tag: c3.Tag}, {Rev: r2 + 1, Tag: c3.Tag}} {
		if c, refs, ok := changes(t, cl, bad); ok || c != c3 || refs != nil {
			t.Fatalf("from %v: %v %v %v", bad, c, refs, ok)
		}
	}
}

// testChangeLogConcurrentWriters: a reader following the log while
// writers commit sees every committed record, in revision order, with
// cursors that only move forward and always continue.
func testChangeLogConcurrent(t *testing.T, s store.Store) {
	cl := changeLog(t, s)
	const writers, each = 4, 25
	first := mustApply(t, s, put(store.KindTenant, "start", 0, "x"))
	cur, _, _ := changes(t, cl, store.Cursor{})
	if cur.Rev != first {
		t.Fatalf("cursor %v, want rev %d", cur, first)
	}
	var wg sync.WaitGroup
	done := make(chan struct{})
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				if _, err := s.Apply(context.Background(), one(put(store.KindPhone, fmt.Sprintf("w%d-%d", w, i), 0, "v"))); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	go func() { wg.Wait(); close(done) }()
	seen := map[string]int{}
	for finished := false; !finished; {
		select {
		case <-done:
			finished = true // one more read after the last commit
		default:
		}
		next, refs, ok := changes(t, cl, cur)
		if !ok || next.Rev < cur.Rev {
			t.Fatalf("from %v: %v ok=%v", cur, next, ok)
		}
		for _, r := range refs {
			seen[r]++
		}
		cur = next
	}
	if len(seen) != writers*each {
		t.Fatalf("saw %d records, want %d", len(seen), writers*each)
	}
	for r, n := range seen {
		if n != 1 {
			t.Fatalf("%s logged %d times", r, n)
		}
	}
}
