package pnplistener

import (
	"net"
	"net/netip"
	"sync"
	"time"
)

// Link-layer proof (issue 14). PnP only works on the phones' own L2
// segment, so the listener can see who really sent a datagram: the kernel
// resolves the source address when it sends our 200 OK, and its neighbour
// entry names the MAC of the host that holds that address. A SUBSCRIBE
// naming MAC M counts as from M only when that entry is M; every NOTIFY
// (boot, late, check-sync) is sent only after the entry for its
// destination is checked again, because the kernel sends it to exactly
// that entry's MAC.

// Drop reasons and NOTIFY outcomes of the check.
const (
	dropLinkMismatch   = "link_layer_mismatch"
	dropLinkUnresolved = "link_layer_unresolved"
	outLinkMismatch    = "link_layer_mismatch"
	outLinkUnresolved  = "link_layer_unresolved"
)

// keepAlive is what we send to make the kernel resolve a destination it
// has no neighbour entry for: the SIP double-CRLF keep-alive (RFC 5626
// §3.5.1), which SIP stacks ignore, and which carries nothing.
var keepAlive = []byte("\r\n\r\n")

func (s *Service) linkRequired() bool { return s.cfg.LinkCheck != LinkOff }

// linkWaits are the pauses between neighbour lookups while the kernel
// resolves a sender's address for the link-layer check. They reach past
// the kernel's first ARP retransmission (retrans_time, 1 s): under a boot
// storm an ARP answer can be late or lost, and a phone that got its 200 OK
// does not send its SUBSCRIBE again, so giving up early loses its boot.
var linkWaits = []time.Duration{5 * time.Millisecond, 20 * time.Millisecond, 50 * time.Millisecond,
	150 * time.Millisecond, 275 * time.Millisecond, 500 * time.Millisecond, time.Second, time.Second}

// resolveLink returns the MAC of the host at ip: at once when the kernel
// knows it, else after waiting for the resolution our 200 OK started.
func (s *Service) resolveLink(ifindex int, ip netip.Addr) string {
	if mac := s.neighbour(ifindex, ip); mac != "" {
		return mac
	}
	for _, d := range linkWaits {
		time.Sleep(d)
		if mac := s.neighbour(ifindex, ip); mac != "" {
			return mac
		}
	}
	return ""
}

// checkDest reports "" when a NOTIFY to dest would reach the host whose
// MAC is mac, else the outcome to count. Without a neighbour entry it
// sends a keep-alive so the kernel resolves dest, and waits for it.
func (s *Service) checkDest(dest netip.AddrPort, mac string) string {
	if !s.linkRequired() {
		return ""
	}
	arr, ok := s.sock.Route(dest.Addr())
	if !ok {
		return outLinkUnresolved
	}
	real := s.neighbour(arr.IfIndex, dest.Addr())
	if real == "" {
		_, _ = s.sock.Reply.WriteTo(keepAlive, net.UDPAddrFromAddrPort(dest))
		real = s.resolveLink(arr.IfIndex, dest.Addr())
	}
	switch {
	case real == "":
		return outLinkUnresolved
	case real != mac:
		s.warnMismatch("NOTIFY withheld: the destination's link-layer address is not the phone's", dest.Addr(), mac, real)
		return outLinkMismatch
	}
	return ""
}

// warnMismatch logs at most one WARN a second (a flood of forged
// SUBSCRIBEs must not flood the log); the next one says how many were
// left out.
func (s *Service) warnMismatch(msg string, src netip.Addr, claimed, real string) {
	ok, suppressed := s.linkWarn.allow(time.Now())
	if !ok {
		return
	}
	s.log.Warn(msg, "source", src.String(), "claimed_mac", claimed, "link_mac", real, "suppressed", suppressed)
}

// warnLimit lets one message through per second.
type warnLimit struct {
	mu         sync.Mutex
	next       time.Time
	suppressed int
}

func (w *warnLimit) allow(now time.Time) (bool, int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if now.Before(w.next) {
		w.suppressed++
		return false, 0
	}
	n := w.suppressed
	w.next, w.suppressed = now.Add(time.Second), 0
	return true, n
}
