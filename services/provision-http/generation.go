package provisionhttp

import (
	"hash/maphash"
	"sync/atomic"
	"time"

	"github.com/dialtone-voip/dialtone/services/provision-http/internal/lru"
)

// generations tells a look-up in flight whether what it is about to cache
// may be stale: whether its phone was invalidated (or everything dropped)
// after the look-up started. Each invalidation takes the next number of
// one sequence and stores it in the phone's slot (phones hashed into a
// fixed number of slots, so the table never grows; two phones sharing a
// slot only cost an uncached answer now and then). Other phones'
// invalidations do not stop a look-up from being cached.
type generations struct {
	seq   atomic.Uint64
	all   atomic.Uint64 // the sequence number of the last drop of everything
	seed  maphash.Seed
	slots [genSlots]atomic.Uint64
}

const genSlots = 4096

func newGenerations() *generations { return &generations{seed: maphash.MakeSeed()} }

// start is taken before a look-up asks upstream.
func (g *generations) start() uint64 { return g.seq.Load() }

func (g *generations) slot(mac string) *atomic.Uint64 {
	return &g.slots[maphash.String(g.seed, mac)%genSlots]
}

// bump marks mac invalidated now ("" marks nothing).
func (g *generations) bump(mac string) {
	if mac != "" {
		storeMax(g.slot(mac), g.seq.Add(1))
	}
}

// bumpAll marks every phone invalidated now.
func (g *generations) bumpAll() { storeMax(&g.all, g.seq.Add(1)) }

// changed reports whether mac ("" for a look-up of no phone) was
// invalidated after since.
func (g *generations) changed(mac string, since uint64) bool {
	return g.all.Load() > since || (mac != "" && g.slot(mac).Load() > since)
}

func storeMax(v *atomic.Uint64, n uint64) {
	for {
		o := v.Load()
		if o >= n || v.CompareAndSwap(o, n) {
			return
		}
	}
}

// addFresh caches v under k (tag = the phone's MAC, "" for none) unless
// the phone was invalidated since the look-up started. An invalidation
// racing the insert removes it again: either it removes the entry by tag
// after the insert, or the second check here sees it.
func addFresh[K comparable, V any](g *generations, c *lru.Cache[K, V], since uint64, k K, v V, tag string, cost int64, ttl time.Duration) {
	if g.changed(tag, since) {
		return
	}
	c.Add(k, v, tag, cost, ttl)
	if g.changed(tag, since) {
		c.Remove(k)
	}
}
