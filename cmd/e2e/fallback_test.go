package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"
)

// madeUpPhones are phones of models the catalog does not list, one per
// vendor, each named in the pattern of one of the vendor's current families
// (config-renderer's catalog.json family_patterns). pnp: the vendor's phones
// are found by PnP multicast; the others are added by MAC.
var madeUpPhones = []struct {
	vendor, model, family, mac string
	pnp                        bool
}{
	{"yealink", "T59Z", "T5x", "805ec0e50001", true},
	{"fanvil", "X9Z", "X", "0c383ee50002", true},
	{"grandstream", "GXP2199", "GXP21xx", "000b82e50003", true},
	{"snom", "D999", "D-series", "000413e50004", true},
	{"gigaset", "N999", "N-series DECT", "7c2f80e50005", true},
	{"htek", "UC999", "UC9xx", "001fc1e50006", false},
	{"poly", "VVX999", "VVX", "64167fe50007", false},
	{"cisco", "CP-8899-3PCC", "88xx", "00a289e50008", false},
	// Families added later, with their own file format (Gigaset <ProviderFrame>).
	{"gigaset", "N510X", "N510 DECT", "7c2f80e50009", true},
}

// TestUnknownModelFamilyFallback: a phone of a model the catalog does not
// know, of each vendor, boots: discovered (or added) → assigned → its
// family's files are served with the account → provisioned, and its record
// says model_status family_fallback with the family.
func TestUnknownModelFamilyFallback(t *testing.T) {
	s := newSite(t)
	s.start()
	fallback := func(m map[string]any) bool { return m["model_status"] == "family_fallback" }
	for i, p := range madeUpPhones {
		t.Run(p.vendor, func(t *testing.T) {
			s := s.forSubtest(t)
			ext := fmt.Sprintf("%d", 601+i)
			pw := "fallback-pw-" + p.vendor + "-Q7"
			s.ctl("extensions", "add", ext, "--name", "Fallback "+p.vendor, "--password", pw)
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			var r report
			if p.pnp {
				wait := s.phonesim(ctx, append([]string{"boot", "--vendor", p.vendor, "--model", p.model, "--mac", p.mac,
					"--iface", s.phone.Iface(), "--wait-account", "90s", "-o", "json"}, s.ownLink()...)...)
				ph := s.waitPhone(p.mac, "discovered", stateIs("discovered"))
				if ph["vendor"] != p.vendor || ph["model"] != p.model || !fallback(ph) || ph["model_family"] != p.family {
					t.Errorf("discovered: vendor %v model %v status %v family %v", ph["vendor"], ph["model"], ph["model_status"], ph["model_family"])
				}
				s.ctl("phones", "assign", p.mac, "--extension", ext, "--interface", "default")
				r = wait()
			} else {
				// No --vendor: the MAC's IEEE block names it, the pattern the family.
				s.ctl("phones", "add", "--mac", p.mac, "--model", p.model, "--extension", ext, "--interface", "default")
				url := strings.TrimSpace(s.ctl("phones", "url", p.mac))
				r = s.phonesim(ctx, "boot", "--vendor", p.vendor, "--model", p.model, "--mac", p.mac, "--url", url, "-o", "json")()
			}
			if r.Config == nil || len(r.Config.Accounts) == 0 {
				t.Fatalf("no account in the phone's config: %+v", r)
			}
			if a := r.Config.Accounts[0]; a.User != ext || a.Password != pw || a.Server != s.pbxAddr() {
				t.Errorf("account: user %q server %q (password match %v); want %s@%s", a.User, a.Server, a.Password == pw, ext, s.pbxAddr())
			}
			ph := s.waitPhone(p.mac, "provisioned", stateIs("provisioned"))
			if !fallback(ph) || ph["model_family"] != p.family || !strings.Contains(fmt.Sprint(ph["model_warning"]), p.family) {
				t.Errorf("provisioned record: status %v family %v warning %v", ph["model_status"], ph["model_family"], ph["model_warning"])
			}
		})
	}
	out := s.ctl("phones", "list")
	if strings.Count(out, "family_fallback") != len(madeUpPhones) {
		t.Errorf("phones list shows %d family_fallback rows, want %d:\n%s", strings.Count(out, "family_fallback"), len(madeUpPhones), out)
	}
}
