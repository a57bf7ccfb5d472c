package pnplistener

import (
	"errors"
	"net/netip"
	"strings"
	"time"

	"github.com/emiago/sipgo/sip"
	"google.golang.org/protobuf/types/known/timestamppb"

	eventsv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/events/v1"
	"github.com/dialtone-voip/dialtone/proto/streams"
	"github.com/dialtone-voip/dialtone/services/pnp-listener/internal/outbox"
	"github.com/dialtone-voip/dialtone/services/pnp-listener/internal/pnp"
	"github.com/dialtone-voip/dialtone/services/pnp-listener/internal/seen"
	"github.com/dialtone-voip/dialtone/services/pnp-listener/internal/sipmsg"
)

// defaultNeighbourWaits are the pauses between neighbour-table lookups for
// a phone that sent no MAC: our 200 OK makes the kernel resolve its
// address. Each Service keeps its own copy (Service.neighbourWaits), so a
// test can drop them without racing another service's handlers.
var defaultNeighbourWaits = []time.Duration{5 * time.Millisecond, 20 * time.Millisecond, 50 * time.Millisecond, 150 * time.Millisecond}

// wellFormed rejects what sipgo's lenient parser lets through but no SIP
// stack sends (we would only echo the junk back in a response).
func wellFormed(req *sip.Request) bool {
	via, from, to, cseq := req.Via(), req.From(), req.To(), req.CSeq()
	if req.SipVersion != "SIP/2.0" || via == nil || from == nil || to == nil || cseq == nil || req.CallID() == nil {
		return false
	}
	if !strings.EqualFold(via.ProtocolName, "SIP") || via.ProtocolVersion != "2.0" || !strings.EqualFold(via.Transport, "UDP") || via.Host == "" {
		return false
	}
	if cseq.MethodName != req.Method || !isToken(string(req.Method)) {
		return false
	}
	return sipURI(&req.Recipient) && sipURI(&from.Address) && sipURI(&to.Address)
}

func sipURI(u *sip.Uri) bool {
	return (strings.EqualFold(u.Scheme, "sip") || strings.EqualFold(u.Scheme, "sips")) && (u.Host != "" || u.User != "")
}

func isToken(s string) bool {
	if s == "" || len(s) > 32 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || strings.IndexByte("-.!%*_+`'~", c) >= 0) {
			return false
		}
	}
	return true
}

// onSubscribe answers one SUBSCRIBE. sipgo runs it in its own goroutine.
func (s *Service) onSubscribe(req *sip.Request, tx sip.ServerTransaction) {
	start := time.Now()
	// Stateless: the 200 OK goes out now and the transaction ends, so a
	// flood of boots does not keep thousands of transactions for Timer J.
	// A retransmitted SUBSCRIBE is answered again, with the same tag.
	defer tx.Terminate()
	if !wellFormed(req) {
		s.m.drop(dropMalformed)
		return
	}

	src, err := netip.ParseAddrPort(req.Source())
	if err != nil {
		s.m.subscribes.WithLabelValues(subMalformed).Inc()
		return
	}
	src = netip.AddrPortFrom(src.Addr().Unmap(), src.Port())
	arr, ok := s.sock.Arrival(src)
	if !ok {
		// The socket always records an arrival before sipgo sees the
		// datagram; only an eviction under a flood gets here.
		if arr, ok = s.sock.Route(src.Addr()); !ok {
			s.m.subscribes.WithLabelValues(subMalformed).Inc()
			return
		}
	}

	sub, err := pnp.FromRequest(req)
	switch {
	case errors.Is(err, pnp.ErrBadEvent):
		s.m.subscribes.WithLabelValues(subBadEvent).Inc()
		_ = tx.Respond(sipmsg.BadEvent(req))
		return
	case err != nil:
		s.m.subscribes.WithLabelValues(subMalformed).Inc()
		return
	}

	mac := sub.MAC
	if mac == "" {
		mac = s.neighbour(arr.IfIndex, src.Addr())
	}
	vendor := sub.Vendor
	if vendor == "" && mac != "" {
		vendor = pnp.IdentifyVendor(sub.VendorParam, sub.Model, mac, sub.UserAgent)
	}
	allowed, decided := s.policy.allow(vendor, mac)
	if decided && !allowed {
		s.m.subscribes.WithLabelValues(subPolicy).Inc()
		return
	}

	local := sipmsg.Local{Addr: arr.Local, Port: s.replyPort}
	fromTag, _ := req.From().Params.Get("tag")
	ourTag := s.tag(sub.CallID, fromTag)
	if err := tx.Respond(sipmsg.OK(req, local, ourTag)); err != nil {
		s.log.Debug("sending 200 OK failed", "error", err, "source", src.String())
		return
	}
	s.m.okLatency.Observe(time.Since(start).Seconds())
	tx.Terminate()

	if mac == "" {
		mac = s.waitNeighbour(arr.IfIndex, src.Addr())
		if mac == "" {
			s.m.subscribes.WithLabelValues(subNoMAC).Inc()
			return
		}
		vendor = pnp.IdentifyVendor(sub.VendorParam, sub.Model, mac, sub.UserAgent)
		if ok, _ := s.policy.allow(vendor, mac); !ok {
			s.m.subscribes.WithLabelValues(subPolicy).Inc()
			return
		}
	}
	// Link-layer proof: the MAC a phone names counts only when the host
	// at the source address has it. A MAC-less phone's came from the
	// neighbour table itself.
	var linkMAC string
	if s.linkRequired() {
		linkMAC = s.resolveLink(arr.IfIndex, src.Addr())
		switch {
		case linkMAC == "":
			s.m.drop(dropLinkUnresolved)
			return
		case linkMAC != mac:
			s.m.drop(dropLinkMismatch)
			s.warnMismatch("SUBSCRIBE dropped: the MAC it names is not the sender's link-layer address", src.Addr(), mac, linkMAC)
			return
		}
	} else {
		// No proof, but inventory records the sender's link address as
		// unverified, so a second host announcing the MAC is visible. Best
		// effort and brief: where the listener cannot see L2 there is
		// nothing to wait for.
		linkMAC = s.neighbour(arr.IfIndex, src.Addr())
		for _, d := range s.neighbourWaits[:min(2, len(s.neighbourWaits))] {
			if linkMAC != "" {
				break
			}
			time.Sleep(d)
			linkMAC = s.neighbour(arr.IfIndex, src.Addr())
		}
	}

	now := time.Now()
	phone := seen.Phone{
		MAC:      mac,
		Vendor:   vendor,
		Model:    sub.Model,
		Dialog:   sipmsg.DialogFromRequest(req, ourTag, sub.Contact, sub.Event),
		Dest:     dest(req, src),
		Local:    arr.Local,
		LastSeen: now,
	}
	if !s.seen.Observe(phone) {
		s.m.subscribes.WithLabelValues(subRepeat).Inc()
		return
	}
	s.m.subscribes.WithLabelValues(subAnswered).Inc()

	if s.deps.JetStream != nil {
		s.out.Offer(outbox.Msg{
			Subject: streams.Subject(streams.PhoneDiscoveredPrefix, mac),
			ID:      "disc-" + mac + "-" + sub.CallID,
			Msg: &eventsv1.PhoneDiscovered{
				Mac:           mac,
				Vendor:        vendor,
				Model:         sub.Model,
				Firmware:      sub.Version,
				SourceAddress: src.String(),
				Contact:       sub.Contact,
				UserAgent:     sub.UserAgent,
				Listener:      s.cfg.Listener,
				ProfileType:   sub.ProfileType,
				CallId:        sub.CallID,
				ObservedTime:  timestamppb.New(now),
				LocalAddress:  arr.Local.String(),
				LinkMac:       linkMAC,
				LinkVerified:  s.linkRequired() && linkMAC != "",
			},
		})
	}
	s.bootFlow(phone, start, s.knownPhone(mac, phone.Dest))
}

// knownPhone says whether a boot goes to the known lane: the phone is
// assigned or accepted a NOTIFY before, or its address answered us. A MAC
// merely seen before proves nothing (a forger repeats its boots).
func (s *Service) knownPhone(mac string, dest netip.AddrPort) bool {
	if s.seen.Known(mac) {
		return true
	}
	l := s.sockets()
	return l != nil && l.Answered(dest.Addr())
}

func (s *Service) waitNeighbour(ifindex int, ip netip.Addr) string {
	for _, d := range s.neighbourWaits {
		time.Sleep(d)
		if mac := s.neighbour(ifindex, ip); mac != "" {
			return mac
		}
	}
	return ""
}

// onOther handles every request but SUBSCRIBE: silence for multicast (other
// stacks on the LAN use the group too), 405 for unicast.
func (s *Service) onOther(req *sip.Request, tx sip.ServerTransaction) {
	defer tx.Terminate()
	if req.IsAck() {
		return
	}
	if !wellFormed(req) {
		s.m.drop(dropMalformed)
		return
	}
	if src, err := netip.ParseAddrPort(req.Source()); err == nil {
		if arr, ok := s.sock.Arrival(netip.AddrPortFrom(src.Addr().Unmap(), src.Port())); ok && arr.Multicast {
			s.m.drop(dropMethod)
			return
		}
	}
	s.m.unexpected.Inc()
	res := sip.NewResponseFromRequest(req, sip.StatusMethodNotAllowed, "Method Not Allowed", nil)
	res.AppendHeader(sip.NewHeader("Allow", "SUBSCRIBE"))
	_ = tx.Respond(res)
}
