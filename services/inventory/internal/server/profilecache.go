package server

import (
	"context"
	"crypto/subtle"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	inventoryv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/inventory/v1"
	"github.com/dialtone-voip/dialtone/services/inventory/internal/store"
)

// The profile cache keeps composed GetProvisioningProfile answers per
// replica, so a lookup costs one cheap store round trip instead of two
// round trips, four record decodes and the composition.
//
// Coherence comes from the store's change log (store.ChangeLog), which
// every replica's commits write to in the same atomic batch:
//
//   - Before answering, a lookup waits for a sync: a read of the log from
//     the cache's cursor that was sent after the lookup arrived. The sync
//     drops every entry that depends on a record changed since, so what is
//     left is what the store holds now — an acknowledged write, by any
//     replica, is never hidden by the cache. Lookups that arrive while a
//     sync is in flight share the next one (one round trip for many).
//   - An entry depends on every record its profile was built from: the
//     phone (which holds the token), its tenant, extensions and interface
//     (also the tenant's default interface). Deleting, rotating or
//     reassigning changes the phone, so its tokens' entries go too.
//   - A miss reads the store after a sync at cursor c and may insert its
//     answer only if the cache is still at c: a change committed during the
//     read is then either in the read or will be dropped by the next sync.
//   - Under load, rounds start at least cacheSyncGap apart, so more
//     lookups share each; waiting longer only delays a round, it never
//     lets one be sent before the lookups it serves arrived.
//   - If the log cannot show it continues the cursor (trimmed after a long
//     pause, a Redis failover that lost writes, an empty log), everything
//     is dropped.
//
// Grace answers (the previous token) stop at the token's expiry; unknown
// tokens are never cached.
type profileCache struct {
	log store.ChangeLog
	max int

	mu      sync.Mutex
	cursor  store.Cursor
	epoch   uint64 // bumped whenever everything is dropped
	entries map[string]*cachedProfile
	byRef   map[string]map[*cachedProfile]struct{}

	rmu     sync.Mutex
	next    *syncRound // the round new lookups join; nil: none pending
	leading bool       // a goroutine is running rounds

	gap time.Duration // least time between the starts of two rounds

	rounds, flushes prometheus.Counter
}

// cachedProfile is one cached answer, for one token.
type cachedProfile struct {
	key, token string
	deps       []string
	expire     int64 // unix nanoseconds; 0: none (grace answers end with the token)
	resp       *inventoryv1.GetProvisioningProfileResponse
	result     string // metrics label
}

// syncRound is one read of the change log shared by the lookups that
// joined it before it was sent.
type syncRound struct {
	done chan struct{}
	at   cacheAt
	err  error
}

// cacheAt is the cache state a sync left: where a miss's read starts.
type cacheAt struct {
	rev   int64
	epoch uint64
}

const (
	defaultProfileCacheSize = 16384
	cacheSyncTimeout        = 5 * time.Second
	// cacheSyncGap spaces rounds under load so that more lookups share
	// each: at 35,000 lookups/s a round every 100 µs serves about four
	// instead of one or two, for at most 100 µs more latency; an idle
	// cache syncs at once.
	cacheSyncGap = 100 * time.Microsecond
)

func newProfileCache(log store.ChangeLog, max int, gap time.Duration, rounds, flushes prometheus.Counter) *profileCache {
	return &profileCache{
		log: log, max: max, gap: gap, rounds: rounds, flushes: flushes,
		entries: make(map[string]*cachedProfile),
		byRef:   make(map[string]map[*cachedProfile]struct{}),
	}
}

// sync returns once a read of the change log sent after the call began has
// been applied.
func (c *profileCache) sync(ctx context.Context) (cacheAt, error) {
	c.rmu.Lock()
	r := c.next
	if r == nil {
		r = &syncRound{done: make(chan struct{})}
		c.next = r
	}
	if !c.leading {
		c.leading = true
		go c.lead()
	}
	c.rmu.Unlock()
	select {
	case <-r.done:
		return r.at, r.err
	case <-ctx.Done():
		return cacheAt{}, ctx.Err()
	}
}

// lead runs rounds until no lookup waits. One leader at a time, so the
// log is read and applied in order.
func (c *profileCache) lead() {
	var last time.Time
	for {
		// Under load, wait out the gap so that the lookups arriving
		// meanwhile share this round; an idle cache sends at once.
		if wait := c.gap - time.Since(last); wait > 0 {
			time.Sleep(wait)
		}
		last = time.Now()
		c.rmu.Lock()
		r := c.next
		c.next = nil
		if r == nil {
			c.leading = false
			c.rmu.Unlock()
			return
		}
		c.rmu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), cacheSyncTimeout)
		r.at, r.err = c.refresh(ctx)
		cancel()
		close(r.done)
	}
}

// refresh reads the log from the cursor and drops what changed.
func (c *profileCache) refresh(ctx context.Context) (cacheAt, error) {
	c.mu.Lock()
	since := c.cursor
	c.mu.Unlock()
	c.rounds.Inc()
	next, refs, ok, err := c.log.Changes(ctx, since)
	if err != nil {
		return cacheAt{}, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if !ok {
		if len(c.entries) > 0 || next != since {
			if len(c.entries) > 0 {
				c.flushes.Inc()
			}
			c.entries = make(map[string]*cachedProfile)
			c.byRef = make(map[string]map[*cachedProfile]struct{})
		}
		c.epoch++
	}
	for _, r := range refs {
		for e := range c.byRef[r] {
			c.removeLocked(e)
		}
	}
	c.cursor = next
	return cacheAt{rev: next.Rev, epoch: c.epoch}, nil
}

// get returns the cached answer for token (with tokenKey key), if any.
func (c *profileCache) get(key, token string, now int64) *cachedProfile {
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.entries[key]
	if e == nil {
		return nil
	}
	if e.expire != 0 && now >= e.expire {
		c.removeLocked(e)
		return nil
	}
	if subtle.ConstantTimeCompare([]byte(token), []byte(e.token)) != 1 {
		return nil
	}
	return e
}

// put inserts an answer built from a read that began after a sync left the
// cache at at; it is dropped if the cache has moved on since.
func (c *profileCache) put(at cacheAt, e *cachedProfile) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cursor.Rev != at.rev || c.epoch != at.epoch {
		return
	}
	if old := c.entries[e.key]; old != nil {
		c.removeLocked(old)
	}
	for len(c.entries) >= c.max {
		for _, victim := range c.entries { // an arbitrary one (map order)
			c.removeLocked(victim)
			break
		}
	}
	c.entries[e.key] = e
	for _, d := range e.deps {
		set := c.byRef[d]
		if set == nil {
			set = make(map[*cachedProfile]struct{})
			c.byRef[d] = set
		}
		set[e] = struct{}{}
	}
}

func (c *profileCache) removeLocked(e *cachedProfile) {
	if c.entries[e.key] == e {
		delete(c.entries, e.key)
	}
	for _, d := range e.deps {
		if set := c.byRef[d]; set != nil {
			delete(set, e)
			if len(set) == 0 {
				delete(c.byRef, d)
			}
		}
	}
}

// len is the number of entries (tests).
func (c *profileCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}
