package uamac

import (
	"strings"
	"testing"
)

func TestContains(t *testing.T) {
	cases := []struct {
		ua, mac string
		want    bool
	}{
		{"Yealink SIP-T46G 28.72.0.1 00:15:65:4a:a9:37", "0015654aa937", true},
		{"Yealink SIP-T56A  58.80.0.25 001565f429a4", "001565f429a4", true},
		{"Grandstream Model HW GXP2135 SW 1.0.7.97 DevId 000b828aa872", "000b828aa872", true},
		{"Mozilla/4.0 (compatible; snomD785-SIP 10.1.33.33 2010.12-00004-g9ba52f5 000413922D24 SXM:0 UXM:0)", "000413922d24", true},
		{"Cisco-CP-7832-3PCC/11.0.1 (00562b043615)", "00562b043615", true},
		{"Cisco/SPA508G-7.4.4 (0002FDFF2103)(CBT141400UK)", "0002fdff2103", true},
		{"Htek UC903 2.0.4.2 00:1f:c1:1c:22:a9", "001fc11c22a9", true},
		{"Fanvil X4 2.10.2.6887 0c383e07e16c", "0c383e07e16c", true},
		{"Fanvil X4 2.10.2.6887 0c-38-3e-07-e1-6c", "0c383e07e16c", true},
		// Wrong or absent MAC.
		{"Yealink SIP-T46G 28.72.0.1 00:15:65:4a:a9:38", "0015654aa937", false},
		{"Mozilla/4.0 (compatible; snom320-SIP 8.4.18 1.1.3-s)", "000413922d24", false},
		{"curl/8.5.0", "0015654aa937", false},
		{"", "0015654aa937", false},
		// Not standalone.
		{"x0015654aa937", "0015654aa937", false},
		{"0015654aa937x", "0015654aa937", false},
		{"10015654aa937", "0015654aa937", false},
		{"0015654aa9371", "0015654aa937", false},
		{"00:15:65:4a:a9:37:11", "0015654aa937", false},
		{"11:00:15:65:4a:a9:37", "0015654aa937", false},
		{"00:15:65-4a:a9:37", "0015654aa937", false},
		// Several candidates: any one may be the phone's.
		{"deadbeef0000 0015654aa937", "0015654aa937", true},
		// Beyond MaxLen is not searched.
		{strings.Repeat(" ", MaxLen) + "0015654aa937", "0015654aa937", false},
	}
	for _, c := range cases {
		if got := Contains(c.ua, c.mac); got != c.want {
			t.Errorf("Contains(%q, %q) = %v, want %v", c.ua, c.mac, got, c.want)
		}
	}
}

func FuzzEach(f *testing.F) {
	for _, s := range []string{
		"Yealink SIP-T46G 28.72.0.1 00:15:65:4a:a9:37", "DevId 000b828aa872", "(0002FDFF2103)(CBT1)",
		"00:15:65:4a:a9:37:11", "0c-38-3e-07-e1-6c", "",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, ua string) {
		Each(ua, func(m [12]byte) bool {
			for _, c := range m {
				if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
					t.Fatalf("non-canonical MAC %q from %q", m, ua)
				}
			}
			if !Contains(ua, string(m[:])) {
				t.Fatalf("Each found %q but Contains disagrees", m)
			}
			return true
		})
	})
}
