// Package phonetest plays IP phones in pnp-listener's tests: it renders the
// PnP SUBSCRIBE each vendor sends (research/pnp-protocol.md, the same
// shapes as internal/pnp/testdata/captures) and drives a phone's UDP socket.
package phonetest

import (
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
)

// Subscribe renders the PnP SUBSCRIBE a phone of the given shape sends, as
// research/pnp-protocol.md describes each vendor's (the same shapes as
// internal/pnp/testdata/captures), from ip:port with the given MAC
// (12 lowercase hex digits) and Call-ID.
func Subscribe(shape, mac, ip string, port int, callID string) string {
	upper := strings.ToUpper(mac)
	var b strings.Builder
	line := func(format string, a ...any) { fmt.Fprintf(&b, format+"\r\n", a...) }
	switch shape {
	case "yealink":
		line("SUBSCRIBE sip:MAC%s@224.0.1.75 SIP/2.0", mac)
		line("Via: SIP/2.0/UDP %s:%d;branch=z9hG4bK%s", ip, port, callID)
		line("From: <sip:MAC%s@224.0.1.75>;tag=%s", mac, callID)
		line("To: <sip:MAC%s@224.0.1.75>", mac)
		line("Call-ID: %s@%s", callID, ip)
		line("CSeq: 1 SUBSCRIBE")
		line("Contact: <sip:MAC%s@%s:%d>", mac, ip, port)
		line("Accept: application/url")
		line("Max-Forwards: 70")
		line("User-Agent: Yealink SIP-T46U 108.86.0.20")
		line("Expires: 0")
		line(`Event: ua-profile;profile-type="device";vendor="yealink";model="SIP-T46U";version="108.86.0.20"`)
	case "snom": // RFC 2543 Via without branch, no Max-Forwards, no User-Agent, host "fake"
		line("SUBSCRIBE sip:MAC%%3a%s@fake SIP/2.0", upper)
		line("Via: SIP/2.0/UDP %s:%d;rport", ip, port)
		line("From: <sip:MAC%%3a%s@fake>;tag=%s", upper, callID)
		line("To: <sip:MAC%%3a%s@fake>", upper)
		line("Call-ID: %s", callID)
		line("CSeq: 1 SUBSCRIBE")
		line("Contact: <sip:%s:%d>", ip, port)
		line(`Event: ua-profile;profile-type="device";vendor="snom";model="snomD385";version="10.1.119.10"`)
		line("Expires: 0")
		line("Accept: application/url")
	case "grandstream":
		line("SUBSCRIBE sip:MAC%%3A%s@224.0.1.75 SIP/2.0", upper)
		line("Via: SIP/2.0/UDP %s:%d;branch=z9hG4bK%s;rport", ip, port, callID)
		line("From: <sip:MAC%%3A%s@224.0.1.75>;tag=%s", upper, callID)
		line("To: <sip:MAC%%3A%s@224.0.1.75>", upper)
		line("Contact: <sip:%s:%d>", ip, port)
		line("Supported: replaces, path")
		line("Call-ID: %s-%d-1@BJC.BGI.B.C", callID, port)
		line("CSeq: 20000 SUBSCRIBE")
		line("User-Agent: Grandstream GRP2612W 1.0.5.67")
		line("Max-Forwards: 70")
		line("Allow: INVITE, ACK, OPTIONS, CANCEL, BYE, SUBSCRIBE, NOTIFY, INFO, REFER, UPDATE, MESSAGE")
		line(`Event: ua-profile;profile-type="device";vendor="Grandstream";model="GRP2612W";version="1.0.5.67"`)
		line("Expires: 0")
		line("Accept: application/url")
	case "fanvil": // PLANET/Fanvil form: MAC=, Event without a space
		line("SUBSCRIBE sip:MAC=%s@224.0.1.75 SIP/2.0", mac)
		line("Via: SIP/2.0/UDP %s:%d;branch=z9hG4bK%s", ip, port, callID)
		line("From: <sip:MAC=%s@224.0.1.75>;tag=%s", mac, callID)
		line("To: <sip:MAC=%s@224.0.1.75>", mac)
		line("Call-ID: %s@%s", callID, ip)
		line("CSeq: 1 SUBSCRIBE")
		line("Contact: <sip:%s:%d>", ip, port)
		line("Max-Forwards: 70")
		line(`Event:ua-profile;profile-type="device";vendor="Fanvil";model="X4U";version="2.12.1"`)
		line("Expires: 0")
		line("Accept: application/url")
	case "gigaset":
		line("SUBSCRIBE sip:MAC%%3a%s@gigaset.com SIP/2.0", upper)
		line("Via: SIP/2.0/UDP %s:%d;rport", ip, port)
		line("From: <sip:MAC%%3a%s@gigaset.com>;tag=%s", upper, callID)
		line("To: <sip:MAC%%3a%s@gigaset.com>", upper)
		line("Call-ID: %s@%s", callID, ip)
		line("CSeq: 1 SUBSCRIBE")
		line("Contact: <sip:%s:%d>", ip, port)
		line(`Event: ua-profile;profile-type="device";vendor="Gigaset";model="N670 IP PRO";version="2.52.0"`)
		line("Expires: 0")
		line("Accept: application/url")
	case "panasonic": // misspelled vender
		line("SUBSCRIBE sip:MAC%%3a%s@224.0.1.75 SIP/2.0", upper)
		line("Via: SIP/2.0/UDP %s:%d;branch=z9hG4bK%s", ip, port, callID)
		line("From: <sip:MAC%%3a%s@224.0.1.75>;tag=%s", upper, callID)
		line("To: <sip:MAC%%3a%s@224.0.1.75>", upper)
		line("Call-ID: %s@%s", callID, ip)
		line("CSeq: 1 SUBSCRIBE")
		line("Contact: <sip:%s:%d>", ip, port)
		line(`Event: ua-profile;profile-type="device";vender="Panasonic";model="KX-HDV130";version="02.000"`)
		line("Expires: 0")
		line("Accept: application/url")
	case "audiocodes": // no MAC anywhere, profile-type application, no vendor
		line("SUBSCRIBE sip:224.0.1.75:5060 SIP/2.0")
		line("Via: SIP/2.0/UDP %s:%d;rport;branch=z9hG4bK-%s", ip, port, callID)
		line("Max-Forwards: 70")
		line("From: <sip:00000001@%s:%d>;tag=%s-60c2-4d4b", ip, port, callID)
		line("To: <sip:224.0.1.75:5060>")
		line("Call-ID: %s@%s", callID, ip)
		line("CSeq: 1 SUBSCRIBE")
		line("Contact: <sip:00000001@%s:%d>", ip, port)
		line(`Event: ua-profile;profile-type="application";model="440HD";version="2.2.2"`)
		line("Expires: 0")
		line("Accept: application/url")
		line("Supported: replaces,100rel")
		line("User-Agent: AUDC-IPPhone/2.2.2")
	default:
		panic("unknown shape " + shape)
	}
	line("Content-Length: 0")
	line("")
	return b.String()
}

// Phone is a phone's SIP socket.
type Phone struct {
	t    testing.TB
	conn *net.UDPConn
}

// New binds a phone's socket on laddr ("ip:port").
func New(t testing.TB, laddr string) *Phone {
	t.Helper()
	a, err := net.ResolveUDPAddr("udp4", laddr)
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.ListenUDP("udp4", a)
	if err != nil {
		t.Fatal(err)
	}
	return Wrap(t, c)
}

// Wrap uses an existing socket (for example one made inside a network
// namespace); it is closed when the test ends.
func Wrap(t testing.TB, c *net.UDPConn) *Phone {
	t.Cleanup(func() { c.Close() })
	return &Phone{t: t, conn: c}
}

// Port is the socket's local port.
func (p *Phone) Port() int { return p.conn.LocalAddr().(*net.UDPAddr).Port }

// Send sends msg to the address to ("ip:port").
func (p *Phone) Send(to string, msg string) {
	p.t.Helper()
	a, err := net.ResolveUDPAddr("udp4", to)
	if err != nil {
		p.t.Fatal(err)
	}
	if _, err := p.conn.WriteToUDP([]byte(msg), a); err != nil {
		p.t.Fatal(err)
	}
}

// Recv returns the next SIP message and where it came from, or nil after
// timeout.
func (p *Phone) Recv(timeout time.Duration) (sip.Message, *net.UDPAddr) {
	p.t.Helper()
	buf := make([]byte, 65535)
	_ = p.conn.SetReadDeadline(time.Now().Add(timeout))
	n, from, err := p.conn.ReadFromUDP(buf)
	if err != nil {
		return nil, nil
	}
	for len(strings.TrimSpace(string(buf[:n]))) == 0 {
		// A CRLF keep-alive (the listener's nudge to resolve our
		// address): SIP stacks ignore it, and so do we.
		if n, from, err = p.conn.ReadFromUDP(buf); err != nil {
			return nil, nil
		}
	}
	m, err := sip.NewParser().ParseSIP(append([]byte(nil), buf[:n]...))
	if err != nil {
		p.t.Fatalf("phone got an unparsable message: %v\n%s", err, buf[:n])
	}
	return m, from
}

// ExpectResponse returns the next message, which must be a response.
func (p *Phone) ExpectResponse(timeout time.Duration) *sip.Response {
	p.t.Helper()
	m, _ := p.Recv(timeout)
	res, ok := m.(*sip.Response)
	if !ok {
		p.t.Fatalf("want a response, got %v", m)
	}
	return res
}

// ExpectRequest returns the next message, which must be a request, and
// its source.
func (p *Phone) ExpectRequest(timeout time.Duration) (*sip.Request, *net.UDPAddr) {
	p.t.Helper()
	m, from := p.Recv(timeout)
	req, ok := m.(*sip.Request)
	if !ok {
		p.t.Fatalf("want a request, got %v", m)
	}
	return req, from
}

// ExpectNothing checks that no message arrives within d.
func (p *Phone) ExpectNothing(d time.Duration) {
	p.t.Helper()
	if m, _ := p.Recv(d); m != nil {
		p.t.Fatalf("unexpected message:\n%s", m)
	}
}

// Answer sends a final response to req, back to where it came from.
func (p *Phone) Answer(req *sip.Request, from *net.UDPAddr, code int) {
	p.t.Helper()
	res := sip.NewResponseFromRequest(req, code, "OK", nil)
	p.Send(from.String(), res.String())
}
