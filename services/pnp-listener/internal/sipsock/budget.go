package sipsock

import (
	"net/netip"
	"sync"
)

// DropAmplification: a datagram we did not send because its destination
// never answered us and has used up its budget (Options.Amplification).
const DropAmplification = "amplification_budget"

// budget bounds what we send to an address that has never answered us:
// at most factor times the bytes we received from it. A SUBSCRIBE's
// source address can be forged, so without this one forged boot draws a
// 200 OK plus a NOTIFY retransmitted for 32 s at a victim. An address
// that has sent us a SIP response (a phone answering our NOTIFY) is
// exempt: it is talking to us. Both tables are bounded (two generations
// of max/2 each); an address forgotten has no credit, so a flood of
// forged sources only ever makes the listener quieter.
type budget struct {
	factor int64
	mu     sync.Mutex
	half   int
	cur    map[netip.Addr]int64 // bytes still allowed
	prev   map[netip.Addr]int64
	ans    map[netip.Addr]bool
	ansOld map[netip.Addr]bool
}

func newBudget(factor float64, maxSources int) *budget {
	if maxSources <= 0 {
		maxSources = 1 << 16
	}
	half := max(1, maxSources/2)
	return &budget{factor: int64(factor * 1000), half: half,
		cur: map[netip.Addr]int64{}, prev: map[netip.Addr]int64{}, ans: map[netip.Addr]bool{}, ansOld: map[netip.Addr]bool{}}
}

// received credits n bytes from src; response marks src as answering.
func (b *budget) received(src netip.Addr, n int, response bool) {
	if b == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if response {
		if !b.ans[src] {
			if len(b.ans) >= b.half {
				b.ansOld, b.ans = b.ans, make(map[netip.Addr]bool, b.half)
			}
			b.ans[src] = true
		}
		return
	}
	c, ok := b.cur[src]
	if !ok {
		c = b.prev[src]
		delete(b.prev, src)
		if len(b.cur) >= b.half {
			b.prev, b.cur = b.cur, make(map[netip.Addr]int64, b.half)
		}
	}
	// Credit in thousandths of a byte: the factor may be fractional.
	b.cur[src] = c + int64(n)*b.factor
}

// spend reports whether n bytes may go to dst, and takes them.
func (b *budget) spend(dst netip.Addr, n int) bool {
	if b == nil {
		return true
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.ans[dst] || b.ansOld[dst] {
		return true
	}
	cost := int64(n) * 1000
	if c, ok := b.cur[dst]; ok && c >= cost {
		b.cur[dst] = c - cost
		return true
	}
	if c, ok := b.prev[dst]; ok && c >= cost {
		b.prev[dst] = c - cost
		return true
	}
	return false
}

// Answered reports whether dst has ever (within the table's memory) sent
// us a SIP response.
func (l *Listener) Answered(dst netip.Addr) bool {
	if l.budget == nil {
		return false
	}
	l.budget.mu.Lock()
	defer l.budget.mu.Unlock()
	return l.budget.ans[dst] || l.budget.ansOld[dst]
}
