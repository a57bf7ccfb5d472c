package boltstore

import (
	"slices"
	"testing"
)

// FuzzDecodeRecord: stored records decode or fail cleanly; what decodes
// re-encodes to the same record.
func FuzzDecodeRecord(f *testing.F) {
	f.Add(encodeRecord(7, []string{"s=1", "t=acme"}, []string{"k"}, []string{"e:acme/100"}, []byte("value")))
	f.Add([]byte{})
	f.Add([]byte{0x08})
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := decodeRecord('p', "id", b)
		if err != nil {
			return
		}
		r2, err := decodeRecord('p', "id", encodeRecord(r.Rev, r.Terms, r.Keys, r.Refs, r.Value))
		if err != nil || r2.Rev != r.Rev || !slices.Equal(r2.Terms, r.Terms) || !slices.Equal(r2.Keys, r.Keys) ||
			!slices.Equal(r2.Refs, r.Refs) || string(r2.Value) != string(r.Value) {
			t.Fatalf("round trip: %+v -> %+v (%v)", r, r2, err)
		}
	})
}
