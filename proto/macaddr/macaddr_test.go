package macaddr

import "testing"

func TestParse(t *testing.T) {
	good := []string{"00:15:65:AA:BB:CC", "00-15-65-aa-bb-cc", "001565aabbcc", "0015.65aa.bbcc", "001565AABBCC", "00:15:65:aa:BB:cc"}
	for _, s := range good {
		got, err := Parse(s)
		if err != nil || got != "001565aabbcc" {
			t.Errorf("Parse(%q) = %q, %v; want 001565aabbcc", s, got, err)
		}
	}
	bad := []string{"", "00:15:65:aa:bb", "00:15:65:aa:bb:cg", "00:15-65:aa:bb:cc", "0015.65aa-bbcc", "001565aabbccdd", "00 15 65 aa bb cc", "00:15:65:aa:bb:c:", "０01565aabbcc"}
	for _, s := range bad {
		if got, err := Parse(s); err == nil {
			t.Errorf("Parse(%q) = %q, want error", s, got)
		}
	}
	if Colon("001565aabbcc") != "00:15:65:aa:bb:cc" || OUI("001565aabbcc") != "001565" {
		t.Error("Colon/OUI")
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"00:15:65:AA:BB:CC", "0015.65aa.bbcc", "001565aabbcc", "zz"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := Parse(s)
		if err != nil {
			return
		}
		if len(got) != 12 {
			t.Fatalf("Parse(%q) = %q: not 12 digits", s, got)
		}
		again, err := Parse(got)
		if err != nil || again != got {
			t.Fatalf("canonical form %q does not round-trip: %q, %v", got, again, err)
		}
	})
}
