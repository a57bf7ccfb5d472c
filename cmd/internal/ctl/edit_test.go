package ctl

import (
	"encoding/json"
	"strconv"
	"strings"
	"testing"
)

// showField returns the value of one "Key: value" row of "phones show".
func showField(t *testing.T, out, key string) string {
	t.Helper()
	for l := range strings.SplitSeq(out, "\n") {
		if k, v, ok := strings.Cut(l, ":"); ok && k == key {
			return strings.TrimSpace(v)
		}
	}
	t.Fatalf("no %q in:\n%s", key, out)
	return ""
}

func (s *server) revision(t *testing.T, mac string) int {
	t.Helper()
	n, err := strconv.Atoi(showField(t, s.run(t, "phones", "show", mac).ok(t).out, "Revision"))
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestEditInPlace: re-assigning keeps the settings not given (issue 18
// point 1); "phones set" changes one setting and --clear resets one;
// "extensions update" (point 3), "interfaces update" and "tenants update"
// change only the flags given, and every change that alters the phone's
// files gives it a new revision (an UPDATED change: its check-sync).
func TestEditInPlace(t *testing.T) {
	s := startServer(t)
	s.run(t, "interfaces", "add", "pbx", "--host", "pbx.example.com", "--tls-port", "5061").ok(t)
	s.run(t, "extensions", "add", "201", "--name", "Alice", "--password", "pw-201").ok(t)
	s.run(t, "extensions", "add", "202", "--name", "Bob", "--password", "pw-202").ok(t)
	mac := "00:15:65:00:02:01"
	s.run(t, "phones", "add", "--mac", mac, "--model", "T54W", "--extension", "201", "--web-password", "Web-pw-1",
		"--language", "de", "--timezone", "Europe/Berlin", "--transport", "tls", "--codecs", "g722,pcmu", "--https").ok(t)

	// Point 1: "phones assign --transport udp" on an assigned phone changes
	// the transport (and the lines) and keeps everything else.
	s.run(t, "phones", "assign", mac, "--extension", "201", "--line2", "202", "--transport", "udp").ok(t)
	show := s.run(t, "phones", "show", mac).ok(t).out
	for k, want := range map[string]string{"Transport": "udp", "Language": "de", "Time zone": "Europe/Berlin",
		"Codecs": "g722,pcmu", "Web password": "set", "HTTPS": "yes", "Line 2": "202"} {
		if got := showField(t, show, k); got != want {
			t.Errorf("after re-assign, %s = %q, want %q", k, got, want)
		}
	}

	// phones set: only the flags given; --clear resets.
	rev := s.revision(t, mac)
	r := s.run(t, "phones", "set", mac, "--language", "fr", "--clear", "codecs", "--https=false").ok(t)
	if !strings.Contains(r.out, "updated 00:15:65:00:02:01") || !strings.Contains(r.out, "changed language, no codecs, https") {
		t.Errorf("phones set: %s", r.out)
	}
	show = s.run(t, "phones", "show", mac).ok(t).out
	for k, want := range map[string]string{"Transport": "udp", "Language": "fr", "Time zone": "Europe/Berlin",
		"Codecs": "-", "Web password": "set", "HTTPS": "no", "Line 1": "201"} {
		if got := showField(t, show, k); got != want {
			t.Errorf("after phones set, %s = %q, want %q", k, got, want)
		}
	}
	if s.revision(t, mac) <= rev {
		t.Error("phones set made no new revision")
	}
	// The same value again changes nothing.
	rev = s.revision(t, mac)
	s.run(t, "phones", "set", mac, "--language", "fr").ok(t)
	if s.revision(t, mac) != rev {
		t.Error("setting the same language made a new revision")
	}
	s.run(t, "phones", "set", mac, "--web-password", "Web-pw-2", "--interface", "pbx").ok(t)
	s.run(t, "phones", "set", mac).fails(t, 2, "nothing to change")
	s.run(t, "phones", "set", mac, "--language", "fr", "--clear", "language").fails(t, 2, "--clear language")
	s.run(t, "phones", "set", mac, "--clear", "colour").fails(t, 2, `--clear "colour"`)
	s.run(t, "phones", "set", mac, "--transport", "tcp").fails(t, 1, "invalid argument", "transport")
	s.run(t, "phones", "set", "001565000999", "--language", "fr").fails(t, 1, "not found")
	if r := s.run(t, "phones", "set", mac, "--timezone", "America/New_York", "-o", "json").ok(t); !strings.Contains(r.out, `"time_zone": "America/New_York"`) ||
		strings.Contains(r.out, "Web-pw") || strings.Contains(r.out, "provisioning_url") {
		t.Errorf("phones set -o json:\n%s", r.out)
	}

	// Point 3: extensions update changes the name and the password, and
	// the phones on it get a new configuration.
	rev = s.revision(t, mac)
	r = s.run(t, "extensions", "update", "201", "--name", "Alice Example", "--password", "pw-201-new").ok(t)
	if !strings.Contains(r.out, "updated extension 201 (Alice Example)") || strings.Contains(r.out, "pw-201") {
		t.Errorf("extensions update: %s", r.out)
	}
	if r := s.run(t, "extensions", "list").ok(t); !strings.Contains(r.out, "Alice Example") || strings.Contains(r.out, "pw-201") {
		t.Errorf("extensions list after update:\n%s", r.out)
	}
	if s.revision(t, mac) <= rev {
		t.Error("extensions update did not touch the phone on it")
	}
	s.run(t, "extensions", "update", "201").fails(t, 2, "nothing to change")
	s.run(t, "extensions", "update", "201", "--password", "").fails(t, 2, "--password must not be empty")
	s.run(t, "extensions", "update", "299", "--name", "x").fails(t, 1, "not found")

	// interfaces update: the host changes, the ports stay.
	rev = s.revision(t, mac)
	s.run(t, "interfaces", "update", "pbx", "--host", "pbx-new.example.com").ok(t)
	var ifs []map[string]any
	r = s.run(t, "interfaces", "list", "-o", "json").ok(t)
	if err := json.Unmarshal([]byte(r.out), &ifs); err != nil || len(ifs) != 1 || ifs[0]["host"] != "pbx-new.example.com" ||
		ifs[0]["udp_port"] != float64(5060) || ifs[0]["tls_port"] != float64(5061) {
		t.Errorf("interfaces list after update: %v\n%s", err, r.out)
	}
	if s.revision(t, mac) <= rev {
		t.Error("interfaces update did not touch the phone using it")
	}
	s.run(t, "interfaces", "update", "pbx", "--udp-port", "0").fails(t, 1, "refused", "udp")
	s.run(t, "interfaces", "update", "pbx").fails(t, 2, "nothing to change")

	// tenants update: NTP server and a default setting.
	rev = s.revision(t, mac)
	s.run(t, "tenants", "update", "default", "--ntp", "ntp2.example.com", "--language", "it").ok(t)
	r = s.run(t, "tenants", "list", "-o", "json").ok(t)
	if !strings.Contains(r.out, `"ntp_server": "ntp2.example.com"`) || !strings.Contains(r.out, `"language": "it"`) ||
		!strings.Contains(r.out, `"display_name": "Default"`) {
		t.Errorf("tenants list after update:\n%s", r.out)
	}
	if s.revision(t, mac) <= rev {
		t.Error("tenants update --ntp did not touch the tenant's phone")
	}
	s.run(t, "tenants", "update", "default", "--clear", "language").ok(t)
	if r := s.run(t, "tenants", "list", "-o", "json").ok(t); strings.Contains(r.out, `"language"`) {
		t.Errorf("tenants update --clear language:\n%s", r.out)
	}

	// tenants: the PnP listeners a tenant claims (its discovered-phone pool).
	s.run(t, "tenants", "update", "default", "--pnp-listeners", "site-a, site_b").ok(t)
	if r := s.run(t, "tenants", "list").ok(t); !strings.Contains(r.out, "PNP LISTENERS") || !strings.Contains(r.out, "site-a,site_b") {
		t.Errorf("tenants list after --pnp-listeners:\n%s", r.out)
	}
	s.run(t, "tenants", "add", "other", "--pnp-listeners", "site_b").fails(t, 1, "pnp_listeners", "tenants/default")
	s.run(t, "tenants", "update", "default", "--pnp-listeners", "Site A").fails(t, 1, "pnp_listeners[0]")
	s.run(t, "tenants", "update", "default", "--pnp-listeners", "").ok(t)
	s.run(t, "tenants", "add", "other", "--pnp-listeners", "site_b").ok(t)
	if r := s.run(t, "tenants", "list", "-o", "json").ok(t); strings.Count(r.out, "site_b") != 1 || strings.Contains(r.out, "site-a") {
		t.Errorf("tenants after moving site_b:\n%s", r.out)
	}
}
