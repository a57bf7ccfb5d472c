package vendorsim

import (
	"strings"
)

// neutralCodec maps a vendor's codec spelling ("G711_Mu", "PCMA/8000",
// "G.729A/B", "g726-32", "iLBC_13_3", "G722.2"…) to the neutral short name
// of proto/vocab ("pcmu", "pcma", "g729", …), or "" for a codec Dialtone
// does not know (telephone-event, G.722.1, Siren…).
func neutralCodec(s string) string {
	n := strings.ToLower(strings.TrimSpace(s))
	n, _, _ = strings.Cut(n, "/8000")
	n, _, _ = strings.Cut(n, "/16000")
	n, _, _ = strings.Cut(n, "/48000")
	n = strings.NewReplacer(".", "", "_", "", "-", "", " ", "").Replace(n)
	switch {
	case n == "pcmu" || n == "g711u" || n == "g711mu" || n == "ulaw" || n == "mulaw" || n == "g711ulaw":
		return "pcmu"
	case n == "pcma" || n == "g711a" || n == "alaw" || n == "g711alaw":
		return "pcma"
	case n == "g722":
		return "g722"
	case n == "g7222" || n == "amrwb":
		return "amr-wb"
	case n == "g729" || n == "g729a" || n == "g729ab" || n == "g729a/b" || n == "g729b":
		return "g729"
	case n == "opus":
		return "opus"
	case n == "g72632" || n == "g726":
		return "g726-32"
	case strings.HasPrefix(n, "ilbc"):
		return "ilbc"
	case n == "gsm":
		return "gsm"
	case strings.HasPrefix(n, "g723"):
		return "g723"
	}
	return ""
}

// rtpCodecs maps the RTP payload numbers that Grandstream and Htek use in
// their codec-choice P-values to neutral names (vendor-configs.md §3.3, §7.3;
// Opus is dynamic: Grandstream's P2385 default 123, Htek's 120).
var rtpCodecs = map[string]string{
	"0": "pcmu", "8": "pcma", "9": "g722", "18": "g729", "2": "g726-32",
	"4": "g723", "3": "gsm", "98": "ilbc", "97": "ilbc", "123": "opus", "120": "opus",
}

// codecList turns a comma-separated vendor list into neutral names, keeping
// order and dropping unknown and repeated entries.
func codecList(csv string) []string {
	var out []string
	seen := map[string]bool{}
	for part := range strings.SplitSeq(csv, ",") {
		c := neutralCodec(part)
		if c == "" || seen[c] {
			continue
		}
		seen[c] = true
		out = append(out, c)
	}
	return out
}

// transportName normalises a transport value to "udp", "tcp" or "tls".
// numeric maps the vendor's numbers (index = value).
func transportName(v string, numeric map[string]string) string {
	if t, ok := numeric[strings.TrimSpace(v)]; ok {
		return t
	}
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "udp", "udponly":
		return "udp"
	case "tcp", "tcponly":
		return "tcp"
	case "tls", "tlsortcp":
		return "tls"
	}
	return strings.ToLower(v)
}
