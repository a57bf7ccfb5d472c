// Package vocab is Dialtone's vendor-neutral vocabulary: the vendor keys, the
// display-language tags, and the wire names of codecs and transports that the
// CLI, inventory's validation and config-renderer's mappings all share.
package vocab

import (
	"fmt"
	"slices"
	"strings"

	provisioningv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/provisioning/v1"
)

// Vendor keys.
const (
	Yealink     = "yealink"
	Fanvil      = "fanvil"
	Grandstream = "grandstream"
	Snom        = "snom"
	Gigaset     = "gigaset"
	Htek        = "htek"
	Poly        = "poly"
	Cisco       = "cisco"
)

// Vendors lists every vendor key the suite knows, in display order.
var Vendors = []string{Yealink, Fanvil, Grandstream, Snom, Gigaset, Htek, Poly, Cisco}

// IsVendor reports whether v is a known vendor key.
func IsVendor(v string) bool { return slices.Contains(Vendors, v) }

// Languages is the neutral list of display languages (BCP 47 tags). A renderer
// maps each to its vendor's value or reports it unsupported for the model; it
// never falls back silently.
var Languages = []string{
	"en", "en-US", "en-GB", "de", "fr", "fr-CA", "es", "es-419", "it", "pt", "pt-BR",
	"nl", "pl", "ru", "tr", "cs", "sk", "sl", "hr", "hu", "sv", "da", "nb", "fi",
	"uk", "he", "ar", "zh-CN", "zh-TW", "ja", "ko", "ca", "lv",
}

// IsLanguage reports whether tag is on the neutral list (exact spelling).
func IsLanguage(tag string) bool { return slices.Contains(Languages, tag) }

// ParseLanguage returns the neutral tag for s: case-insensitive, '_'
// accepted for '-' ("pt_br" is "pt-BR"). A regional tag the list lacks
// falls back to its language when the list has that ("de-DE" and "de-AT"
// are "de", "es-MX" is "es"); a region the list has is kept ("en-GB").
func ParseLanguage(s string) (string, error) {
	want := strings.ReplaceAll(strings.TrimSpace(s), "_", "-")
	for _, l := range Languages {
		if strings.EqualFold(l, want) {
			return l, nil
		}
	}
	if base, _, ok := strings.Cut(want, "-"); ok {
		for _, l := range Languages {
			if strings.EqualFold(l, base) {
				return l, nil
			}
		}
	}
	return "", fmt.Errorf("unknown language %q (known: %s)", s, strings.Join(Languages, ", "))
}

var codecNames = map[provisioningv1.Codec]string{
	provisioningv1.Codec_CODEC_PCMU:    "pcmu",
	provisioningv1.Codec_CODEC_PCMA:    "pcma",
	provisioningv1.Codec_CODEC_G722:    "g722",
	provisioningv1.Codec_CODEC_G729:    "g729",
	provisioningv1.Codec_CODEC_OPUS:    "opus",
	provisioningv1.Codec_CODEC_G726_32: "g726-32",
	provisioningv1.Codec_CODEC_ILBC:    "ilbc",
	provisioningv1.Codec_CODEC_GSM:     "gsm",
	provisioningv1.Codec_CODEC_G723:    "g723",
	provisioningv1.Codec_CODEC_AMR_WB:  "amr-wb",
}

// CodecName returns the short lowercase name of c ("pcmu", "g722", …).
func CodecName(c provisioningv1.Codec) string {
	if n, ok := codecNames[c]; ok {
		return n
	}
	return ""
}

// CodecNames lists every codec's short name.
func CodecNames() []string {
	out := make([]string, 0, len(codecNames))
	for c := provisioningv1.Codec(1); int(c) <= len(codecNames); c++ {
		out = append(out, codecNames[c])
	}
	return out
}

// ParseCodec accepts a short name ("g722", "PCMU", "g.722", "ulaw"…) or the enum name.
func ParseCodec(s string) (provisioningv1.Codec, error) {
	n := strings.ToLower(strings.TrimSpace(s))
	n = strings.ReplaceAll(n, ".", "")
	switch n {
	case "ulaw", "g711u", "g711-u", "mulaw":
		n = "pcmu"
	case "alaw", "g711a", "g711-a":
		n = "pcma"
	case "g7221", "g722-2", "amrwb":
		n = "amr-wb"
	case "g726", "g72632":
		n = "g726-32"
	}
	for c, name := range codecNames {
		if name == n || strings.EqualFold(c.String(), s) {
			return c, nil
		}
	}
	return 0, fmt.Errorf("unknown codec %q (known: %s)", s, strings.Join(CodecNames(), ", "))
}

// ParseCodecList parses a comma-separated, ordered codec list and refuses duplicates.
func ParseCodecList(s string) ([]provisioningv1.Codec, error) {
	var out []provisioningv1.Codec
	for part := range strings.SplitSeq(s, ",") {
		if strings.TrimSpace(part) == "" {
			continue
		}
		c, err := ParseCodec(part)
		if err != nil {
			return nil, err
		}
		if slices.Contains(out, c) {
			return nil, fmt.Errorf("codec %q listed twice", part)
		}
		out = append(out, c)
	}
	return out, nil
}

// TransportName returns "udp", "tcp" or "tls" ("" for unspecified).
func TransportName(t provisioningv1.Transport) string {
	switch t {
	case provisioningv1.Transport_TRANSPORT_UDP:
		return "udp"
	case provisioningv1.Transport_TRANSPORT_TCP:
		return "tcp"
	case provisioningv1.Transport_TRANSPORT_TLS:
		return "tls"
	}
	return ""
}

// ParseTransport accepts udp, tcp or tls in any case.
func ParseTransport(s string) (provisioningv1.Transport, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "udp":
		return provisioningv1.Transport_TRANSPORT_UDP, nil
	case "tcp":
		return provisioningv1.Transport_TRANSPORT_TCP, nil
	case "tls":
		return provisioningv1.Transport_TRANSPORT_TLS, nil
	}
	return 0, fmt.Errorf("unknown transport %q (want udp, tcp or tls)", s)
}
