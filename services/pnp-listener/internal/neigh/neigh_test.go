package neigh

import (
	"net/netip"
	"strings"
	"testing"
)

const table = `IP address       HW type     Flags       HW address            Mask     Device
198.18.0.2       0x1         0x2         02:aa:bb:cc:dd:01     *        veth0
198.18.0.3       0x1         0x0         00:00:00:00:00:00     *        veth0
198.18.0.4       0x1         0x2         00:00:00:00:00:00     *        veth0
198.18.0.5       0x1         0x2         zz:aa:bb:cc:dd:01     *        veth0
198.18.0.55      0x1         0x2         00:15:65:AA:BB:CC     *        veth0
`

func TestFind(t *testing.T) {
	for ip, want := range map[string]string{
		"198.18.0.2": "02aabbccdd01", "198.18.0.3": "", "198.18.0.4": "", "198.18.0.5": "",
		"198.18.0.55": "001565aabbcc", "198.18.0.9": "", "::ffff:198.18.0.2": "02aabbccdd01",
	} {
		got, err := Find(strings.NewReader(table), netip.MustParseAddr(ip))
		if err != nil || got != want {
			t.Errorf("Find(%s) = %q, %v; want %q", ip, got, err, want)
		}
	}
}

func TestLookupLive(t *testing.T) {
	// The real table is readable; an address that cannot be there is absent.
	mac, err := Lookup(netip.MustParseAddr("192.0.2.254"))
	if err != nil || mac != "" {
		t.Errorf("Lookup = %q, %v", mac, err)
	}
}

func FuzzFind(f *testing.F) {
	f.Add(table, "198.18.0.2")
	f.Add("IP\n\n  \n1 2 3", "1.2.3.4")
	f.Fuzz(func(t *testing.T, tbl, ip string) {
		a, err := netip.ParseAddr(ip)
		if err != nil {
			return
		}
		mac, err := Find(strings.NewReader(tbl), a)
		if err == nil && mac != "" && len(mac) != 12 {
			t.Fatalf("mac %q", mac)
		}
	})
}
