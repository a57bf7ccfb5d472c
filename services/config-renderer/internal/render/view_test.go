package render

import (
	"math/rand/v2"
	"regexp"
	"strings"
	"testing"

	"github.com/dialtone-voip/dialtone/proto/macaddr"
)

// hostRE is the reference for validHost.
var hostRE = regexp.MustCompile(`^(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?|\[[0-9A-Fa-f:.]{2,45}\])$`)

func refValidHost(h string) bool { return len(h) <= 253 && hostRE.MatchString(h) }

func TestValidHostMatchesRE(t *testing.T) {
	cases := []string{"", ".", "a", "a.", "a..", ".a", "-a", "a-", "a-b", "pbx.example.net", "pbx.example.net.", "x_y.com",
		"[::1]", "[]", "[:]", "[::]", "[2001:db8::1]", "[::1", "::1", "[g::1]", "a b", "a\n", "a.b\n", "192.0.2.1",
		strings.Repeat("a", 63), strings.Repeat("a", 64), strings.Repeat("a.", 126) + "a", strings.Repeat("a.", 127),
		"[" + strings.Repeat("1", 45) + "]", "[" + strings.Repeat("1", 46) + "]", "é.com", "a.-b.c"}
	r := rand.New(rand.NewPCG(3, 4))
	const alphabet = "aZ09-.[]:_ é"
	for range 20000 {
		var b strings.Builder
		for n := r.IntN(12); n > 0; n-- {
			b.WriteString(string([]rune(alphabet)[r.IntN(len([]rune(alphabet)))]))
		}
		cases = append(cases, b.String())
	}
	for _, h := range cases {
		if got, want := validHost(h), refValidHost(h); got != want {
			t.Errorf("validHost(%q) = %v, regexp says %v", h, got, want)
		}
	}
}

func FuzzValidHost(f *testing.F) {
	for _, s := range []string{"pbx.example.net", "[2001:db8::1]", "a..b", "-a.b", "a.", strings.Repeat("a", 64)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, h string) {
		if got, want := validHost(h), refValidHost(h); got != want {
			t.Fatalf("validHost(%q) = %v, regexp says %v", h, got, want)
		}
	})
}

// sanitizeText's shortcut returns what the full path returns.
func TestSanitizeTextShortcut(t *testing.T) {
	for _, s := range []string{"", "Ada", " Ada", "Ada ", "A  b", "a\tb", "é", strings.Repeat("x", 64), strings.Repeat("x", 65), "\u00a0x", "x\u0085"} {
		got := sanitizeText(s, 64)
		var b strings.Builder
		for _, r := range strings.ToValidUTF8(s, "\uFFFD") {
			if r < 0x20 || r == 0x7f || r == 0x2028 || r == 0x2029 {
				r = ' '
			}
			b.WriteRune(r)
		}
		want := strings.TrimSpace(b.String())
		if len([]rune(want)) > 64 {
			want = string([]rune(want)[:64])
		}
		if got != want {
			t.Errorf("sanitizeText(%q) = %q, want %q", s, got, want)
		}
	}
}

func TestCanonicalMAC(t *testing.T) {
	for _, s := range []string{"0004f2a1b2c3", "0004F2A1B2C3", "00:04:f2:a1:b2:c3", "0004.f2a1.b2c3", "0004f2a1b2cg", "", "0004f2a1b2c"} {
		got, err := canonicalMAC(s)
		want, werr := macaddr.Parse(s)
		if got != want || (err == nil) != (werr == nil) {
			t.Errorf("canonicalMAC(%q) = %q, %v; macaddr.Parse: %q, %v", s, got, err, want, werr)
		}
	}
}
