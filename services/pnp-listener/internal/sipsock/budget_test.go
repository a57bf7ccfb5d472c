package sipsock

import (
	"fmt"
	"net/netip"
	"testing"
)

func TestBudget(t *testing.T) {
	b := newBudget(3, 4)
	a := netip.MustParseAddr("198.18.0.10")
	if b.spend(a, 1) {
		t.Fatal("an address never heard from has no credit")
	}
	b.received(a, 100, false)
	if !b.spend(a, 250) || !b.spend(a, 50) || b.spend(a, 1) {
		t.Fatal("credit is 3x the 100 bytes received, no more")
	}
	// A SIP response from it: it is talking to us, no bound.
	b.received(a, 10, true)
	if !b.spend(a, 100000) {
		t.Fatal("an answering address is exempt")
	}
	// A flood of sources bounds the table and only forgets credit.
	for i := range 100 {
		b.received(netip.MustParseAddr(fmt.Sprintf("198.18.1.%d", i)), 100, false)
	}
	if len(b.cur)+len(b.prev) > 4 {
		t.Fatalf("table holds %d addresses, max 4", len(b.cur)+len(b.prev))
	}
	if b.spend(netip.MustParseAddr("198.18.1.0"), 1) {
		t.Fatal("a forgotten address kept its credit")
	}
	var nilBudget *budget
	if !nilBudget.spend(a, 1<<20) {
		t.Fatal("no budget means no bound")
	}
}
