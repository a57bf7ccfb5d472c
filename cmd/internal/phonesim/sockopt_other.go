//go:build !(linux || darwin || freebsd || netbsd || openbsd)

package phonesim

import (
	"errors"
	"net/netip"
)

func setMulticastOptions(uintptr, netip.Addr) error {
	return errors.New("multicast SUBSCRIBE is not supported on this platform; use --mcast with a unicast address or boot --url")
}
