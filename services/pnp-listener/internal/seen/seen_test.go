package seen

import (
	"fmt"
	"testing"
	"time"

	"github.com/dialtone-voip/dialtone/services/pnp-listener/internal/sipmsg"
)

func phone(mac, callID string, at time.Time) Phone {
	return Phone{MAC: mac, Dialog: sipmsg.Dialog{CallID: callID}, LastSeen: at}
}

func TestObserve(t *testing.T) {
	c := New(3, time.Hour)
	t0 := time.Unix(1000, 0)
	if !c.Observe(phone("a", "1", t0)) {
		t.Error("first SUBSCRIBE is fresh")
	}
	if c.Observe(phone("a", "1", t0.Add(time.Second))) {
		t.Error("retransmission is not fresh")
	}
	if got := c.NextCSeq("a", "1"); got != 1 {
		t.Errorf("cseq %d", got)
	}
	if got := c.NextCSeq("a", "1"); got != 2 {
		t.Errorf("cseq %d", got)
	}
	c.Observe(phone("a", "1", t0.Add(2*time.Second)))
	if got := c.NextCSeq("a", "1"); got != 3 {
		t.Errorf("cseq after retransmission %d, want 3", got)
	}
	if got := c.NextCSeq("a", "other"); got != 0 {
		t.Errorf("cseq of a foreign dialog %d", got)
	}
	if !c.Observe(phone("a", "2", t0.Add(3*time.Second))) {
		t.Error("new Call-ID is fresh")
	}
	if got := c.NextCSeq("a", "2"); got != 1 {
		t.Errorf("new dialog cseq %d", got)
	}
	if !c.Observe(phone("a", "2", t0.Add(3*time.Hour))) {
		t.Error("same Call-ID after the TTL is fresh")
	}
}

func TestBoundsAndTTL(t *testing.T) {
	c := New(3, time.Minute)
	t0 := time.Unix(1000, 0)
	for i := range 10 {
		c.Observe(phone(fmt.Sprint(i), "x", t0))
	}
	if c.Len() != 3 {
		t.Fatalf("len %d", c.Len())
	}
	if _, ok := c.Get("0", t0); ok {
		t.Error("oldest kept")
	}
	if _, ok := c.Get("9", t0); !ok {
		t.Error("newest lost")
	}
	if _, ok := c.Get("9", t0.Add(2*time.Minute)); ok {
		t.Error("expired entry returned")
	}
	if c.Len() != 2 {
		t.Errorf("expired entry kept: %d", c.Len())
	}
}

func TestDelivered(t *testing.T) {
	c := New(3, time.Hour)
	t0 := time.Unix(1000, 0)
	c.Observe(phone("a", "1", t0))
	if c.Delivered("a", "1", "http://x/") {
		t.Error("nothing delivered yet")
	}
	c.MarkDelivered("a", "1", "http://x/")
	if !c.Delivered("a", "1", "http://x/") || c.Delivered("a", "1", "http://y/") || c.Delivered("a", "2", "http://x/") {
		t.Error("Delivered")
	}
	c.Observe(phone("a", "1", t0.Add(time.Second)))
	if !c.Delivered("a", "1", "http://x/") {
		t.Error("a retransmission forgot the delivery")
	}
	c.Observe(phone("a", "2", t0.Add(2*time.Second)))
	if c.Delivered("a", "2", "http://x/") {
		t.Error("a new dialog inherited the delivery")
	}
}

// TestAssignedSurvivesFlood: a flood of unknown MACs (many times the
// cache's size) never evicts an assigned phone.
func TestAssignedSurvivesFlood(t *testing.T) {
	c := New(100, time.Hour)
	t0 := time.Unix(1000, 0)
	c.Observe(phone("real", "1", t0))
	c.MarkAssigned("real")
	for i := range 10_000 {
		c.Observe(phone(fmt.Sprintf("forged%05d", i), "x", t0.Add(time.Millisecond)))
	}
	if _, ok := c.Get("real", t0.Add(time.Second)); !ok || !c.Assigned("real") {
		t.Fatal("assigned phone evicted by unknown MACs")
	}
	if c.Len() != 100 {
		t.Fatalf("len %d, want 100", c.Len())
	}
	// When every phone is assigned the oldest still goes: the bound holds.
	d := New(2, time.Hour)
	for _, m := range []string{"a", "b", "c"} {
		d.Observe(phone(m, "1", t0))
		d.MarkAssigned(m)
	}
	if d.Len() != 2 {
		t.Fatalf("len %d, want 2", d.Len())
	}
}
