package throttle

import (
	"net/netip"
	"testing"
	"time"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func TestBackoffGrowsAndEnds(t *testing.T) {
	tb := New(Config{Size: 64, Threshold: 3, Leak: 0.001, Base: time.Second, Max: 8 * time.Second, Forget: time.Hour})
	src := netip.MustParseAddr("192.0.2.1")
	now := t0
	for i := 0; i < 3; i++ {
		if b, _ := tb.Fail(src, now); b {
			t.Fatalf("blocked after %d failures, threshold 3", i+1)
		}
	}
	var blocks []time.Duration
	for i := 0; i < 6; i++ {
		b, d := tb.Fail(src, now)
		if !b {
			t.Fatalf("not blocked at strike %d", i+1)
		}
		blocks = append(blocks, d)
		if blocked, _ := tb.Blocked(src, now.Add(d-time.Millisecond)); !blocked {
			t.Fatalf("block ended early")
		}
		now = now.Add(d) // the block has ended
		if blocked, _ := tb.Blocked(src, now); blocked {
			t.Fatalf("block %d did not end after %v", i+1, d)
		}
	}
	want := []time.Duration{1, 2, 4, 8, 8, 8}
	for i := range want {
		if blocks[i] != want[i]*time.Second {
			t.Fatalf("blocks = %v, want %v seconds", blocks, want)
		}
	}
	// After Forget without failures everything is forgiven.
	now = now.Add(time.Hour)
	if b, _ := tb.Fail(src, now); b {
		t.Fatal("still blocked after the forget period")
	}
}

func TestLeakForgivesSlowFailures(t *testing.T) {
	tb := New(Config{Size: 64, Threshold: 5, Leak: 1})
	src := netip.MustParseAddr("192.0.2.1")
	now := t0
	for i := 0; i < 1000; i++ { // one failure every 2 s stays below the threshold
		if b, _ := tb.Fail(src, now); b {
			t.Fatalf("blocked at %d though failures leak faster than they come", i)
		}
		now = now.Add(2 * time.Second)
	}
}

func TestIPv6ByPrefix(t *testing.T) {
	tb := New(Config{Size: 64, Threshold: 1})
	tb.Fail(netip.MustParseAddr("2001:db8::1"), t0)
	tb.Fail(netip.MustParseAddr("2001:db8::2"), t0)
	if b, _ := tb.Blocked(netip.MustParseAddr("2001:db8::ffff"), t0); !b {
		t.Fatal("addresses of one /64 are not throttled together")
	}
	if b, _ := tb.Blocked(netip.MustParseAddr("2001:db8:0:1::1"), t0); b {
		t.Fatal("another /64 is blocked")
	}
	if b, _ := tb.Blocked(netip.MustParseAddr("::ffff:192.0.2.9"), t0); b {
		t.Fatal("unrelated v4-mapped address blocked")
	}
}

func TestBoundedUnderRotation(t *testing.T) {
	tb := New(Config{Size: 256, Threshold: 2})
	now := t0
	var blocked netip.Addr = netip.MustParseAddr("198.51.100.7")
	for i := 0; i < 5; i++ {
		tb.Fail(blocked, now)
	}
	for i := 0; i < 100000; i++ {
		a := netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
		tb.Fail(a, now)
		if tb.Len() > tb.Cap() {
			t.Fatalf("table holds %d > cap %d", tb.Len(), tb.Cap())
		}
	}
	if tb.Len() != tb.Cap() || tb.Evicted() == 0 {
		t.Fatalf("len %d cap %d evicted %d", tb.Len(), tb.Cap(), tb.Evicted())
	}
	// One failure from each rotated address never blocks it; the blocked source
	// outranks them and survives the flood.
	if b, _ := tb.Blocked(blocked, now); !b {
		t.Fatal("blocked source was evicted by single-failure sources")
	}
}

func BenchmarkFail(b *testing.B) {
	tb := New(Config{})
	now := time.Now()
	i := 0
	for b.Loop() {
		i++
		tb.Fail(netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}), now)
	}
}
