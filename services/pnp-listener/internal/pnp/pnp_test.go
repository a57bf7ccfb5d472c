package pnp

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// capture reads a capture file (stored with LF line ends for review) and
// returns it as the phone put it on the wire, with CRLF.
func capture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "captures", name))
	if err != nil {
		t.Fatal(err)
	}
	return []byte(strings.ReplaceAll(string(b), "\n", "\r\n"))
}

func TestCaptures(t *testing.T) {
	tests := []struct {
		file string
		want Subscribe
	}{
		{"snom-OEM-1.sip", Subscribe{MAC: "00135e874b49", MACSource: MACFromRequestURI, Vendor: "", VendorParam: "OEM", Model: "OEM", Version: "7.1.19", ProfileType: "device", CallID: "3c26700e32c5-ovtd8rmb9nku", Contact: "sip:192.168.10.67:5060"}},
		{"snom-snomD385-1.sip", Subscribe{MAC: "000413939050", MACSource: MACFromRequestURI, Vendor: "snom", VendorParam: "snom", Model: "D385", Version: "10.1.119.10", ProfileType: "device", UserAgent: "snomD385/10.1.119.10", CallID: "4f5b3c2a9e7d1f80", Contact: "sip:192.168.1.50:57648"}},
		{"snom-snom720-fake.sip", Subscribe{MAC: "000413874b49", MACSource: MACFromRequestURI, Vendor: "snom", VendorParam: "snom", Model: "720", Version: "8.7.3.25", ProfileType: "device", CallID: "3c26700e32c5-ovtd8rmb9nku@172.16.18.90", Contact: "sip:172.16.18.90:5060"}},
		{"grandstream-GRP2612W-1.sip", Subscribe{MAC: "c074ad112233", MACSource: MACFromRequestURI, Vendor: "grandstream", VendorParam: "Grandstream", Model: "GRP2612W", Version: "1.0.5.67", ProfileType: "device", UserAgent: "Grandstream GRP2612W 1.0.5.67", CallID: "1393946561-5080-1@BJC.BGI.B.C", Contact: "sip:192.168.1.2:5080"}},
		{"yealink-W52P-1.sip", Subscribe{MAC: "001565f4f9e1", MACSource: MACFromRequestURI, Vendor: "yealink", VendorParam: "yealink", Model: "W52P", Version: "25.81.0.10", ProfileType: "device", UserAgent: "Yealink W52P 25.81.0.10", CallID: "1536537630@10.1.3.239", Contact: "sip:MAC001565f4f9e1@10.1.3.239:5059"}},
		{"yealink-T21P-1.sip", Subscribe{MAC: "0015657322ff", MACSource: MACFromRequestURI, Vendor: "yealink", VendorParam: "yealink", Model: "T21P", Version: "34.72.0.1", ProfileType: "device", UserAgent: "Yealink SIP-T21P 34.72.0.1", CallID: "42032772@172.16.32.148", Contact: "sip:MAC0015657322ff@172.16.32.148:5059"}},
		{"planet-VIP-2140PT-1.sip", Subscribe{MAC: "00304fa99948", MACSource: MACFromRequestURI, Vendor: "", VendorParam: "PLANET", Model: "VIP-2140PT", Version: "2.0.3.2991", ProfileType: "device", CallID: "1393459437@192.168.1.100", Contact: "sip:192.168.1.100:5060"}},
		{"audiocodes-440HD-1.sip", Subscribe{MAC: "", Vendor: "", Model: "440HD", Version: "2.2.2", ProfileType: "application", UserAgent: "AUDC-IPPhone/2.2.2", CallID: "9d3e7c51-2b7a-4f8e-a1c9-6e5b4d3c2a18@10.13.2.37", Contact: "sip:00000001@10.13.2.37:5060"}},
		{"panasonic-KX-HDV130-1.sip", Subscribe{MAC: "0080f0a1b2c3", MACSource: MACFromRequestURI, Vendor: "", VendorParam: "Panasonic", Model: "KX-HDV130", Version: "02.000", ProfileType: "device", UserAgent: "Panasonic-KX-HDV130/02.000 (0080f0a1b2c3)", CallID: "5581906@192.168.0.21", Contact: "sip:192.168.0.21:5060"}},
		{"gigaset-N670-1.sip", Subscribe{MAC: "7c2f80a1b2c3", MACSource: MACFromRequestURI, Vendor: "gigaset", VendorParam: "Gigaset", Model: "N670", Version: "2.52.0", ProfileType: "device", CallID: "2fa8c3e1b7d94a60@192.168.2.40", Contact: "sip:192.168.2.40:5060"}},
		{"compact-headers-1.sip", Subscribe{MAC: "000413aabbcc", MACSource: MACFromRequestURI, Vendor: "snom", VendorParam: "snom", Model: "D120", Version: "10.1.54.13", ProfileType: "device", CallID: "compact-77@192.168.1.60", Contact: "sip:192.168.1.60:5060"}},
		{"colon-mac-1.sip", Subscribe{MAC: "0c383e07e16c", MACSource: MACFromRequestURI, Vendor: "fanvil", VendorParam: "Fanvil", Model: "X4", Version: "2.10.2.6887", ProfileType: "device", UserAgent: "Fanvil X4 2.10.2.6887 0c383e07e16c", CallID: "99001@192.168.1.77", Contact: "sip:192.168.1.77:5060"}},
	}
	files, _ := filepath.Glob("testdata/captures/*.sip")
	if len(files) != len(tests) {
		t.Errorf("%d capture files, %d cases: every capture needs a case", len(files), len(tests))
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			data := capture(t, tt.file)
			_, got, err := Parse(data)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			got.Event = ""
			if got != tt.want {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestEventEcho(t *testing.T) {
	_, s, err := Parse(capture(t, "yealink-W52P-1.sip"))
	if err != nil {
		t.Fatal(err)
	}
	if want := `ua-profile;profile-type="device";vendor="yealink";model="W52P";version="25.81.0.10"`; s.Event != want {
		t.Errorf("Event = %q, want %q", s.Event, want)
	}
}

// mutate applies line replacements to a capture, to build the variants
// the captures do not cover.
func mutate(t *testing.T, file string, repl ...string) []byte {
	t.Helper()
	s := string(capture(t, file))
	for i := 0; i+1 < len(repl); i += 2 {
		if !strings.Contains(s, repl[i]) {
			t.Fatalf("%s has no %q", file, repl[i])
		}
		s = strings.Replace(s, repl[i], repl[i+1], 1)
	}
	return []byte(s)
}

func TestVariants(t *testing.T) {
	tests := []struct {
		name                string
		data                []byte
		mac, source, vendor string
		err                 error
	}{
		{"MAC only in From", mutate(t, "yealink-W52P-1.sip", "SUBSCRIBE sip:MAC001565f4f9e1@224.0.1.75", "SUBSCRIBE sip:224.0.1.75"),
			"001565f4f9e1", MACFromFrom, "yealink", nil},
		{"MAC only in To", mutate(t, "grandstream-GRP2612W-1.sip", "SUBSCRIBE sip:MAC%3AC074AD112233@224.0.1.75", "SUBSCRIBE sip:224.0.1.75",
			"From: <sip:MAC%3AC074AD112233@224.0.1.75>", "From: <sip:anonymous@224.0.1.75>"),
			"c074ad112233", MACFromTo, "grandstream", nil},
		{"MAC only in Contact", mutate(t, "yealink-W52P-1.sip", "SUBSCRIBE sip:MAC001565f4f9e1@224.0.1.75", "SUBSCRIBE sip:224.0.1.75",
			"From: <sip:MAC001565f4f9e1@224.0.1.75>", "From: <sip:x@224.0.1.75>", "To: <sip:MAC001565f4f9e1@224.0.1.75>", "To: <sip:224.0.1.75>"),
			"001565f4f9e1", MACFromContact, "yealink", nil},
		{"lower-case mac prefix and %3A", mutate(t, "snom-snomD385-1.sip", "SUBSCRIBE sip:MAC%3a000413939050", "SUBSCRIBE sip:mac%3A000413939050"),
			"000413939050", MACFromRequestURI, "snom", nil},
		{"vendor missing, OUI decides", mutate(t, "yealink-W52P-1.sip", `vendor="yealink";`, ""),
			"001565f4f9e1", MACFromRequestURI, "yealink", nil},
		{"vendor missing, User-Agent decides", mutate(t, "yealink-W52P-1.sip", `vendor="yealink";`, "", "MAC001565f4f9e1@224.0.1.75 SIP/2.0", "MAC00aabbf4f9e1@224.0.1.75 SIP/2.0"),
			"00aabbf4f9e1", MACFromRequestURI, "yealink", nil},
		{"upper-case parameter names", mutate(t, "grandstream-GRP2612W-1.sip", `profile-type="device";vendor=`, `Profile-Type="DEVICE";VENDOR=`),
			"c074ad112233", MACFromRequestURI, "grandstream", nil},
		{"unquoted parameters with spaces", mutate(t, "grandstream-GRP2612W-1.sip", `Event: ua-profile;profile-type="device";vendor="Grandstream"`, `Event: UA-Profile ; profile-type = device ; vendor = Grandstream`),
			"c074ad112233", MACFromRequestURI, "grandstream", nil},
		{"no Max-Forwards, no User-Agent", mutate(t, "grandstream-GRP2612W-1.sip", "Max-Forwards: 70\r\n", "", "User-Agent: Grandstream GRP2612W 1.0.5.67\r\n", ""),
			"c074ad112233", MACFromRequestURI, "grandstream", nil},
		{"other event", mutate(t, "yealink-W52P-1.sip", `Event: ua-profile;profile-type="device";vendor="yealink";model="W52P";version="25.81.0.10"`, "Event: message-summary"),
			"", "", "", ErrBadEvent},
		{"profile-type user", mutate(t, "yealink-W52P-1.sip", `profile-type="device"`, `profile-type="user"`),
			"", "", "", ErrBadEvent},
		{"no Event", mutate(t, "yealink-W52P-1.sip", `Event: ua-profile;profile-type="device";vendor="yealink";model="W52P";version="25.81.0.10"`+"\r\n", ""),
			"", "", "", ErrBadEvent},
		{"not SUBSCRIBE", mutate(t, "yealink-W52P-1.sip", "SUBSCRIBE sip:", "REGISTER sip:", "CSeq: 1 SUBSCRIBE", "CSeq: 1 REGISTER"),
			"", "", "", ErrNotSubscribe},
		{"MAC too long is no MAC", mutate(t, "audiocodes-440HD-1.sip", "From: <sip:00000001@", "From: <sip:MAC%3a0004139390501@"),
			"", "", "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, s, err := Parse(tt.data)
			if err != tt.err {
				t.Fatalf("err = %v, want %v", err, tt.err)
			}
			if s.MAC != tt.mac || s.MACSource != tt.source || s.Vendor != tt.vendor {
				t.Errorf("mac %q from %q vendor %q; want %q from %q vendor %q", s.MAC, s.MACSource, s.Vendor, tt.mac, tt.source, tt.vendor)
			}
		})
	}
}

func TestMACFromUser(t *testing.T) {
	good := map[string]string{
		"MAC%3a00135E874B49": "00135e874b49",
		"MAC%3AC074AD112233": "c074ad112233",
		"MAC001565f4f9e1":    "001565f4f9e1",
		"MAC:0c383e07e16c":   "0c383e07e16c",
		"MAC=00304fa99948":   "00304fa99948",
		"mac%3a00304fa99948": "00304fa99948",
	}
	for in, want := range good {
		if got := MACFromUser(in); got != want {
			t.Errorf("MACFromUser(%q) = %q, want %q", in, got, want)
		}
	}
	for _, in := range []string{"", "MAC", "00000001", "001565f4f9e1", "MAC%3b001565f4f9e1", "MAC%3a001565f4f9e", "MAC%3a001565f4f9e1x",
		"MAC-001565f4f9e1", "MACg01565f4f9e1", "MAC%3a00:15:65:f4:f9:e1", "XAC001565f4f9e1"} {
		if got := MACFromUser(in); got != "" {
			t.Errorf("MACFromUser(%q) = %q, want none", in, got)
		}
	}
}

func TestParseEvent(t *testing.T) {
	tests := []struct {
		in   string
		want Event
	}{
		{`ua-profile;profile-type="device";vendor="OEM";model="OEM";version="7.1.19"`, Event{"ua-profile", "device", "OEM", "OEM", "7.1.19"}},
		{`ua-profile;profile-type="application";model="440HD";version="2.2.2"`, Event{"ua-profile", "application", "", "440HD", "2.2.2"}},
		{`ua-profile;profile-type="device";vender="Panasonic";model="KX-HDV130"`, Event{"ua-profile", "device", "Panasonic", "KX-HDV130", ""}},
		{`ua-profile;model="a;b";vendor="x\"y"`, Event{"ua-profile", "", `x"y`, "a;b", ""}},
		{`UA-PROFILE`, Event{Type: "ua-profile"}},
		{`ua-profile;;=;model;vendor="unterminated`, Event{Type: "ua-profile", Vendor: `"unterminated`}},
		{`ua-profile;model="` + strings.Repeat("m", 200) + `"`, Event{Type: "ua-profile", Model: strings.Repeat("m", maxParam)}},
		{"ua-profile;model=\"a\x01b\r\nc\"", Event{Type: "ua-profile", Model: "abc"}},
	}
	for _, tt := range tests {
		if got := ParseEvent(tt.in); got != tt.want {
			t.Errorf("ParseEvent(%q) = %+v, want %+v", tt.in, got, tt.want)
		}
	}
}

func TestIdentifyVendor(t *testing.T) {
	tests := []struct{ param, model, mac, ua, want string }{
		{"Yealink", "", "", "", "yealink"},
		{"OEM", "OEM", "000413874b49", "", "snom"},
		{"OEM", "OEM", "00135e874b49", "", ""},
		{"", "440HD", "", "AUDC-IPPhone/2.2.2", ""},
		{"", "", "", "Mozilla/4.0 (compatible; snomD785-SIP 10.1.33.33)", "snom"},
		{"", "", "", "Cisco-CP-7832-3PCC/11.0.1 (00562b043615)", "cisco"},
		{"Polycom", "", "", "", "poly"},
		{"", "snomD120", "", "", "snom"},
		{"PLANET", "VIP-2140PT", "00304fa99948", "", ""},
		{"", "", "0c383e000001", "", "fanvil"},
		// What the phone says beats its MAC's block (OEM hardware).
		{"", "", "0c383e000001", "Yealink SIP-T54W 96.86.0.45 0c:38:3e:00:00:01", "yealink"},
		{"", "CP-8851-3PCC", "00562b000001", "", "cisco"}, // Cisco is in the table now
		{"", "", "001fc1000001", "", "htek"},
		{"", "", "64167f000001", "", "poly"},
	}
	for _, tt := range tests {
		if got := IdentifyVendor(tt.param, tt.model, tt.mac, tt.ua); got != tt.want {
			t.Errorf("IdentifyVendor(%q,%q,%q,%q) = %q, want %q", tt.param, tt.model, tt.mac, tt.ua, got, tt.want)
		}
	}
}

func TestCleanBoundsEverything(t *testing.T) {
	if got := Clean("a\r\nb\x00c\x7fd é", 100); got != "abcd" {
		t.Errorf("Clean = %q", got)
	}
	if got := Clean(strings.Repeat("x", 10), 4); got != "xxxx" {
		t.Errorf("Clean = %q", got)
	}
}

// FuzzParse feeds arbitrary datagrams through sipgo's parser and ours. It
// checks that nothing panics and that whatever comes out is bounded and
// safe to put into a header, a log line or an event.
func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob("testdata/captures/*.sip")
	for _, file := range files {
		f.Add(capture(f, filepath.Base(file)))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		_, s, err := Parse(data)
		if err != nil {
			return
		}
		for name, v := range map[string]string{"VendorParam": s.VendorParam, "Model": s.Model, "Version": s.Version,
			"ProfileType": s.ProfileType, "UserAgent": s.UserAgent, "CallID": s.CallID, "Contact": s.Contact, "Event": s.Event} {
			if Clean(v, 1<<20) != strings.TrimSpace(v) || len(v) > maxEvent {
				t.Fatalf("%s = %q is not clean or bounded", name, v)
			}
		}
		if s.MAC != "" && len(s.MAC) != 12 {
			t.Fatalf("MAC %q", s.MAC)
		}
		if !strings.HasPrefix(strings.ToLower(s.Event), "ua-profile") {
			t.Fatalf("Event %q", s.Event)
		}
		if s.Vendor != "" && NormalizeVendor(s.Vendor) != s.Vendor {
			t.Fatalf("vendor %q is not a key", s.Vendor)
		}
	})
}

func BenchmarkParse(b *testing.B) {
	data := capture(b, "grandstream-GRP2612W-1.sip")
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := Parse(data); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkFromRequest(b *testing.B) {
	req, _, err := Parse(capture(b, "grandstream-GRP2612W-1.sip"))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := FromRequest(req); err != nil {
			b.Fatal(err)
		}
	}
}
