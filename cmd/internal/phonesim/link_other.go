//go:build !linux

package phonesim

import (
	"errors"
	"net"
	"net/netip"
)

// Link needs Linux packet sockets.
type Link struct{}

// OpenLink fails outside Linux.
func OpenLink(string) (*Link, error) { return nil, errors.New("link: packet sockets need Linux") }

// Close does nothing.
func (l *Link) Close() error { return nil }

func (l *Link) listen(netip.Addr, string, int) (udpConn, error) {
	return nil, errors.New("link: packet sockets need Linux")
}

var _ = net.ErrClosed
