package redisstore

import (
	"strconv"
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

// FuzzEntryRev: change-log entry ids parse to a positive revision or fail.
func FuzzEntryRev(f *testing.F) {
	f.Add("12-0")
	f.Add("12-1")
	f.Add("0-0")
	f.Add("-1-0")
	f.Add("99999999999999999999-0")
	f.Fuzz(func(t *testing.T, id string) {
		rev, ok := entryRev(id)
		if !ok {
			return
		}
		if rev <= 0 || id != strconv.FormatInt(rev, 10)+"-0" && !strings.HasPrefix(id, "+") && !strings.HasPrefix(id, "0") {
			t.Fatalf("entryRev(%q) = %d", id, rev)
		}
	})
}
