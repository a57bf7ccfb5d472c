package ctl

import (
	"encoding/json"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// addPhone gives s an interface, extension 301 and an assigned phone with
// every setting.
func (s *server) addPhone(t *testing.T, mac string) {
	t.Helper()
	s.run(t, "interfaces", "add", "pbx", "--host", "pbx.example.com", "--tls-port", "5061").ok(t)
	s.run(t, "extensions", "add", "301", "--name", "Ann", "--password", "pw-301").ok(t)
	s.run(t, "phones", "add", "--mac", mac, "--model", "T54W", "--extension", "301", "--transport", "tls",
		"--codecs", "g722,pcmu", "--language", "de").ok(t)
}

// TestJSONSpeaksTheFlagsWords: -o json prints enum values in the words the
// flags take (issue 18 point 8), everywhere a message is printed.
func TestJSONSpeaksTheFlagsWords(t *testing.T) {
	s := startServer(t)
	s.addPhone(t, "001565000301")
	r := s.run(t, "phones", "show", "001565000301", "-o", "json").ok(t)
	var p map[string]any
	if err := json.Unmarshal([]byte(r.out), &p); err != nil {
		t.Fatalf("%v\n%s", err, r.out)
	}
	settings, _ := p["settings"].(map[string]any)
	if p["state"] != "assigned" || p["origin"] != "manual" || settings["transport"] != "tls" ||
		!equalAny(settings["codecs"], []any{"g722", "pcmu"}) || settings["language"] != "de" {
		t.Errorf("phones show -o json: state %v origin %v settings %v", p["state"], p["origin"], settings)
	}
	// Field order is protojson's (name first), not alphabetical.
	if !strings.HasPrefix(strings.TrimSpace(r.out), "{\n  \"name\": \"phones/001565000301\"") {
		t.Errorf("field order changed:\n%s", r.out)
	}
	for _, cmd := range [][]string{{"phones", "list"}, {"phones", "set", "001565000301", "--transport", "udp"}, {"tenants", "list"}} {
		out := s.run(t, append(cmd, "-o", "json")...).ok(t).out
		if regexp.MustCompile(`"[A-Z][A-Z0-9]*_[A-Z0-9_]+"`).MatchString(out) {
			t.Errorf("%v -o json prints an enum name:\n%s", cmd, out)
		}
	}
	// What JSON prints, the flags take back.
	s.run(t, "phones", "list", "--state", p["state"].(string), "--vendor", p["vendor"].(string)).ok(t)
}

func equalAny(a any, b []any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}

// TestLanguageTags: --language is case-insensitive and a region the list
// lacks falls back to its language, in the CLI and in inventory.
func TestLanguageTags(t *testing.T) {
	s := startServer(t)
	s.addPhone(t, "001565000302")
	for in, want := range map[string]string{"de-DE": "de", "DE": "de", "en-gb": "en-GB", "pt_BR": "pt-BR", "FR-ch": "fr"} {
		s.run(t, "phones", "set", "001565000302", "--language", in).ok(t)
		if got := showField(t, s.run(t, "phones", "show", "001565000302").ok(t).out, "Language"); got != want {
			t.Errorf("--language %s: shown %q, want %q", in, got, want)
		}
	}
	s.run(t, "phones", "set", "001565000302", "--language", "klingon").fails(t, 2, "--language", "klingon")
	// The CSV import goes through the same check.
	file := writeCSV(t, "mac,model,extension,password,language\n001565000303,T54W,302,pw,DE-de\n")
	s.run(t, "phones", "import", file).ok(t)
	if got := showField(t, s.run(t, "phones", "show", "001565000303").ok(t).out, "Language"); got != "de" {
		t.Errorf("imported language %q", got)
	}
}

// TestOneErrorPrefix: errors never repeat the program name (main prints
// "dialtonectl: " before them) nor their kind.
func TestOneErrorPrefix(t *testing.T) {
	s := startServer(t)
	for _, tc := range []struct {
		args []string
		code int
	}{
		{[]string{"phones", "frob"}, 2},
		{[]string{"phones", "assign"}, 2},
		{[]string{"phones", "list", "--bogus"}, 2},
		{[]string{"phones"}, 2},
		{[]string{"phones", "show", "001565000399"}, 1},
		{[]string{"phones", "assign", "001565000399", "--extension", "1"}, 1},
		{[]string{"extensions", "delete", "999"}, 1},
		{[]string{"tenants", "add", "default"}, 1},
	} {
		r := s.run(t, tc.args...).fails(t, tc.code)
		msg := r.err.Error()
		if strings.HasPrefix(msg, "dialtonectl") || strings.Contains(msg, "dialtonectl:") {
			t.Errorf("%v: %q names the program (main adds it)", tc.args, msg)
		}
		for _, w := range []string{"not found", "already exists"} {
			if strings.Count(msg, w) > 1 {
				t.Errorf("%v: %q says %q twice", tc.args, msg, w)
			}
		}
	}
}

var tableTimeRE = regexp.MustCompile(`\d{4}-\d\d-\d\d \d\d:\d\d:\d\d [A-Za-z0-9+-]+`)

// TestWatchReplayAndTimes: "watch --since 0" replays from the first change;
// tables print times with their zone, JSON in RFC 3339.
func TestWatchReplayAndTimes(t *testing.T) {
	s := startServer(t)
	s.addPhone(t, "001565000304")
	s.run(t, "phones", "set", "001565000304", "--language", "fr").ok(t)
	s.run(t, "phones", "unassign", "001565000304").ok(t)

	r := s.run(t, "watch", "--since", "0", "--count", "3", "-o", "json").ok(t)
	var kinds []string
	var first uint64
	for l := range strings.SplitSeq(strings.TrimSpace(r.out), "\n") {
		var ev map[string]any
		if err := json.Unmarshal([]byte(l), &ev); err != nil {
			t.Fatalf("not NDJSON: %q", l)
		}
		kinds = append(kinds, ev["change_type"].(string))
		if _, err := time.Parse(time.RFC3339Nano, ev["change_time"].(string)); err != nil {
			t.Errorf("change_time not RFC 3339: %v", err)
		}
		if first == 0 {
			first, _ = strconv.ParseUint(ev["sequence"].(string), 10, 64)
		}
	}
	if strings.Join(kinds, ",") != "created,updated,unassigned" || first != 1 {
		t.Fatalf("watch --since 0: %v from sequence %d", kinds, first)
	}
	// --since N starts after N.
	if r := s.run(t, "watch", "--since", "1", "--count", "1", "-o", "json").ok(t); !strings.Contains(r.out, `"change_type":"updated"`) {
		t.Errorf("watch --since 1: %s", r.out)
	}
	// Table: the time has its zone.
	r = s.run(t, "watch", "--since", "0", "--count", "1").ok(t)
	zone := time.Now().Format("MST")
	if m := tableTimeRE.FindString(r.out); m == "" || !strings.HasSuffix(m, zone) {
		t.Errorf("watch table time without zone %s:\n%s", zone, r.out)
	}
	if r := s.run(t, "templates", "show").ok(t); !strings.Contains(r.out, " "+zone) {
		t.Errorf("templates show time without zone %s:\n%s", zone, r.out)
	}
}
