package pnplan

import (
	"fmt"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	pnplistener "github.com/dialtone-voip/dialtone/services/pnp-listener"
	"github.com/dialtone-voip/dialtone/services/pnp-listener/phonetest"
)

// TestNewCallIDFloodOneMAC attacks the supersede limit from a real host on
// the LAN (its own MAC and address, link-layer check on): an assigned phone
// whose NOTIFY is in flight and never answered, then 50 SUBSCRIBEs with new
// Call-IDs for its MAC in a burst. A new dialog may supersede the NOTIFY in
// flight once; the burst must not make the listener start a NOTIFY
// transaction per Call-ID, nor send more than 3× the bytes it received.
func TestNewCallIDFloodOneMAC(t *testing.T) {
	e := newEnv(t, "phone")
	const mac = "001565a0b0f1"
	e.setMAC("phone", mac)
	e.assign(mac, "T54W")
	e.startListener(func(c *pnplistener.Config) { c.NotifyTimeout = 10 * time.Second })
	ph, h := e.phone("phone", 5059)
	pbx := e.pbx.Addr()

	boot(t, ph, h, pbx, "yealink", mac, "flood-0")
	first, _ := ph.ExpectRequest(10 * time.Second) // never answered: retransmitted
	if first.Method != sip.NOTIFY {
		t.Fatalf("want the NOTIFY, got %s", first.Method)
	}

	sent := 0
	const burst = 50
	for i := 1; i <= burst; i++ {
		msg := phonetest.Subscribe("yealink", mac, h.Addr().String(), ph.Port(), fmt.Sprintf("flood-%d", i))
		sent += len(msg)
		ph.Send(group, msg)
	}
	// What the listener sends back over a bounded window: the 200 OKs, and
	// NOTIFY transactions counted by branch (retransmissions are one).
	branches := map[string]bool{first.Via().Params.GetOr("branch", ""): true}
	var received, oks int
	deadline := time.Now().Add(4 * time.Second)
	for time.Now().Before(deadline) {
		m, _ := ph.Recv(time.Until(deadline))
		if m == nil {
			break
		}
		received += len(m.String())
		switch m := m.(type) {
		case *sip.Response:
			if m.StatusCode == 200 {
				oks++
			}
		case *sip.Request:
			if m.Method == sip.NOTIFY {
				branches[m.Via().Params.GetOr("branch", "")] = true
			}
		}
	}
	superseded := e.counter("dialtone_pnp_listener_notifies_total", "outcome", "superseded")
	t.Logf("%d new Call-IDs (%d bytes): %d 200 OKs, %d NOTIFY transactions, %d bytes back, superseded %v",
		burst, sent, oks, len(branches), received, superseded)
	if superseded != 1 {
		t.Errorf("superseded %v, want exactly 1 for the burst", superseded)
	}
	if len(branches) > 3 {
		t.Errorf("%d NOTIFY transactions for one MAC, want at most 3 (the first, the superseding one, one more round)", len(branches))
	}
	if received > 3*sent {
		t.Errorf("%d bytes sent back for %d received: more than 3×", received, sent)
	}
}
