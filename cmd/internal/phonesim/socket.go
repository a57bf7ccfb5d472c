package phonesim

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"syscall"
)

// DefaultGroup is where phones send their PnP SUBSCRIBE.
var DefaultGroup = netip.MustParseAddrPort("224.0.1.75:5060")

// openSocket binds the phone's UDP socket on local:port. For a multicast
// destination it sets IP_MULTICAST_IF to the local address (when one is
// given) and TTL 1, like a phone: the SUBSCRIBE must not leave the LAN.
func openSocket(ctx context.Context, local netip.Addr, port int, dest netip.AddrPort) (*net.UDPConn, error) {
	lc := net.ListenConfig{}
	if dest.Addr().IsMulticast() {
		lc.Control = func(_, _ string, c syscall.RawConn) error {
			var serr error
			err := c.Control(func(fd uintptr) { serr = setMulticastOptions(fd, local) })
			return errors.Join(err, serr)
		}
	}
	bind := netip.AddrPortFrom(netip.IPv4Unspecified(), uint16(port))
	if local.IsValid() {
		bind = netip.AddrPortFrom(local, uint16(port))
	}
	pc, err := lc.ListenPacket(ctx, "udp4", bind.String())
	if err != nil {
		return nil, fmt.Errorf("bind %s: %w", bind, err)
	}
	return pc.(*net.UDPConn), nil
}

// sourceAddr returns the address the kernel would send from towards dest,
// for the Via and Contact of a socket bound to 0.0.0.0.
func sourceAddr(dest netip.AddrPort) (netip.Addr, error) {
	c, err := net.DialUDP("udp4", nil, net.UDPAddrFromAddrPort(dest))
	if err != nil {
		return netip.Addr{}, fmt.Errorf("no route to %s (choose the LAN with --local-addr or --iface): %w", dest, err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).AddrPort().Addr().Unmap(), nil
}

// interfaceAddr returns the first IPv4 address of the named interface.
func interfaceAddr(name string) (netip.Addr, error) {
	ifi, err := net.InterfaceByName(name)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("interface %s: %w", name, err)
	}
	addrs, err := ifi.Addrs()
	if err != nil {
		return netip.Addr{}, fmt.Errorf("interface %s: %w", name, err)
	}
	for _, a := range addrs {
		if pfx, err := netip.ParsePrefix(a.String()); err == nil && pfx.Addr().Is4() {
			return pfx.Addr(), nil
		}
	}
	return netip.Addr{}, fmt.Errorf("interface %s has no IPv4 address", name)
}
