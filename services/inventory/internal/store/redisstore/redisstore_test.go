package redisstore_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"testing"

	"github.com/dialtone-voip/dialtone/platform/testenv/redistest"
	"github.com/dialtone-voip/dialtone/services/inventory/internal/store"
	"github.com/dialtone-voip/dialtone/services/inventory/internal/store/redisstore"
	"github.com/dialtone-voip/dialtone/services/inventory/internal/store/storetest"
)

func TestConformance(t *testing.T) {
	srv := redistest.Start(t)
	n := 0
	storetest.Run(t, func(t *testing.T) store.Store {
		// One server, a fresh key prefix per test.
		n++
		return redisstore.New(srv.Client(), fmt.Sprintf("{t%d}:", n))
	})
}

// TestDurableWithAOFAlways: with appendfsync always, every write Apply
// acknowledged survives a kill -9 of redis-server.
func TestDurableWithAOFAlways(t *testing.T) {
	srv := redistest.Start(t, redistest.AOF("always"))
	s := redisstore.New(srv.Client(), "")
	ctx := context.Background()
	const n = 200
	for i := range n {
		_, err := s.Apply(ctx, func(int64) (store.Batch, error) {
			return store.Batch{
				Ops:    []store.Op{{Kind: store.KindPhone, ID: fmt.Sprintf("%012d", i), Terms: []string{"s=1"}, Keys: []string{"k" + strconv.Itoa(i)}, Value: []byte("v")}},
				Outbox: []store.Message{{Subject: "s", MsgID: strconv.Itoa(i), Data: []byte("d")}},
			}, nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	srv.Kill()
	srv.Restart()
	for i := range n {
		if _, _, err := s.Resolve(ctx, store.KindPhone, "k"+strconv.Itoa(i)); err != nil {
			t.Fatalf("acknowledged write %d lost: %v", i, err)
		}
	}
	recs, err := s.List(ctx, store.ListQuery{Kind: store.KindPhone, Terms: []string{"s=1"}, Limit: 1000})
	if err != nil || len(recs) != n {
		t.Fatalf("listed %d after restart, %v", len(recs), err)
	}
	ob, err := s.Outbox(ctx, 1000)
	if err != nil || len(ob) != n {
		t.Fatalf("outbox %d after restart, %v", len(ob), err)
	}
	// The revision counter continues above every committed revision.
	rev, err := s.Apply(ctx, func(int64) (store.Batch, error) {
		return store.Batch{Ops: []store.Op{{Kind: store.KindTenant, ID: "after", Value: []byte("x")}}}, nil
	})
	if err != nil || rev <= recs[len(recs)-1].Rev {
		t.Fatalf("revision after restart %d, %v", rev, err)
	}
}

// TestUnavailable: with redis-server gone, calls fail with ErrUnavailable
// (not hang, not succeed), and work again after a restart.
func TestUnavailable(t *testing.T) {
	srv := redistest.Start(t, redistest.AOF("always"))
	s := redisstore.New(srv.Client(), "")
	ctx := context.Background()
	srv.Kill()
	_, err := s.Apply(ctx, func(int64) (store.Batch, error) {
		return store.Batch{Ops: []store.Op{{Kind: store.KindTenant, ID: "x", Value: []byte("x")}}}, nil
	})
	if !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("Apply with redis down: %v", err)
	}
	if _, err := s.Get(ctx, store.KindTenant, "x"); !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("Get with redis down: %v", err)
	}
	srv.Restart()
	if _, err := s.Get(ctx, store.KindTenant, "x"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Get after restart: %v", err)
	}
}
