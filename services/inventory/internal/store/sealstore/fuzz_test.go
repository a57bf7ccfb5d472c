package sealstore

import (
	"bytes"
	"context"
	"crypto/cipher"
	"crypto/rand"
	"slices"
	"strings"
	"testing"

	"github.com/dialtone-voip/dialtone/services/inventory/internal/store"
)

func testStore(t testing.TB) *Store {
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	a, err := newAEAD(key)
	if err != nil {
		t.Fatal(err)
	}
	s := &Store{aeads: map[string]cipher.AEAD{"dk-test": a}, cur: "dk-test"}
	s.mode.Store(int32(ModeSealed))
	return s
}

// secretsOf lists the values at each secret path of v.
func secretsOf(k store.Kind, v []byte) ([][]byte, []byte) {
	var all [][]byte
	rest := v
	for _, p := range secretPaths[k] {
		r, vals, _ := extract(rest, p)
		rest = r
		all = append(all, vals...)
	}
	return all, rest
}

// FuzzSealOpen: for any value, sealing leaves no secret at a secret path
// and opening gives back the same secrets and the same rest.
func FuzzSealOpen(f *testing.F) {
	f.Add(byte('p'), []byte("\x0a\x05\x52\x03\x0a\x01x\x12\x03tok\x22\x04prev"))
	f.Add(byte('e'), []byte("\x12\x03100\x2a\x02pw"))
	f.Add(byte('t'), []byte("\x22\x04\x0a\x02pw"))
	f.Add(byte('p'), []byte("\x0a\x02\xff\xff\x12\x01t"))
	f.Fuzz(func(t *testing.T, kind byte, v []byte) {
		k := store.Kind(kind)
		if len(secretPaths[k]) == 0 || hasSealed(v) {
			return
		}
		s := testStore(t)
		ctx := context.Background()
		sealed, err := s.sealValue(ctx, k, "id", v)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := fields(v); !ok {
			if !bytes.Equal(sealed, v) {
				t.Fatal("a value that is not wire format was changed")
			}
			return
		}
		if got, _ := secretsOf(k, sealed); len(got) > 0 {
			t.Fatalf("secrets left in plaintext: %q", got)
		}
		opened, err := s.openValue(ctx, k, "id", sealed)
		if err != nil {
			t.Fatal(err)
		}
		want, wantRest := secretsOf(k, v)
		got, gotRest := secretsOf(k, opened)
		if !slices.EqualFunc(want, got, bytes.Equal) {
			t.Fatalf("secrets %q, want %q", got, want)
		}
		if !bytes.Equal(gotRest, wantRest) {
			t.Fatalf("rest %x, want %x", gotRest, wantRest)
		}
		if _, err := s.openValue(ctx, k, "other", sealed); len(want) > 0 && err == nil {
			t.Fatal("a sealed field opened on another record")
		}
	})
}

// FuzzParseKEKs: any file either yields 32-byte keys with ids or an error
// that does not echo the file.
func FuzzParseKEKs(f *testing.F) {
	f.Add([]byte("q8kFh1wYpJ4mW3lq0qg0vN3c9m2dX7P5a1tYkz8B6r4=\n"))
	f.Add([]byte("# comment\n\nq8kFh1wYpJ4mW3lq0qg0vN3c9m2dX7P5a1tYkz8B6r4\nZm9vYmFyYmF6cXV4cXV1eGZvb2JhcmJhenF1eHF1dXg=\n"))
	f.Add([]byte("secret-not-base64"))
	f.Fuzz(func(t *testing.T, data []byte) {
		keks, err := ParseKEKs(data)
		if err != nil {
			// Only the two fixed messages: nothing from the file but a line number.
			msg := err.Error()
			if !strings.HasPrefix(msg, "no key in the file") && !(strings.HasPrefix(msg, "line ") && strings.HasSuffix(msg, ": not a base64 32-byte key (make one with: head -c 32 /dev/urandom | base64)")) {
				t.Fatalf("unexpected error: %q", msg)
			}
			return
		}
		for _, k := range keks {
			if len(k.key) != 32 || len(k.ID) != 12 {
				t.Fatalf("key of %d bytes, id %q", len(k.key), k.ID)
			}
		}
	})
}
