// Package uamac finds MAC addresses in the HTTP User-Agent headers of desk
// phones. Vendors write them in different places and spellings
// ("Yealink SIP-T46G 28.72.0.1 00:15:65:4a:a9:37", "... DevId 000b828aa872",
// "Cisco-CP-7832-3PCC/11.0.1 (00562b043615)", "... snomD785-SIP ... 000413922D24 ..."),
// so rather than one pattern per vendor it accepts any 12-hex-digit word and
// any colon- or dash-separated MAC that stands on its own.
package uamac

// MaxLen bounds how much of a User-Agent is searched.
const MaxLen = 512

// Contains reports whether ua carries mac (canonical: 12 lowercase hex digits)
// as a standalone MAC. Other MAC-like words in ua do not matter: the question
// is whether the phone named itself, not whether it named only itself.
func Contains(ua, mac string) bool {
	found := false
	Each(ua, func(m [12]byte) bool {
		if string(m[:]) == mac {
			found = true
			return false
		}
		return true
	})
	return found
}

// Each calls fn with every standalone MAC in ua, canonicalised, until fn
// returns false. A MAC stands on its own when the characters around it are
// neither letters nor digits (nor, for the separated form, the separator).
func Each(ua string, fn func([12]byte) bool) {
	if len(ua) > MaxLen {
		ua = ua[:MaxLen]
	}
	for i := 0; i < len(ua); i++ {
		if !isHex(ua[i]) || (i > 0 && isWord(ua[i-1])) {
			continue
		}
		if m, ok := plain(ua, i); ok {
			if !fn(m) {
				return
			}
			i += 11
			continue
		}
		if m, ok := separated(ua, i); ok {
			if !fn(m) {
				return
			}
			i += 16
		}
	}
}

func plain(s string, i int) (m [12]byte, ok bool) {
	if i+12 > len(s) || (i+12 < len(s) && isWord(s[i+12])) {
		return m, false
	}
	for k := 0; k < 12; k++ {
		c := s[i+k]
		if !isHex(c) {
			return m, false
		}
		m[k] = lower(c)
	}
	return m, true
}

func separated(s string, i int) (m [12]byte, ok bool) {
	if i+17 > len(s) {
		return m, false
	}
	sep := s[i+2]
	if sep != ':' && sep != '-' {
		return m, false
	}
	if i > 0 && s[i-1] == sep {
		return m, false
	}
	if i+17 < len(s) && (isWord(s[i+17]) || s[i+17] == sep) {
		return m, false
	}
	for k := 0; k < 6; k++ {
		p := i + 3*k
		if !isHex(s[p]) || !isHex(s[p+1]) || (k < 5 && s[p+2] != sep) {
			return m, false
		}
		m[2*k], m[2*k+1] = lower(s[p]), lower(s[p+1])
	}
	return m, true
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

func isWord(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

func lower(c byte) byte {
	if c >= 'A' && c <= 'F' {
		return c + ('a' - 'A')
	}
	return c
}
