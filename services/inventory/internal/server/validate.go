package server

import (
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	provisioningv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/provisioning/v1"
	"github.com/dialtone-voip/dialtone/proto/macaddr"
	"github.com/dialtone-voip/dialtone/proto/vocab"
)

// Bounds on free-text input.
const (
	maxDisplayName = 128
	maxPassword    = 128
	maxModel       = 64
	maxFirmware    = 128
	maxHost        = 253
	maxLines       = 128
	maxEventText   = 512 // strings from the LAN (PnP events)
)

// invalid is an InvalidArgument error naming the field. Messages never
// quote secret values.
func invalid(field, format string, args ...any) error {
	return status.Errorf(codes.InvalidArgument, "%s: %s", field, fmt.Sprintf(format, args...))
}

// validID: 1-63 of [a-z0-9-], starting with a letter (tenant and interface ids).
func validID(s string) bool {
	if len(s) == 0 || len(s) > 63 || s[0] < 'a' || s[0] > 'z' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// validNumber: an extension number, 1-32 of [0-9A-Za-z_.+-].
func validNumber(s string) bool {
	if len(s) == 0 || len(s) > 32 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("_.+-", c) >= 0) {
			return false
		}
	}
	return true
}

// checkText checks printable UTF-8 without control characters, at most max bytes.
func checkText(field, s string, max int) error {
	if len(s) > max {
		return invalid(field, "longer than %d bytes", max)
	}
	if !utf8.ValidString(s) {
		return invalid(field, "not valid UTF-8")
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return invalid(field, "contains a control character")
		}
	}
	return nil
}

// checkSecret is checkText for passwords; the message never shows the value.
func checkSecret(field, s string) error {
	if len(s) > maxPassword {
		return invalid(field, "longer than %d bytes", maxPassword)
	}
	if !utf8.ValidString(s) || strings.ContainsFunc(s, unicode.IsControl) {
		return invalid(field, "must be printable UTF-8")
	}
	return nil
}

// validHost accepts a DNS name or an IP address (IPv6 without brackets).
func validHost(s string) bool {
	if s == "" || len(s) > maxHost {
		return false
	}
	if net.ParseIP(s) != nil {
		return true
	}
	for _, label := range strings.Split(strings.TrimSuffix(s, "."), ".") {
		if len(label) == 0 || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}

// splitHostPort parses "host" or "host:port" ("[v6]:port" for IPv6 with a port).
func splitHostPort(s string) (string, int32, bool) {
	if validHost(s) {
		return s, 0, true
	}
	h, p, err := net.SplitHostPort(s)
	if err != nil || !validHost(h) {
		return "", 0, false
	}
	n, err := strconv.ParseUint(p, 10, 16)
	if err != nil || n == 0 {
		return "", 0, false
	}
	return h, int32(n), true
}

func checkPort(field string, p int32) error {
	if p < 0 || p > 65535 {
		return invalid(field, "must be 0-65535")
	}
	return nil
}

// normalizeMAC parses any usual spelling, or a "phones/{mac}" name.
func normalizeMAC(field, s string) (string, error) {
	s = strings.TrimPrefix(s, "phones/")
	mac, err := macaddr.Parse(s)
	if err != nil {
		return "", invalid(field, "%v", err)
	}
	return mac, nil
}

// normalizeLanguage returns the canonical spelling of a vocab language tag
// (case-insensitive, '_' accepted for '-', a regional tag the list lacks
// mapped to its language: vocab.ParseLanguage).
func normalizeLanguage(field, s string) (string, error) {
	if s == "" {
		return "", nil
	}
	l, err := vocab.ParseLanguage(s)
	if err != nil {
		return "", invalid(field, "unknown language %q (see proto/vocab.Languages)", truncate(s, 32))
	}
	return l, nil
}

// checkTimeZone accepts an IANA zone name that the time database knows.
func checkTimeZone(field, s string) error {
	if s == "" {
		return nil
	}
	if len(s) > 64 || s == "Local" || strings.HasPrefix(s, "/") || strings.Contains(s, "..") {
		return invalid(field, "not an IANA time zone name")
	}
	if _, err := time.LoadLocation(s); err != nil {
		return invalid(field, "unknown IANA time zone %q", truncate(s, 64))
	}
	return nil
}

func checkCodecs(field string, cs []provisioningv1.Codec) error {
	seen := map[provisioningv1.Codec]bool{}
	for i, c := range cs {
		if vocab.CodecName(c) == "" {
			return invalid(fmt.Sprintf("%s[%d]", field, i), "unknown codec %d", int32(c))
		}
		if seen[c] {
			return invalid(fmt.Sprintf("%s[%d]", field, i), "codec %s listed twice", vocab.CodecName(c))
		}
		seen[c] = true
	}
	return nil
}

func checkTransport(field string, t provisioningv1.Transport) error {
	if t != provisioningv1.Transport_TRANSPORT_UNSPECIFIED && vocab.TransportName(t) == "" {
		return invalid(field, "unknown transport %d", int32(t))
	}
	return nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

// clean bounds and sanitises a string that came from the LAN.
func clean(s string) string {
	s = strings.ToValidUTF8(s, "")
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return -1
		}
		return r
	}, s)
	return truncate(s, maxEventText)
}
