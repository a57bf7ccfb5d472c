//go:build linux || darwin || freebsd || netbsd || openbsd

package phonesim

import (
	"net/netip"
	"syscall"
)

// setMulticastOptions sets TTL 1 and, for a given local address,
// IP_MULTICAST_IF. Loopback delivery stays on (the kernel default) so a
// responder on the same host hears the phone.
func setMulticastOptions(fd uintptr, local netip.Addr) error {
	if err := syscall.SetsockoptInt(int(fd), syscall.IPPROTO_IP, syscall.IP_MULTICAST_TTL, 1); err != nil {
		return err
	}
	if local.IsValid() && local.Is4() && !local.IsUnspecified() {
		return syscall.SetsockoptInet4Addr(int(fd), syscall.IPPROTO_IP, syscall.IP_MULTICAST_IF, local.As4())
	}
	return nil
}
