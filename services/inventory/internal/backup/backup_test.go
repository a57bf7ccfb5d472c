package backup_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dialtone-voip/dialtone/services/inventory/internal/backup"
	"github.com/dialtone-voip/dialtone/services/inventory/internal/store"
	"github.com/dialtone-voip/dialtone/services/inventory/internal/store/boltstore"
)

func openBolt(t testing.TB) *boltstore.Store {
	t.Helper()
	s, err := boltstore.Open(filepath.Join(t.TempDir(), "inventory.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func seeded(t testing.TB) (*boltstore.Store, []byte) {
	t.Helper()
	ctx := context.Background()
	s := openBolt(t)
	ops := []store.Op{
		{Kind: store.KindTenant, ID: "acme", Expect: store.ExpectAbsent, Value: []byte("tenant")},
		{Kind: store.KindExtension, ID: "acme/100", Expect: store.ExpectAbsent, Refs: []string{"t:acme"}, Value: []byte("ext")},
		{Kind: store.KindKey, ID: "dk-1", Expect: store.ExpectAbsent, Value: []byte("wrapped")},
	}
	for i := range 5 {
		ops = append(ops, store.Op{Kind: store.KindPhone, ID: fmt.Sprintf("0015650000%02d", i), Expect: store.ExpectAbsent,
			Terms: []string{"t=acme"}, Keys: []string{fmt.Sprintf("tokhash%d", i)}, Refs: []string{"t:acme", "e:acme/100"}, Value: []byte{byte(i), 0, '\n'}})
	}
	if _, err := s.Apply(ctx, func(int64) (store.Batch, error) { return store.Batch{Ops: ops}, nil }); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	h, err := backup.Export(ctx, s, &buf, time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	if got := h.Summary(); !strings.Contains(got, "5 phones") || !strings.Contains(got, "1 extension") || !strings.Contains(got, "sealed") {
		t.Fatalf("summary %q", got)
	}
	return s, buf.Bytes()
}

func TestRoundTrip(t *testing.T) {
	ctx := context.Background()
	src, file := seeded(t)
	h, recs, err := backup.Read(bytes.NewReader(file))
	if err != nil {
		t.Fatal(err)
	}
	if h.Records["phone"] != 5 || len(recs) != 8 {
		t.Fatalf("header %+v, %d records", h, len(recs))
	}
	dst := openBolt(t)
	if _, err := backup.Restore(ctx, dst, recs); err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		want, _, err := src.Resolve(ctx, store.KindPhone, fmt.Sprintf("tokhash%d", i))
		if err != nil {
			t.Fatal(err)
		}
		got, refs, err := dst.Resolve(ctx, store.KindPhone, fmt.Sprintf("tokhash%d", i))
		if err != nil || !bytes.Equal(got.Value, want.Value) || len(refs) != 2 {
			t.Fatalf("restored phone %d: %v %q %d refs", i, err, got.Value, len(refs))
		}
	}
	// Not twice: the store is no longer empty.
	if _, err := backup.Restore(ctx, dst, recs); !errors.Is(err, backup.ErrNotEmpty) {
		t.Fatalf("second restore: %v", err)
	}
}

func TestRefused(t *testing.T) {
	_, file := seeded(t)
	nl := bytes.IndexByte(file, '\n')
	hdrEnd := nl + 1 + bytes.IndexByte(file[nl+1:], '\n')
	flip := bytes.Clone(file)
	flip[len(flip)-3] ^= 0x40
	newer := bytes.Replace(file, []byte(`"format":1`), []byte(`"format":2`), 1)
	counts := bytes.Replace(file, []byte(`"phone":5`), []byte(`"phone":6`), 1)
	for name, tc := range map[string]struct {
		data []byte
		want string
	}{
		"empty":          {nil, "not a Dialtone inventory backup"},
		"other file":     {[]byte("SQLite format 3\x00"), "not a Dialtone inventory backup"},
		"truncated head": {file[:hdrEnd-5], "truncated header"},
		"truncated body": {file[:len(file)-10], "truncated"},
		"cut at header":  {file[:hdrEnd+1], "truncated"},
		"tampered":       {flip, "checksum mismatch"},
		"trailing":       {append(bytes.Clone(file), 'x'), "data after the end"},
		"newer format":   {newer, "newer than this version"},
		"counts":         {counts, "counts do not match"},
	} {
		t.Run(name, func(t *testing.T) {
			_, recs, err := backup.Read(bytes.NewReader(tc.data))
			if !errors.Is(err, backup.ErrCorrupt) || !strings.Contains(err.Error(), tc.want) || recs != nil {
				t.Fatalf("Read = %d records, %v; want an error with %q", len(recs), err, tc.want)
			}
		})
	}
}

func FuzzRead(f *testing.F) {
	_, file := seeded(f)
	f.Add(file)
	f.Add(file[:len(file)/2])
	f.Add([]byte(backup.Magic + "\n{\"format\":1}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		h, recs, err := backup.Read(bytes.NewReader(data))
		if err != nil {
			if !errors.Is(err, backup.ErrCorrupt) {
				t.Fatalf("error %v does not wrap ErrCorrupt", err)
			}
			return
		}
		var n int64
		for _, c := range h.Records {
			n += c
		}
		if n != int64(len(recs)) {
			t.Fatalf("header counts %d, %d records", n, len(recs))
		}
	})
}
