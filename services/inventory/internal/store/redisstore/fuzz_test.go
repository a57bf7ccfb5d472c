package redisstore

import (
	"strings"
	"testing"
)

// FuzzDecode: stored record strings decode or fail cleanly.
func FuzzDecode(f *testing.F) {
	f.Add("12\ns=1 t=acme\nk1\ne:acme/100\nvalue\nwith newline")
	f.Add("")
	f.Add("x\n\n\n\n")
	f.Fuzz(func(t *testing.T, s string) {
		r, err := decode('p', "id", s)
		if err != nil {
			return
		}
		if r.Rev < 0 && !strings.HasPrefix(s, "-") {
			t.Fatalf("negative revision from %q", s)
		}
		if !strings.HasSuffix(s, string(r.Value)) {
			t.Fatalf("value %q is not the tail of %q", r.Value, s)
		}
	})
}
