package neigh

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/dialtone-voip/dialtone/proto/macaddr"
)

// Table answers single-address questions from the kernel's IPv4 neighbour
// table over rtnetlink (RTM_GETNEIGH without NLM_F_DUMP, Linux ≥ 4.20).
// /proc/net/arp is a full text dump: with 10,000 phones on the LAN each
// lookup would parse ~1 MB, while a netlink get costs one round trip.
//
// The socket belongs to the network namespace of the thread that called
// Open, so a Table opened inside a namespace keeps reading that one.
type Table struct {
	mu  sync.Mutex
	fd  int
	seq uint32
	buf []byte
	// fallback is set when the kernel refused single gets: every lookup
	// then reads ProcARP (in the calling thread's namespace).
	fallback bool
}

// Open opens the rtnetlink socket.
func Open() (*Table, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_ROUTE)
	if err != nil {
		return nil, fmt.Errorf("neigh: netlink socket: %w", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("neigh: netlink bind: %w", err)
	}
	// A lost answer must not block a lookup for ever.
	tv := unix.NsecToTimeval(int64(time.Second))
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("neigh: netlink timeout: %w", err)
	}
	return &Table{fd: fd, buf: make([]byte, 8192)}, nil
}

// Close closes the socket.
func (t *Table) Close() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.fd < 0 {
		return nil
	}
	err := unix.Close(t.fd)
	t.fd = -1
	return err
}

// Lookup returns the canonical MAC the kernel holds for ip on interface
// ifindex, or "" when it has no usable entry (none, incomplete or failed).
func (t *Table) Lookup(ifindex int, ip netip.Addr) (string, error) {
	ip = ip.Unmap()
	if !ip.Is4() {
		return "", nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.fallback || ifindex <= 0 {
		return Lookup(ip)
	}
	if t.fd < 0 {
		return "", errors.New("neigh: table closed")
	}
	t.seq++
	req := getRequest(t.seq, ifindex, ip)
	if err := unix.Sendto(t.fd, req, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return "", fmt.Errorf("neigh: netlink send: %w", err)
	}
	for {
		n, _, err := unix.Recvfrom(t.fd, t.buf, 0)
		if err != nil {
			return "", fmt.Errorf("neigh: netlink receive: %w", err)
		}
		mac, seq, err := ParseReply(t.buf[:n])
		if seq != t.seq {
			continue // the answer to an earlier, timed-out request
		}
		switch {
		case errors.Is(err, unix.ENOENT):
			return "", nil
		case errors.Is(err, unix.EINVAL), errors.Is(err, unix.EOPNOTSUPP):
			// Kernels before 4.20 only dump the table.
			t.fallback = true
			return Lookup(ip)
		}
		return mac, err
	}
}

const (
	nlmsgHdrLen = 16
	ndmsgLen    = 12
	ndaDst      = 1
	ndaLLAddr   = 2
	// nudValid: states whose link-layer address the kernel sends to.
	nudValid = unix.NUD_REACHABLE | unix.NUD_STALE | unix.NUD_DELAY | unix.NUD_PROBE | unix.NUD_PERMANENT
)

func getRequest(seq uint32, ifindex int, ip netip.Addr) []byte {
	b := make([]byte, nlmsgHdrLen+ndmsgLen+8)
	ne := binary.NativeEndian
	ne.PutUint32(b[0:], uint32(len(b)))
	ne.PutUint16(b[4:], unix.RTM_GETNEIGH)
	ne.PutUint16(b[6:], unix.NLM_F_REQUEST)
	ne.PutUint32(b[8:], seq)
	b[16] = unix.AF_INET
	ne.PutUint32(b[20:], uint32(int32(ifindex)))
	ne.PutUint16(b[28:], 8)
	ne.PutUint16(b[30:], ndaDst)
	a := ip.As4()
	copy(b[32:], a[:])
	return b
}

// ParseReply reads the first message of a netlink answer to getRequest:
// the MAC of a usable RTM_NEWNEIGH entry ("" for an unusable one), or the
// errno of an NLMSG_ERROR. seq is the message's sequence number.
func ParseReply(b []byte) (mac string, seq uint32, err error) {
	ne := binary.NativeEndian
	if len(b) < nlmsgHdrLen {
		return "", 0, errors.New("neigh: short netlink message")
	}
	l := int(ne.Uint32(b[0:]))
	typ := ne.Uint16(b[4:])
	seq = ne.Uint32(b[8:])
	if l < nlmsgHdrLen || l > len(b) {
		return "", seq, errors.New("neigh: bad netlink length")
	}
	body := b[nlmsgHdrLen:l]
	switch typ {
	case unix.NLMSG_ERROR:
		if len(body) < 4 {
			return "", seq, errors.New("neigh: short netlink error")
		}
		if e := int32(ne.Uint32(body)); e != 0 {
			return "", seq, fmt.Errorf("neigh: netlink: %w", unix.Errno(-e))
		}
		return "", seq, nil
	case unix.RTM_NEWNEIGH:
	default:
		return "", seq, fmt.Errorf("neigh: unexpected netlink message type %d", typ)
	}
	if len(body) < ndmsgLen {
		return "", seq, errors.New("neigh: short neighbour message")
	}
	state := ne.Uint16(body[8:])
	var ll []byte
	for a := body[ndmsgLen:]; len(a) >= 4; {
		al := int(ne.Uint16(a[0:]))
		if al < 4 || al > len(a) {
			return "", seq, errors.New("neigh: bad netlink attribute")
		}
		if ne.Uint16(a[2:])&0x3fff == ndaLLAddr {
			ll = a[4:al]
		}
		a = a[min(len(a), (al+3)&^3):]
	}
	if state&nudValid == 0 || len(ll) != 6 {
		return "", seq, nil
	}
	m, perr := macaddr.Parse(fmt.Sprintf("%x", ll))
	if perr != nil || m == "000000000000" {
		return "", seq, nil
	}
	return m, seq, nil
}
