package sipsock

import (
	"net/netip"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Limits are token buckets (golang.org/x/time/rate): Global for every
// datagram, PerSource for each source IPv4 address. A rate of 0 disables
// that bucket; bursts are whole datagrams.
type Limits struct {
	GlobalRate, GlobalBurst       float64
	PerSourceRate, PerSourceBurst float64
	// MaxSources bounds the per-source table (two generations of at most
	// MaxSources/2 entries each); 0 means 65536.
	MaxSources int
}

type limiter struct {
	lim    Limits
	mu     sync.Mutex
	global *rate.Limiter
	cur    map[netip.Addr]*rate.Limiter
	prev   map[netip.Addr]*rate.Limiter
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
	return &limiter{lim: lim, half: half, global: rate.NewLimiter(rate.Limit(lim.GlobalRate), int(lim.GlobalBurst)),
		cur: make(map[netip.Addr]*rate.Limiter), prev: map[netip.Addr]*rate.Limiter{}}
}

// allow returns "" or the Drop* reason.
func (l *limiter) allow(src netip.Addr, now time.Time) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.lim.GlobalRate > 0 && !l.global.AllowN(now, 1) {
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
			b = rate.NewLimiter(rate.Limit(l.lim.PerSourceRate), int(l.lim.PerSourceBurst))
		}
		if len(l.cur) >= l.half {
			// A new generation: sources idle for a whole generation are
			// forgotten, which only ever refills their bucket.
			l.prev, l.cur = l.cur, make(map[netip.Addr]*rate.Limiter, l.half)
		}
		l.cur[src] = b
	}
	if !b.AllowN(now, 1) {
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
