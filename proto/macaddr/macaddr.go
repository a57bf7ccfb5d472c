// Package macaddr parses the MAC address spellings phones, vendors and people
// use, and prints the one canonical form Dialtone stores: 12 lowercase hex digits.
package macaddr

import (
	"errors"
	"strings"
)

// ErrInvalid is returned for anything that is not a 48-bit MAC address.
var ErrInvalid = errors.New("not a MAC address (want 12 hex digits, e.g. 00:15:65:aa:bb:cc)")

// Parse accepts 001565AABBCC, 00:15:65:aa:bb:cc, 00-15-65-AA-BB-CC and
// 0015.65aa.bbcc (and mixed case) and returns the canonical form.
// Separators must be consistent and in the usual places.
func Parse(s string) (string, error) {
	if len(s) > 17 {
		return "", ErrInvalid
	}
	var b strings.Builder
	b.Grow(12)
	switch len(s) {
	case 12:
		if err := hexInto(&b, s); err != nil {
			return "", err
		}
	case 17: // xx:xx:xx:xx:xx:xx or xx-xx-...
		sep := s[2]
		if sep != ':' && sep != '-' {
			return "", ErrInvalid
		}
		for i := 0; i < 17; i += 3 {
			if i+2 < 17 && s[i+2] != sep {
				return "", ErrInvalid
			}
			if err := hexInto(&b, s[i:i+2]); err != nil {
				return "", err
			}
		}
	case 14: // xxxx.xxxx.xxxx
		if s[4] != '.' || s[9] != '.' {
			return "", ErrInvalid
		}
		for _, part := range []string{s[0:4], s[5:9], s[10:14]} {
			if err := hexInto(&b, part); err != nil {
				return "", err
			}
		}
	default:
		return "", ErrInvalid
	}
	return b.String(), nil
}

func hexInto(b *strings.Builder, s string) error {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9', c >= 'a' && c <= 'f':
			b.WriteByte(c)
		case c >= 'A' && c <= 'F':
			b.WriteByte(c + ('a' - 'A'))
		default:
			return ErrInvalid
		}
	}
	return nil
}

// OUI returns the first six hex digits of a canonical MAC.
func OUI(canonical string) string {
	if len(canonical) < 6 {
		return ""
	}
	return canonical[:6]
}

// Colon formats a canonical MAC as aa:bb:cc:dd:ee:ff (for display).
func Colon(canonical string) string {
	if len(canonical) != 12 {
		return canonical
	}
	var b strings.Builder
	for i := 0; i < 12; i += 2 {
		if i > 0 {
			b.WriteByte(':')
		}
		b.WriteString(canonical[i : i+2])
	}
	return b.String()
}
