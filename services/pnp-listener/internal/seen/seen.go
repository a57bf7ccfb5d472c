// Package seen remembers the phones a listener heard from recently — MAC →
// the dialog of its last SUBSCRIBE, where it came from and which of our
// interfaces it reached — so that a NOTIFY can follow later (assignment
// after discovery, check-sync) without waiting for the phone's next boot.
// The cache is a bounded LRU with a time to live.
package seen

import (
	"container/list"
	"hash/maphash"
	"net/netip"
	"sync"
	"time"

	"github.com/dialtone-voip/dialtone/services/pnp-listener/internal/sipmsg"
)

// Phone is what we know of a phone's last SUBSCRIBE.
type Phone struct {
	MAC    string
	Vendor string
	Model  string
	Dialog sipmsg.Dialog
	// Dest is where its datagrams go (source address, honouring rport).
	Dest netip.AddrPort
	// Local is our address on the interface it reached us on.
	Local    netip.Addr
	LastSeen time.Time
	// cseq is the last CSeq we used for a NOTIFY in Dialog.
	cseq uint32
	// delivered is a hash of the last URL the phone accepted in Dialog
	// (a hash: the URL carries a token).
	delivered uint64
	// assigned marks a phone that accepted a non-bootstrap URL: the
	// cache evicts it only when nothing else is left to evict, so a flood
	// of unknown MACs cannot push a real, assigned phone out.
	assigned bool
	// answered marks a phone that accepted one of our NOTIFYs (in any
	// dialog): it proved it is a phone that listens, not a forged boot.
	answered bool
}

var urlSeed = maphash.MakeSeed()

// Cache is safe for concurrent use.
type Cache struct {
	mu    sync.Mutex
	max   int
	ttl   time.Duration
	ll    *list.List
	items map[string]*list.Element
}

// New returns a cache of at most max phones, each forgotten ttl after its
// last SUBSCRIBE.
func New(max int, ttl time.Duration) *Cache {
	return &Cache{max: max, ttl: ttl, ll: list.New(), items: make(map[string]*list.Element)}
}

// Observe records a SUBSCRIBE. It reports whether it opened a new dialog
// (first SUBSCRIBE of this phone, or a new Call-ID): retransmissions of one
// SUBSCRIBE are answered each time, but discovered and notified once.
func (c *Cache) Observe(p Phone) (fresh bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.items[p.MAC]; ok {
		old := el.Value.(*Phone)
		fresh = old.Dialog.CallID != p.Dialog.CallID || p.LastSeen.Sub(old.LastSeen) > c.ttl
		if !fresh {
			p.cseq, p.delivered = old.cseq, old.delivered
		}
		p.assigned, p.answered = old.assigned, old.answered
		*old = p
		c.ll.MoveToFront(el)
		return fresh
	}
	np := p
	c.items[p.MAC] = c.ll.PushFront(&np)
	for c.ll.Len() > c.max {
		c.evict()
	}
	return true
}

// evict removes the least recently seen unassigned phone. Assigned phones
// met on the way move to the front (amortised O(1): each is moved once
// per pass); only when every phone is assigned does the oldest go.
func (c *Cache) evict() {
	for range c.ll.Len() {
		last := c.ll.Back()
		p := last.Value.(*Phone)
		if !p.assigned {
			c.ll.Remove(last)
			delete(c.items, p.MAC)
			return
		}
		c.ll.MoveToFront(last)
	}
	last := c.ll.Back()
	c.ll.Remove(last)
	delete(c.items, last.Value.(*Phone).MAC)
}

// MarkAssigned records that the phone accepted its assigned (not
// bootstrap) provisioning URL.
func (c *Cache) MarkAssigned(mac string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.items[mac]; ok {
		el.Value.(*Phone).assigned = true
	}
}

// Assigned reports whether the phone is held and marked assigned.
func (c *Cache) Assigned(mac string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.items[mac]
	return ok && el.Value.(*Phone).assigned
}

// Known reports whether the phone is held and either assigned or has
// accepted a NOTIFY before: such phones are admitted ahead of unknown ones.
func (c *Cache) Known(mac string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.items[mac]
	if !ok {
		return false
	}
	p := el.Value.(*Phone)
	return p.assigned || p.answered
}

// Get returns the phone if it was seen within the TTL.
func (c *Cache) Get(mac string, now time.Time) (Phone, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.items[mac]
	if !ok {
		return Phone{}, false
	}
	p := el.Value.(*Phone)
	if now.Sub(p.LastSeen) > c.ttl {
		c.ll.Remove(el)
		delete(c.items, mac)
		return Phone{}, false
	}
	return *p, true
}

// NextCSeq returns the CSeq for our next NOTIFY in the phone's current
// dialog (1, 2, …), or 0 when the phone or that dialog is gone.
func (c *Cache) NextCSeq(mac, callID string) uint32 {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.items[mac]
	if !ok {
		return 0
	}
	p := el.Value.(*Phone)
	if p.Dialog.CallID != callID {
		return 0
	}
	p.cseq++
	return p.cseq
}

// MarkDelivered records that the phone accepted url in dialog callID.
func (c *Cache) MarkDelivered(mac, callID, url string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.items[mac]; ok {
		p := el.Value.(*Phone)
		p.answered = true
		if p.Dialog.CallID == callID {
			p.delivered = maphash.String(urlSeed, url)
		}
	}
}

// Delivered reports whether the phone already accepted url in dialog callID.
func (c *Cache) Delivered(mac, callID, url string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.items[mac]; ok {
		p := el.Value.(*Phone)
		return p.Dialog.CallID == callID && p.delivered != 0 && p.delivered == maphash.String(urlSeed, url)
	}
	return false
}

// Len returns the number of phones held.
func (c *Cache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ll.Len()
}
