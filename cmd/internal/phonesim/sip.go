package phonesim

import (
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/dialtone-voip/dialtone/cmd/internal/sipmsg"
	"github.com/dialtone-voip/dialtone/cmd/internal/vendorsim"
)

// sipEvent is what the phone's SIP side reports to the boot loop.
type sipEvent struct {
	at time.Time
	// A response to the SUBSCRIBE.
	status int
	reason string
	from   netip.AddrPort
	// A NOTIFY that asks the phone to (re)provision.
	kind      string // "url" (ua-profile with a URL) or "resync" (check-sync, resync, empty ua-profile)
	url       string
	event     string // the Event header as received
	notifyRaw string // first line, for the report
}

// udpConn is the phone's UDP socket: the host's (*net.UDPConn) or one on
// a Link of its own.
type udpConn interface {
	ReadFromUDPAddrPort(b []byte) (int, netip.AddrPort, error)
	WriteToUDPAddrPort(b []byte, addr netip.AddrPort) (int, error)
	LocalAddr() net.Addr
	Close() error
}

// sipEndpoint is the phone's UDP socket: it answers every NOTIFY at once
// (so a responder's retransmission timer never fires while the phone is
// busy downloading) and forwards what matters to the boot loop.
type sipEndpoint struct {
	conn      udpConn
	vendor    *vendorsim.Vendor
	callID    string
	log       *slog.Logger
	events    chan sipEvent
	mu        sync.Mutex
	seen      map[string]bool // NOTIFY Call-ID + CSeq already acted on
	notifies  int
	malformed int
	done      chan struct{}
}

func newEndpoint(conn udpConn, v *vendorsim.Vendor, callID string, log *slog.Logger) *sipEndpoint {
	e := &sipEndpoint{
		conn: conn, vendor: v, callID: callID, log: log,
		events: make(chan sipEvent, 32),
		seen:   map[string]bool{},
		done:   make(chan struct{}),
	}
	go e.readLoop()
	return e
}

// close stops the reader; it is safe to call once.
func (e *sipEndpoint) close() {
	_ = e.conn.Close()
	<-e.done
}

func (e *sipEndpoint) readLoop() {
	defer close(e.done)
	buf := make([]byte, sipmsg.MaxMessage)
	for {
		n, from, err := e.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			e.log.Debug("sip read", "err", err)
			continue
		}
		at := time.Now()
		m, err := sipmsg.Parse(buf[:n])
		if err != nil {
			e.mu.Lock()
			e.malformed++
			e.mu.Unlock()
			continue
		}
		from = netip.AddrPortFrom(from.Addr().Unmap(), from.Port())
		if m.IsRequest() {
			e.handleRequest(m, from, at)
			continue
		}
		if m.Get("Call-ID") != e.callID {
			continue
		}
		if _, method, ok := sipmsg.CSeq(m.Get("CSeq")); !ok || method != "SUBSCRIBE" {
			continue
		}
		e.emit(sipEvent{at: at, status: m.StatusCode, reason: m.Reason, from: from})
	}
}

func (e *sipEndpoint) emit(ev sipEvent) {
	select {
	case e.events <- ev:
	default:
		e.log.Warn("sip event dropped: boot loop not keeping up")
	}
}

func (e *sipEndpoint) reply(req *sipmsg.Message, to netip.AddrPort, code int, reason string) {
	resp := sipmsg.Response(req, code, reason, "")
	if _, err := e.conn.WriteToUDPAddrPort(resp.Bytes(), to); err != nil {
		e.log.Debug("sip reply", "err", err)
	}
}

func (e *sipEndpoint) handleRequest(m *sipmsg.Message, from netip.AddrPort, at time.Time) {
	switch m.Method {
	case "NOTIFY":
	case "OPTIONS":
		e.reply(m, from, 200, "OK")
		return
	case "ACK":
		return
	default:
		e.reply(m, from, 405, "Method Not Allowed")
		return
	}
	event := m.Get("Event")
	pkg := strings.ToLower(strings.TrimSpace(strings.SplitN(event, ";", 2)[0]))
	ev := sipEvent{at: at, from: from, event: event, notifyRaw: "NOTIFY " + m.RequestURI}
	switch {
	case pkg == "ua-profile":
		body := strings.TrimSpace(string(m.Body))
		if body == "" {
			ev.kind = "resync" // an empty NOTIFY: re-read the configuration
		} else {
			ev.kind, ev.url = "url", body
		}
	case isCheckSync(e.vendor, pkg):
		ev.kind = "resync"
	default:
		e.reply(m, from, 489, "Bad Event")
		return
	}
	e.reply(m, from, 200, "OK")
	key := m.Get("Call-ID") + "\x00" + m.Get("CSeq")
	e.mu.Lock()
	dup := e.seen[key]
	e.seen[key] = true
	if !dup {
		e.notifies++
	}
	e.mu.Unlock()
	if dup {
		return // a retransmission: answered again, acted on once
	}
	e.emit(ev)
}

func isCheckSync(v *vendorsim.Vendor, pkg string) bool {
	for _, c := range v.CheckSync {
		if pkg == c {
			return true
		}
	}
	return false
}
