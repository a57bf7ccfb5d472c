// Package uafw reads the firmware version a desk phone names in the HTTP
// User-Agent of its provisioning requests. Phones found by SIP PnP also
// report it in their SUBSCRIBE, but phones added by MAC (Poly, Cisco MPP)
// report it only here, so without it their rows show no firmware.
//
// The forms, per vendor (sources in the provision-http README):
//
//	Yealink SIP-T46S 66.86.0.15 001565f429a4
//	Fanvil X4U 2.12.16.17 0c383e07e16c
//	Htek UC903 2.0.4.2 00:1f:c1:1c:22:a9
//	Grandstream Model HW GXP2135 SW 1.0.7.97 DevId 000b828aa872
//	Mozilla/4.0 (compatible; snomD785-SIP 10.1.33.33 2010.12-00004-g9ba52f5 000413922D24 SXM:0 UXM:0)
//	Gigaset N870 IP PRO/83.V2.11.0+build.a546b91;7C2F80E0D605
//	FileTransport PolycomVVX-VVX_450-UA/6.4.6.2568 Type/Application
//	Cisco-CP-7832-3PCC/11.0.1 (00562b043615)
//
// A Poly phone names its boot loader's version while the Updater runs
// ("Type/Updater"): that one is not the firmware and is not reported.
package uafw

import (
	"regexp"
	"strings"
)

// MaxLen bounds how much of a User-Agent is read.
const MaxLen = 512

// version is what a firmware version may look like; anything else (a
// truncated or hostile header) is not reported.
var version = regexp.MustCompile(`^[0-9A-Za-z][0-9A-Za-z.+_-]{0,63}$`)

var patterns = map[string]*regexp.Regexp{
	"yealink":     regexp.MustCompile(`^[Yy]ealink[ -].*? ([0-9]+(?:\.[0-9]+){2,}) +[0-9A-Fa-f:-]{12,17}$`),
	"fanvil":      regexp.MustCompile(`^Fanvil \S+ (\S+) `),
	"htek":        regexp.MustCompile(`^Htek \S+ (\S+) `),
	"grandstream": regexp.MustCompile(`^Grandstream .*? SW (\S+)`),
	"snom":        regexp.MustCompile(`snom\S*-SIP (\S+)`),
	"gigaset":     regexp.MustCompile(`^"?Gigaset [^/]+/([^;"\s]+)`),
	"poly":        regexp.MustCompile(`^FileTransport Poly\S*-UA/(\S+)`),
	"cisco":       regexp.MustCompile(`^Cisco-[^/\s]+/(\S+)`),
}

// Firmware returns the firmware version in ua for vendor, or "" when ua
// names none this package knows.
func Firmware(vendor, ua string) string {
	re := patterns[vendor]
	if re == nil || ua == "" {
		return ""
	}
	if len(ua) > MaxLen {
		ua = ua[:MaxLen]
	}
	if vendor == "poly" && strings.Contains(ua, "Type/Updater") {
		return ""
	}
	m := re.FindStringSubmatch(ua)
	if m == nil || !version.MatchString(m[1]) {
		return ""
	}
	return m[1]
}
