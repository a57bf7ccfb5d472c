// Package lru is a bounded, sharded, least-recently-used cache with a time
// to live and tags. The edge caches token lookups and rendered files in it:
// the bound is in cost units (entries, or bytes), the TTL limits how stale an
// entry can get when an invalidation is missed, and the tag (a phone's MAC)
// lets one event drop every entry of that phone.
package lru

import (
	"container/list"
	"hash/maphash"
	"sync"
	"time"
)

const shards = 16

// Cache maps K to V. The zero value is not usable; call New. A Cache with
// capacity 0 stores nothing.
type Cache[K comparable, V any] struct {
	seed   maphash.Seed
	ttl    time.Duration
	shards [shards]shard[K, V]
	now    func() time.Time
}

type shard[K comparable, V any] struct {
	mu    sync.Mutex
	cap   int64
	cost  int64
	ll    list.List // front = most recent; values *item[K, V]
	items map[K]*list.Element
	tags  map[string]map[K]struct{}
}

type item[K comparable, V any] struct {
	key     K
	val     V
	tag     string
	cost    int64
	expires int64
}

// New returns a cache holding up to capacity cost units in total (split
// evenly across 16 shards), whose entries expire ttl after they were added.
func New[K comparable, V any](capacity int64, ttl time.Duration) *Cache[K, V] {
	c := &Cache[K, V]{seed: maphash.MakeSeed(), ttl: ttl, now: time.Now}
	if capacity < 0 || ttl <= 0 {
		capacity = 0
	}
	for i := range c.shards {
		// The shares add up to capacity exactly.
		c.shards[i].cap = capacity / shards
		if int64(i) < capacity%shards {
			c.shards[i].cap++
		}
		c.shards[i].items = map[K]*list.Element{}
		c.shards[i].tags = map[string]map[K]struct{}{}
	}
	return c
}

func (c *Cache[K, V]) shard(k K) *shard[K, V] {
	return &c.shards[maphash.Comparable(c.seed, k)%shards]
}

// Get returns the value for k if present and not expired.
func (c *Cache[K, V]) Get(k K) (V, bool) { return c.GetAt(k, c.now()) }

// GetAt is Get with the current time supplied by the caller, who usually
// has it already (reading the clock is not free on every machine).
func (c *Cache[K, V]) GetAt(k K, now time.Time) (V, bool) {
	s := c.shard(k)
	s.mu.Lock()
	defer s.mu.Unlock()
	el, ok := s.items[k]
	if !ok {
		var zero V
		return zero, false
	}
	it := el.Value.(*item[K, V])
	if now.UnixNano() >= it.expires {
		s.remove(el)
		var zero V
		return zero, false
	}
	s.ll.MoveToFront(el)
	return it.val, true
}

// Contains is Get without the value.
func (c *Cache[K, V]) Contains(k K) bool {
	_, ok := c.Get(k)
	return ok
}

// Add stores v under k with the given tag ("" for none) and cost (at least
// 1), expiring after ttl (capped at the cache's TTL; 0 means the cache's).
// Entries costlier than a shard's share of the capacity are not stored.
func (c *Cache[K, V]) Add(k K, v V, tag string, cost int64, ttl time.Duration) {
	if cost < 1 {
		cost = 1
	}
	if ttl <= 0 || ttl > c.ttl {
		ttl = c.ttl
	}
	s := c.shard(k)
	s.mu.Lock()
	defer s.mu.Unlock()
	if cost > s.cap {
		return
	}
	if el, ok := s.items[k]; ok {
		s.remove(el)
	}
	it := &item[K, V]{key: k, val: v, tag: tag, cost: cost, expires: c.now().Add(ttl).UnixNano()}
	s.items[k] = s.ll.PushFront(it)
	s.cost += cost
	if tag != "" {
		m := s.tags[tag]
		if m == nil {
			m = map[K]struct{}{}
			s.tags[tag] = m
		}
		m[k] = struct{}{}
	}
	for s.cost > s.cap {
		s.remove(s.ll.Back())
	}
}

func (s *shard[K, V]) remove(el *list.Element) {
	it := el.Value.(*item[K, V])
	s.ll.Remove(el)
	delete(s.items, it.key)
	s.cost -= it.cost
	if it.tag != "" {
		if m := s.tags[it.tag]; m != nil {
			delete(m, it.key)
			if len(m) == 0 {
				delete(s.tags, it.tag)
			}
		}
	}
}

// Remove drops k.
func (c *Cache[K, V]) Remove(k K) {
	s := c.shard(k)
	s.mu.Lock()
	defer s.mu.Unlock()
	if el, ok := s.items[k]; ok {
		s.remove(el)
	}
}

// RemoveTag drops every entry added with tag and returns how many there were.
func (c *Cache[K, V]) RemoveTag(tag string) int {
	n := 0
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.Lock()
		for k := range s.tags[tag] {
			s.remove(s.items[k])
			n++
		}
		s.mu.Unlock()
	}
	return n
}

// Purge drops everything.
func (c *Cache[K, V]) Purge() {
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.Lock()
		s.ll.Init()
		s.cost = 0
		s.items = map[K]*list.Element{}
		s.tags = map[string]map[K]struct{}{}
		s.mu.Unlock()
	}
}

// Len returns the number of entries (expired ones included until touched).
func (c *Cache[K, V]) Len() int {
	n := 0
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.Lock()
		n += len(s.items)
		s.mu.Unlock()
	}
	return n
}

// Cost returns the total cost of the entries.
func (c *Cache[K, V]) Cost() int64 {
	var n int64
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.Lock()
		n += s.cost
		s.mu.Unlock()
	}
	return n
}
