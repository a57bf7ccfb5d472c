// Package backup is inventory's backup file: every record of the store as
// stored (secrets sealed, data keys wrapped by the KEK, which is never in
// the file), so one file restores onto either backend.
//
// Layout:
//
//	DIALTONE-INVENTORY-BACKUP\n
//	{"format":1,"created":…,"records":{"phone":200,…},"sealed":true,
//	 "data_keys":[…],"body_bytes":N,"sha256":"…"}\n
//	body: N bytes, repeated field 1 (protowire) of one record each:
//	      1 kind, 2 id, 3 rev, 4 terms, 5 keys, 6 refs, 7 value
//
// Read checks everything (magic, format version, length, checksum, that
// every record decodes and the counts match the header) before returning
// anything, so Restore never starts on a file it cannot finish.
package backup

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"time"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/dialtone-voip/dialtone/services/inventory/internal/store"
)

// Magic is the file's first line.
const Magic = "DIALTONE-INVENTORY-BACKUP"

// Format is the version this code writes and the newest it reads.
const Format = 1

// MaxBody bounds the body Read accepts (a site of 100 000 phones is ~100 MB).
const MaxBody = 4 << 30

// Header describes a backup.
type Header struct {
	Format  int       `json:"format"`
	Created time.Time `json:"created"`
	// Records counts the records per kind ("phone", "extension", …).
	Records map[string]int64 `json:"records"`
	// Sealed: the secrets are sealed; restoring needs the KEK that wraps DataKeys.
	Sealed   bool     `json:"sealed"`
	DataKeys []string `json:"data_keys,omitempty"`
	// BodyBytes and SHA256 (hex) cover the body.
	BodyBytes int64  `json:"body_bytes"`
	SHA256    string `json:"sha256"`
}

// Summary is one line saying what the backup holds.
func (h Header) Summary() string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(h.Records)) {
		parts = append(parts, fmt.Sprintf("%d %s", h.Records[k], plural(k, h.Records[k])))
	}
	sealed := "secrets in plaintext"
	if h.Sealed {
		sealed = fmt.Sprintf("secrets sealed (data keys %v; restoring needs the same --kek-file)", h.DataKeys)
	}
	list := "no records"
	if len(parts) > 0 {
		list = fmt.Sprint(joinComma(parts))
	}
	return fmt.Sprintf("format %d, made %s: %s; %s", h.Format, h.Created.UTC().Format(time.RFC3339), list, sealed)
}

func plural(k string, n int64) string {
	if n == 1 {
		return k
	}
	return k + "s"
}

func joinComma(p []string) string {
	var b bytes.Buffer
	for i, s := range p {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(s)
	}
	return b.String()
}

// kindName is the header's word for a kind.
func kindName(k store.Kind) string {
	switch k {
	case store.KindInterface:
		return "sip_interface"
	case store.KindKey:
		return "data_key"
	}
	return k.String()
}

// Snapshotter is a backend that can hand every record from one
// consistent view (bbolt: one read transaction).
type Snapshotter interface {
	Snapshot(ctx context.Context, fn func(store.Record) error) error
}

// restoreOrder is the order records are written in: what is referenced first.
var restoreOrder = []store.Kind{store.KindKey, store.KindTenant, store.KindInterface, store.KindExtension, store.KindPhone, store.KindJob}

// kinds is restoreOrder, then any kind added since.
func kinds() []store.Kind {
	out := slices.Clone(restoreOrder)
	for _, k := range store.Kinds {
		if !slices.Contains(out, k) {
			out = append(out, k)
		}
	}
	return out
}

// Export writes a backup of st (pass the raw store, not sealstore's view,
// so secrets stay sealed). A backend that is a Snapshotter gives a
// point-in-time copy; otherwise each kind is listed page by page, which is
// consistent per record only (Redis: see the service README).
func Export(ctx context.Context, st store.Store, w io.Writer, now time.Time) (Header, error) {
	h := Header{Format: Format, Created: now.UTC(), Records: map[string]int64{}}
	var body []byte
	add := func(r store.Record) error {
		if r.Kind == store.KindKey && r.ID != "current" {
			h.Sealed = true
			h.DataKeys = append(h.DataKeys, r.ID)
		}
		h.Records[kindName(r.Kind)]++
		body = protowire.AppendTag(body, 1, protowire.BytesType)
		body = protowire.AppendBytes(body, encodeRecord(r))
		return nil
	}
	if sn, ok := st.(Snapshotter); ok {
		if err := sn.Snapshot(ctx, add); err != nil {
			return h, fmt.Errorf("backup: snapshot: %w", err)
		}
	} else {
		for _, k := range kinds() {
			after := ""
			for {
				recs, err := st.List(ctx, store.ListQuery{Kind: k, After: after, Limit: 500})
				if err != nil {
					return h, fmt.Errorf("backup: list %s: %w", k, err)
				}
				for _, r := range recs {
					_ = add(r)
				}
				if len(recs) < 500 {
					break
				}
				after = recs[len(recs)-1].ID
			}
		}
	}
	sum := sha256.Sum256(body)
	h.BodyBytes, h.SHA256 = int64(len(body)), hex.EncodeToString(sum[:])
	hj, err := json.Marshal(h)
	if err != nil {
		return h, err
	}
	bw := bufio.NewWriter(w)
	bw.WriteString(Magic + "\n")
	bw.Write(hj)
	bw.WriteString("\n")
	bw.Write(body)
	if err := bw.Flush(); err != nil {
		return h, fmt.Errorf("backup: write: %w", err)
	}
	return h, nil
}

func encodeRecord(r store.Record) []byte {
	b := protowire.AppendTag(nil, 1, protowire.VarintType)
	b = protowire.AppendVarint(b, uint64(r.Kind))
	b = protowire.AppendTag(b, 2, protowire.BytesType)
	b = protowire.AppendString(b, r.ID)
	b = protowire.AppendTag(b, 3, protowire.VarintType)
	b = protowire.AppendVarint(b, uint64(r.Rev))
	for i, list := range [][]string{r.Terms, r.Keys, r.Refs} {
		for _, s := range list {
			b = protowire.AppendTag(b, protowire.Number(4+i), protowire.BytesType)
			b = protowire.AppendString(b, s)
		}
	}
	b = protowire.AppendTag(b, 7, protowire.BytesType)
	return protowire.AppendBytes(b, r.Value)
}

// ErrCorrupt is wrapped by every refusal of a file's contents.
var ErrCorrupt = errors.New("backup file refused")

func corrupt(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrCorrupt}, args...)...)
}

// Read parses and checks a whole backup; nothing is returned unless all of
// it is sound.
func Read(r io.Reader) (Header, []store.Record, error) {
	var h Header
	br := bufio.NewReaderSize(r, 64<<10)
	magic, err := readLine(br, len(Magic)+1)
	if err != nil || magic != Magic {
		return h, nil, corrupt("not a Dialtone inventory backup (no %s header)", Magic)
	}
	hl, err := readLine(br, 1<<20)
	if err != nil {
		return h, nil, corrupt("truncated header")
	}
	var probe struct {
		Format int `json:"format"`
	}
	if err := json.Unmarshal([]byte(hl), &probe); err != nil {
		return h, nil, corrupt("unreadable header")
	}
	if probe.Format > Format {
		return h, nil, corrupt("format %d is newer than this version of Dialtone reads (%d): restore with a newer Dialtone", probe.Format, Format)
	}
	if probe.Format < 1 {
		return h, nil, corrupt("format %d is unknown", probe.Format)
	}
	dec := json.NewDecoder(bytes.NewReader([]byte(hl)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&h); err != nil {
		return h, nil, corrupt("unreadable header")
	}
	if h.BodyBytes < 0 || h.BodyBytes > MaxBody || len(h.SHA256) != 64 {
		return h, nil, corrupt("header has a bad length or checksum")
	}
	body := make([]byte, 0, min(h.BodyBytes, 64<<20))
	body, err = readN(br, body, h.BodyBytes)
	if err != nil {
		return h, nil, corrupt("truncated: the body has %d of %d bytes", len(body), h.BodyBytes)
	}
	if n, _ := br.Read(make([]byte, 1)); n > 0 {
		return h, nil, corrupt("data after the end of the backup")
	}
	sum := sha256.Sum256(body)
	if hex.EncodeToString(sum[:]) != h.SHA256 {
		return h, nil, corrupt("checksum mismatch: the file is damaged or was changed")
	}
	recs, err := decodeBody(body)
	if err != nil {
		return h, nil, err
	}
	counts := map[string]int64{}
	for _, r := range recs {
		counts[kindName(r.Kind)]++
	}
	if !maps.Equal(counts, h.Records) && !(len(counts) == 0 && len(h.Records) == 0) {
		return h, nil, corrupt("the header's record counts do not match the body")
	}
	return h, recs, nil
}

func readLine(br *bufio.Reader, limit int) (string, error) {
	var b []byte
	for {
		c, err := br.ReadByte()
		if err != nil {
			return "", err
		}
		if c == '\n' {
			return string(b), nil
		}
		if len(b) >= limit {
			return "", errors.New("line too long")
		}
		b = append(b, c)
	}
}

func readN(r io.Reader, buf []byte, n int64) ([]byte, error) {
	chunk := make([]byte, 1<<20)
	for int64(len(buf)) < n {
		m, err := r.Read(chunk[:min(int64(len(chunk)), n-int64(len(buf)))])
		buf = append(buf, chunk[:m]...)
		if err != nil && int64(len(buf)) < n {
			return buf, err
		}
	}
	return buf, nil
}

func decodeBody(b []byte) ([]store.Record, error) {
	var out []store.Record
	seen := map[string]bool{}
	known := map[store.Kind]bool{}
	for _, k := range store.Kinds {
		known[k] = true
	}
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 || num != 1 || typ != protowire.BytesType {
			return nil, corrupt("record %d does not decode", len(out)+1)
		}
		v, m := protowire.ConsumeBytes(b[n:])
		if m < 0 {
			return nil, corrupt("record %d does not decode", len(out)+1)
		}
		b = b[n+m:]
		r, err := decodeRecord(v)
		if err != nil || !known[r.Kind] {
			return nil, corrupt("record %d does not decode", len(out)+1)
		}
		ref := store.Ref(r.Kind, r.ID)
		if seen[ref] {
			return nil, corrupt("record %s appears twice", ref)
		}
		seen[ref] = true
		out = append(out, r)
	}
	return out, nil
}

func decodeRecord(b []byte) (store.Record, error) {
	var r store.Record
	bad := errors.New("bad record")
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return r, bad
		}
		b = b[n:]
		switch typ {
		case protowire.VarintType:
			v, m := protowire.ConsumeVarint(b)
			if m < 0 {
				return r, bad
			}
			b = b[m:]
			switch num {
			case 1:
				if v > 0xff {
					return r, bad
				}
				r.Kind = store.Kind(v)
			case 3:
				r.Rev = int64(v)
			}
		case protowire.BytesType:
			v, m := protowire.ConsumeBytes(b)
			if m < 0 {
				return r, bad
			}
			b = b[m:]
			switch num {
			case 2:
				r.ID = string(v)
			case 4:
				r.Terms = append(r.Terms, string(v))
			case 5:
				r.Keys = append(r.Keys, string(v))
			case 6:
				r.Refs = append(r.Refs, string(v))
			case 7:
				r.Value = bytes.Clone(v)
			}
		default:
			return r, bad
		}
	}
	if r.ID == "" {
		return r, bad
	}
	return r, nil
}

// ErrNotEmpty: Restore only writes into an empty store.
var ErrNotEmpty = errors.New("the store is not empty: restore into an empty data directory (or an empty Redis key prefix)")

// Restore writes recs into st, which must be empty, in one batch: all of
// them or none. Pass the raw store (values are written as they were
// stored, sealed). Revisions start again; IDs, index terms, unique keys
// (token hashes) and values are kept, so phones keep their tokens.
func Restore(ctx context.Context, st store.Store, recs []store.Record) (map[string]int64, error) {
	if err := CheckEmpty(ctx, st); err != nil {
		return nil, err
	}
	byKind := map[store.Kind][]store.Record{}
	for _, r := range recs {
		byKind[r.Kind] = append(byKind[r.Kind], r)
	}
	ops := make([]store.Op, 0, len(recs))
	counts := map[string]int64{}
	for _, k := range kinds() {
		for _, r := range byKind[k] {
			expect := store.ExpectAbsent
			if k == store.KindKey && r.ID == "current" {
				expect = store.ExpectAny
			}
			ops = append(ops, store.Op{Kind: r.Kind, ID: r.ID, Expect: expect, Terms: r.Terms, Keys: r.Keys, Refs: r.Refs, Value: r.Value})
			counts[kindName(k)]++
		}
	}
	if len(ops) == 0 {
		return counts, nil
	}
	if _, err := st.Apply(ctx, func(int64) (store.Batch, error) { return store.Batch{Ops: ops}, nil }); err != nil {
		return nil, fmt.Errorf("restore: %w", err)
	}
	return counts, nil
}

// CheckEmpty is nil when st holds no records (data keys aside: a sealing
// store makes its first data key at start; the backup's keys join it and
// its current one wins).
func CheckEmpty(ctx context.Context, st store.Store) error {
	for _, k := range store.Kinds {
		if k == store.KindKey {
			continue
		}
		have, err := st.List(ctx, store.ListQuery{Kind: k, Limit: 1})
		if err != nil {
			return fmt.Errorf("restore: %w", err)
		}
		if len(have) > 0 {
			return ErrNotEmpty
		}
	}
	return nil
}
