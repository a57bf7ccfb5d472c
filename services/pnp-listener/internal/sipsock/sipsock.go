// Package sipsock owns pnp-listener's UDP sockets: it joins the SIP
// multicast group 224.0.1.75 on the LAN interfaces, learns for every
// datagram which interface and address it arrived on, drops what must not
// reach the SIP stack (foreign sources, oversize datagrams, floods, non-SIP
// bytes), and sends replies from the address of the interface the phone
// reached us on.
//
// A Conn is a net.PacketConn, so sipgo's Server.ServeUDP reads from it and
// writes through it like any UDP socket.
//
// Two bind modes:
//
//   - alone: one socket on sip-addr (0.0.0.0:5060) with SO_REUSEADDR; it
//     receives the multicast SUBSCRIBEs, unicast SUBSCRIBEs and the phones'
//     answers to our NOTIFYs.
//   - beside-pbx: a PBX already holds 0.0.0.0:5060. The listen socket is
//     bound to the group address itself (224.0.1.75:5060, SO_REUSEADDR and
//     SO_REUSEPORT), so the kernel gives it multicast only and every unicast
//     datagram stays with the PBX. Replies leave from a second socket on the
//     reply port (default 5062); our Via and Contact name that port, so the
//     phones' answers to our NOTIFYs come back to us, not to the PBX.
package sipsock

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/net/ipv4"
	"golang.org/x/sys/unix"
)

// Group is sip.mcast.net, where phones send their PnP SUBSCRIBE.
var Group = netip.MustParseAddr("224.0.1.75")

// Mode is how the listen socket is bound.
type Mode string

// Bind modes.
const (
	ModeAlone     Mode = "alone"
	ModeBesidePBX Mode = "beside-pbx"
)

// Drop reasons (the "reason" label of the drop counter).
const (
	DropOversize   = "oversize"
	DropSource     = "foreign_source"
	DropInterface  = "interface"
	DropGroup      = "foreign_group"
	DropRateGlobal = "rate_global"
	DropRateSource = "rate_source"
	DropNotSIP     = "not_sip"
)

// DropReasons lists every reason this package reports.
var DropReasons = []string{DropOversize, DropSource, DropInterface, DropGroup, DropRateGlobal, DropRateSource, DropNotSIP, DropAmplification}

// Options configure Listen.
type Options struct {
	Mode Mode
	// Addr is the listen address in alone mode (host may be empty for
	// every address; multicast is only delivered to a wildcard bind). In
	// beside-pbx mode only its port is used.
	Addr string
	// ReplyPort is the port of the reply socket in beside-pbx mode (0:
	// ephemeral).
	ReplyPort int
	// Interfaces are interface names; empty means every interface that is
	// up, multicast-capable, not loopback and has an IPv4 address.
	Interfaces []string
	// MaxDatagram drops larger datagrams.
	MaxDatagram int
	Limits      Limits
	// Amplification bounds the bytes sent to an address that never sent
	// us a SIP response to this many times the bytes received from it
	// (0: unbounded). Datagrams over budget are not sent and are counted
	// as DropAmplification.
	Amplification float64
	// OnDrop is called with a Drop* reason for every dropped datagram.
	OnDrop func(reason string)
	Logger *slog.Logger
}

// Arrival says where a datagram reached us.
type Arrival struct {
	IfIndex int
	IfName  string
	// Local is our IPv4 address on that interface: the unicast destination,
	// or for multicast the interface address in the source's subnet.
	Local netip.Addr
	// Multicast is true when the datagram was sent to the group.
	Multicast bool
	oob       []byte
}

// Listener is the pair of sockets (the same one in alone mode).
type Listener struct {
	// Main receives the SUBSCRIBEs.
	Main *Conn
	// Reply sends our NOTIFYs and receives their answers; in alone mode it
	// is Main.
	Reply *Conn

	opts     Options
	log      *slog.Logger
	ifaces   atomic.Pointer[ifaceTable]
	joined   map[int]bool // guarded by joinMu
	joinMu   sync.Mutex
	arrivals arrivalTable
	limiter  *limiter
	budget   *budget
}

// Listen opens the sockets and joins the group on the interfaces.
func Listen(opts Options) (*Listener, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.OnDrop == nil {
		opts.OnDrop = func(string) {}
	}
	if opts.MaxDatagram <= 0 {
		opts.MaxDatagram = 4096
	}
	host, port, err := splitAddr(opts.Addr)
	if err != nil {
		return nil, err
	}
	l := &Listener{opts: opts, log: opts.Logger, joined: map[int]bool{}, limiter: newLimiter(opts.Limits)}
	l.arrivals.init(1 << 16)
	if opts.Amplification > 0 {
		l.budget = newBudget(opts.Amplification, opts.Limits.MaxSources)
	}
	if err := l.loadInterfaces(); err != nil {
		return nil, err
	}

	var main *net.UDPConn
	switch opts.Mode {
	case ModeAlone, "":
		main, err = listenReuse(netip.AddrPortFrom(host, uint16(port)), false)
	case ModeBesidePBX:
		main, err = listenGroup(Group, port)
	default:
		return nil, fmt.Errorf("sipsock: unknown bind mode %q (want alone or beside-pbx)", opts.Mode)
	}
	if err != nil {
		return nil, err
	}
	l.Main, err = l.newConn(main)
	if err != nil {
		main.Close()
		return nil, err
	}
	if opts.Mode == ModeBesidePBX {
		reply, err := listenReuse(netip.AddrPortFrom(netip.IPv4Unspecified(), uint16(opts.ReplyPort)), false)
		if err != nil {
			main.Close()
			return nil, fmt.Errorf("sipsock: reply socket: %w", err)
		}
		if l.Reply, err = l.newConn(reply); err != nil {
			main.Close()
			reply.Close()
			return nil, err
		}
	} else {
		l.Reply = l.Main
	}
	if err := l.joinAll(); err != nil {
		l.Close()
		return nil, err
	}
	return l, nil
}

// Close closes the sockets (leaving the group).
func (l *Listener) Close() error {
	err := l.Main.Close()
	if l.Reply != l.Main {
		err = errors.Join(err, l.Reply.Close())
	}
	return err
}

// Refresh re-reads the interfaces (addresses change, interfaces appear)
// and joins the group on new ones.
func (l *Listener) Refresh() error {
	if err := l.loadInterfaces(); err != nil {
		return err
	}
	return l.joinAll()
}

// Interfaces returns the names of the interfaces served.
func (l *Listener) Interfaces() []string {
	t := l.ifaces.Load()
	names := make([]string, 0, len(t.byIndex))
	for _, i := range t.byIndex {
		names = append(names, i.name)
	}
	slices.Sort(names)
	return names
}

// Arrival returns where the last datagram from src arrived.
func (l *Listener) Arrival(src netip.AddrPort) (Arrival, bool) {
	return l.arrivals.get(src)
}

// Route returns the served interface whose subnet holds dst, for sending
// to a phone we have not heard from lately.
func (l *Listener) Route(dst netip.Addr) (Arrival, bool) {
	t := l.ifaces.Load()
	for _, i := range t.byIndex {
		if p, ok := i.contains(dst); ok {
			return Arrival{IfIndex: i.index, IfName: i.name, Local: p.Addr(), oob: i.oob[p.Addr()]}, true
		}
	}
	return Arrival{}, false
}

// LocalPort returns the port the Conn's socket is bound to.
func (c *Conn) LocalPort() int {
	return c.uc.LocalAddr().(*net.UDPAddr).Port
}

// --- interfaces

type iface struct {
	index    int
	name     string
	prefixes []netip.Prefix
	join     bool
	oob      map[netip.Addr][]byte // IP_PKTINFO to send from each address
}

func (i *iface) contains(a netip.Addr) (netip.Prefix, bool) {
	for _, p := range i.prefixes {
		if p.Contains(a) {
			return p, true
		}
	}
	return netip.Prefix{}, false
}

type ifaceTable struct {
	byIndex map[int]*iface
}

func (l *Listener) loadInterfaces() error {
	all, err := net.Interfaces()
	if err != nil {
		return fmt.Errorf("sipsock: list interfaces: %w", err)
	}
	t := &ifaceTable{byIndex: map[int]*iface{}}
	want := map[string]bool{}
	for _, n := range l.opts.Interfaces {
		want[n] = true
	}
	restricted := len(want) > 0
	for _, ifi := range all {
		explicit := want[ifi.Name]
		if restricted && !explicit {
			continue
		}
		delete(want, ifi.Name)
		up := ifi.Flags&net.FlagUp != 0
		mc := ifi.Flags&net.FlagMulticast != 0
		loop := ifi.Flags&net.FlagLoopback != 0
		if !explicit && (!up || !mc || loop) {
			continue
		}
		addrs, err := ifi.Addrs()
		if err != nil {
			return fmt.Errorf("sipsock: addresses of %s: %w", ifi.Name, err)
		}
		i := &iface{index: ifi.Index, name: ifi.Name, join: up && mc, oob: map[netip.Addr][]byte{}}
		for _, a := range addrs {
			ipn, ok := a.(*net.IPNet)
			if !ok {
				continue
			}
			ip, ok := netip.AddrFromSlice(ipn.IP)
			if !ok || !ip.Unmap().Is4() {
				continue
			}
			ones, _ := ipn.Mask.Size()
			p := netip.PrefixFrom(ip.Unmap(), ones)
			i.prefixes = append(i.prefixes, p)
			cm := &ipv4.ControlMessage{Src: net.IP(p.Addr().AsSlice()), IfIndex: ifi.Index}
			i.oob[p.Addr()] = cm.Marshal()
		}
		if len(i.prefixes) == 0 {
			if explicit {
				l.log.Warn("interface has no IPv4 address; not serving it yet", "interface", ifi.Name)
			}
			continue
		}
		t.byIndex[ifi.Index] = i
	}
	for n := range want {
		return fmt.Errorf("sipsock: interface %q does not exist", n)
	}
	if len(t.byIndex) == 0 {
		return errors.New("sipsock: no usable interface (up, multicast-capable, with an IPv4 address); name one with --sip-interfaces")
	}
	l.ifaces.Store(t)
	return nil
}

func (l *Listener) joinAll() error {
	l.joinMu.Lock()
	defer l.joinMu.Unlock()
	t := l.ifaces.Load()
	for idx := range l.joined {
		if t.byIndex[idx] == nil {
			// Gone (the kernel dropped its memberships); join again if it
			// comes back.
			delete(l.joined, idx)
		}
	}
	for idx, i := range t.byIndex {
		if l.joined[idx] {
			continue
		}
		if !i.join {
			l.log.Warn("interface is not multicast-capable; serving unicast only", "interface", i.name)
			l.joined[idx] = true
			continue
		}
		ifi, err := net.InterfaceByIndex(idx)
		if err != nil {
			return fmt.Errorf("sipsock: interface %s: %w", i.name, err)
		}
		if err := l.Main.p.JoinGroup(ifi, &net.UDPAddr{IP: net.IP(Group.AsSlice())}); err != nil {
			return fmt.Errorf("sipsock: join %s on %s: %w", Group, i.name, err)
		}
		l.joined[idx] = true
		l.log.Info("joined SIP multicast group", "group", Group.String(), "interface", i.name)
	}
	return nil
}

// --- sockets

func splitAddr(addr string) (netip.Addr, int, error) {
	if addr == "" {
		addr = ":5060"
	}
	h, p, err := net.SplitHostPort(addr)
	if err != nil {
		return netip.Addr{}, 0, fmt.Errorf("sipsock: address %q: %w", addr, err)
	}
	port, err := net.LookupPort("udp", p)
	if err != nil {
		return netip.Addr{}, 0, fmt.Errorf("sipsock: address %q: %w", addr, err)
	}
	ip := netip.IPv4Unspecified()
	if h != "" {
		if ip, err = netip.ParseAddr(h); err != nil || !ip.Unmap().Is4() {
			return netip.Addr{}, 0, fmt.Errorf("sipsock: address %q: want an IPv4 address", addr)
		}
	}
	return ip.Unmap(), port, nil
}

func sockopts(fd int, reusePort bool) error {
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); err != nil {
		return fmt.Errorf("SO_REUSEADDR: %w", err)
	}
	if reusePort {
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEPORT, 1); err != nil {
			return fmt.Errorf("SO_REUSEPORT: %w", err)
		}
	}
	// Only the groups this socket joined, not every group some other
	// socket on the host joined on this port.
	if err := unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_MULTICAST_ALL, 0); err != nil {
		return fmt.Errorf("IP_MULTICAST_ALL: %w", err)
	}
	return nil
}

// listenReuse binds a UDP socket with SO_REUSEADDR (not SO_REUSEPORT: on a
// wildcard address that would let another process share our unicast).
func listenReuse(ap netip.AddrPort, reusePort bool) (*net.UDPConn, error) {
	var serr error
	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		if err := c.Control(func(fd uintptr) { serr = sockopts(int(fd), reusePort) }); err != nil {
			return err
		}
		return serr
	}}
	pc, err := lc.ListenPacket(context.Background(), "udp4", ap.String())
	if err != nil {
		return nil, fmt.Errorf("sipsock: listen %s: %w", ap, err)
	}
	return pc.(*net.UDPConn), nil
}

// listenGroup binds to the group address itself. Go's net package rewrites
// a multicast bind address to the wildcard, so this goes through syscalls.
func listenGroup(group netip.Addr, port int) (*net.UDPConn, error) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, unix.IPPROTO_UDP)
	if err != nil {
		return nil, fmt.Errorf("sipsock: socket: %w", err)
	}
	if err := sockopts(fd, true); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("sipsock: %w", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrInet4{Port: port, Addr: group.As4()}); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("sipsock: bind %s:%d (beside-pbx mode needs the PBX socket to allow SO_REUSEADDR): %w", group, port, err)
	}
	f := os.NewFile(uintptr(fd), fmt.Sprintf("udp %s:%d", group, port))
	pc, err := net.FilePacketConn(f)
	f.Close()
	if err != nil {
		return nil, fmt.Errorf("sipsock: %w", err)
	}
	return pc.(*net.UDPConn), nil
}

// Conn is one socket as sipgo sees it.
type Conn struct {
	l   *Listener
	uc  *net.UDPConn
	p   *ipv4.PacketConn
	oob []byte
	cm  ipv4.ControlMessage
}

func (l *Listener) newConn(uc *net.UDPConn) (*Conn, error) {
	p := ipv4.NewPacketConn(uc)
	if err := p.SetControlMessage(ipv4.FlagDst|ipv4.FlagInterface, true); err != nil {
		return nil, fmt.Errorf("sipsock: IP_PKTINFO: %w", err)
	}
	_ = uc.SetReadBuffer(4 << 20) // bursts of phones booting together; best effort
	_ = uc.SetWriteBuffer(4 << 20)
	return &Conn{l: l, uc: uc, p: p, oob: ipv4.NewControlMessage(ipv4.FlagDst | ipv4.FlagInterface)}, nil
}

// ReadFrom returns the next datagram that passes every filter. sipgo calls
// it from one goroutine per socket.
func (c *Conn) ReadFrom(b []byte) (int, net.Addr, error) {
	l := c.l
	for {
		n, oobn, flags, src, err := c.uc.ReadMsgUDPAddrPort(b, c.oob[:cap(c.oob)])
		if err != nil {
			return 0, nil, err
		}
		if flags&unix.MSG_TRUNC != 0 || n > l.opts.MaxDatagram {
			l.opts.OnDrop(DropOversize)
			continue
		}
		c.cm.IfIndex = 0
		if err := c.cm.Parse(c.oob[:oobn]); err != nil || c.cm.IfIndex == 0 {
			l.opts.OnDrop(DropInterface)
			continue
		}
		srcAddr := src.Addr().Unmap()
		i := l.ifaces.Load().byIndex[c.cm.IfIndex]
		if i == nil {
			l.opts.OnDrop(DropInterface)
			continue
		}
		prefix, ok := i.contains(srcAddr)
		if !ok || !srcAddr.Is4() {
			l.opts.OnDrop(DropSource)
			continue
		}
		dst, _ := netip.AddrFromSlice(c.cm.Dst)
		dst = dst.Unmap()
		arr := Arrival{IfIndex: i.index, IfName: i.name}
		if dst.IsMulticast() {
			if dst != Group {
				l.opts.OnDrop(DropGroup)
				continue
			}
			arr.Multicast = true
			arr.Local = prefix.Addr()
		} else {
			arr.Local = dst
		}
		if !looksLikeSIP(b[:n]) {
			l.opts.OnDrop(DropNotSIP)
			continue
		}
		if reason := l.limiter.allow(srcAddr, time.Now()); reason != "" {
			l.opts.OnDrop(reason)
			continue
		}
		arr.oob = i.oob[arr.Local]
		l.budget.received(srcAddr, n, bytes.HasPrefix(b[:n], []byte("SIP/2.0 ")))
		src = netip.AddrPortFrom(srcAddr, src.Port())
		l.arrivals.put(src, arr)
		return n, net.UDPAddrFromAddrPort(src), nil
	}
}

// WriteTo sends from the address of the interface the peer reached us on
// (or, for a peer we have not heard from, the interface whose subnet holds
// it), so the source address and the Via/Contact we wrote agree.
func (c *Conn) WriteTo(b []byte, addr net.Addr) (int, error) {
	ua, ok := addr.(*net.UDPAddr)
	if !ok {
		return 0, fmt.Errorf("sipsock: cannot send to %T", addr)
	}
	ap := ua.AddrPort()
	ap = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	if !c.l.budget.spend(ap.Addr(), len(b)) {
		// Report it sent: sipgo would otherwise fail the transaction at
		// once; its timers end it, and the phone may still answer.
		c.l.opts.OnDrop(DropAmplification)
		return len(b), nil
	}
	arr, ok := c.l.arrivals.get(ap)
	if !ok {
		arr, ok = c.l.Route(ap.Addr())
	}
	var oob []byte
	if ok {
		oob = arr.oob
	}
	n, _, err := c.uc.WriteMsgUDPAddrPort(b, oob, ap)
	return n, err
}

// Close closes the socket.
func (c *Conn) Close() error { return c.uc.Close() }

// LocalAddr is the socket's bound address.
func (c *Conn) LocalAddr() net.Addr { return c.uc.LocalAddr() }

// SetDeadline implements net.PacketConn.
func (c *Conn) SetDeadline(t time.Time) error { return c.uc.SetDeadline(t) }

// SetReadDeadline implements net.PacketConn.
func (c *Conn) SetReadDeadline(t time.Time) error { return c.uc.SetReadDeadline(t) }

// SetWriteDeadline implements net.PacketConn.
func (c *Conn) SetWriteDeadline(t time.Time) error { return c.uc.SetWriteDeadline(t) }

// looksLikeSIP accepts a datagram whose first line is a SIP request line or
// status line (or a CRLF keep-alive), so that random bytes are counted here
// instead of being handed to the SIP parser.
func looksLikeSIP(b []byte) bool {
	if len(b) <= 4 {
		for _, c := range b {
			if c != '\r' && c != '\n' {
				return false
			}
		}
		return true
	}
	end := len(b)
	if end > 1024 {
		end = 1024
	}
	line := b[:end]
	nl := -1
	for i, c := range line {
		if c == '\n' {
			nl = i
			break
		}
	}
	if nl < 0 {
		return false
	}
	line = line[:nl]
	if len(line) > 0 && line[len(line)-1] == '\r' {
		line = line[:len(line)-1]
	}
	const v = "SIP/2.0"
	if len(line) > len(v) && string(line[:len(v)+1]) == v+" " {
		return true
	}
	return len(line) > len(v)+2 && string(line[len(line)-len(v)-1:]) == " "+v
}
