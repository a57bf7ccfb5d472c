package e2e

import (
	"context"
	"strings"
	"testing"
	"time"
)

// TestLinkLayerProofE2E: dialtone's default --pnp-link-check=require on a
// LAN where every simulated phone has its own MAC and address. Another
// host naming an assigned phone's MAC — by multicast and unicast, before
// the phone was ever seen and while it is online — gets no NOTIFY, so no
// URL and no file with a secret, and is not recorded as the phone; the
// real phone is provisioned, and the token rotation and check-sync reach
// it while the other host, listening as that MAC, gets nothing.
func TestLinkLayerProofE2E(t *testing.T) {
	s := newSite(t)
	s.start()
	const mac, pw = "805ec0e50001", "link-proof-pw-301"
	s.ctl("extensions", "add", "301", "--name", "Proof", "--password", pw)
	s.ctl("phones", "add", "--mac", mac, "--model", "T54W", "--extension", "301")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	// The attacker is phonesim on the phone host without --own-link: its
	// SUBSCRIBE names mac, its frames carry the host's own MAC.
	attack := func(extra ...string) {
		t.Helper()
		r := s.phonesimFails(ctx, append([]string{"boot", "--vendor", "yealink", "--model", "T54W", "--mac", mac,
			"--iface", s.phone.Iface(), "--wait-notify", "3s", "--timeout", "5s", "-o", "json"}, extra...)...)
		if r.Config != nil || len(r.Rounds) != 0 {
			t.Fatalf("the attacker was provisioned: %+v", r)
		}
	}
	attack()
	attack("--mcast", s.pbxAddr()+":5060")
	if ph := s.phoneJSON(mac); ph["last_seen_address"] != nil && ph["last_seen_address"] != "" {
		t.Errorf("a forged SUBSCRIBE made the phone last seen at %v", ph["last_seen_address"])
	}
	if !strings.Contains(s.logs.String(), "SUBSCRIBE dropped: the MAC it names is not the sender") {
		t.Error("no WARN about the link-layer mismatch in dialtone's log")
	}

	// The real phone: its own MAC and address; it stays up to hear the
	// rotation and the check-sync.
	link := s.ownLink()
	wait := s.phonesim(ctx, append([]string{"boot", "--vendor", "yealink", "--model", "T54W", "--mac", mac,
		"--iface", s.phone.Iface(), "--linger", "25s", "-o", "json"}, link...)...)
	ph := s.waitPhone(mac, "provisioned", stateIs("provisioned"))
	if addr, _ := ph["last_seen_address"].(string); !strings.HasPrefix(addr, link[1]+":") {
		t.Errorf("last seen at %v, want the real phone's %s", ph["last_seen_address"], link[1])
	}

	// While it is online: another forgery, then the attacker listens as
	// that MAC during the rotation and the check-sync.
	attack()
	done := make(chan struct{})
	go func() {
		defer close(done)
		r := s.phonesimFails(ctx, "boot", "--vendor", "yealink", "--model", "T54W", "--mac", mac,
			"--iface", s.phone.Iface(), "--wait-notify", "8s", "--timeout", "5s", "-o", "json")
		if r.Config != nil || len(r.Rounds) != 0 {
			t.Errorf("the listening attacker was provisioned: %+v", r)
		}
	}()
	s.ctl("phones", "rotate-token", mac)
	s.ctl("phones", "reprovision", mac)
	<-done
	r := wait()
	triggers := map[string]int{}
	for _, round := range r.Rounds {
		triggers[round.Trigger]++
	}
	if triggers["notify"] < 2 || triggers["check-sync"] < 1 {
		t.Errorf("the real phone's rounds %v: want the boot and rotation NOTIFYs and a check-sync", triggers)
	}
	if r.Config == nil || len(r.Config.Accounts) == 0 || r.Config.Accounts[0].Password != pw {
		t.Errorf("the real phone's configuration: %+v", r.Config)
	}
}
