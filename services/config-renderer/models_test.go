package renderer

import (
	"slices"
	"testing"
)

// TestBuiltinModels: the exported view is the catalog the service serves
// (same models, files in the same order, accounts), and callers get copies.
func TestBuiltinModels(t *testing.T) {
	s := newService(t, "")
	got := BuiltinModels()
	served := s.Models("")
	if len(got) != len(served) || len(got) < 300 {
		t.Fatalf("%d builtin models, the service serves %d", len(got), len(served))
	}
	for i, m := range got {
		pm := served[i]
		if m.Vendor != pm.GetVendor() || m.Model != pm.GetModel() || m.Family != pm.GetFamily() ||
			m.SIPAccounts != int(pm.GetSipAccounts()) || m.DECT != pm.GetDect() ||
			!slices.Equal(m.Files, pm.GetFilePatterns()) || m.UserAgentPattern != pm.GetUserAgentPattern() {
			t.Errorf("%s/%s differs from the served model %v", m.Vendor, m.Model, pm)
		}
		if m.Vars["ua_model"] == "" {
			t.Errorf("%s/%s: no ua_model", m.Vendor, m.Model)
		}
	}
	got[0].Files[0], got[0].Vars["ua_model"] = "changed", "changed"
	again := BuiltinModels()
	if again[0].Files[0] == "changed" || again[0].Vars["ua_model"] == "changed" {
		t.Error("BuiltinModels shares its slices and maps with callers")
	}
}
