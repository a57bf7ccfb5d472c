package sipmsg

import (
	"bytes"
	"testing"
)

const notify = "NOTIFY sip:10.0.0.5:5060 SIP/2.0\r\n" +
	"Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK1;rport\r\n" +
	"v: SIP/2.0/UDP 10.0.0.2:5060;branch=z9hG4bK2\r\n" +
	"From: <sip:MAC%3a000413AABBCC@224.0.1.75>;tag=abc\r\n" +
	"To: <sip:MAC%3a000413AABBCC@224.0.1.75>;tag=123\r\n" +
	"i: 42@10.0.0.5\r\n" +
	"CSeq: 2 NOTIFY\r\n" +
	"Event: ua-profile;profile-type=\"device\";vendor=\"snom\"\r\n" +
	"Subject: folded\r\n  line\r\n" +
	"Content-Type: application/url\r\n" +
	"Content-Length: 22\r\n\r\n" +
	"http://x/p/t/\r\nEXTRA-BYTES-BEYOND"

func TestParse(t *testing.T) {
	m, err := Parse([]byte(notify))
	if err != nil {
		t.Fatal(err)
	}
	if m.Method != "NOTIFY" || m.RequestURI != "sip:10.0.0.5:5060" || !m.IsRequest() {
		t.Errorf("request line: %+v", m)
	}
	if got := m.Values("Via"); len(got) != 2 {
		t.Errorf("Via (with compact form): %q", got)
	}
	if m.Get("call-id") != "42@10.0.0.5" || m.Get("Subject") != "folded line" {
		t.Errorf("compact/folded headers: %q %q", m.Get("call-id"), m.Get("Subject"))
	}
	if string(m.Body) != "http://x/p/t/\r\nEXTRA-B" {
		t.Errorf("body %q (Content-Length 22)", m.Body)
	}
	if v, ok := Param(m.Get("Event"), "vendor"); !ok || v != "snom" {
		t.Errorf("Param vendor = %q %v", v, ok)
	}
	if v, ok := Param(m.Get("From"), "tag"); !ok || v != "abc" {
		t.Errorf("From tag = %q", v)
	}
	if _, ok := Param("<sip:a@b;transport=udp>", "transport"); ok {
		t.Error("Param read inside the URI")
	}
	if URI(m.Get("From")) != "sip:MAC%3a000413AABBCC@224.0.1.75" || URI("sip:a@b;x=1") != "sip:a@b" {
		t.Error("URI")
	}
	if n, method, ok := CSeq(m.Get("CSeq")); !ok || n != 2 || method != "NOTIFY" {
		t.Error("CSeq")
	}
	resp := Response(m, 200, "OK", "newtag")
	r2, err := Parse(resp.Bytes())
	if err != nil || r2.StatusCode != 200 || len(r2.Values("Via")) != 2 || r2.Get("To") != m.Get("To") {
		t.Errorf("response: %v %+v", err, r2)
	}
	sub := &Message{Method: "SUBSCRIBE", RequestURI: "sip:x", Headers: []Header{{"To", "<sip:x>"}, {"Call-ID", "1"}, {"CSeq", "1 SUBSCRIBE"}}}
	if got := Response(sub, 200, "OK", "t9").Get("To"); got != "<sip:x>;tag=t9" {
		t.Errorf("To-tag not added: %q", got)
	}
}

func TestParseErrors(t *testing.T) {
	for _, bad := range []string{
		"", "\r\n\r\n", "HELLO\r\n\r\n", "SIP/2.0 99 Low\r\n\r\n", "SIP/2.0 abc OK\r\n\r\n",
		"invite sip:x SIP/2.0\r\n\r\n", "INVITE sip:x SIP/3.0\r\n\r\n", "INVITE sip:x SIP/2.0\r\nNoColon\r\n\r\n",
		"INVITE sip:x SIP/2.0\r\nContent-Length: 10\r\n\r\nshort", "INVITE sip:x SIP/2.0\r\nContent-Length: -1\r\n\r\n",
		"INVITE sip:x SIP/2.0\r\n folded-first\r\n\r\n",
	} {
		if m, err := Parse([]byte(bad)); err == nil {
			t.Errorf("Parse(%q) = %+v, want error", bad, m)
		}
	}
	if _, err := Parse(bytes.Repeat([]byte("a"), MaxMessage+1)); err == nil {
		t.Error("oversized message accepted")
	}
}

// FuzzParse: no input panics, and what parses survives a round trip.
func FuzzParse(f *testing.F) {
	f.Add([]byte(notify))
	f.Add([]byte("SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 1.2.3.4:5060;rport\r\nCall-ID: x\r\nCSeq: 1 SUBSCRIBE\r\nContent-Length: 0\r\n\r\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := Parse(data)
		if err != nil {
			return
		}
		again, err := Parse(m.Bytes())
		if err != nil {
			t.Fatalf("re-parse of %q: %v", m.Bytes(), err)
		}
		if again.Method != m.Method || again.StatusCode != m.StatusCode || len(again.Headers) != len(m.Headers) {
			t.Fatalf("round trip changed the message:\n%+v\n%+v", m, again)
		}
		_ = m.Get("Event")
		_, _ = Param(m.Get("From"), "tag")
		_, _, _ = CSeq(m.Get("CSeq"))
		_ = URI(m.Get("Contact"))
		_ = Response(m, 200, "OK", "t").Bytes()
	})
}
