// Package sealstore seals the secrets of stored records at rest, over any
// store.Store backend (bbolt, Redis): SIP passwords, web passwords and
// provisioning tokens are moved out of a record's value into one field
// (100) encrypted with AES-256-GCM under a data key, the record's kind and
// id as associated data (a sealed field copied onto another record does
// not open). Data keys are stored as records of store.KindKey, each wrapped
// by a key-encryption key (KEK) read from a file, and named by key ids, so
// a rotation adds a data key and rewraps the old ones while records sealed
// under them still open.
//
// Reads open the sealed field and hand the caller the value as it was
// written. Without a KEK, a store that holds data keys is locked: Get and
// List return values with their secrets still sealed (listing works),
// Resolve — the provisioning path — and writes of kinds with secrets fail
// with store.ErrSealed, so no file is ever rendered without its account.
// A store with neither data keys nor a KEK is passed through in plaintext.
package sealstore

import (
	"context"
	"crypto/cipher"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/dialtone-voip/dialtone/services/inventory/internal/store"
)

// currentID is the KindKey record naming the data key new seals use.
const currentID = "current"

// Options configure Open.
type Options struct {
	// KEKFile is the --kek-file; "" runs without sealing (or locked, when
	// the store already holds data keys).
	KEKFile string
	Logger  *slog.Logger
}

// Mode is how a Store treats secrets.
type Mode int

// The modes.
const (
	// ModePlain: no KEK and no data keys; values are stored as written.
	ModePlain Mode = iota
	// ModeSealed: secrets are sealed on write and opened on read.
	ModeSealed
	// ModeLocked: the store holds sealed secrets but there is no KEK.
	ModeLocked
)

func (m Mode) String() string {
	return [...]string{"plain", "sealed", "locked"}[m]
}

// Store seals secrets over an inner store.Store.
type Store struct {
	inner   store.Store
	kekFile string
	log     *slog.Logger
	// mode is a Mode; a plain store that meets a sealed record (another
	// replica was started with a KEK) turns locked, so it never writes
	// such a record back without its secrets.
	mode atomic.Int32

	mu    sync.RWMutex
	keks  []KEK
	aeads map[string]cipher.AEAD // data key id -> AEAD
	cur   string                 // data key id new seals use
}

// Wrapped is a Store that also passes the inner store's change log through.
type Wrapped interface {
	store.Store
	Sealer() *Store
}

type withChangeLog struct {
	*Store
	store.ChangeLog
}

// Sealer returns the sealing store.
func (s *Store) Sealer() *Store { return s }

// Open wraps inner. With a KEK file it unwraps the stored data keys (making
// the first one when there is none) and seals every record still holding
// plaintext secrets — idempotently, so a restart or a second replica finds
// nothing left to do. A KEK that does not open the stored data keys is
// refused with one line naming the key ids, never the keys.
func Open(ctx context.Context, inner store.Store, o Options) (Wrapped, error) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Store{inner: inner, kekFile: o.KEKFile, log: o.Logger, aeads: map[string]cipher.AEAD{}}
	recs, err := s.keyRecords(ctx)
	if err != nil {
		return nil, err
	}
	switch {
	case o.KEKFile == "" && len(recs) == 0:
		s.mode.Store(int32(ModePlain))
	case o.KEKFile == "":
		s.mode.Store(int32(ModeLocked))
		s.log.Warn("inventory store holds sealed secrets but no --kek-file is set: phones can be listed, no provisioning file is served")
	default:
		s.mode.Store(int32(ModeSealed))
		if err := s.load(ctx, true); err != nil {
			return nil, err
		}
		if s.cur == "" {
			if _, err := s.newDataKey(ctx, false); err != nil {
				return nil, err
			}
		}
		n, err := s.reseal(ctx, false)
		if err != nil {
			return nil, fmt.Errorf("sealing plaintext secrets: %w", err)
		}
		if n > 0 {
			s.log.Info("sealed plaintext secrets at rest", "records", n, "data_key", s.currentKey())
			// The plaintext may linger in freed pages (bbolt) until they are
			// reused: a backend that can rewrite its file does so now.
			if rw, ok := inner.(Rewriter); ok {
				if err := rw.Rewrite(); err != nil {
					return nil, fmt.Errorf("rewriting the store after sealing: %w", err)
				}
			}
		}
	}
	if cl, ok := inner.(store.ChangeLog); ok {
		return withChangeLog{s, cl}, nil
	}
	return s, nil
}

// Rewriter is a backend that can rewrite its storage so that data no
// longer referenced (freed pages) is gone. Open calls it after migrating
// plaintext, before anything else uses the store.
type Rewriter interface {
	Rewrite() error
}

// CheckDataKeys reports whether this store's KEKs open every data key
// among recs (records of a backup), before any of them is written.
func (s *Store) CheckDataKeys(recs []store.Record) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, r := range recs {
		if r.Kind != store.KindKey || r.ID == currentID {
			continue
		}
		d, err := decodeDataKey(r.Value)
		if err != nil {
			return fmt.Errorf("data key %s: %w", r.ID, err)
		}
		if _, err := s.unwrap(r.ID, d); err != nil {
			return err
		}
	}
	return nil
}

// Reload reads the data keys again (after a restore wrote some) and seals
// any plaintext secrets the store holds.
func (s *Store) Reload(ctx context.Context) error {
	if s.Mode() != ModeSealed {
		return nil
	}
	if err := s.load(ctx, false); err != nil {
		return err
	}
	_, err := s.reseal(ctx, false)
	return err
}

// Mode reports how the store treats secrets.
func (s *Store) Mode() Mode { return Mode(s.mode.Load()) }

// Inner returns the wrapped store (values as stored: sealed).
func (s *Store) Inner() store.Store { return s.inner }

func (s *Store) currentKey() string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.cur
}

func (s *Store) keyRecords(ctx context.Context) ([]store.Record, error) {
	var out []store.Record
	after := ""
	for {
		recs, err := s.inner.List(ctx, store.ListQuery{Kind: store.KindKey, After: after, Limit: 100})
		if err != nil {
			return nil, fmt.Errorf("reading data keys: %w", err)
		}
		out = append(out, recs...)
		if len(recs) < 100 {
			return out, nil
		}
		after = recs[len(recs)-1].ID
	}
}

// load (re)reads the KEK file (when rereadKEK) and unwraps every stored
// data key.
func (s *Store) load(ctx context.Context, rereadKEK bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if rereadKEK || s.keks == nil {
		keks, err := ReadKEKFile(s.kekFile)
		if err != nil {
			return err
		}
		s.keks = keks
	}
	recs, err := s.keyRecords(ctx)
	if err != nil {
		return err
	}
	for _, r := range recs {
		if r.ID == currentID {
			s.cur = string(r.Value)
			continue
		}
		if _, ok := s.aeads[r.ID]; ok {
			continue
		}
		d, err := decodeDataKey(r.Value)
		if err != nil {
			return fmt.Errorf("data key %s: %w", r.ID, err)
		}
		a, err := s.unwrap(r.ID, d)
		if err != nil {
			return err
		}
		s.aeads[r.ID] = a
	}
	if s.cur != "" && s.aeads[s.cur] == nil {
		return fmt.Errorf("current data key %s is missing from the store", s.cur)
	}
	return nil
}

func (s *Store) kekIDs() string {
	ids := make([]string, len(s.keks))
	for i, k := range s.keks {
		ids[i] = k.ID
	}
	return strings.Join(ids, ",")
}

// unwrap opens a data key with the KEK it names.
func (s *Store) unwrap(dkID string, d dataKeyRec) (cipher.AEAD, error) {
	for _, k := range s.keks {
		if k.ID != d.kekID {
			continue
		}
		ka, err := newAEAD(k.key)
		if err != nil {
			return nil, err
		}
		key, err := open(ka, d.wrapped, wrapAAD(dkID))
		if err != nil {
			return nil, fmt.Errorf("--kek-file key %s does not open data key %s (tampered record?)", k.ID, dkID)
		}
		return newAEAD(key)
	}
	return nil, fmt.Errorf("wrong --kek-file: it holds key %s, the store's data key %s is wrapped by key %s", s.kekIDs(), dkID, d.kekID)
}

// newDataKey makes a data key, wraps it with the current KEK and makes it
// current; with rewrap it also rewraps every other data key with the
// current KEK (a KEK rotation), in the same batch.
func (s *Store) newDataKey(ctx context.Context, rewrap bool) (rewrapped int, err error) {
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return 0, err
	}
	idb := make([]byte, 6)
	_, _ = rand.Read(idb)
	id := "dk-" + hex.EncodeToString(idb)
	s.mu.RLock()
	kek := s.keks[0]
	s.mu.RUnlock()
	ka, err := newAEAD(kek.key)
	if err != nil {
		return 0, err
	}
	ops := []store.Op{
		{Kind: store.KindKey, ID: id, Expect: store.ExpectAbsent,
			Value: dataKeyRec{kekID: kek.ID, wrapped: seal(ka, raw, wrapAAD(id)), created: time.Now().Unix()}.encode()},
		{Kind: store.KindKey, ID: currentID, Expect: store.ExpectAny, Value: []byte(id)},
	}
	if rewrap {
		recs, err := s.keyRecords(ctx)
		if err != nil {
			return 0, err
		}
		for _, r := range recs {
			if r.ID == currentID {
				continue
			}
			d, err := decodeDataKey(r.Value)
			if err != nil {
				return 0, fmt.Errorf("data key %s: %w", r.ID, err)
			}
			if d.kekID == kek.ID {
				continue
			}
			s.mu.RLock()
			ka2, err := func() (cipher.AEAD, error) {
				for _, k := range s.keks {
					if k.ID == d.kekID {
						return newAEAD(k.key)
					}
				}
				return nil, fmt.Errorf("wrong --kek-file: data key %s is wrapped by key %s, which the file no longer holds", r.ID, d.kekID)
			}()
			s.mu.RUnlock()
			if err != nil {
				return 0, err
			}
			key, err := open(ka2, d.wrapped, wrapAAD(r.ID))
			if err != nil {
				return 0, fmt.Errorf("data key %s does not open", r.ID)
			}
			d.kekID, d.wrapped = kek.ID, seal(ka, key, wrapAAD(r.ID))
			ops = append(ops, store.Op{Kind: store.KindKey, ID: r.ID, Expect: r.Rev, Value: d.encode()})
			rewrapped++
		}
	}
	if _, err := s.inner.Apply(ctx, func(int64) (store.Batch, error) { return store.Batch{Ops: ops}, nil }); err != nil {
		return 0, fmt.Errorf("storing data key: %w", err)
	}
	a, err := newAEAD(raw)
	if err != nil {
		return 0, err
	}
	s.mu.Lock()
	s.aeads[id], s.cur = a, id
	s.mu.Unlock()
	return rewrapped, nil
}

// RotateResult says what a rotation did.
type RotateResult struct {
	DataKeyID string
	KEKID     string
	Rewrapped int // data keys rewrapped under the current KEK
	Resealed  int // records resealed under the new data key
}

// Rotate re-reads the KEK file (its first key is the current KEK), makes a
// new data key wrapped by it, rewraps the older data keys under it, and
// reseals every record under the new data key. Writes go on meanwhile: a
// record changed during the sweep is sealed by that write with the new key,
// and the sweep's own write of it fails its revision check and is skipped.
// Old data keys stay (wrapped by the current KEK), so a backup made before
// still opens; once Rotate returns, earlier KEKs may leave the file.
func (s *Store) Rotate(ctx context.Context) (RotateResult, error) {
	if s.Mode() != ModeSealed {
		return RotateResult{}, fmt.Errorf("rotate: %w", store.ErrSealed)
	}
	if err := s.load(ctx, true); err != nil {
		return RotateResult{}, err
	}
	rw, err := s.newDataKey(ctx, true)
	if err != nil {
		return RotateResult{}, err
	}
	n, err := s.reseal(ctx, true)
	if err != nil {
		return RotateResult{}, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	s.log.Info("data key rotated", "data_key", s.cur, "kek", s.keks[0].ID, "rewrapped", rw, "resealed", n)
	return RotateResult{DataKeyID: s.cur, KEKID: s.keks[0].ID, Rewrapped: rw, Resealed: n}, nil
}

// reseal writes back every record of a kind with secrets that holds
// plaintext secrets or (with stale) is sealed under another data key.
func (s *Store) reseal(ctx context.Context, stale bool) (int, error) {
	total := 0
	cur := s.currentKey()
	for _, k := range []store.Kind{store.KindTenant, store.KindExtension, store.KindPhone} {
		after := ""
		for {
			recs, err := s.inner.List(ctx, store.ListQuery{Kind: k, After: after, Limit: 200})
			if err != nil {
				return total, err
			}
			var ops []store.Op
			for _, r := range recs {
				rest, blob := takeSealed(r.Value)
				need := false
				if blob == nil {
					need = hasSecrets(k, rest)
				} else if stale {
					kid, _, err := decodeBlob(blob)
					need = err != nil || kid != cur
				}
				if !need {
					continue
				}
				v, err := s.openValue(ctx, k, r.ID, r.Value)
				if err != nil {
					return total, err
				}
				ops = append(ops, store.Op{Kind: k, ID: r.ID, Expect: r.Rev, Terms: r.Terms, Keys: r.Keys, Refs: r.Refs, Value: v})
			}
			// One record per batch: a record changed meanwhile fails only
			// its own revision check (and was sealed by that change).
			for _, op := range ops {
				_, err := s.Apply(ctx, func(int64) (store.Batch, error) { return store.Batch{Ops: []store.Op{op}}, nil })
				switch {
				case err == nil:
					total++
				case errors.Is(err, store.ErrConflict), errors.Is(err, store.ErrNotFound):
				default:
					return total, err
				}
			}
			if len(recs) < 200 {
				break
			}
			after = recs[len(recs)-1].ID
		}
	}
	return total, nil
}

func hasSecrets(k store.Kind, v []byte) bool {
	for _, p := range secretPaths[k] {
		_, vals, ok := extract(v, p)
		if ok && len(vals) > 0 {
			return true
		}
	}
	return false
}

func (s *Store) aead(ctx context.Context, id string, reload bool) (cipher.AEAD, error) {
	s.mu.RLock()
	a := s.aeads[id]
	s.mu.RUnlock()
	if a != nil {
		return a, nil
	}
	if !reload {
		return nil, fmt.Errorf("unknown data key %s", id)
	}
	// Another replica rotated: read the new data keys (and the KEK file,
	// which a Secret update may have changed).
	if err := s.load(ctx, true); err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if a := s.aeads[id]; a != nil {
		return a, nil
	}
	return nil, fmt.Errorf("unknown data key %s", id)
}

// sealValue moves v's secrets into the sealed field under the current key.
func (s *Store) sealValue(ctx context.Context, k store.Kind, id string, v []byte) ([]byte, error) {
	paths := secretPaths[k]
	if len(paths) == 0 || s.Mode() == ModePlain {
		return v, nil
	}
	if s.Mode() == ModeLocked {
		return nil, fmt.Errorf("write %s: %w", store.Ref(k, id), store.ErrSealed)
	}
	rest, blob := takeSealed(v)
	var old [][][]byte
	if blob != nil {
		// A value read while locked kept its sealed field; keep its
		// secrets where the writer gives none.
		// No reload here: Apply may run this inside the backend's write
		// transaction, where reading the store could deadlock.
		o, err := s.openBlob(ctx, k, id, blob, false)
		if err != nil {
			return nil, err
		}
		old = o
	}
	var bundle []byte
	sealed := false
	for i, p := range paths {
		r, vals, ok := extract(rest, p)
		if !ok {
			return v, nil // not wire format: nothing to seal
		}
		rest = r
		if len(vals) == 0 && i < len(old) {
			vals = old[i]
		}
		for _, x := range vals {
			bundle = protowire.AppendTag(bundle, protowire.Number(i+1), protowire.BytesType)
			bundle = protowire.AppendBytes(bundle, x)
			sealed = true
		}
	}
	if !sealed {
		return rest, nil
	}
	s.mu.RLock()
	cur, a := s.cur, s.aeads[s.cur]
	s.mu.RUnlock()
	if a == nil {
		return nil, fmt.Errorf("no current data key")
	}
	out := protowire.AppendTag(rest, sealedField, protowire.BytesType)
	return protowire.AppendBytes(out, encodeBlob(cur, seal(a, bundle, sealAAD(byte(k), id)))), nil
}

// openBlob opens a sealed field into its values per secret path.
func (s *Store) openBlob(ctx context.Context, k store.Kind, id string, blob []byte, reload bool) ([][][]byte, error) {
	kid, ct, err := decodeBlob(blob)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", store.Ref(k, id), err)
	}
	a, err := s.aead(ctx, kid, reload)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", store.Ref(k, id), err)
	}
	pt, err := open(a, ct, sealAAD(byte(k), id))
	if err != nil {
		return nil, fmt.Errorf("%s: sealed secrets do not open (tampered, or moved from another record)", store.Ref(k, id))
	}
	out := make([][][]byte, len(secretPaths[k]))
	fs, ok := fields(pt)
	if !ok {
		return nil, fmt.Errorf("%s: corrupt sealed secrets", store.Ref(k, id))
	}
	for _, f := range fs {
		i := int(f.num) - 1
		if i >= 0 && i < len(out) {
			out[i] = append(out[i], f.val)
		}
	}
	return out, nil
}

// openValue returns v with its sealed secrets back in place.
func (s *Store) openValue(ctx context.Context, k store.Kind, id string, v []byte) ([]byte, error) {
	if len(secretPaths[k]) == 0 {
		return v, nil
	}
	rest, blob := takeSealed(v)
	if blob == nil {
		return v, nil
	}
	if s.mode.CompareAndSwap(int32(ModePlain), int32(ModeLocked)) {
		s.log.Error("inventory store holds sealed secrets (another process has a --kek-file) but this one has none: now read-only for records with secrets; restart it with the --kek-file")
	}
	if s.Mode() == ModeLocked {
		return v, nil
	}
	vals, err := s.openBlob(ctx, k, id, blob, true)
	if err != nil {
		return nil, err
	}
	for i, p := range secretPaths[k] {
		if i < len(vals) {
			for _, x := range vals[i] {
				rest = insert(rest, p, x)
			}
		}
	}
	return rest, nil
}

func (s *Store) openRec(ctx context.Context, r store.Record) (store.Record, error) {
	v, err := s.openValue(ctx, r.Kind, r.ID, r.Value)
	if err != nil {
		return r, err
	}
	r.Value = v
	return r, nil
}

// Get implements store.Store.
func (s *Store) Get(ctx context.Context, k store.Kind, id string) (store.Record, error) {
	r, err := s.inner.Get(ctx, k, id)
	if err != nil {
		return r, err
	}
	return s.openRec(ctx, r)
}

// Resolve implements store.Store. Locked, it fails with store.ErrSealed
// for a record (or a referenced one) with sealed secrets: Resolve is how
// provisioning files are built, and they are never built without them.
func (s *Store) Resolve(ctx context.Context, k store.Kind, key string) (store.Record, []store.Record, error) {
	r, refs, err := s.inner.Resolve(ctx, k, key)
	if err != nil {
		return r, refs, err
	}
	if s.Mode() == ModePlain {
		for _, x := range append([]store.Record{r}, refs...) {
			if _, err := s.openValue(ctx, x.Kind, x.ID, x.Value); err != nil {
				return store.Record{}, nil, err
			}
		}
	}
	if s.Mode() == ModeLocked {
		for _, x := range append([]store.Record{r}, refs...) {
			if len(secretPaths[x.Kind]) > 0 && hasSealed(x.Value) {
				return store.Record{}, nil, fmt.Errorf("%s: %w", store.Ref(x.Kind, x.ID), store.ErrSealed)
			}
		}
		return r, refs, nil
	}
	if r, err = s.openRec(ctx, r); err != nil {
		return r, nil, err
	}
	for i := range refs {
		if refs[i], err = s.openRec(ctx, refs[i]); err != nil {
			return r, nil, err
		}
	}
	return r, refs, nil
}

// List implements store.Store.
func (s *Store) List(ctx context.Context, q store.ListQuery) ([]store.Record, error) {
	recs, err := s.inner.List(ctx, q)
	if err != nil {
		return nil, err
	}
	for i := range recs {
		if recs[i], err = s.openRec(ctx, recs[i]); err != nil {
			return nil, err
		}
	}
	return recs, nil
}

// Referrers implements store.Store.
func (s *Store) Referrers(ctx context.Context, ref string) ([]string, error) {
	return s.inner.Referrers(ctx, ref)
}

// Apply implements store.Store: every put of a kind with secrets is sealed.
func (s *Store) Apply(ctx context.Context, build func(rev int64) (store.Batch, error)) (int64, error) {
	return s.inner.Apply(ctx, func(rev int64) (store.Batch, error) {
		b, err := build(rev)
		if err != nil {
			return b, err
		}
		// build may hand back the same ops on a retry: seal copies.
		b.Ops = slices.Clone(b.Ops)
		for i, op := range b.Ops {
			if op.Delete || op.Kind == store.KindKey {
				continue
			}
			v, err := s.sealValue(ctx, op.Kind, op.ID, op.Value)
			if err != nil {
				return b, err
			}
			b.Ops[i].Value = v
		}
		return b, nil
	})
}

// Outbox implements store.Store.
func (s *Store) Outbox(ctx context.Context, limit int) ([]store.OutboxEntry, error) {
	return s.inner.Outbox(ctx, limit)
}

// AckOutbox implements store.Store.
func (s *Store) AckOutbox(ctx context.Context, ids ...string) error {
	return s.inner.AckOutbox(ctx, ids...)
}

// Ping implements store.Store.
func (s *Store) Ping(ctx context.Context) error { return s.inner.Ping(ctx) }

// Close implements store.Store.
func (s *Store) Close() error { return s.inner.Close() }
