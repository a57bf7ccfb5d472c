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
