// Package neigh looks a LAN address up in the kernel's IPv4 neighbour
// (ARP) table, for phones whose PnP SUBSCRIBE carries no MAC address.
package neigh

import (
	"bufio"
	"fmt"
	"io"
	"net/netip"
	"os"
	"strings"

	"github.com/dialtone-voip/dialtone/proto/macaddr"
)

// ProcARP is the kernel's IPv4 neighbour table in text form, as the
// calling thread's network namespace sees it (/proc/net is the process's
// main thread's).
const ProcARP = "/proc/thread-self/net/arp"

// Lookup returns the canonical MAC of ip from ProcARP, or "" when the
// kernel has no complete entry for it.
func Lookup(ip netip.Addr) (string, error) {
	f, err := os.Open(ProcARP)
	if err != nil {
		return "", fmt.Errorf("neigh: %w", err)
	}
	defer f.Close()
	return Find(f, ip)
}

// Find scans a /proc/net/arp table:
//
//	IP address       HW type     Flags       HW address            Mask     Device
//	192.168.1.20     0x1         0x2         00:15:65:aa:bb:cc     *        eth0
//
// Flags 0x0 marks an incomplete entry; an all-zero address is no address.
func Find(r io.Reader, ip netip.Addr) (string, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 512), 4096)
	want := ip.Unmap().String()
	first := true
	for sc.Scan() {
		if first {
			first = false
			continue // header
		}
		f := strings.Fields(sc.Text())
		if len(f) < 4 || f[0] != want {
			continue
		}
		if f[2] == "0x0" {
			continue
		}
		mac, err := macaddr.Parse(f[3])
		if err != nil || mac == "000000000000" {
			continue
		}
		return mac, nil
	}
	if err := sc.Err(); err != nil {
		return "", fmt.Errorf("neigh: %w", err)
	}
	return "", nil
}
