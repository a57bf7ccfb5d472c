package sipsock

import (
	"net/netip"
	"sync"
	"time"
)

// Limits are token buckets: Global for every datagram, PerSource for each
// source IPv4 address. A rate of 0 disables that bucket.
type Limits struct {
	GlobalRate, GlobalBurst       float64
	PerSourceRate, PerSourceBurst float64
	// MaxSources bounds the per-source table (two generations of at most
	// MaxSources/2 entries each); 0 means 65536.
	MaxSources int
}

type bucket struct {
	tokens float64
	last   time.Time
}

func (b *bucket) take(now time.Time, rate, burst float64) bool {
	if b.last.IsZero() {
		b.tokens = burst
	} else if dt := now.Sub(b.last).Seconds(); dt > 0 {
		b.tokens += dt * rate
		if b.tokens > burst {
			b.tokens = burst
		}
	}
	b.last = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

type limiter struct {
	lim    Limits
	mu     sync.Mutex
	global bucket
	cur    map[netip.Addr]*bucket
	prev   map[netip.Addr]*bucket
	half   int
}

func newLimiter(lim Limits) *limiter {
	if lim.MaxSources <= 0 {
		lim.MaxSources = 1 << 16
	}
	if lim.GlobalBurst < 1 {
		lim.GlobalBurst = max(1, lim.GlobalRate)
	}
	if lim.PerSourceBurst < 1 {
		lim.PerSourceBurst = max(1, lim.PerSourceRate)
	}
	half := max(1, lim.MaxSources/2)
	return &limiter{lim: lim, half: half, cur: make(map[netip.Addr]*bucket), prev: map[netip.Addr]*bucket{}}
}

// allow returns "" or the Drop* reason.
func (l *limiter) allow(src netip.Addr, now time.Time) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.lim.GlobalRate > 0 && !l.global.take(now, l.lim.GlobalRate, l.lim.GlobalBurst) {
		return DropRateGlobal
	}
	if l.lim.PerSourceRate <= 0 {
		return ""
	}
	b := l.cur[src]
	if b == nil {
		if old := l.prev[src]; old != nil {
			b = old
		} else {
			b = &bucket{}
		}
		if len(l.cur) >= l.half {
			// A new generation: sources idle for a whole generation are
			// forgotten, which only ever refills their bucket.
			l.prev, l.cur = l.cur, make(map[netip.Addr]*bucket, l.half)
		}
		l.cur[src] = b
	}
	if !b.take(now, l.lim.PerSourceRate, l.lim.PerSourceBurst) {
		return DropRateSource
	}
	return ""
}

// arrivalTable remembers where each source's last datagram arrived, in
// two bounded generations.
type arrivalTable struct {
	mu   sync.RWMutex
	half int
	cur  map[netip.AddrPort]Arrival
	prev map[netip.AddrPort]Arrival
}

func (t *arrivalTable) init(max int) {
	t.half = max / 2
	t.cur = make(map[netip.AddrPort]Arrival)
	t.prev = map[netip.AddrPort]Arrival{}
}

func (t *arrivalTable) put(src netip.AddrPort, a Arrival) {
	t.mu.Lock()
	if old, ok := t.cur[src]; !ok || old.IfIndex != a.IfIndex || old.Local != a.Local || old.Multicast != a.Multicast {
		if !ok && len(t.cur) >= t.half {
			t.prev, t.cur = t.cur, make(map[netip.AddrPort]Arrival, t.half)
		}
		t.cur[src] = a
	}
	t.mu.Unlock()
}

func (t *arrivalTable) get(src netip.AddrPort) (Arrival, bool) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	if a, ok := t.cur[src]; ok {
		return a, true
	}
	a, ok := t.prev[src]
	return a, ok
}
