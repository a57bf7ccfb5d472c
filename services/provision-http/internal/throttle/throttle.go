// Package throttle slows down sources that keep failing: per-source failure
// scores in a fixed-size table, so memory stays bounded however many
// addresses an attacker rotates through, and blocks that grow exponentially
// but always end.
//
// Each source (an IPv4 address, or the /64 of an IPv6 address) has a score
// that every failure raises by one and that leaks away at Leak per second. A
// source whose score passes Threshold is blocked for Base, then 2×Base,
// 4×Base … up to Max for each further block ("strikes"); strikes are
// forgotten after Forget without failures. Nothing is permanent.
//
// The table is set-associative: a source hashes (with a per-process random
// seed, so an attacker cannot aim at one set) to a set of Ways entries. A new
// source replaces, in order of preference, a free entry, an entry that has
// been quiet for Forget, the entry with the lowest score that is not blocked,
// or the blocked entry whose block ends first. Under a flood of fresh
// addresses the table therefore forgets the least harmful sources first, and
// its size never exceeds the configured capacity.
package throttle

import (
	"hash/maphash"
	"math"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// Ways is the associativity of the table.
const Ways = 8

// Config tunes a Table. Zero fields take the defaults in parentheses.
type Config struct {
	Size      int           // entries, rounded up to a multiple of Ways (65536)
	Threshold float64       // score above which a source is blocked (20)
	Leak      float64       // score forgiven per second (0.5)
	Base      time.Duration // first block (1s)
	Max       time.Duration // longest block (5m)
	Forget    time.Duration // quiet time after which strikes reset (15m)
}

func (c *Config) defaults() {
	if c.Size <= 0 {
		c.Size = 65536
	}
	if c.Threshold <= 0 {
		c.Threshold = 20
	}
	if c.Leak <= 0 {
		c.Leak = 0.5
	}
	if c.Base <= 0 {
		c.Base = time.Second
	}
	if c.Max <= 0 {
		c.Max = 5 * time.Minute
	}
	if c.Max < c.Base {
		c.Max = c.Base
	}
	if c.Forget <= 0 {
		c.Forget = 15 * time.Minute
	}
}

type entry struct {
	key     netip.Addr
	used    bool
	score   float64
	strikes int
	last    int64 // unix nanos of the last failure
	until   int64 // unix nanos when the block ends; 0 = not blocked
}

type set struct {
	mu      sync.Mutex
	entries [Ways]entry
}

// Table holds failure scores. It is safe for concurrent use.
type Table struct {
	cfg     Config
	seed    maphash.Seed
	sets    []set
	used    atomic.Int64
	evicted atomic.Int64
}

// New returns an empty table.
func New(cfg Config) *Table {
	cfg.defaults()
	n := (cfg.Size + Ways - 1) / Ways
	return &Table{cfg: cfg, seed: maphash.MakeSeed(), sets: make([]set, n)}
}

// Key reduces an address to the unit that is throttled: IPv4 addresses as
// they are, IPv6 addresses by their /64 (one site or host usually owns a
// whole /64, so per-address state would be trivial to evade).
func Key(a netip.Addr) netip.Addr {
	a = a.Unmap()
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p.Addr()
	}
	return a.WithZone("")
}

func (t *Table) set(k netip.Addr) *set {
	b := k.As16()
	h := maphash.Bytes(t.seed, b[:])
	return &t.sets[h%uint64(len(t.sets))]
}

// Blocked reports whether src is blocked at now and for how much longer.
func (t *Table) Blocked(src netip.Addr, now time.Time) (bool, time.Duration) {
	k := Key(src)
	s := t.set(k)
	n := now.UnixNano()
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range s.entries {
		e := &s.entries[i]
		if e.used && e.key == k {
			if e.until > n {
				return true, time.Duration(e.until - n)
			}
			return false, 0
		}
	}
	return false, 0
}

// Fail records a failure of src at now. It returns whether src is now
// blocked and for how much longer.
func (t *Table) Fail(src netip.Addr, now time.Time) (bool, time.Duration) {
	k := Key(src)
	s := t.set(k)
	n := now.UnixNano()
	s.mu.Lock()
	defer s.mu.Unlock()
	e := t.find(s, k, n)
	if e.last != 0 {
		if n-e.last >= int64(t.cfg.Forget) {
			e.score, e.strikes = 0, 0
		} else if d := n - e.last; d > 0 {
			e.score = math.Max(0, e.score-float64(d)/1e9*t.cfg.Leak)
		}
	}
	e.score++
	e.last = n
	if e.until > n {
		return true, time.Duration(e.until - n)
	}
	if e.score <= t.cfg.Threshold {
		return false, 0
	}
	e.strikes++
	d := t.cfg.Max
	if shift := e.strikes - 1; shift < 40 {
		if b := t.cfg.Base << shift; b > 0 && b < d {
			d = b
		}
	}
	e.until = n + int64(d)
	return true, d
}

// find returns the entry for k, taking one over if k has none.
func (t *Table) find(s *set, k netip.Addr, n int64) *entry {
	var victim *entry
	rank := func(e *entry) (int, float64) { // lower is a better victim
		switch {
		case !e.used:
			return 0, 0
		case n-e.last >= int64(t.cfg.Forget) && e.until <= n:
			return 1, float64(e.last)
		case e.until <= n:
			return 2, e.score
		default:
			return 3, float64(e.until)
		}
	}
	var vc int
	var vs float64
	for i := range s.entries {
		e := &s.entries[i]
		if e.used && e.key == k {
			return e
		}
		c, sc := rank(e)
		if victim == nil || c < vc || (c == vc && sc < vs) {
			victim, vc, vs = e, c, sc
		}
	}
	if victim.used {
		t.evicted.Add(1)
	} else {
		t.used.Add(1)
	}
	*victim = entry{key: k, used: true}
	return victim
}

// Len returns how many sources the table holds; never more than Cap.
func (t *Table) Len() int { return int(t.used.Load()) }

// Cap returns the table's capacity.
func (t *Table) Cap() int { return len(t.sets) * Ways }

// Evicted returns how many sources were forgotten to make room.
func (t *Table) Evicted() int64 { return t.evicted.Load() }
