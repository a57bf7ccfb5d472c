package pnp

import "testing"

func TestCatalogModel(t *testing.T) {
	for _, c := range []struct{ vendor, in, want string }{
		{"snom", "snomD785", "D785"},
		{"snom", "snom-D120", "D120"},
		{"snom", "D785", "D785"},
		{"yealink", "SIP-T54W", "T54W"},
		{"yealink", "T54W", "T54W"},
		{"yealink", "Yealink W60B", "W60B"},
		{"gigaset", "N670 IP PRO", "N670"},
		{"gigaset", "N870", "N870"},
		{"grandstream", "GRP2614", "GRP2614"},
		{"snom", "snom", "snom"},
		{"", "X4U", "X4U"},
	} {
		if got := CatalogModel(c.vendor, c.in); got != c.want {
			t.Errorf("CatalogModel(%q, %q) = %q, want %q", c.vendor, c.in, got, c.want)
		}
	}
}
