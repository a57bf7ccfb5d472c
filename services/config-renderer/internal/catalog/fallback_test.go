package catalog

import (
	"testing"
)

// madeUp are models the catalog does not list, one per vendor, each of a
// current family's naming pattern (the e2e test boots the first eight).
var madeUp = []struct{ vendor, model, family string }{
	{"yealink", "T59Z", "T5x"},
	{"fanvil", "X9Z", "X"},
	{"grandstream", "GXP2199", "GXP21xx"},
	{"snom", "D999", "D-series"},
	{"gigaset", "N999", "N-series DECT"},
	{"htek", "UC999", "UC9xx"},
	{"poly", "VVX999", "VVX"},
	{"cisco", "CP-8899-3PCC", "88xx"},
	// Families added later: a made-up name of each falls back to it.
	{"gigaset", "N510X", "N510 DECT"},
	{"gigaset", "N720-XL", "N720 DECT multicell"},
	{"snom", "PA2", "snom-classic"},
	{"snom", "M900KLE", "snom-kle"},
	{"snom", "M9", "snom-m3"},
	{"snom", "M999", "M-series DECT"},
}

func TestLookupFamilyFallback(t *testing.T) {
	c := Default()
	for _, tc := range madeUp {
		if _, ok := c.Model(tc.vendor, tc.model); ok {
			t.Fatalf("%s %s is in the catalog; pick another made-up model", tc.vendor, tc.model)
		}
		m, st, ok := c.Lookup(tc.vendor, tc.model)
		if !ok || st != StatusFamilyFallback || m.Family != tc.family || m.Model != tc.model {
			t.Errorf("Lookup(%s, %s) = %v %s %v", tc.vendor, tc.model, m, st, ok)
			continue
		}
		if m.SIPAccounts < 1 || len(m.Files) == 0 {
			t.Errorf("%s: %+v", tc.model, m)
		}
		// Lower case folds to the same fallback.
		if m2, st2, _ := c.Lookup(tc.vendor, m.Model); m2 != m || st2 != st {
			t.Errorf("%s: second lookup not cached", tc.model)
		}
	}
	if _, st, ok := c.Lookup("yealink", "ZZ1"); ok || st != StatusUnknown {
		t.Errorf("ZZ1: %s %v, want unknown", st, ok)
	}
	if m, st, ok := c.Lookup("yealink", "t54w"); !ok || st != StatusCatalog || m.Model != "T54W" {
		t.Errorf("t54w: %v %s %v", m, st, ok)
	}
}

func TestFallbackFiles(t *testing.T) {
	c := Default()
	const mac = "001565a1b2c3"
	for _, tc := range []struct {
		vendor, model string
		served        []string
		notServed     []string
	}{
		{"yealink", "T59Z", []string{"y000000000199.cfg", mac + ".cfg"}, []string{"001565ffffff.cfg", "y000000000199.boot"}},
		{"htek", "UC999", []string{"cfg0099.xml", "cfg" + mac + ".xml"}, []string{"cfg001565ffffff.xml"}},
		{"cisco", "CP-8899-3PCC", []string{"8899-3PCC.xml", mac + ".xml"}, []string{"001565ffffff.xml", "a.b.xml"}},
		{"snom", "D999", []string{"snomD999.htm", "snomD999-001565A1B2C3.htm", "001565A1B2C3.xml"}, []string{"snomD998.htm"}},
		{"snom", "PA2", []string{"snomPA2.htm", "snomPA2-001565A1B2C3.htm", "001565A1B2C3.xml"}, []string{"snomPA1.htm"}},
		{"gigaset", "N510X", []string{"001565A1B2C3.xml"}, []string{mac + ".xml", "001565FFFFFF.xml"}},
	} {
		m, _, ok := c.Lookup(tc.vendor, tc.model)
		if !ok {
			t.Fatalf("%s: no fallback", tc.model)
		}
		for _, f := range tc.served {
			if _, ok := m.FindFile(f, mac); !ok {
				t.Errorf("%s: %s not served", tc.model, f)
			}
		}
		for _, f := range tc.notServed {
			if fl, ok := m.FindFile(f, mac); ok {
				t.Errorf("%s: %s served as %s", tc.model, f, fl.Pattern)
			}
		}
	}
	// The MAC file wins over a wildcard of the same shape.
	m, _, _ := c.Lookup("cisco", "CP-8899-3PCC")
	if f, _ := m.FindFile(mac+".xml", mac); f == nil || f.Template != "mac" {
		t.Errorf("cisco MAC file: %+v", f)
	}
}

func TestResolve(t *testing.T) {
	c := Default()
	for _, tc := range []struct {
		hint, model string
		want        Resolution
	}{
		{"", "CP-8851-3PCC", Resolution{Vendor: "cisco", Model: "CP-8851-3PCC", Status: StatusCatalog, Family: "88xx"}},
		{"cisco", "cp-8851-3pcc", Resolution{Vendor: "cisco", Model: "CP-8851-3PCC", Status: StatusCatalog, Family: "88xx"}},
		{"yealink", "t54w", Resolution{Vendor: "yealink", Model: "T54W", Status: StatusCatalog, Family: "T5x"}},
		// A Yealink model on a Fanvil OUI: the model decides, the caller warns.
		{"fanvil", "T54W", Resolution{Vendor: "yealink", Model: "T54W", Status: StatusCatalog, Family: "T5x", OtherVendor: "fanvil"}},
		{"yealink", "t59z", Resolution{Vendor: "yealink", Model: "T59Z", Status: StatusFamilyFallback, Family: "T5x"}},
		{"", "GXP2199", Resolution{Vendor: "grandstream", Model: "GXP2199", Status: StatusFamilyFallback, Family: "GXP21xx"}},
		{"yealink", "Q1", Resolution{Vendor: "yealink", Model: "Q1", Status: StatusUnknown}},
		{"", "Q1", Resolution{Model: "Q1", Status: StatusUnknown}},
	} {
		if got := c.Resolve(tc.hint, tc.model); got != tc.want {
			t.Errorf("Resolve(%q, %q) = %+v, want %+v", tc.hint, tc.model, got, tc.want)
		}
	}
}

func TestFamilyPatternsValidated(t *testing.T) {
	doc := EmbeddedDocument()
	doc.Vendors[0].FamilyPatterns = append(doc.Vendors[0].FamilyPatterns, FamilyPattern{Pattern: "^Q", Family: "GXP21xx"})
	if _, err := Resolve(doc); err == nil {
		t.Error("a family of another vendor was accepted")
	}
}

// TestFamilyPatternsClassifyCatalog: the patterns cover every current family:
// each catalog model's name gives its own family.
func TestFamilyPatternsClassifyCatalog(t *testing.T) {
	c := Default()
	for _, m := range c.Models {
		if got := c.FamilyOf(m.Vendor, m.Model); got != m.Family {
			t.Errorf("%s %s: family_patterns give %q, the catalog says %q", m.Vendor, m.Model, got, m.Family)
		}
	}
}
