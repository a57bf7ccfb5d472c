package render

import (
	"bytes"
	"strings"
	"testing"

	"github.com/dialtone-voip/dialtone/services/config-renderer/internal/catalog"
)

// TestFamilyFallbackRenders: a model the catalog does not list, of a known
// family's naming pattern, gets every file of its family, with the accounts.
func TestFamilyFallbackRenders(t *testing.T) {
	s := loadDefault(t)
	for _, tc := range []struct{ vendor, model, file string }{
		{"yealink", "T59Z", "y000000000199.cfg"},
		{"fanvil", "X9Z", ""},
		{"grandstream", "GXP2199", ""},
		{"snom", "D999", "snomD999.htm"},
		{"gigaset", "N999", ""},
		{"gigaset", "N510X", ""},
		{"gigaset", "N720-XL", ""},
		{"snom", "PA2", "snomPA2.htm"},
		{"htek", "UC999", "cfg0099.xml"},
		{"poly", "VVX999", "000000000000.cfg"},
		{"cisco", "CP-8899-3PCC", "8899-3PCC.xml"},
	} {
		m, _, ok := s.Catalog.Lookup(tc.vendor, tc.model)
		if !ok {
			t.Fatalf("%s %s: no fallback", tc.vendor, tc.model)
		}
		p := scenario("multi", m)
		sawAccount := false
		for _, f := range m.Files {
			name := f.Name(p.Mac)
			if f.Wild() {
				name = tc.file
			}
			r, err := s.Render(p, name, goldenNow)
			if err != nil {
				t.Errorf("%s %s %s: %v", tc.vendor, tc.model, name, err)
				continue
			}
			if _, err := parseFile(m.Vendor, f.Pattern, r.Content); err != nil {
				t.Errorf("%s %s %s: %v", tc.vendor, tc.model, name, err)
			}
			sawAccount = sawAccount || bytes.Contains(r.Content, []byte("pw-301"))
		}
		if !sawAccount {
			t.Errorf("%s %s: no file carries account 1's password", tc.vendor, tc.model)
		}
	}
	// Outside every pattern: still not found.
	p := scenario("single", mustModel(t, s, "yealink", "T54W"))
	p.Model = "ZZ9"
	if _, err := s.Render(p, p.Mac+".cfg", goldenNow); !isNotFound(err) || !strings.Contains(err.Error(), "not in the catalog") {
		t.Errorf("ZZ9: %v", err)
	}
}

func mustModel(t *testing.T, s *Set, vendor, model string) *catalog.Model {
	t.Helper()
	m, ok := s.Catalog.Model(vendor, model)
	if !ok {
		t.Fatalf("%s %s not in the catalog", vendor, model)
	}
	return m
}
