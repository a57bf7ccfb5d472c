package catalog

import (
	"strings"
	"testing"
)

// FuzzFallbackFindFile: for a family-fallback model, a name is served only if
// it is the family's file (a wildcard segment is 1-20 of [A-Za-z0-9_-]), a
// MAC file only for the phone's own MAC, and a wildcard never takes a name of
// the shape of the model's MAC file.
func FuzzFallbackFindFile(f *testing.F) {
	c := Default()
	const mac = "001565a1b2c3"
	var models []*Model
	for _, x := range [][2]string{{"yealink", "T59Z"}, {"htek", "UC999"}, {"cisco", "CP-8899-3PCC"}, {"snom", "D999"}, {"poly", "VVX999"}} {
		m, _, ok := c.Lookup(x[0], x[1])
		if !ok {
			f.Fatalf("%s %s: no fallback", x[0], x[1])
		}
		models = append(models, m)
	}
	for _, s := range []string{"y000000000199.cfg", "cfg0099.xml", "8899-3PCC.xml", mac + ".xml", "001565ffffff.xml", "snomD999.htm", "a/b.xml", "y000000000.cfg"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		for _, m := range models {
			fl, ok := m.FindFile(name, mac)
			if !ok {
				continue
			}
			if strings.ContainsAny(name, "/\\\\") || name == "" {
				t.Fatalf("%s: %q served", m.Model, name)
			}
			if fl.Wild() {
				if _, isMAC, other := m.otherMAC(name); other && isMAC {
					t.Fatalf("%s: %q (a MAC file name) served as wildcard %s", m.Model, name, fl.Pattern)
				}
			}
			if fl.HasMAC() {
				if got, _ := fl.Match(name); got != mac {
					t.Fatalf("%s: %q served for MAC %q", m.Model, name, got)
				}
			}
		}
	})
}
