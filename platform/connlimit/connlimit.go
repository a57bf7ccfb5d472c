// Package connlimit bounds the connections a server holds open, in total
// and per source address, so that a few hosts opening idle connections
// cannot use up the process's file descriptors (which the store, NATS and
// gRPC clients need as well). A connection over a limit is accepted and
// closed at once with a reset, and counted; Accept itself never blocks on
// a limit, so the listen backlog never fills with connections nobody
// serves.
//
// It also raises RLIMIT_NOFILE to its hard limit (RaiseFileLimit), so that
// the limits can be sized from the real budget (Size).
package connlimit

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"syscall"
)

// Reasons a connection is refused, for metric labels.
const (
	ReasonTotal     = "total"      // the Limiter's total is reached
	ReasonPerSource = "per_source" // the source address holds its maximum
)

// Limiter counts open connections of every listener it wraps.
type Limiter struct {
	maxTotal, maxPerSource int
	onRefuse               func(reason string)

	mu       sync.Mutex
	total    int
	bySource map[netip.Addr]int
}

// New returns a Limiter allowing maxTotal open connections in all and
// maxPerSource from one source (an IPv4 address, or an IPv6 /64, which one
// host typically owns whole). Zero or less means no limit. onRefuse, when
// not nil, is called for every refused connection; it must not block.
func New(maxTotal, maxPerSource int, onRefuse func(reason string)) *Limiter {
	return &Limiter{maxTotal: maxTotal, maxPerSource: maxPerSource, onRefuse: onRefuse, bySource: map[netip.Addr]int{}}
}

// Open returns the number of open connections.
func (l *Limiter) Open() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.total
}

// Sources returns the number of sources holding open connections.
func (l *Limiter) Sources() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.bySource)
}

// MaxTotal and MaxPerSource return the limits (0: none).
func (l *Limiter) MaxTotal() int     { return max(l.maxTotal, 0) }
func (l *Limiter) MaxPerSource() int { return max(l.maxPerSource, 0) }

func (l *Limiter) acquire(src netip.Addr) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.maxTotal > 0 && l.total >= l.maxTotal {
		return ReasonTotal
	}
	if l.maxPerSource > 0 && src.IsValid() && l.bySource[src] >= l.maxPerSource {
		return ReasonPerSource
	}
	l.total++
	if src.IsValid() {
		l.bySource[src]++
	}
	return ""
}

func (l *Limiter) release(src netip.Addr) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.total--
	if src.IsValid() {
		if n := l.bySource[src] - 1; n > 0 {
			l.bySource[src] = n
		} else {
			delete(l.bySource, src)
		}
	}
}

// source is the key a remote address is counted under.
func source(a net.Addr) netip.Addr {
	ta, ok := a.(*net.TCPAddr)
	if !ok {
		return netip.Addr{}
	}
	ip, ok := netip.AddrFromSlice(ta.IP)
	if !ok {
		return netip.Addr{}
	}
	ip = ip.Unmap()
	if ip.Is6() {
		p, _ := ip.Prefix(64)
		return p.Addr()
	}
	return ip
}

// Listen wraps ln: Accept returns only connections within the limits and
// closes the others itself.
func (l *Limiter) Listen(ln net.Listener) net.Listener { return &listener{Listener: ln, l: l} }

type listener struct {
	net.Listener
	l *Limiter
}

func (ln *listener) Accept() (net.Conn, error) {
	for {
		c, err := ln.Listener.Accept()
		if err != nil {
			return nil, err
		}
		src := source(c.RemoteAddr())
		if reason := ln.l.acquire(src); reason != "" {
			// A reset, not a FIN: no TIME_WAIT or unread data is kept for a
			// connection that was never served.
			if tc, ok := c.(*net.TCPConn); ok {
				_ = tc.SetLinger(0)
			}
			_ = c.Close()
			if ln.l.onRefuse != nil {
				ln.l.onRefuse(reason)
			}
			continue
		}
		return &conn{Conn: c, l: ln.l, src: src}, nil
	}
}

type conn struct {
	net.Conn
	l      *Limiter
	src    netip.Addr
	closed atomic.Bool
}

func (c *conn) Close() error {
	if c.closed.CompareAndSwap(false, true) {
		c.l.release(c.src)
	}
	return c.Conn.Close()
}

// RaiseFileLimit raises the soft RLIMIT_NOFILE to the hard limit and returns
// the soft limit now in force. Go does this at start-up since 1.19 for the
// process itself, but not for every environment (and a failure is silent);
// calling it makes the budget explicit.
func RaiseFileLimit() (uint64, error) {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return 0, fmt.Errorf("connlimit: getrlimit: %w", err)
	}
	if rl.Cur < rl.Max {
		want := rl
		want.Cur = rl.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &want); err != nil {
			return rl.Cur, fmt.Errorf("connlimit: raise RLIMIT_NOFILE from %d to %d: %w", rl.Cur, rl.Max, err)
		}
		rl = want
	}
	return rl.Cur, nil
}

// FileLimit returns the soft RLIMIT_NOFILE.
func FileLimit() (uint64, error) {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return 0, fmt.Errorf("connlimit: getrlimit: %w", err)
	}
	return rl.Cur, nil
}

// ErrNoBudget: the file limit leaves nothing for connections after the
// reserve.
var ErrNoBudget = errors.New("connlimit: RLIMIT_NOFILE leaves no file descriptors for connections after the reserve")

// Size returns the total connection limit for a file limit and a reserve
// of descriptors kept for everything else (store, NATS, gRPC, admin,
// files): nofile − reserve.
func Size(nofile uint64, reserve int) (int, error) {
	if reserve < 0 || nofile <= uint64(reserve) {
		return 0, fmt.Errorf("%w (limit %d, reserve %d)", ErrNoBudget, nofile, reserve)
	}
	n := nofile - uint64(reserve)
	if n > 1<<30 {
		n = 1 << 30
	}
	return int(n), nil
}
