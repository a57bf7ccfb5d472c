package storetest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"testing"

	"github.com/dialtone-voip/dialtone/services/inventory/internal/store"
)

// model is the reference semantics of a store: records by Ref.
type model map[string]store.Record

func (m model) clone() model {
	c := make(model, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}

// apply applies a batch the way every backend must: ops in order, each
// seeing the ones before it, all or nothing.
func (m model) apply(b store.Batch, rev int64) (model, error) {
	next := m.clone()
	for i, op := range b.Ops {
		self := store.Ref(op.Kind, op.ID)
		cur, exists := next[self]
		fail := func(err error) (model, error) { return m, &store.OpError{Index: i, Kind: op.Kind, ID: op.ID, Err: err} }
		switch {
		case op.Expect == store.ExpectAny:
			if op.Delete && !exists {
				return fail(store.ErrNotFound)
			}
		case op.Expect == store.ExpectAbsent:
			if exists {
				return fail(store.ErrExists)
			}
		default:
			if !exists {
				return fail(store.ErrNotFound)
			}
			if cur.Rev != op.Expect {
				return fail(store.ErrConflict)
			}
		}
		if op.Delete {
			for _, r := range next {
				if slices.Contains(r.Refs, self) {
					return fail(store.ErrReferenced)
				}
			}
			delete(next, self)
			continue
		}
		for _, k := range op.Keys {
			for ref, r := range next {
				if ref != self && r.Kind == op.Kind && slices.Contains(r.Keys, k) {
					return fail(store.ErrDuplicateKey)
				}
			}
		}
		for _, r := range op.Refs {
			if _, ok := next[r]; !ok {
				return fail(store.ErrMissingRef)
			}
		}
		next[self] = store.Record{Kind: op.Kind, ID: op.ID, Rev: rev, Terms: op.Terms, Keys: op.Keys, Refs: op.Refs, Value: op.Value}
	}
	return next, nil
}

func sameErr(got, want error) bool {
	for _, e := range []error{store.ErrNotFound, store.ErrExists, store.ErrConflict, store.ErrDuplicateKey, store.ErrReferenced, store.ErrMissingRef} {
		if errors.Is(want, e) {
			var ge, we *store.OpError
			return errors.Is(got, e) && errors.As(got, &ge) && errors.As(want, &we) && ge.Index == we.Index
		}
	}
	return got == nil && want == nil
}

// check compares every read path of s with m: Get of each record and of
// deleted ones, List of each kind and each term, Resolve of each key, and
// Referrers of each record. An index pointing at a missing record, or a
// record missing from an index, fails here.
func (m model) check(t *testing.T, s store.Store, ids []string, kinds []store.Kind, terms, keys []string) {
	t.Helper()
	ctx := context.Background()
	for _, k := range kinds {
		for _, id := range ids {
			want, ok := m[store.Ref(k, id)]
			got, err := s.Get(ctx, k, id)
			if !ok {
				if !errors.Is(err, store.ErrNotFound) {
					t.Fatalf("Get %c:%s = %v, want not found", k, id, err)
				}
			} else if err != nil || !equalRec(got, want) {
				t.Fatalf("Get %c:%s = %+v %v, want %+v", k, id, got, err, want)
			}
			var wantRefs []string
			for ref, r := range m {
				if slices.Contains(r.Refs, store.Ref(k, id)) {
					wantRefs = append(wantRefs, ref)
				}
			}
			gotRefs, err := s.Referrers(ctx, store.Ref(k, id))
			sort.Strings(wantRefs)
			sort.Strings(gotRefs)
			if err != nil || !slices.Equal(gotRefs, wantRefs) {
				t.Fatalf("Referrers %c:%s = %v %v, want %v", k, id, gotRefs, err, wantRefs)
			}
		}
		for _, tl := range append([][]string{nil}, func() (o [][]string) {
			for _, x := range terms {
				o = append(o, []string{x})
			}
			return append(o, terms[:2])
		}()...) {
			var want []string
			for _, r := range m {
				if r.Kind == k && r.HasTerms(tl) {
					want = append(want, r.ID)
				}
			}
			sort.Strings(want)
			if got := list(t, s, k, tl...); !slices.Equal(got, want) {
				t.Fatalf("List %c %v = %v, want %v", k, tl, got, want)
			}
		}
		for _, key := range keys {
			var want *store.Record
			for _, r := range m {
				if r.Kind == k && slices.Contains(r.Keys, key) {
					want = &r
				}
			}
			got, refs, err := s.Resolve(ctx, k, key)
			if want == nil {
				if !errors.Is(err, store.ErrNotFound) {
					t.Fatalf("Resolve %c %s = %v %v, want not found", k, key, got.ID, err)
				}
				continue
			}
			if err != nil || !equalRec(got, *want) || len(refs) != m.resolved(*want) {
				t.Fatalf("Resolve %c %s = %+v %d %v, want %+v", k, key, got, len(refs), err, *want)
			}
		}
	}
}

func equalRec(a, b store.Record) bool {
	return a.Kind == b.Kind && a.ID == b.ID && a.Rev == b.Rev && string(a.Value) == string(b.Value) &&
		slices.Equal(a.Terms, b.Terms) && slices.Equal(a.Keys, b.Keys) && slices.Equal(a.Refs, b.Refs)
}

func subset(r *rand.Rand, from []string) []string {
	var out []string
	for _, x := range from {
		if r.IntN(3) == 0 {
			out = append(out, x)
		}
	}
	return out
}

// testModel runs random batches against the store and the model and
// compares results and every index after each one.
func testModel(t *testing.T, s store.Store) {
	r := rand.New(rand.NewPCG(1, 2))
	ids := []string{"a", "b", "c"}
	kinds := []store.Kind{store.KindTenant, store.KindExtension, store.KindPhone}
	terms := []string{"x=1", "x=2", "y=1"}
	keys := []string{"k1", "k2", "k3"}
	var refs []string
	for _, k := range kinds {
		for _, id := range ids {
			refs = append(refs, store.Ref(k, id))
		}
	}
	m := model{}
	var lastRev int64
	steps := 300
	if testing.Short() {
		steps = 60
	}
	for step := range steps {
		var b store.Batch
		used := map[string]bool{}
		for range 1 + r.IntN(3) {
			k, id := kinds[r.IntN(len(kinds))], ids[r.IntN(len(ids))]
			self := store.Ref(k, id)
			if used[self] {
				continue
			}
			used[self] = true
			op := store.Op{Kind: k, ID: id, Delete: r.IntN(4) == 0}
			cur, exists := m[self]
			switch r.IntN(4) {
			case 0:
				op.Expect = store.ExpectAny
			case 1:
				op.Expect = store.ExpectAbsent
			case 2:
				op.Expect = lastRev + 1000 // stale or missing
				if exists {
					op.Expect = cur.Rev - 1
				}
			default:
				op.Expect = store.ExpectAny
				if exists {
					op.Expect = cur.Rev
				}
			}
			if op.Delete && op.Expect == store.ExpectAbsent {
				op.Expect = store.ExpectAny
			}
			if op.Expect < store.ExpectAny {
				op.Expect = store.ExpectAny
			}
			if !op.Delete {
				op.Terms, op.Keys = subset(r, terms), subset(r, keys)
				for _, ref := range subset(r, refs) {
					if ref != self {
						op.Refs = append(op.Refs, ref)
					}
				}
				op.Value = fmt.Appendf(nil, "v%d", step)
			}
			b.Ops = append(b.Ops, op)
		}
		if len(b.Ops) == 0 {
			continue
		}
		rev, err := s.Apply(context.Background(), func(int64) (store.Batch, error) { return b, nil })
		next, wantErr := m.apply(b, rev)
		if !sameErr(err, wantErr) {
			t.Fatalf("step %d: batch %+v: error %v, want %v", step, b.Ops, err, wantErr)
		}
		if err == nil {
			if rev <= lastRev {
				t.Fatalf("step %d: revision %d after %d", step, rev, lastRev)
			}
			lastRev = rev
			m = next
		}
		m.check(t, s, ids, kinds, terms, keys)
	}
}

// resolved counts the records Resolve returns for r: its existing references.
func (m model) resolved(r store.Record) int {
	n := 0
	for _, ref := range r.Refs {
		if _, ok := m[ref]; ok {
			n++
		}
	}
	return n
}
