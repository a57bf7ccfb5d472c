package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/dialtone-voip/dialtone/services/inventory/internal/store"
	"github.com/dialtone-voip/dialtone/services/inventory/internal/store/sealstore"
)

// Dumper returns the backend's raw bytes as they rest on disk (the bbolt
// file, a Redis DUMP/RDB), to be searched for plaintext secrets.
type Dumper func(t *testing.T) []byte

// RunSealing runs the conformance suite over sealstore (sealing on), then
// the sealing tests: secrets absent from the raw backend, migration of
// plaintext, a wrong KEK refused, the locked store, and rotation under
// concurrent writers. newStore returns an empty store and its dumper.
func RunSealing(t *testing.T, newStore func(t *testing.T) (store.Store, Dumper)) {
	t.Run("Conformance", func(t *testing.T) {
		run(t, func(t *testing.T) store.Store {
			s, _ := newStore(t)
			w, err := sealstore.Open(context.Background(), s, sealstore.Options{KEKFile: WriteKEKFile(t, sealstore.NewKEKLine())})
			if err != nil {
				t.Fatal(err)
			}
			return w
		})
	})
	tests := []struct {
		name string
		fn   func(t *testing.T, s store.Store, dump Dumper)
	}{
		{"SecretsSealedAtRest", testSealedAtRest},
		{"MigratePlaintextOnce", testMigrate},
		{"WrongKEKRefused", testWrongKEK},
		{"LockedWithoutKEK", testLocked},
		{"RotateUnderLoad", testRotateUnderLoad},
		{"PlainMeetsSealed", testPlainMeetsSealed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, dump := newStore(t)
			defer s.Close()
			tc.fn(t, s, dump)
		})
	}
}

// WriteKEKFile writes lines as a --kek-file and returns its path.
func WriteKEKFile(t testing.TB, lines ...string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), fmt.Sprintf("kek-%d", kekFiles.Add(1)))
	if err := os.WriteFile(p, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

var kekFiles atomic.Int64

func bytesField(b []byte, num protowire.Number, v []byte) []byte {
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendBytes(b, v)
}

// secretValue is a value of kind k in the stored layout, carrying secret.
func secretValue(k store.Kind, id, secret string, n int) []byte {
	label := []byte(fmt.Sprintf("label-%s-%d", id, n))
	switch k {
	case store.KindPhone:
		settings := bytesField(nil, 3, []byte("de-DE"))
		settings = bytesField(settings, 1, []byte("web-"+secret))
		phone := bytesField(nil, 2, []byte(id))
		phone = bytesField(phone, 10, settings)
		phone = bytesField(phone, 3, label)
		v := bytesField(nil, 1, phone)
		v = bytesField(v, 2, []byte("tok-"+secret))
		return bytesField(v, 4, []byte("prev-"+secret))
	case store.KindExtension:
		v := bytesField(nil, 2, []byte(id))
		v = bytesField(v, 3, label)
		return bytesField(v, 5, []byte("sip-"+secret))
	default:
		v := bytesField(nil, 2, label)
		return bytesField(v, 4, bytesField(nil, 1, []byte("web-"+secret)))
	}
}

// canon flattens a value so field order does not matter: its fields
// (recursing into the messages that hold secrets), sorted.
func canon(t *testing.T, v []byte) string {
	t.Helper()
	var parts []string
	for len(v) > 0 {
		num, typ, n := protowire.ConsumeTag(v)
		m := protowire.ConsumeFieldValue(num, typ, v[n:])
		if n < 0 || m < 0 {
			t.Fatalf("value does not parse: %q", v)
		}
		if typ == protowire.BytesType {
			b, _ := protowire.ConsumeBytes(v[n:])
			if num == 1 || num == 4 || num == 10 {
				if _, _, k := protowire.ConsumeTag(b); k > 0 && !bytes.HasPrefix(b, []byte("tok")) && !bytes.HasPrefix(b, []byte("prev")) && !bytes.HasPrefix(b, []byte("web")) {
					parts = append(parts, fmt.Sprintf("%d{%s}", num, canon(t, b)))
					v = v[n+m:]
					continue
				}
			}
			parts = append(parts, fmt.Sprintf("%d=%q", num, b))
		} else {
			parts = append(parts, fmt.Sprintf("%d:%x", num, v[n:n+m]))
		}
		v = v[n+m:]
	}
	sort.Strings(parts)
	return strings.Join(parts, ",")
}

var sealedKinds = []store.Kind{store.KindTenant, store.KindExtension, store.KindPhone}

func seedSecrets(t *testing.T, s store.Store, n int) map[string][]byte {
	t.Helper()
	want := map[string][]byte{}
	var ops []store.Op
	for i := range n {
		for _, k := range sealedKinds {
			id := fmt.Sprintf("%c%04d", k, i)
			v := secretValue(k, id, fmt.Sprintf("S3cr3t%c%04dx", k, i), 0)
			want[store.Ref(k, id)] = v
			ops = append(ops, store.Op{Kind: k, ID: id, Expect: store.ExpectAbsent, Keys: []string{"key" + id}, Value: v})
		}
	}
	mustApply(t, s, ops...)
	return want
}

func checkValues(t *testing.T, s store.Store, want map[string][]byte) {
	t.Helper()
	ctx := context.Background()
	for ref, v := range want {
		k, id, _ := store.ParseRef(ref)
		r, err := s.Get(ctx, k, id)
		if err != nil {
			t.Fatalf("Get %s: %v", ref, err)
		}
		if canon(t, r.Value) != canon(t, v) {
			t.Fatalf("Get %s = %s, want %s", ref, canon(t, r.Value), canon(t, v))
		}
		r2, _, err := s.Resolve(ctx, k, "key"+id)
		if err != nil || canon(t, r2.Value) != canon(t, v) {
			t.Fatalf("Resolve %s: %v", ref, err)
		}
	}
}

func noPlaintext(t *testing.T, dump Dumper, n int) {
	t.Helper()
	raw := dump(t)
	if len(raw) == 0 {
		t.Fatal("empty dump")
	}
	for i := range n {
		for _, k := range sealedKinds {
			if sec := fmt.Sprintf("S3cr3t%c%04dx", k, i); bytes.Contains(raw, []byte(sec)) {
				t.Fatalf("the backend's raw bytes hold the secret %q", sec)
			}
		}
		// The records themselves are still there (the dump is not empty of them).
		if id := fmt.Sprintf("label-p%04d-", i); !bytes.Contains(raw, []byte(id)) {
			t.Fatalf("the dump lacks %q: not a dump of this store?", id)
		}
	}
}

func openSealed(t *testing.T, s store.Store, kek string) sealstore.Wrapped {
	t.Helper()
	w, err := sealstore.Open(context.Background(), s, sealstore.Options{KEKFile: kek})
	if err != nil {
		t.Fatalf("sealstore.Open: %v", err)
	}
	return w
}

func testSealedAtRest(t *testing.T, s store.Store, dump Dumper) {
	w := openSealed(t, s, WriteKEKFile(t, sealstore.NewKEKLine()))
	want := seedSecrets(t, w, 20)
	checkValues(t, w, want)
	noPlaintext(t, dump, 20)
	// List opens too.
	recs, err := w.List(context.Background(), store.ListQuery{Kind: store.KindPhone, Limit: 100})
	if err != nil || len(recs) != 20 {
		t.Fatalf("List = %d, %v", len(recs), err)
	}
	for _, r := range recs {
		if canon(t, r.Value) != canon(t, want[store.Ref(r.Kind, r.ID)]) {
			t.Fatalf("List %s differs", r.ID)
		}
	}
}

func testMigrate(t *testing.T, s store.Store, dump Dumper) {
	plain := openSealed(t, s, "")
	if plain.Sealer().Mode() != sealstore.ModePlain {
		t.Fatalf("mode %v, want plain", plain.Sealer().Mode())
	}
	want := seedSecrets(t, plain, 10)
	if !bytes.Contains(dump(t), []byte("S3cr3tp0003x")) {
		t.Fatal("plain mode did not store plaintext: the test proves nothing")
	}
	kek := WriteKEKFile(t, sealstore.NewKEKLine())
	w := openSealed(t, s, kek)
	checkValues(t, w, want)
	noPlaintext(t, dump, 10)
	before := revs(t, s)
	// A second start finds nothing to migrate: no record is rewritten.
	w2 := openSealed(t, s, kek)
	if after := revs(t, s); after != before {
		t.Fatalf("second start rewrote records: %s -> %s", before, after)
	}
	checkValues(t, w2, want)
}

func revs(t *testing.T, s store.Store) string {
	var sb strings.Builder
	for _, k := range sealedKinds {
		recs, err := s.List(context.Background(), store.ListQuery{Kind: k, Limit: 1000})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			fmt.Fprintf(&sb, "%s@%d ", r.ID, r.Rev)
		}
	}
	return sb.String()
}

func testWrongKEK(t *testing.T, s store.Store, _ Dumper) {
	w := openSealed(t, s, WriteKEKFile(t, sealstore.NewKEKLine()))
	seedSecrets(t, w, 2)
	_, err := sealstore.Open(context.Background(), s, sealstore.Options{KEKFile: WriteKEKFile(t, sealstore.NewKEKLine())})
	if err == nil || !strings.Contains(err.Error(), "wrong --kek-file") || strings.Contains(err.Error(), "\n") {
		t.Fatalf("Open with another KEK: %v, want one line saying wrong --kek-file", err)
	}
	_, err = sealstore.Open(context.Background(), s, sealstore.Options{KEKFile: WriteKEKFile(t, "not a key")})
	if err == nil || strings.Contains(err.Error(), "not a key") {
		t.Fatalf("Open with a bad file: %v (must fail without echoing the file)", err)
	}
}

func testLocked(t *testing.T, s store.Store, _ Dumper) {
	ctx := context.Background()
	w := openSealed(t, s, WriteKEKFile(t, sealstore.NewKEKLine()))
	seedSecrets(t, w, 3)
	l := openSealed(t, s, "")
	if l.Sealer().Mode() != sealstore.ModeLocked {
		t.Fatalf("mode %v, want locked", l.Sealer().Mode())
	}
	recs, err := l.List(ctx, store.ListQuery{Kind: store.KindPhone, Limit: 10})
	if err != nil || len(recs) != 3 {
		t.Fatalf("locked List = %d, %v", len(recs), err)
	}
	for _, r := range recs {
		if bytes.Contains(r.Value, []byte("S3cr3t")) {
			t.Fatal("locked List shows a secret")
		}
	}
	_, _, err = l.Resolve(ctx, store.KindPhone, "keyp0001")
	wantErr(t, err, store.ErrSealed)
	_, err = l.Apply(ctx, one(store.Op{Kind: store.KindPhone, ID: "p0001", Expect: store.ExpectAny, Value: secretValue(store.KindPhone, "p0001", "x", 1)}))
	wantErr(t, err, store.ErrSealed)
	// Records without secrets are still written.
	mustApply(t, l, put(store.KindInterface, "acme/main", store.ExpectAbsent, "iface"))
}

func testRotateUnderLoad(t *testing.T, s store.Store, dump Dumper) {
	ctx := context.Background()
	oldKEK := sealstore.NewKEKLine()
	kekPath := WriteKEKFile(t, oldKEK)
	w := openSealed(t, s, kekPath)
	const n = 30
	want := seedSecrets(t, w, n)
	var (
		mu   sync.Mutex
		stop atomic.Bool
		wg   sync.WaitGroup
	)
	// Writers rewrite phones and extensions with new values while the
	// rotation runs; every acknowledged write must be what is read after.
	for g := range 4 {
		wg.Go(func() {
			for i := 0; !stop.Load(); i++ {
				k := sealedKinds[1+i%2]
				id := fmt.Sprintf("%c%04d", k, (g*7+i)%n)
				r, err := w.Get(ctx, k, id)
				if err != nil {
					t.Errorf("Get: %v", err)
					return
				}
				v := secretValue(k, id, fmt.Sprintf("S3cr3t%c%sx", k, id[1:]), g*100000+i)
				_, err = w.Apply(ctx, one(store.Op{Kind: k, ID: id, Expect: r.Rev, Keys: r.Keys, Value: v}))
				if errors.Is(err, store.ErrConflict) {
					continue
				}
				if err != nil {
					t.Errorf("Apply: %v", err)
					return
				}
				mu.Lock()
				want[store.Ref(k, id)] = v
				mu.Unlock()
			}
		})
	}
	// A KEK rotation: the new KEK first, the old one still listed.
	newKEK := sealstore.NewKEKLine()
	if err := os.WriteFile(kekPath, []byte(newKEK+"\n"+oldKEK+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	res, err := w.Sealer().Rotate(ctx)
	stop.Store(true)
	wg.Wait()
	if err != nil {
		t.Fatalf("Rotate: %v", err)
	}
	if res.Rewrapped != 1 {
		t.Fatalf("rewrapped %d data keys, want 1", res.Rewrapped)
	}
	checkValues(t, w, want)
	noPlaintext(t, dump, n)
	// Every record is sealed under the new data key (raw check: its id).
	for _, k := range sealedKinds {
		recs, err := s.List(ctx, store.ListQuery{Kind: k, Limit: 1000})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			if !bytes.Contains(r.Value, []byte(res.DataKeyID)) {
				t.Fatalf("%s not resealed under %s", r.ID, res.DataKeyID)
			}
		}
	}
	// The old KEK may now leave the file: the store opens with the new one alone.
	if err := os.WriteFile(kekPath, []byte(newKEK+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	checkValues(t, openSealed(t, s, kekPath), want)
	if _, err := sealstore.Open(ctx, s, sealstore.Options{KEKFile: WriteKEKFile(t, oldKEK)}); err == nil {
		t.Fatal("the retired KEK still opens the store")
	}
}

// testPlainMeetsSealed: a process without a KEK that started on an
// unsealed store, when another one seals it, turns locked instead of
// writing records back without their secrets.
func testPlainMeetsSealed(t *testing.T, s store.Store, _ Dumper) {
	ctx := context.Background()
	plain := openSealed(t, s, "")
	w := openSealed(t, s, WriteKEKFile(t, sealstore.NewKEKLine()))
	seedSecrets(t, w, 2)
	_, _, err := plain.Resolve(ctx, store.KindPhone, "keyp0001")
	wantErr(t, err, store.ErrSealed)
	if plain.Sealer().Mode() != sealstore.ModeLocked {
		t.Fatalf("mode %v, want locked", plain.Sealer().Mode())
	}
	_, err = plain.Apply(ctx, one(store.Op{Kind: store.KindPhone, ID: "p0001", Expect: store.ExpectAny, Value: []byte("x")}))
	wantErr(t, err, store.ErrSealed)
}
