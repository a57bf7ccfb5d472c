package e2e

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

// pnpPhones are the vendors of the PnP flow, each with a MAC from its OUI.
var pnpPhones = []struct {
	vendor, model, mac string
	// noLangCodecs: the vendor has no provisioning key for display language
	// or codecs (Gigaset DECT bases), so the flow leaves both unset.
	noLangCodecs bool
}{
	{vendor: "yealink", model: "T54W", mac: "805ec0e20001"},
	{vendor: "fanvil", model: "X4U", mac: "0c383ee20002"},
	{vendor: "grandstream", model: "GRP2614", mac: "000b82e20003"},
	{vendor: "snom", model: "D785", mac: "000413e20004"},
	{vendor: "gigaset", model: "N670", mac: "7c2f80e20005", noLangCodecs: true},
}

// TestPnPFlow: the phone boots → discovered with vendor, model, firmware →
// assigned with every seed setting → NOTIFY, files fetched, parsed config holds
// exactly those settings and the extension's credentials → provisioned.
func TestPnPFlow(t *testing.T) {
	s := newSite(t)
	s.start()
	for i, p := range pnpPhones {
		t.Run(p.vendor, func(t *testing.T) {
			s := s.forSubtest(t)
			ext := fmt.Sprintf("%d", 201+i)
			sipPW := "sip-pw-" + p.vendor + "-Zq9"
			webPW := "web-pw-" + p.vendor + "-Xk7"
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			wait := s.phonesim(ctx, append([]string{"boot", "--vendor", p.vendor, "--model", p.model, "--mac", p.mac,
				"--iface", s.phone.Iface(), "--wait-account", "90s", "--tls-ca", s.cert, "-o", "json"}, s.ownLink()...)...)

			ph := s.waitPhone(p.mac, "discovered", stateIs("discovered"))
			if ph["vendor"] != p.vendor || ph["model"] == "" || ph["firmware"] == "" {
				t.Errorf("discovered phone: vendor %v model %v firmware %v", ph["vendor"], ph["model"], ph["firmware"])
			}

			s.ctl("extensions", "add", ext, "--name", "User "+ext+" <&>", "--password", sipPW)
			args := []string{"phones", "assign", p.mac, "--extension", ext,
				"--web-password", webPW, "--timezone", "Europe/Berlin", "--interface", "default",
				"--transport", "tcp", "--rps", "--https"}
			if !p.noLangCodecs {
				args = append(args, "--language", "de", "--codecs", "g722,pcma,pcmu")
			}
			s.ctl(args...)

			r := wait()
			c := r.Config
			if c == nil || len(c.Accounts) == 0 {
				t.Fatalf("no account in the phone's config: %+v", r)
			}
			a := c.Accounts[0]
			if a.User != ext || a.Password != sipPW || a.Server != s.pbxAddr() || a.Port != 5060 || strings.ToLower(a.Transport) != "tcp" {
				t.Errorf("account: user %q server %q:%d transport %q (password match %v); want %s@%s:5060 tcp",
					a.User, a.Server, a.Port, a.Transport, a.Password == sipPW, ext, s.pbxAddr())
			}
			if !c.WebPasswordSet || c.WebPassword != webPW {
				t.Errorf("web password set=%v match=%v", c.WebPasswordSet, c.WebPassword == webPW)
			}
			if c.UTCOffset == nil || *c.UTCOffset != berlinOffset() {
				t.Errorf("utc offset %v, want %d (Europe/Berlin)", c.UTCOffset, berlinOffset())
			}
			if !strings.HasPrefix(c.ProvisioningURL, "https://"+s.pbxAddr()+":8443/p/") {
				t.Errorf("phone polls %q, want the HTTPS edge", c.ProvisioningURL)
			}
			if !p.noLangCodecs {
				if c.LanguageTag != "de" {
					t.Errorf("language %q, want de", c.LanguageTag)
				}
				if !slices.Equal(c.Codecs, []string{"g722", "pcma", "pcmu"}) {
					t.Errorf("codecs %v, want [g722 pcma pcmu]", c.Codecs)
				}
			}
			ph = s.waitPhone(p.mac, "provisioned", stateIs("provisioned"))
			settings, _ := ph["settings"].(map[string]any)
			if settings["save_to_rps"] != true || settings["https"] != true {
				t.Errorf("settings after provisioning: %v", settings)
			}
			// Secrets never reach the logs, even at debug level.
			url := strings.TrimSpace(s.ctl("phones", "url", p.mac))
			token := strings.TrimSuffix(url[strings.Index(url, "/p/")+3:], "/")
			logs := s.logs.String()
			for what, secret := range map[string]string{"SIP password": sipPW, "web password": webPW, "token": token} {
				if len(secret) < 8 || strings.Contains(logs, secret) {
					t.Errorf("the %s appears in dialtone's logs (or is too short to check)", what)
				}
			}
		})
	}
}

// TestManualFlow: Poly and Cisco are added by MAC and boot from their URL.
func TestManualFlow(t *testing.T) {
	s := newSite(t)
	s.start()
	for i, p := range []struct{ vendor, model, mac string }{
		{"poly", "VVX450", "64167fe30001"},
		{"cisco", "CP-8851-3PCC", "00a289e30002"},
	} {
		t.Run(p.vendor, func(t *testing.T) {
			s := s.forSubtest(t)
			ext := fmt.Sprintf("%d", 301+i)
			pw := "manual-pw-" + p.vendor
			s.ctl("extensions", "add", ext, "--name", "Manual "+p.vendor, "--password", pw)
			s.ctl("phones", "add", "--mac", p.mac, "--model", p.model, "--vendor", p.vendor, "--extension", ext,
				"--timezone", "America/New_York", "--codecs", "pcmu,g722")
			url := strings.TrimSpace(s.ctl("phones", "url", p.mac))
			if !strings.HasPrefix(url, "http://"+s.pbxAddr()+":8080/p/") {
				t.Fatalf("phones url = %q", url)
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			r := s.phonesim(ctx, "boot", "--vendor", p.vendor, "--model", p.model, "--mac", p.mac, "--url", url, "-o", "json")()
			if r.Config == nil || len(r.Config.Accounts) == 0 || r.Config.Accounts[0].User != ext || r.Config.Accounts[0].Password != pw {
				t.Fatalf("manual boot config: %+v", r.Config)
			}
			if !slices.Equal(r.Config.Codecs, []string{"pcmu", "g722"}) {
				t.Errorf("codecs %v", r.Config.Codecs)
			}
			ph := s.waitPhone(p.mac, "provisioned", stateIs("provisioned"))
			// Never seen by SIP PnP: the fetches are how the phone is seen,
			// and its User-Agent names the firmware.
			if ph["firmware"] == nil || ph["firmware"] == "" || ph["last_seen_time"] == nil {
				t.Errorf("after its fetches: firmware %v, last seen %v", ph["firmware"], ph["last_seen_time"])
			}
			var row string
			for _, l := range strings.Split(s.ctl("phones", "list"), "\n") {
				if strings.Contains(l, p.vendor) {
					row = l
				}
			}
			if fw, _ := ph["firmware"].(string); fw == "" || !strings.Contains(row, " "+fw+" ") || !strings.Contains(row, "provisioned") {
				t.Errorf("phones list row without firmware %q or state: %q", fw, row)
			}
		})
	}
}

// TestKillAndRestart: dialtone is killed (SIGKILL) in the middle; after a
// restart nothing is lost and phones that boot afterwards are served.
func TestKillAndRestart(t *testing.T) {
	s := newSite(t)
	s.start()
	s.ctl("extensions", "add", "401", "--name", "Before Crash", "--password", "crash-pw-401")
	s.ctl("extensions", "add", "402", "--name", "After Crash", "--password", "crash-pw-402")
	s.ctl("phones", "add", "--mac", "64167fe40001", "--model", "VVX450", "--extension", "401",
		"--language", "fr", "--timezone", "Europe/Paris", "--web-password", "web-401")
	url := strings.TrimSpace(s.ctl("phones", "url", "64167fe40001"))

	// A PnP phone discovered before the crash.
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	wait := s.phonesim(ctx, append([]string{"boot", "--vendor", "yealink", "--model", "T54W", "--mac", "805ec0e40002",
		"--iface", s.phone.Iface(), "--wait-notify", "5s", "-o", "json"}, s.ownLink()...)...)
	s.waitPhone("805ec0e40002", "discovered", stateIs("discovered"))
	wait()

	s.kill()
	s.start()

	if out := s.ctl("extensions", "list"); !strings.Contains(out, "401") || !strings.Contains(out, "402") {
		t.Fatalf("extensions after restart:\n%s", out)
	}
	ph := s.phoneJSON("64167fe40001")
	settings, _ := ph["settings"].(map[string]any)
	if settings["language"] != "fr" || settings["time_zone"] != "Europe/Paris" || settings["has_web_password"] != true {
		t.Errorf("settings lost across the restart: %v", settings)
	}
	if got := strings.TrimSpace(s.ctl("phones", "url", "64167fe40001")); got != url {
		t.Errorf("provisioning URL changed across the restart")
	}

	// The manual phone boots now and is served.
	r := s.phonesim(ctx, "boot", "--vendor", "poly", "--model", "VVX450", "--mac", "64167fe40001", "--url", url, "-o", "json")()
	if r.Config == nil || len(r.Config.Accounts) == 0 || r.Config.Accounts[0].User != "401" {
		t.Fatalf("after restart: %+v", r.Config)
	}
	s.waitPhone("64167fe40001", "provisioned", stateIs("provisioned"))

	// The PnP phone seen before the crash reboots, is assigned, and is provisioned.
	wait = s.phonesim(ctx, append([]string{"boot", "--vendor", "yealink", "--model", "T54W", "--mac", "805ec0e40002",
		"--iface", s.phone.Iface(), "--wait-account", "90s", "-o", "json"}, s.ownLink()...)...)
	s.ctl("phones", "assign", "805ec0e40002", "--extension", "402")
	r = wait()
	if r.Config == nil || len(r.Config.Accounts) == 0 || r.Config.Accounts[0].Password != "crash-pw-402" {
		t.Fatalf("PnP after restart: %+v", r.Config)
	}
	s.waitPhone("805ec0e40002", "provisioned", stateIs("provisioned"))
}

// berlinOffset is Europe/Berlin's UTC offset now, in seconds.
func berlinOffset() int {
	loc, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		return 3600
	}
	_, off := time.Now().In(loc).Zone()
	return off
}
