package lru

import (
	"fmt"
	"testing"
	"time"
)

func TestBoundAndRecency(t *testing.T) {
	c := New[int, string](shards*4, time.Hour)
	for i := 0; i < 10000; i++ {
		c.Add(i, fmt.Sprint(i), "", 1, 0)
		if c.Cost() > shards*4 {
			t.Fatalf("cost %d above capacity", c.Cost())
		}
	}
	if !c.Contains(9999) {
		t.Fatal("most recent entry evicted")
	}
	if c.Contains(0) {
		t.Fatal("oldest entry kept")
	}
}

func TestCostInBytes(t *testing.T) {
	c := New[string, []byte](shards*100, time.Hour)
	c.Add("big", make([]byte, 101), "", 101, 0)
	if c.Contains("big") {
		t.Fatal("entry larger than a shard stored")
	}
	c.Add("ok", make([]byte, 50), "", 50, 0)
	if v, ok := c.Get("ok"); !ok || len(v) != 50 {
		t.Fatal("entry lost")
	}
}

func TestTTL(t *testing.T) {
	c := New[string, int](100, time.Minute)
	now := time.Unix(0, 0)
	c.now = func() time.Time { return now }
	c.Add("a", 1, "", 1, 0)
	c.Add("b", 2, "", 1, 10*time.Second)
	now = now.Add(30 * time.Second)
	if !c.Contains("a") || c.Contains("b") {
		t.Fatal("per-entry TTL not honoured")
	}
	now = now.Add(31 * time.Second)
	if c.Contains("a") {
		t.Fatal("expired entry returned")
	}
}

func TestRemoveTag(t *testing.T) {
	c := New[int, int](1000, time.Hour)
	for i := 0; i < 100; i++ {
		tag := "even"
		if i%2 == 1 {
			tag = "odd"
		}
		c.Add(i, i, tag, 1, 0)
	}
	if n := c.RemoveTag("odd"); n != 50 {
		t.Fatalf("RemoveTag removed %d, want 50", n)
	}
	if c.Contains(1) || !c.Contains(2) || c.Len() != 50 {
		t.Fatal("wrong entries removed")
	}
	// Re-adding under another tag moves the key.
	c.Add(2, 2, "odd", 1, 0)
	c.RemoveTag("even")
	if !c.Contains(2) {
		t.Fatal("re-tagged entry removed with its old tag")
	}
}

func TestZeroCapacityStoresNothing(t *testing.T) {
	c := New[int, int](0, time.Hour)
	c.Add(1, 1, "", 1, 0)
	if c.Contains(1) {
		t.Fatal("stored with capacity 0")
	}
}
