package sipmsg

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/emiago/sipgo/sip"
)

const snomSubscribe = "SUBSCRIBE sip:MAC%3a000413939050@pbx.example.com SIP/2.0\r\n" +
	"Via: SIP/2.0/UDP 192.168.1.50:57648;rport\r\n" +
	"From: \"Phone\" <sip:MAC%3a000413939050@pbx.example.com>;tag=xbh2tjb5n8\r\n" +
	"To: <sip:MAC%3a000413939050@pbx.example.com>\r\n" +
	"Call-ID: 4f5b3c2a9e7d1f80\r\n" +
	"CSeq: 1 SUBSCRIBE\r\n" +
	"Contact: <sip:192.168.1.50:57648>\r\n" +
	"Event: ua-profile;profile-type=\"device\";vendor=\"snom\";model=\"snomD385\";version=\"10.1.119.10\"\r\n" +
	"Expires: 0\r\n" +
	"Accept: application/url\r\n" +
	"Content-Length: 0\r\n\r\n"

func parseReq(t *testing.T, s string) *sip.Request {
	t.Helper()
	m, err := sip.NewParser().ParseSIP([]byte(s))
	if err != nil {
		t.Fatal(err)
	}
	r := m.(*sip.Request)
	r.SetSource("192.168.1.50:57648")
	r.SetTransport("UDP")
	return r
}

var local = Local{Addr: netip.MustParseAddr("192.168.1.1"), Port: 5060}

func TestOK(t *testing.T) {
	req := parseReq(t, snomSubscribe)
	res := OK(req, local, "ourtag1")
	s := res.String()
	for _, want := range []string{
		"SIP/2.0 200 OK\r\n",
		"Via: SIP/2.0/UDP 192.168.1.50:57648;rport=57648;received=192.168.1.50\r\n",
		"To: <sip:MAC%3a000413939050@pbx.example.com>;tag=ourtag1\r\n",
		"Call-ID: 4f5b3c2a9e7d1f80\r\n",
		"CSeq: 1 SUBSCRIBE\r\n",
		"Contact: <sip:192.168.1.1:5060>\r\n",
		"Expires: 0\r\n",
		"Content-Length: 0\r\n",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("200 OK lacks %q:\n%s", want, s)
		}
	}
	if strings.Contains(s, "0.0.0.0") || strings.Contains(s, "224.0.1.75") {
		t.Errorf("200 OK names a wildcard or group address:\n%s", s)
	}
}

func TestBadEvent(t *testing.T) {
	res := BadEvent(parseReq(t, snomSubscribe))
	if res.StatusCode != 489 || res.GetHeader("Allow-Events").Value() != "ua-profile" {
		t.Errorf("got %s", res.String())
	}
}

func TestProfileNotify(t *testing.T) {
	req := parseReq(t, snomSubscribe)
	d := DialogFromRequest(req, "ourtag1", "sip:192.168.1.50:57648", `ua-profile;profile-type="device"`)
	dest := netip.MustParseAddrPort("192.168.1.50:57648")
	n, err := ProfileNotify(d, local, dest, 1, "https://edge.example/p/tok/{mac}.xml")
	if err != nil {
		t.Fatal(err)
	}
	s := n.String()
	for _, want := range []string{
		"NOTIFY sip:192.168.1.50:57648 SIP/2.0\r\n",
		"Via: SIP/2.0/UDP 192.168.1.1:5060;branch=z9hG4bK",
		"From: <sip:MAC%3a000413939050@pbx.example.com>;tag=ourtag1\r\n",
		"To: \"Phone\" <sip:MAC%3a000413939050@pbx.example.com>;tag=xbh2tjb5n8\r\n",
		"Call-ID: 4f5b3c2a9e7d1f80\r\n",
		"CSeq: 1 NOTIFY\r\n",
		"Contact: <sip:192.168.1.1:5060>\r\n",
		"Event: ua-profile;profile-type=\"device\"\r\n",
		"Subscription-State: terminated;reason=timeout\r\n",
		"Content-Type: application/url\r\n",
		"Content-Length: 36\r\n",
		"\r\n\r\nhttps://edge.example/p/tok/{mac}.xml",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("NOTIFY lacks %q:\n%s", want, s)
		}
	}
	if n.Destination() != "192.168.1.50:57648" {
		t.Errorf("destination %q", n.Destination())
	}
	// It must parse back: the phone runs a SIP parser too.
	if _, err := sip.NewParser().ParseSIP([]byte(s)); err != nil {
		t.Errorf("our NOTIFY does not parse: %v", err)
	}
}

func TestNoCRLFInjection(t *testing.T) {
	req := parseReq(t, snomSubscribe)
	d := DialogFromRequest(req, "ourtag1", "", "")
	dest := netip.MustParseAddrPort("192.168.1.50:5060")
	for _, url := range []string{"http://x/\r\nX-Evil: 1", "http://x/\n", "http://x/\x00", "http://x/é", ""} {
		if _, err := ProfileNotify(d, local, dest, 1, url); err == nil {
			t.Errorf("URL %q accepted", url)
		}
	}
	bad := d
	bad.Event = "ua-profile\r\nX-Evil: 1"
	if _, err := ProfileNotify(bad, local, dest, 1, "http://x/"); err == nil {
		t.Error("event with CRLF accepted")
	}
	if _, err := CheckSyncNotify(CheckSync{User: "100\r\nX: y"}, local, dest); err == nil {
		t.Error("user with CRLF accepted")
	}
	if _, err := (URLTemplates{}).VendorURL("yealink", "http://x/\r\n"); err == nil {
		t.Error("VendorURL accepted CRLF")
	}
	// A contact with junk falls back to the destination rather than failing.
	n, err := ProfileNotify(DialogFromRequest(req, "t", "sip:a\r\nb@c", ""), local, dest, 1, "http://x/")
	if err != nil || n.Recipient.Host != "192.168.1.50" {
		t.Errorf("fallback recipient: %v %v", n, err)
	}
}

func TestCheckSync(t *testing.T) {
	dest := netip.MustParseAddrPort("192.168.1.50:5060")
	tests := []struct {
		vendor string
		reboot bool
		event  string
	}{
		{"yealink", false, "check-sync"},
		{"yealink", true, "check-sync;reboot=true"},
		{"snom", false, "check-sync;reboot=false"},
		{"snom", true, "check-sync;reboot=true"},
		{"gigaset", false, "check-sync;reboot=false"},
		{"gigaset", true, "check-sync;reboot=true"},
		{"cisco", false, "resync"},
		{"cisco", true, "reboot_now"},
		{"poly", true, "check-sync"},
		{"fanvil", true, "check-sync"},
		{"grandstream", false, "check-sync"},
		{"grandstream", true, "check-sync;reboot=true"},
		{"", false, "check-sync"},
	}
	for _, tt := range tests {
		n, err := CheckSyncNotify(CheckSync{Vendor: tt.vendor, Reboot: tt.reboot, Contact: "sip:192.168.1.50:5060", User: "201"}, local, dest)
		if err != nil {
			t.Fatal(err)
		}
		if got := n.GetHeader("Event").Value(); got != tt.event {
			t.Errorf("%s reboot=%v: Event %q, want %q", tt.vendor, tt.reboot, got, tt.event)
		}
		s := n.String()
		for _, want := range []string{"NOTIFY sip:201@192.168.1.50:5060 SIP/2.0\r\n", "To: <sip:201@192.168.1.50:5060>\r\n",
			"Via: SIP/2.0/UDP 192.168.1.1:5060;branch=", "Subscription-State: terminated\r\n", "Content-Length: 0\r\n"} {
			if !strings.Contains(s, want) {
				t.Errorf("check-sync lacks %q:\n%s", want, s)
			}
		}
	}
}

func TestVendorURL(t *testing.T) {
	tm := DefaultURLTemplates()
	tests := []struct{ vendor, in, want string }{
		{"snom", "https://e/p/T/", "https://e/p/T/{mac}.xml"},
		{"grandstream", "https://e/p/T", "https://e/p/T/"},
		{"grandstream", "https://e/p/T/", "https://e/p/T/"},
		{"yealink", "https://e/p/T/", "https://e/p/T/"},
		{"", "https://e/p/T/", "https://e/p/T/"},
	}
	for _, tt := range tests {
		got, err := tm.VendorURL(tt.vendor, tt.in)
		if err != nil || got != tt.want {
			t.Errorf("VendorURL(%s, %s) = %q, %v; want %q", tt.vendor, tt.in, got, err, tt.want)
		}
	}
	v, tmpl, err := ParseURLTemplate("Yealink={url}y000000000000.boot")
	if err != nil || v != "yealink" || tmpl != "{url}y000000000000.boot" {
		t.Errorf("ParseURLTemplate: %q %q %v", v, tmpl, err)
	}
	for _, bad := range []string{"yealink", "yealink=http://x/", "acme={url}", "snom={url}\r\n", "={url}"} {
		if _, _, err := ParseURLTemplate(bad); err == nil {
			t.Errorf("ParseURLTemplate(%q) accepted", bad)
		}
	}
}

func BenchmarkOKAndNotify(b *testing.B) {
	m, err := sip.NewParser().ParseSIP([]byte(snomSubscribe))
	if err != nil {
		b.Fatal(err)
	}
	req := m.(*sip.Request)
	req.SetSource("192.168.1.50:57648")
	req.SetTransport("UDP")
	dest := netip.MustParseAddrPort("192.168.1.50:57648")
	b.ReportAllocs()
	for b.Loop() {
		res := OK(req, local, "ourtag1")
		d := DialogFromRequest(req, "ourtag1", "sip:192.168.1.50:57648", "ua-profile")
		n, err := ProfileNotify(d, local, dest, 1, "https://edge.example/p/tok/")
		if err != nil {
			b.Fatal(err)
		}
		_ = res.String()
		_ = n.String()
	}
}
