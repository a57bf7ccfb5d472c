package pnp

import (
	"strings"

	"github.com/dialtone-voip/dialtone/platform/vendorid"
	"github.com/dialtone-voip/dialtone/proto/vocab"
)

// vendorAliases maps the lower-cased vendor= parameter to a vendor key.
// "OEM" (snom's OEM firmware, Gigaset's copied trace) is deliberately
// absent: it says nothing, so the OUI and the User-Agent decide.
var vendorAliases = map[string]string{
	"yealink":     vocab.Yealink,
	"snom":        vocab.Snom,
	"grandstream": vocab.Grandstream,
	"fanvil":      vocab.Fanvil,
	"gigaset":     vocab.Gigaset,
	"htek":        vocab.Htek,
	"poly":        vocab.Poly,
	"polycom":     vocab.Poly,
	"cisco":       vocab.Cisco,
	"linksys":     vocab.Cisco,
	"sipura":      vocab.Cisco,
}

// userAgentPrefixes are matched case-insensitively against the start of
// the User-Agent; snom's HTTP form ("Mozilla/4.0 (compatible; snomD785…")
// is handled separately.
var userAgentPrefixes = []struct{ prefix, vendor string }{
	{"yealink", vocab.Yealink},
	{"snom", vocab.Snom},
	{"grandstream", vocab.Grandstream},
	{"fanvil", vocab.Fanvil},
	{"gigaset", vocab.Gigaset},
	{"htek", vocab.Htek},
	{"polycom", vocab.Poly},
	{"poly", vocab.Poly},
	{"cisco", vocab.Cisco},
	{"linksys", vocab.Cisco},
}

// NormalizeVendor maps a vendor= parameter to a vendor key ("" when it is
// unknown or says nothing, like "OEM").
func NormalizeVendor(v string) string {
	return vendorAliases[strings.ToLower(strings.TrimSpace(v))]
}

// VendorFromOUI returns the vendor key of a canonical MAC's IEEE block (the
// suite's one table, platform/vendorid), or "".
func VendorFromOUI(mac string) string {
	return vendorid.Vendor(mac)
}

// VendorFromUserAgent returns the vendor key a User-Agent names, or "".
func VendorFromUserAgent(ua string) string {
	if ua == "" {
		return ""
	}
	for _, p := range userAgentPrefixes {
		if len(ua) >= len(p.prefix) && strings.EqualFold(ua[:len(p.prefix)], p.prefix) {
			return p.vendor
		}
	}
	if strings.Contains(strings.ToLower(ua), "compatible; snom") {
		return vocab.Snom
	}
	return ""
}

// IdentifyVendor decides the vendor key the SUBSCRIBE gives: the vendor=
// parameter when it names a known vendor, else the User-Agent, else the MAC's
// IEEE block, else a model name that starts with a vendor's name (snom's
// "snomD385"). What the phone says comes before its MAC's block because OEM
// hardware carries other companies' blocks; inventory then lets a catalog
// model overrule both (config-renderer's ResolveModel).
func IdentifyVendor(param, model, mac, userAgent string) string {
	if v := NormalizeVendor(param); v != "" {
		return v
	}
	if v := VendorFromUserAgent(userAgent); v != "" {
		return v
	}
	if v := VendorFromOUI(mac); v != "" {
		return v
	}
	if len(model) >= 4 && strings.EqualFold(model[:4], "snom") {
		return vocab.Snom
	}
	return ""
}

// CatalogModel turns the model= parameter a phone sends into the model id the
// catalog and inventory use: snom phones announce "snomD785" for the D785,
// Yealink phones may send "SIP-T54W" and Gigaset bases "N670 IP PRO". The
// vendor's name (as a prefix), Yealink's "SIP-" and Gigaset's " IP PRO" are
// removed; anything else is kept as sent.
func CatalogModel(vendor, model string) string {
	m := strings.TrimSpace(model)
	if vendor != "" && len(m) > len(vendor) && strings.EqualFold(m[:len(vendor)], vendor) {
		m = strings.TrimLeft(m[len(vendor):], " -_")
	}
	switch vendor {
	case "yealink":
		if len(m) > 4 && strings.EqualFold(m[:4], "SIP-") {
			m = m[4:]
		}
	case "gigaset":
		for _, suffix := range []string{" IP PRO", " PRO"} {
			if len(m) > len(suffix) && strings.EqualFold(m[len(m)-len(suffix):], suffix) {
				m = m[:len(m)-len(suffix)]
			}
		}
	}
	if m == "" {
		return strings.TrimSpace(model)
	}
	return m
}
