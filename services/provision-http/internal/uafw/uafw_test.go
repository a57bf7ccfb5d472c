package uafw

import (
	"strings"
	"testing"
)

// The User-Agents are real ones, from the research notes
// (/work/shared/research/vendor-configs.md §2.4 for Poly) and
// config-renderer's catalog tests.
var cases = []struct{ vendor, ua, want string }{
	{"yealink", "Yealink SIP-T46S 66.86.0.15 001565f429a4", "66.86.0.15"},
	{"yealink", "Yealink W70B 146.87.0.15 80:5e:0c:1d:65:4e", "146.87.0.15"},
	{"yealink", "Yealink SIP VP-T49G 51.80.0.10 00:15:65:4a:a9:37", "51.80.0.10"},
	{"fanvil", "Fanvil X4U 2.12.16.17 0c383e07e16c", "2.12.16.17"},
	{"htek", "Htek UC903 2.0.4.2 00:1f:c1:1c:22:a9", "2.0.4.2"},
	{"grandstream", "Grandstream Model HW GXP2135 SW 1.0.7.97 DevId 000b828aa872", "1.0.7.97"},
	{"grandstream", "Grandstream Model HW GRP2614 V1.0A SW 1.0.5.15 DevId c074ad0b63ee", "1.0.5.15"},
	{"snom", "Mozilla/4.0 (compatible; snomD785-SIP 10.1.33.33 2010.12-00004-g9ba52f5 000413922D24 SXM:0 UXM:0)", "10.1.33.33"},
	{"gigaset", "Gigaset N870 IP PRO/83.V2.11.0+build.a546b91;7C2F80E0D605", "83.V2.11.0+build.a546b91"},
	{"gigaset", `"Gigaset N670 IP PRO/83.V2.11.0+build.a546b91;7C2F80E0D605;Handset=2"`, "83.V2.11.0+build.a546b91"},
	{"poly", "FileTransport PolycomVVX-VVX_450-UA/6.4.6.2568 Type/Application", "6.4.6.2568"},
	{"poly", "FileTransport PolycomVVX-VVX_400-UA/4.1.4.7430 Type/Application", "4.1.4.7430"},
	{"poly", "FileTransport PolyEdge-Edge_E450-UA/8.0.0.15602 Type/Application", "8.0.0.15602"},
	{"poly", "FileTransport PolycomSoundPointIP-SPIP_335-UA/3.2.1.0078", "3.2.1.0078"},
	// The boot loader's version, not the firmware's.
	{"poly", "FileTransport PolycomSoundStationIP-SSIP_6000-UA/5.0.3.1667 Type/Updater", ""},
	{"cisco", "Cisco-CP-7832-3PCC/11.0.1 (00562b043615)", "11.0.1"},
	// Another vendor's form, no version, garbage.
	{"poly", "Yealink SIP-T46S 66.86.0.15 001565f429a4", ""},
	{"yealink", "Yealink SIP-T46S", ""},
	{"cisco", "Cisco-CP-7832-3PCC/<script> (00562b043615)", ""},
	{"unknown", "FileTransport PolycomVVX-VVX_450-UA/6.4.6.2568 Type/Application", ""},
	{"poly", "", ""},
}

func TestFirmware(t *testing.T) {
	for _, c := range cases {
		if got := Firmware(c.vendor, c.ua); got != c.want {
			t.Errorf("Firmware(%s, %q) = %q, want %q", c.vendor, c.ua, got, c.want)
		}
	}
}

func FuzzFirmware(f *testing.F) {
	for _, c := range cases {
		f.Add(c.vendor, c.ua)
	}
	f.Fuzz(func(t *testing.T, vendor, ua string) {
		got := Firmware(vendor, ua)
		if got == "" {
			return
		}
		if !strings.Contains(ua, got) || len(got) > 64 || !version.MatchString(got) {
			t.Fatalf("Firmware(%q, %q) = %q: not a version taken from the User-Agent", vendor, ua, got)
		}
	})
}
