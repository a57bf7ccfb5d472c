package neigh

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
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

// reply builds an RTM_NEWNEIGH answer as the kernel sends it.
func reply(seq uint32, state uint16, ll []byte) []byte {
	ne := binary.NativeEndian
	attrs := []byte{8, 0, ndaDst, 0, 198, 18, 0, 2}
	if ll != nil {
		a := make([]byte, (4+len(ll)+3)&^3)
		ne.PutUint16(a[0:], uint16(4+len(ll)))
		ne.PutUint16(a[2:], ndaLLAddr)
		copy(a[4:], ll)
		attrs = append(attrs, a...)
	}
	b := make([]byte, nlmsgHdrLen+ndmsgLen, nlmsgHdrLen+ndmsgLen+len(attrs))
	b = append(b, attrs...)
	ne.PutUint32(b[0:], uint32(len(b)))
	ne.PutUint16(b[4:], unix.RTM_NEWNEIGH)
	ne.PutUint32(b[8:], seq)
	b[16] = unix.AF_INET
	ne.PutUint16(b[nlmsgHdrLen+8:], state)
	return b
}

func TestParseReply(t *testing.T) {
	mac := []byte{0x00, 0x15, 0x65, 0xaa, 0xbb, 0xcc}
	for name, tc := range map[string]struct {
		b    []byte
		want string
		err  bool
	}{
		"reachable":  {reply(7, unix.NUD_REACHABLE, mac), "001565aabbcc", false},
		"stale":      {reply(7, unix.NUD_STALE, mac), "001565aabbcc", false},
		"permanent":  {reply(7, unix.NUD_PERMANENT, mac), "001565aabbcc", false},
		"incomplete": {reply(7, unix.NUD_INCOMPLETE, nil), "", false},
		"failed":     {reply(7, unix.NUD_FAILED, mac), "", false},
		"zero mac":   {reply(7, unix.NUD_REACHABLE, make([]byte, 6)), "", false},
		"short":      {reply(7, unix.NUD_REACHABLE, mac)[:10], "", true},
	} {
		got, _, err := ParseReply(tc.b)
		if got != tc.want || (err != nil) != tc.err {
			t.Errorf("%s: ParseReply = %q, %v; want %q (error %v)", name, got, err, tc.want, tc.err)
		}
	}
	e := make([]byte, 20)
	binary.NativeEndian.PutUint32(e[0:], 20)
	binary.NativeEndian.PutUint16(e[4:], unix.NLMSG_ERROR)
	binary.NativeEndian.PutUint32(e[8:], 9)
	binary.NativeEndian.PutUint32(e[16:], uint32(0xffffffff-uint32(unix.ENOENT)+1))
	if _, seq, err := ParseReply(e); seq != 9 || !errors.Is(err, unix.ENOENT) {
		t.Errorf("error reply: seq %d, %v", seq, err)
	}
}

func TestTableLive(t *testing.T) {
	tbl, err := Open()
	if err != nil {
		t.Fatal(err)
	}
	defer tbl.Close()
	// Loopback (index 1) never holds 192.0.2.254: no entry, no error.
	mac, err := tbl.Lookup(1, netip.MustParseAddr("192.0.2.254"))
	if err != nil || mac != "" {
		t.Errorf("Lookup = %q, %v", mac, err)
	}
}

func FuzzParseReply(f *testing.F) {
	f.Add(reply(1, unix.NUD_REACHABLE, []byte{0, 0x15, 0x65, 1, 2, 3}))
	f.Add(reply(1, unix.NUD_STALE, []byte{1, 2, 3}))
	f.Fuzz(func(t *testing.T, b []byte) {
		mac, _, err := ParseReply(b)
		if mac != "" && (err != nil || len(mac) != 12) {
			t.Fatalf("mac %q, %v", mac, err)
		}
	})
}

// BenchmarkTableLookup is the cost of the link-layer check's lookup: one
// rtnetlink round trip (here answered "no entry" on loopback).
func BenchmarkTableLookup(b *testing.B) {
	tbl, err := Open()
	if err != nil {
		b.Fatal(err)
	}
	defer tbl.Close()
	ip := netip.MustParseAddr("192.0.2.254")
	for b.Loop() {
		if _, err := tbl.Lookup(1, ip); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkProcLookup is the /proc/net/arp scan it replaces.
func BenchmarkProcLookup(b *testing.B) {
	ip := netip.MustParseAddr("192.0.2.254")
	for b.Loop() {
		if _, err := Lookup(ip); err != nil {
			b.Fatal(err)
		}
	}
}
