package pnplistener

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/emiago/sipgo/siptest"

	"github.com/dialtone-voip/dialtone/platform/inventorytest"
	"github.com/dialtone-voip/dialtone/services/pnp-listener/phonetest"
)

// autoPhone answers every NOTIFY it receives with 200 OK.
func autoPhone(t testing.TB) *net.UDPConn {
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	go func() {
		buf := make([]byte, 65535)
		for {
			n, from, err := c.ReadFromUDP(buf)
			if err != nil {
				return
			}
			m, err := sip.NewParser().ParseSIP(buf[:n])
			if req, ok := m.(*sip.Request); err == nil && ok {
				_, _ = c.WriteToUDP([]byte(sip.NewResponseFromRequest(req, 200, "OK", nil).String()), from)
			}
		}
	}()
	return c
}

// FuzzHandler drives the SUBSCRIBE handler (and the one for every other
// method) with arbitrary datagrams that sipgo parses: whatever a phone or
// an attacker sends, the handler must not panic, and every response it
// produces must be a well-formed SIP message whose Contact names our
// interface address, never 0.0.0.0 or the group.
func FuzzHandler(f *testing.F) {
	for _, shape := range []string{"yealink", "snom", "grandstream", "fanvil", "gigaset", "panasonic", "audiocodes"} {
		f.Add([]byte(phonetest.Subscribe(shape, "001565abcdef", "127.0.0.1", 5060, "fz1")))
	}
	files, _ := filepath.Glob("internal/pnp/testdata/captures/*.sip")
	for _, file := range files {
		b, _ := os.ReadFile(file)
		f.Add([]byte(strings.ReplaceAll(string(b), "\n", "\r\n")))
	}
	f.Add([]byte("OPTIONS sip:x@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKo2\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:x@y>\r\nCall-ID: o\r\nCSeq: 1 OPTIONS\r\n\r\n"))

	h := startLoopbackTB(f, func(c *Config) {
		c.NotifyTimeout = 20 * time.Millisecond
		c.noNeighbourWait = true // no sleeping for MAC-less phones here
	})
	h.inv.SetFallback(&inventorytest.Entry{URL: testURL})
	phone := autoPhone(f)
	src := phone.LocalAddr().String()
	_, port, _ := net.SplitHostPort(h.addr)

	f.Fuzz(func(t *testing.T, data []byte) {
		msg, err := sip.NewParser().ParseSIP(data)
		if err != nil {
			return
		}
		req, ok := msg.(*sip.Request)
		if !ok {
			return
		}
		if _, err := sip.ServerTxKeyMake(req); err != nil {
			return // sipgo answers 400 itself before any handler
		}
		// Responses echo the request's Via, From, To, Call-ID and CSeq; when
		// sipgo cannot even re-read its own rendering of those, the echo
		// cannot be well-formed either, so only the no-panic property holds.
		_, rtErr := sip.NewParser().ParseSIP([]byte(req.String()))
		req.SetSource(src)
		req.SetTransport("UDP")
		tx := siptest.NewServerTxRecorder(req)
		if req.Method == sip.SUBSCRIBE {
			h.s.onSubscribe(req, tx)
		} else {
			h.s.onOther(req, tx)
		}
		for _, res := range tx.Result() {
			wire := res.String()
			back, err := sip.NewParser().ParseSIP([]byte(wire))
			if err != nil && rtErr != nil {
				continue
			}
			if err != nil {
				t.Fatalf("our response does not parse: %v\n%q", err, wire)
			}
			if c := back.(*sip.Response).Contact(); c != nil && c.Address.Host != "127.0.0.1" {
				t.Fatalf("Contact %q", c.Address.Host)
			}
			if c := header(res, "Contact"); res.StatusCode == 200 && (c != "<sip:127.0.0.1:"+port+">") {
				t.Fatalf("200 OK names a wildcard or group address:\n%s", wire)
			}
		}
	})
}
