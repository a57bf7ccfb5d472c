//go:build linux

package phonesim

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// Link gives simulated phones a link layer of their own: each phone sends
// and receives its SIP through one packet socket on an interface, with its
// own MAC as the Ethernet source and its own IPv4 address, and Link
// answers ARP for those addresses with those MACs — so the PnP listener's
// kernel sees every phone as a separate host, as on a real LAN (issue 14:
// the listener proves a phone by its link-layer address). HTTP downloads
// still use the host's own address: the provisioning edge does not see L2.
//
// It needs CAP_NET_RAW. The addresses must be unused on the LAN and inside
// the listener's subnet.
type Link struct {
	fd      int
	ifindex int

	mu    sync.Mutex
	hosts map[netip.Addr]*linkHost
	// peers is Link's ARP cache, learned from ARP and from received frames.
	peers   map[netip.Addr]net.HardwareAddr
	waiters map[netip.Addr][]chan struct{}

	closeOnce sync.Once
	done      chan struct{}
}

type linkHost struct {
	mac   net.HardwareAddr
	ip    netip.Addr
	conns map[uint16]*linkConn
}

type datagram struct {
	b    []byte
	from netip.AddrPort
}

// OpenLink opens the packet socket on iface and starts answering ARP.
func OpenLink(iface string) (*Link, error) {
	ifi, err := net.InterfaceByName(iface)
	if err != nil {
		return nil, fmt.Errorf("link: %w", err)
	}
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, int(htons(unix.ETH_P_ALL)))
	if err != nil {
		return nil, fmt.Errorf("link: packet socket (needs CAP_NET_RAW): %w", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: ifi.Index}); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("link: bind %s: %w", iface, err)
	}
	// Only ARP and UDP reach the reader: the host's own HTTP downloads
	// cross the same interface, and copying them would crowd out the SIP.
	if err := unix.SetsockoptSockFprog(fd, unix.SOL_SOCKET, unix.SO_ATTACH_FILTER, &arpOrUDP); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("link: filter: %w", err)
	}
	// Boot storms: thousands of phones answered at once.
	_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 8<<20)
	_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, 8<<20)
	// A read timeout lets the reader notice Close.
	tv := unix.NsecToTimeval(int64(200 * time.Millisecond))
	_ = unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
	l := &Link{
		fd: fd, ifindex: ifi.Index,
		hosts: map[netip.Addr]*linkHost{}, peers: map[netip.Addr]net.HardwareAddr{},
		waiters: map[netip.Addr][]chan struct{}{}, done: make(chan struct{}),
	}
	go l.readLoop()
	return l, nil
}

// Close stops the reader and closes the socket.
func (l *Link) Close() error {
	l.closeOnce.Do(func() { close(l.done) })
	return nil
}

// arpOrUDP is a classic BPF program: accept ARP and IPv4/UDP frames.
var arpOrUDP = func() unix.SockFprog {
	f := []unix.SockFilter{
		{Code: 0x28, K: 12},                    // ldh [12] (EtherType)
		{Code: 0x15, Jt: 3, K: unix.ETH_P_ARP}, // ARP: accept
		{Code: 0x15, Jf: 3, K: unix.ETH_P_IP},  // not IPv4: drop
		{Code: 0x30, K: 23},                    // ldb [23] (IP protocol)
		{Code: 0x15, Jf: 1, K: unix.IPPROTO_UDP},
		{Code: 0x06, K: 0x40000}, // accept
		{Code: 0x06, K: 0},       // drop
	}
	return unix.SockFprog{Len: uint16(len(f)), Filter: &f[0]}
}()

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// listen opens a UDP "socket" for the phone with mac at ip (port 0: a free
// ephemeral one).
func (l *Link) listen(ip netip.Addr, mac string, port int) (*linkConn, error) {
	hw, err := hex.DecodeString(mac)
	if err != nil || len(hw) != 6 {
		return nil, fmt.Errorf("link: MAC %q", mac)
	}
	ip = ip.Unmap()
	if !ip.Is4() {
		return nil, fmt.Errorf("link: %s is not IPv4", ip)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	h := l.hosts[ip]
	if h == nil {
		h = &linkHost{mac: hw, ip: ip, conns: map[uint16]*linkConn{}}
		l.hosts[ip] = h
	} else if !equalMAC(h.mac, hw) {
		return nil, fmt.Errorf("link: %s is already the address of %s", ip, h.mac)
	}
	if port == 0 {
		for range 100 {
			p := uint16(49152 + rand.IntN(16384))
			if h.conns[p] == nil {
				port = int(p)
				break
			}
		}
	}
	if port <= 0 || port > 65535 || h.conns[uint16(port)] != nil {
		return nil, fmt.Errorf("link: %s:%d is in use", ip, port)
	}
	c := &linkConn{l: l, h: h, port: uint16(port), in: make(chan datagram, 64), closed: make(chan struct{})}
	h.conns[c.port] = c
	return c, nil
}

func equalMAC(a, b net.HardwareAddr) bool { return string(a) == string(b) }

func (l *Link) readLoop() {
	buf := make([]byte, 65536)
	for {
		select {
		case <-l.done:
			unix.Close(l.fd)
			return
		default:
		}
		n, from, err := unix.Recvfrom(l.fd, buf, 0)
		if err != nil {
			continue // timeout (to check done) or a transient error
		}
		if sll, ok := from.(*unix.SockaddrLinklayer); ok && sll.Pkttype == unix.PACKET_OUTGOING {
			continue
		}
		l.frame(buf[:n])
	}
}

// frame handles one received Ethernet frame.
func (l *Link) frame(f []byte) {
	if len(f) < 14 {
		return
	}
	src := net.HardwareAddr(append([]byte(nil), f[6:12]...))
	switch binary.BigEndian.Uint16(f[12:14]) {
	case unix.ETH_P_ARP:
		l.arp(f[14:])
	case unix.ETH_P_IP:
		l.ipv4(f[14:], src)
	}
}

func (l *Link) arp(a []byte) {
	// Ethernet/IPv4 ARP only: htype 1, ptype 0x0800, hlen 6, plen 4.
	if len(a) < 28 || binary.BigEndian.Uint16(a[0:]) != 1 || binary.BigEndian.Uint16(a[2:]) != unix.ETH_P_IP || a[4] != 6 || a[5] != 4 {
		return
	}
	op := binary.BigEndian.Uint16(a[6:])
	sha := net.HardwareAddr(append([]byte(nil), a[8:14]...))
	spa := netip.AddrFrom4([4]byte(a[14:18]))
	tpa := netip.AddrFrom4([4]byte(a[24:28]))
	l.learn(spa, sha)
	if op != 1 {
		return
	}
	l.mu.Lock()
	h := l.hosts[tpa]
	l.mu.Unlock()
	if h == nil {
		return
	}
	l.sendARP(2, h, sha, spa)
}

func (l *Link) learn(ip netip.Addr, mac net.HardwareAddr) {
	if !ip.IsValid() || ip.IsUnspecified() {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, own := l.hosts[ip]; own {
		return
	}
	l.peers[ip] = mac
	for _, w := range l.waiters[ip] {
		close(w)
	}
	delete(l.waiters, ip)
}

// sendARP sends a request (op 1, broadcast) or a reply (op 2) from h.
func (l *Link) sendARP(op uint16, h *linkHost, tha net.HardwareAddr, tpa netip.Addr) {
	f := make([]byte, 42)
	dst := tha
	if op == 1 {
		dst = net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
		tha = make(net.HardwareAddr, 6)
	}
	copy(f[0:], dst)
	copy(f[6:], h.mac)
	binary.BigEndian.PutUint16(f[12:], unix.ETH_P_ARP)
	a := f[14:]
	binary.BigEndian.PutUint16(a[0:], 1)
	binary.BigEndian.PutUint16(a[2:], unix.ETH_P_IP)
	a[4], a[5] = 6, 4
	binary.BigEndian.PutUint16(a[6:], op)
	copy(a[8:], h.mac)
	sip := h.ip.As4()
	copy(a[14:], sip[:])
	copy(a[18:], tha)
	tip := tpa.As4()
	copy(a[24:], tip[:])
	_ = l.send(f, dst, unix.ETH_P_ARP)
}

func (l *Link) send(f []byte, dst net.HardwareAddr, proto uint16) error {
	sa := &unix.SockaddrLinklayer{Protocol: htons(proto), Ifindex: l.ifindex, Halen: 6}
	copy(sa.Addr[:], dst)
	return unix.Sendto(l.fd, f, 0, sa)
}

func (l *Link) ipv4(p []byte, srcMAC net.HardwareAddr) {
	if len(p) < 20 || p[0]>>4 != 4 {
		return
	}
	ihl := int(p[0]&0x0f) * 4
	total := int(binary.BigEndian.Uint16(p[2:]))
	if ihl < 20 || total < ihl+8 || total > len(p) || p[9] != unix.IPPROTO_UDP {
		return
	}
	if binary.BigEndian.Uint16(p[6:])&0x3fff != 0 {
		return // a fragment: SIP over PnP fits one datagram
	}
	src := netip.AddrFrom4([4]byte(p[12:16]))
	dst := netip.AddrFrom4([4]byte(p[16:20]))
	u := p[ihl:total]
	sport, dport := binary.BigEndian.Uint16(u[0:]), binary.BigEndian.Uint16(u[2:])
	ulen := int(binary.BigEndian.Uint16(u[4:]))
	if ulen < 8 || ulen > len(u) {
		return
	}
	l.mu.Lock()
	h := l.hosts[dst]
	var c *linkConn
	if h != nil {
		c = h.conns[dport]
	}
	l.mu.Unlock()
	if h == nil {
		return
	}
	l.learn(src, srcMAC)
	if c == nil {
		return
	}
	d := datagram{b: append([]byte(nil), u[8:ulen]...), from: netip.AddrPortFrom(src, sport)}
	select {
	case c.in <- d:
	default: // a full queue drops, as a socket buffer would
	}
}

// resolve returns the MAC of ip on the LAN, asking by ARP from h.
func (l *Link) resolve(h *linkHost, ip netip.Addr) (net.HardwareAddr, error) {
	if ip.IsMulticast() {
		a := ip.As4()
		return net.HardwareAddr{0x01, 0x00, 0x5e, a[1] & 0x7f, a[2], a[3]}, nil
	}
	for try := range 3 {
		l.mu.Lock()
		if mac, ok := l.peers[ip]; ok {
			l.mu.Unlock()
			return mac, nil
		}
		w := make(chan struct{})
		l.waiters[ip] = append(l.waiters[ip], w)
		l.mu.Unlock()
		l.sendARP(1, h, nil, ip)
		select {
		case <-w:
		case <-time.After(time.Duration(300*(try+1)) * time.Millisecond):
		case <-l.done:
			return nil, net.ErrClosed
		}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if mac, ok := l.peers[ip]; ok {
		return mac, nil
	}
	return nil, fmt.Errorf("link: no ARP answer from %s", ip)
}

// linkConn is one phone's UDP socket on a Link.
type linkConn struct {
	l      *Link
	h      *linkHost
	port   uint16
	in     chan datagram
	closed chan struct{}
	once   sync.Once
}

func (c *linkConn) ReadFromUDPAddrPort(b []byte) (int, netip.AddrPort, error) {
	select {
	case d := <-c.in:
		return copy(b, d.b), d.from, nil
	case <-c.closed:
		return 0, netip.AddrPort{}, net.ErrClosed
	}
}

func (c *linkConn) WriteToUDPAddrPort(b []byte, to netip.AddrPort) (int, error) {
	dst := to.Addr().Unmap()
	if !dst.Is4() {
		return 0, errors.New("link: IPv4 only")
	}
	if len(b) > 1500-28 {
		return 0, fmt.Errorf("link: %d bytes do not fit one frame", len(b))
	}
	mac, err := c.l.resolve(c.h, dst)
	if err != nil {
		return 0, err
	}
	f := make([]byte, 14+20+8+len(b))
	copy(f[0:], mac)
	copy(f[6:], c.h.mac)
	binary.BigEndian.PutUint16(f[12:], unix.ETH_P_IP)
	ip := f[14:34]
	ip[0] = 0x45
	binary.BigEndian.PutUint16(ip[2:], uint16(20+8+len(b)))
	binary.BigEndian.PutUint16(ip[4:], uint16(rand.Uint32()))
	ip[6] = 0x40 // don't fragment
	ip[8] = 64
	if dst.IsMulticast() {
		ip[8] = 1 // a PnP SUBSCRIBE never leaves the LAN
	}
	ip[9] = unix.IPPROTO_UDP
	s4, d4 := c.h.ip.As4(), dst.As4()
	copy(ip[12:], s4[:])
	copy(ip[16:], d4[:])
	binary.BigEndian.PutUint16(ip[10:], checksum(ip, 0))
	u := f[34:]
	binary.BigEndian.PutUint16(u[0:], c.port)
	binary.BigEndian.PutUint16(u[2:], to.Port())
	binary.BigEndian.PutUint16(u[4:], uint16(8+len(b)))
	copy(u[8:], b)
	// UDP checksum over the pseudo-header (RFC 768).
	var ph uint32
	ph += uint32(binary.BigEndian.Uint16(s4[0:])) + uint32(binary.BigEndian.Uint16(s4[2:]))
	ph += uint32(binary.BigEndian.Uint16(d4[0:])) + uint32(binary.BigEndian.Uint16(d4[2:]))
	ph += unix.IPPROTO_UDP + uint32(8+len(b))
	cs := checksum(u, ph)
	if cs == 0 {
		cs = 0xffff
	}
	binary.BigEndian.PutUint16(u[6:], cs)
	if err := c.l.send(f, mac, unix.ETH_P_IP); err != nil {
		return 0, fmt.Errorf("link: send: %w", err)
	}
	return len(b), nil
}

func checksum(b []byte, sum uint32) uint16 {
	for i := 0; i+1 < len(b); i += 2 {
		sum += uint32(binary.BigEndian.Uint16(b[i:]))
	}
	if len(b)%2 == 1 {
		sum += uint32(b[len(b)-1]) << 8
	}
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	return ^uint16(sum)
}

func (c *linkConn) LocalAddr() net.Addr {
	return net.UDPAddrFromAddrPort(netip.AddrPortFrom(c.h.ip, c.port))
}

// Close releases the port; the phone's address stops being answered by
// ARP when its last socket closes.
func (c *linkConn) Close() error {
	c.once.Do(func() {
		close(c.closed)
		c.l.mu.Lock()
		delete(c.h.conns, c.port)
		if len(c.h.conns) == 0 && c.l.hosts[c.h.ip] == c.h {
			delete(c.l.hosts, c.h.ip)
		}
		c.l.mu.Unlock()
	})
	return nil
}
