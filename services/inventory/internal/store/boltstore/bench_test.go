package boltstore_test

import (
	"context"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/dialtone-voip/dialtone/services/inventory/internal/store"
	"github.com/dialtone-voip/dialtone/services/inventory/internal/store/boltstore"
)

// BenchmarkApply measures acknowledged (fsynced) single-record batches,
// from one writer and from many (which share commits).
func BenchmarkApply(b *testing.B) {
	b.Run("sequential", func(b *testing.B) {
		s, err := boltstore.Open(filepath.Join(b.TempDir(), "inv.db"))
		if err != nil {
			b.Fatal(err)
		}
		defer s.Close()
		for i := range b.N {
			id := fmt.Sprintf("%012d", i)
			if _, err := s.Apply(context.Background(), func(int64) (store.Batch, error) {
				return store.Batch{Ops: []store.Op{{Kind: store.KindPhone, ID: id, Terms: []string{"s=1"}, Value: make([]byte, 300)}}}, nil
			}); err != nil {
				b.Fatal(err)
			}
		}
	})
	for _, par := range []int{1, 16, 128} {
		b.Run(fmt.Sprintf("writers=%dxGOMAXPROCS", par), func(b *testing.B) {
			s, err := boltstore.Open(filepath.Join(b.TempDir(), "inv.db"))
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			var n atomic.Int64
			b.SetParallelism(par)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					id := fmt.Sprintf("%012d", n.Add(1))
					_, err := s.Apply(context.Background(), func(int64) (store.Batch, error) {
						return store.Batch{Ops: []store.Op{{Kind: store.KindPhone, ID: id, Terms: []string{"s=1"}, Value: make([]byte, 300)}},
							Outbox: []store.Message{{Subject: "s", MsgID: id, Data: make([]byte, 300)}}}, nil
					})
					if err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

// BenchmarkUpdateKeepingIndexes: the write a phone's fetch or discovery
// makes — its record changes, its index entries (state, vendor, tenant
// terms, token key, tenant and extension refs) do not — among 10,000
// phones. The store leaves entries a record keeps untouched (a boot
// storm's commits were a third Put/Delete of unchanged entries); the
// "changing" case moves the state term each time for comparison.
func BenchmarkUpdateKeepingIndexes(b *testing.B) {
	for _, changing := range []bool{false, true} {
		b.Run(fmt.Sprintf("state_term_changes=%v", changing), func(b *testing.B) {
			s, err := boltstore.Open(filepath.Join(b.TempDir(), "inv.db"))
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			ctx := context.Background()
			if _, err := s.Apply(ctx, func(int64) (store.Batch, error) {
				return store.Batch{Ops: []store.Op{{Kind: store.KindTenant, ID: "t", Value: []byte("t")}, {Kind: store.KindExtension, ID: "t/101", Value: []byte("x")}}}, nil
			}); err != nil {
				b.Fatal(err)
			}
			const phones = 10000
			op := func(i, state int, expect int64) store.Op {
				return store.Op{Kind: store.KindPhone, ID: fmt.Sprintf("%012x", i), Expect: expect,
					Terms: []string{fmt.Sprintf("s=%d", state), "v=yealink", "t=t"},
					Keys:  []string{fmt.Sprintf("token-%d", i)},
					Refs:  []string{store.Ref(store.KindTenant, "t"), store.Ref(store.KindExtension, "t/101")},
					Value: make([]byte, 600)}
			}
			revs := make([]int64, phones)
			for lo := 0; lo < phones; lo += 500 {
				rev, err := s.Apply(ctx, func(int64) (store.Batch, error) {
					var bt store.Batch
					for i := lo; i < lo+500; i++ {
						bt.Ops = append(bt.Ops, op(i, 1, store.ExpectAbsent))
					}
					return bt, nil
				})
				if err != nil {
					b.Fatal(err)
				}
				for i := lo; i < lo+500; i++ {
					revs[i] = rev
				}
			}
			b.ResetTimer()
			for n := range b.N {
				i, state := n%phones, 1
				if changing {
					state = 2 + n%2
				}
				rev, err := s.Apply(ctx, func(int64) (store.Batch, error) {
					return store.Batch{Ops: []store.Op{op(i, state, revs[i])}}, nil
				})
				if err != nil {
					b.Fatal(err)
				}
				revs[i] = rev
			}
		})
	}
}
