// Package boltstore implements store.Store on an embedded bbolt file, for
// the one-process dialtone. Every batch is one bbolt read-write transaction,
// fsynced before Apply returns, so an acknowledged write survives a kill -9.
//
// Buckets:
//
//	rec{kind}  id -> record (protowire: 1 rev, 2 terms, 3 keys, 4 refs, 5 value)
//	idx        {kind}{term}\x00{id} -> ""   (non-unique index terms)
//	uniq       {kind}{key} -> id            (unique keys)
//	refs       {ref}\x00{referrer} -> ""    (who points at a record)
//	outbox     big-endian sequence -> message (protowire: 1 subject, 2 msg id, 3 data)
//	meta       "hwm" -> last committed revision
package boltstore

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"time"

	bolt "go.etcd.io/bbolt"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/dialtone-voip/dialtone/services/inventory/internal/store"
)

var (
	bIdx    = []byte("idx")
	bUniq   = []byte("uniq")
	bRefs   = []byte("refs")
	bOutbox = []byte("outbox")
	bMeta   = []byte("meta")
	kHWM    = []byte("hwm")
)

func recBucket(k store.Kind) []byte { return []byte{'r', 'e', 'c', byte(k)} }

// Store is the bbolt backend.
type Store struct {
	db *bolt.DB
	gc groupCommit
}

var _ store.Store = (*Store)(nil)

// Open opens (creating if needed) the bbolt file at path. bbolt locks the
// file, so only one process uses it at a time.
func Open(path string) (*Store, error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 5 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("boltstore: open %s: %w", path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bIdx, bUniq, bRefs, bOutbox, bMeta} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		for _, k := range store.Kinds {
			if _, err := tx.CreateBucketIfNotExists(recBucket(k)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("boltstore: init %s: %w", path, err)
	}
	return &Store{db: db}, nil
}

func encodeRecord(rev int64, terms, keys, refs []string, value []byte) []byte {
	b := protowire.AppendTag(nil, 1, protowire.VarintType)
	b = protowire.AppendVarint(b, uint64(rev))
	for i, list := range [][]string{terms, keys, refs} {
		for _, s := range list {
			b = protowire.AppendTag(b, protowire.Number(2+i), protowire.BytesType)
			b = protowire.AppendString(b, s)
		}
	}
	b = protowire.AppendTag(b, 5, protowire.BytesType)
	return protowire.AppendBytes(b, value)
}

func decodeRecord(k store.Kind, id string, b []byte) (store.Record, error) {
	r := store.Record{Kind: k, ID: id}
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return r, fmt.Errorf("boltstore: corrupt record %s", store.Ref(k, id))
		}
		b = b[n:]
		switch {
		case num == 1 && typ == protowire.VarintType:
			v, n := protowire.ConsumeVarint(b)
			if n < 0 {
				return r, fmt.Errorf("boltstore: corrupt record %s", store.Ref(k, id))
			}
			r.Rev, b = int64(v), b[n:]
		case typ == protowire.BytesType:
			v, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return r, fmt.Errorf("boltstore: corrupt record %s", store.Ref(k, id))
			}
			b = b[n:]
			switch num {
			case 2:
				r.Terms = append(r.Terms, string(v))
			case 3:
				r.Keys = append(r.Keys, string(v))
			case 4:
				r.Refs = append(r.Refs, string(v))
			case 5:
				r.Value = bytes.Clone(v)
			}
		default:
			n := protowire.ConsumeFieldValue(num, typ, b)
			if n < 0 {
				return r, fmt.Errorf("boltstore: corrupt record %s", store.Ref(k, id))
			}
			b = b[n:]
		}
	}
	return r, nil
}

func getRec(tx *bolt.Tx, k store.Kind, id string) (store.Record, bool, error) {
	v := tx.Bucket(recBucket(k)).Get([]byte(id))
	if v == nil {
		return store.Record{}, false, nil
	}
	r, err := decodeRecord(k, id, v)
	return r, err == nil, err
}

// Get implements store.Store.
func (s *Store) Get(_ context.Context, k store.Kind, id string) (rec store.Record, err error) {
	err = s.db.View(func(tx *bolt.Tx) error {
		r, ok, err := getRec(tx, k, id)
		if err != nil {
			return err
		}
		if !ok {
			return store.ErrNotFound
		}
		rec = r
		return nil
	})
	return rec, err
}

func uniqKey(k store.Kind, key string) []byte { return append([]byte{byte(k)}, key...) }

// Resolve implements store.Store.
func (s *Store) Resolve(_ context.Context, k store.Kind, key string) (rec store.Record, refs []store.Record, err error) {
	err = s.db.View(func(tx *bolt.Tx) error {
		id := tx.Bucket(bUniq).Get(uniqKey(k, key))
		if id == nil {
			return store.ErrNotFound
		}
		r, ok, err := getRec(tx, k, string(id))
		if err != nil {
			return err
		}
		if !ok {
			return store.ErrNotFound
		}
		rec = r
		for _, ref := range r.Refs {
			rk, rid, _ := store.ParseRef(ref)
			x, ok, err := getRec(tx, rk, rid)
			if err != nil {
				return err
			}
			if ok {
				refs = append(refs, x)
			}
		}
		return nil
	})
	return rec, refs, err
}

func idxKey(k store.Kind, term, id string) []byte {
	b := make([]byte, 0, 2+len(term)+len(id))
	b = append(b, byte(k))
	b = append(b, term...)
	b = append(b, 0)
	return append(b, id...)
}

// List implements store.Store.
func (s *Store) List(_ context.Context, q store.ListQuery) (out []store.Record, err error) {
	if q.Limit <= 0 {
		return nil, nil
	}
	err = s.db.View(func(tx *bolt.Tx) error {
		rb := tx.Bucket(recBucket(q.Kind))
		rest := q.Terms
		var (
			c      *bolt.Cursor
			prefix []byte
		)
		if len(q.Terms) == 0 {
			c = rb.Cursor()
		} else {
			c = tx.Bucket(bIdx).Cursor()
			prefix = idxKey(q.Kind, q.Terms[0], "")
			rest = q.Terms[1:]
		}
		start := append(bytes.Clone(prefix), q.After...)
		k, v := c.Seek(start)
		if q.After != "" && bytes.Equal(k, start) {
			k, v = c.Next()
		}
		for ; k != nil && bytes.HasPrefix(k, prefix) && len(out) < q.Limit; k, v = c.Next() {
			id := string(k[len(prefix):])
			if prefix != nil {
				v = rb.Get([]byte(id))
				if v == nil {
					return fmt.Errorf("boltstore: index points at missing %s", store.Ref(q.Kind, id))
				}
			}
			r, err := decodeRecord(q.Kind, id, v)
			if err != nil {
				return err
			}
			if r.HasTerms(rest) {
				out = append(out, r)
			}
		}
		return nil
	})
	return out, err
}

func refKey(ref, referrer string) []byte {
	b := make([]byte, 0, len(ref)+1+len(referrer))
	b = append(b, ref...)
	b = append(b, 0)
	return append(b, referrer...)
}

// Referrers implements store.Store.
func (s *Store) Referrers(_ context.Context, ref string) (out []string, err error) {
	err = s.db.View(func(tx *bolt.Tx) error {
		out = referrers(tx, ref, 0)
		return nil
	})
	return out, err
}

func referrers(tx *bolt.Tx, ref string, limit int) []string {
	var out []string
	prefix := refKey(ref, "")
	c := tx.Bucket(bRefs).Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		out = append(out, string(k[len(prefix):]))
		if limit > 0 && len(out) >= limit {
			break
		}
	}
	return out
}

// Apply implements store.Store.
func (s *Store) Apply(_ context.Context, build func(rev int64) (store.Batch, error)) (int64, error) {
	var committed int64
	// A lone writer commits at once; concurrent writers share a commit
	// (and its fsync): see groupCommit.
	err := s.gc.commit(s.db, func(tx *bolt.Tx) error {
		meta := tx.Bucket(bMeta)
		var hwm int64
		if v := meta.Get(kHWM); len(v) == 8 {
			hwm = int64(binary.BigEndian.Uint64(v))
		}
		rev := hwm + 1
		b, err := build(rev)
		if err != nil {
			return err
		}
		if err := b.Validate(); err != nil {
			return err
		}
		if err := apply(tx, rev, b); err != nil {
			return err
		}
		if err := meta.Put(kHWM, binary.BigEndian.AppendUint64(nil, uint64(rev))); err != nil {
			return err
		}
		committed = rev
		return nil
	})
	if err != nil {
		return 0, err
	}
	return committed, nil
}

func apply(tx *bolt.Tx, rev int64, b store.Batch) error {
	idx, uniq, refs := tx.Bucket(bIdx), tx.Bucket(bUniq), tx.Bucket(bRefs)
	// A transaction rolls back on error, so checks and writes may interleave.
	for i, op := range b.Ops {
		fail := func(err error, detail string) error {
			return &store.OpError{Index: i, Kind: op.Kind, ID: op.ID, Detail: detail, Err: err}
		}
		rb := tx.Bucket(recBucket(op.Kind))
		if rb == nil {
			return fmt.Errorf("%w: op %d: unknown kind", store.ErrInvalid, i)
		}
		cur, exists, err := getRec(tx, op.Kind, op.ID)
		if err != nil {
			return err
		}
		switch {
		case op.Expect == store.ExpectAny:
			if op.Delete && !exists {
				return fail(store.ErrNotFound, "")
			}
		case op.Expect == store.ExpectAbsent:
			if exists {
				return fail(store.ErrExists, "")
			}
		default:
			if !exists {
				return fail(store.ErrNotFound, "")
			}
			if cur.Rev != op.Expect {
				return fail(store.ErrConflict, "")
			}
		}
		self := store.Ref(op.Kind, op.ID)
		if op.Delete {
			if len(referrers(tx, self, 1)) > 0 {
				return fail(store.ErrReferenced, "")
			}
		} else {
			for j, k := range op.Keys {
				if owner := uniq.Get(uniqKey(op.Kind, k)); owner != nil && string(owner) != op.ID {
					return fail(store.ErrDuplicateKey, strconv.Itoa(j+1))
				}
			}
			for _, r := range op.Refs {
				rk, rid, _ := store.ParseRef(r)
				tb := tx.Bucket(recBucket(rk))
				if tb == nil || tb.Get([]byte(rid)) == nil {
					return fail(store.ErrMissingRef, r)
				}
			}
		}
		// Remove the index entries the record no longer has and add the
		// ones it gains; entries it keeps are not touched (a phone's fetch
		// or discovery changes none, and a Put of the same key still
		// dirties its pages: a third of a boot storm's commit time).
		var keepT, keepK, keepR []string
		if !op.Delete {
			keepT, keepK, keepR = op.Terms, op.Keys, op.Refs
		}
		for _, t := range cur.Terms {
			if !slices.Contains(keepT, t) {
				if err := idx.Delete(idxKey(op.Kind, t, op.ID)); err != nil {
					return err
				}
			}
		}
		for _, k := range cur.Keys {
			if slices.Contains(keepK, k) {
				continue
			}
			uk := uniqKey(op.Kind, k)
			if string(uniq.Get(uk)) == op.ID {
				if err := uniq.Delete(uk); err != nil {
					return err
				}
			}
		}
		for _, r := range cur.Refs {
			if !slices.Contains(keepR, r) {
				if err := refs.Delete(refKey(r, self)); err != nil {
					return err
				}
			}
		}
		if op.Delete {
			if err := rb.Delete([]byte(op.ID)); err != nil {
				return err
			}
			continue
		}
		for _, t := range op.Terms {
			if !slices.Contains(cur.Terms, t) {
				if err := idx.Put(idxKey(op.Kind, t, op.ID), nil); err != nil {
					return err
				}
			}
		}
		for _, k := range op.Keys {
			uk := uniqKey(op.Kind, k)
			// A kept key is normally still ours; a Get (no page dirtied)
			// makes sure.
			if slices.Contains(cur.Keys, k) && string(uniq.Get(uk)) == op.ID {
				continue
			}
			if err := uniq.Put(uk, []byte(op.ID)); err != nil {
				return err
			}
		}
		for _, r := range op.Refs {
			if !slices.Contains(cur.Refs, r) {
				if err := refs.Put(refKey(r, self), nil); err != nil {
					return err
				}
			}
		}
		if err := rb.Put([]byte(op.ID), encodeRecord(rev, op.Terms, op.Keys, op.Refs, op.Value)); err != nil {
			return err
		}
	}
	ob := tx.Bucket(bOutbox)
	for _, m := range b.Outbox {
		seq, err := ob.NextSequence()
		if err != nil {
			return err
		}
		v := protowire.AppendTag(nil, 1, protowire.BytesType)
		v = protowire.AppendString(v, m.Subject)
		v = protowire.AppendTag(v, 2, protowire.BytesType)
		v = protowire.AppendString(v, m.MsgID)
		v = protowire.AppendTag(v, 3, protowire.BytesType)
		v = protowire.AppendBytes(v, m.Data)
		if err := ob.Put(binary.BigEndian.AppendUint64(nil, seq), v); err != nil {
			return err
		}
	}
	return nil
}

// Outbox implements store.Store.
func (s *Store) Outbox(_ context.Context, limit int) (out []store.OutboxEntry, err error) {
	err = s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bOutbox).Cursor()
		for k, v := c.First(); k != nil && len(out) < limit; k, v = c.Next() {
			e := store.OutboxEntry{ID: strconv.FormatUint(binary.BigEndian.Uint64(k), 10)}
			for len(v) > 0 {
				num, _, n := protowire.ConsumeTag(v)
				if n < 0 {
					return errors.New("boltstore: corrupt outbox entry")
				}
				v = v[n:]
				b, n := protowire.ConsumeBytes(v)
				if n < 0 {
					return errors.New("boltstore: corrupt outbox entry")
				}
				v = v[n:]
				switch num {
				case 1:
					e.Subject = string(b)
				case 2:
					e.MsgID = string(b)
				case 3:
					e.Data = bytes.Clone(b)
				}
			}
			out = append(out, e)
		}
		return nil
	})
	return out, err
}

// AckOutbox implements store.Store.
func (s *Store) AckOutbox(_ context.Context, ids ...string) error {
	if len(ids) == 0 {
		return nil
	}
	return s.db.Update(func(tx *bolt.Tx) error {
		ob := tx.Bucket(bOutbox)
		for _, id := range ids {
			seq, err := strconv.ParseUint(id, 10, 64)
			if err != nil {
				continue
			}
			if err := ob.Delete(binary.BigEndian.AppendUint64(nil, seq)); err != nil {
				return err
			}
		}
		return nil
	})
}

// Ping implements store.Store.
func (s *Store) Ping(context.Context) error { return nil }

// Close implements store.Store.
func (s *Store) Close() error { return s.db.Close() }

// Rewrite copies the live data into a fresh file and replaces the store's
// file with it, so that freed pages — which bbolt leaves as they were, and
// which may hold secrets written before sealstore sealed them — are gone.
// It must not run concurrently with any other call (sealstore.Open runs
// it before the store is shared).
func (s *Store) Rewrite() error {
	path := s.db.Path()
	tmp := path + ".rewrite"
	_ = os.Remove(tmp)
	dst, err := bolt.Open(tmp, 0o600, &bolt.Options{Timeout: 5 * time.Second})
	if err != nil {
		return fmt.Errorf("boltstore: rewrite: %w", err)
	}
	if err := bolt.Compact(dst, s.db, 64<<20); err != nil {
		_ = dst.Close()
		_ = os.Remove(tmp)
		return fmt.Errorf("boltstore: rewrite: %w", err)
	}
	if err := dst.Close(); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("boltstore: rewrite: %w", err)
	}
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("boltstore: rewrite: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("boltstore: rewrite: %w", err)
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 5 * time.Second})
	if err != nil {
		return fmt.Errorf("boltstore: rewrite: reopen: %w", err)
	}
	s.db = db
	return nil
}

// Snapshot calls fn with every record, kind by kind in store.Kinds order,
// from one read transaction: a point-in-time copy while writes go on.
func (s *Store) Snapshot(_ context.Context, fn func(store.Record) error) error {
	return s.db.View(func(tx *bolt.Tx) error {
		for _, k := range store.Kinds {
			err := tx.Bucket(recBucket(k)).ForEach(func(key, v []byte) error {
				r, err := decodeRecord(k, string(key), v)
				if err != nil {
					return err
				}
				return fn(r)
			})
			if err != nil {
				return err
			}
		}
		return nil
	})
}
