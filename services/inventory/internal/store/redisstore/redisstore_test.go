package redisstore_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
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

// TestChangeLogTrimmed: the log keeps at least the configured number of
// revisions; a cursor older than that no longer continues.
func TestChangeLogTrimmed(t *testing.T) {
	srv := redistest.Start(t)
	s := redisstore.New(srv.Client(), "", redisstore.ChangeLogKeep(10))
	ctx := context.Background()
	apply := func(i int) {
		t.Helper()
		if _, err := s.Apply(ctx, func(int64) (store.Batch, error) {
			return store.Batch{Ops: []store.Op{{Kind: store.KindPhone, ID: fmt.Sprintf("p%d", i), Value: []byte("v")}}}, nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	apply(0)
	old, _, _, err := s.Changes(ctx, store.Cursor{})
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 500; i++ {
		apply(i)
	}
	recent, _, _, err := s.Changes(ctx, store.Cursor{})
	if err != nil {
		t.Fatal(err)
	}
	if c, refs, ok, err := s.Changes(ctx, old); err != nil || ok || c != recent || refs != nil {
		t.Fatalf("from a trimmed cursor: %v %v %v %v", c, refs, ok, err)
	}
	n, err := srv.Client().XLen(ctx, "{dt}:cl").Result()
	if err != nil || n < 10 || n > 300 {
		t.Fatalf("log length %d (%v), want at least 10 and trimmed", n, err)
	}
	// Ten revisions back still continues, with every change since.
	back := store.Cursor{Rev: recent.Rev - 9}
	msgs, err := srv.Client().XRangeN(ctx, "{dt}:cl", fmt.Sprintf("%d-0", back.Rev), "+", 1).Result()
	if err != nil || len(msgs) != 1 {
		t.Fatalf("entry %d: %v %v", back.Rev, msgs, err)
	}
	back.Tag, _ = msgs[0].Values["t"].(string)
	if c, refs, ok, err := s.Changes(ctx, back); err != nil || !ok || c != recent || len(refs) != 9 || refs[8] != "p:p500" {
		t.Fatalf("from 9 revisions back: %v %v %v %v", c, refs, ok, err)
	}
}

// TestChangeLogHead: Changes answers a current cursor from the head keys
// (hwm, clh), and does not trust clh alone — a writer that predates it
// moves hwm but leaves clh behind, and a store written before it has none.
func TestChangeLogHead(t *testing.T) {
	srv := redistest.Start(t)
	s := redisstore.New(srv.Client(), "")
	ctx := context.Background()
	apply := func(id string) {
		t.Helper()
		if _, err := s.Apply(ctx, func(int64) (store.Batch, error) {
			return store.Batch{Ops: []store.Op{{Kind: store.KindPhone, ID: id, Value: []byte("v")}}}, nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	apply("a")
	cur, _, _, err := s.Changes(ctx, store.Cursor{})
	if err != nil {
		t.Fatal(err)
	}
	head, err := srv.Client().Get(ctx, "{dt}:clh").Result()
	if want := fmt.Sprintf("%d %s", cur.Rev, cur.Tag); err != nil || head != want {
		t.Fatalf("clh = %q (%v), want %q", head, err, want)
	}
	if c, refs, ok, err := s.Changes(ctx, cur); err != nil || !ok || c != cur || len(refs) != 0 {
		t.Fatalf("current cursor: %v %v %v %v", c, refs, ok, err)
	}
	// An older writer commits b without touching clh.
	apply("b")
	if err := srv.Client().Set(ctx, "{dt}:clh", head, 0).Err(); err != nil {
		t.Fatal(err)
	}
	if c, refs, ok, err := s.Changes(ctx, cur); err != nil || !ok || c.Rev <= cur.Rev || !slices.Equal(refs, []string{"p:b"}) {
		t.Fatalf("after a commit that left clh behind: %v %v %v %v", c, refs, ok, err)
	}
	// No clh at all: the log is read.
	next, _, _, _ := s.Changes(ctx, cur)
	if err := srv.Client().Del(ctx, "{dt}:clh").Err(); err != nil {
		t.Fatal(err)
	}
	if c, refs, ok, err := s.Changes(ctx, next); err != nil || !ok || c != next || len(refs) != 0 {
		t.Fatalf("without clh: %v %v %v %v", c, refs, ok, err)
	}
}

// TestSealing: the conformance suite over sealstore, and an RDB snapshot
// (SAVE, uncompressed so a plaintext would be visible) of a seeded store
// holds none of the seeded secrets.
func TestSealing(t *testing.T) {
	storetest.RunSealing(t, func(t *testing.T) (store.Store, storetest.Dumper) {
		srv := redistest.Start(t, redistest.Args("--rdbcompression", "no", "--dbfilename", "dump.rdb"))
		return redisstore.New(srv.Client(), ""), func(t *testing.T) []byte {
			if err := srv.Client().Save(context.Background()).Err(); err != nil {
				t.Fatal(err)
			}
			b, err := os.ReadFile(filepath.Join(srv.DataDir(), "dump.rdb"))
			if err != nil {
				t.Fatal(err)
			}
			return b
		}
	})
}
