// Package boltstore implements store.Store on an embedded bbolt file, for
// the one-process dialtone. Every write is one bbolt read-write transaction,
// fsynced before it returns, so the retry schedule and the records survive
// a kill -9.
//
// It is for ONE process only: bbolt locks the file, and the per-MAC locks
// are an in-process mutex map (with the same TTL semantics as the Redis
// locks), so two processes could not share the state anyway. Replicated
// deployments use redisstore.
//
// Buckets:
//
//	intent     mac -> 8-byte expiry (unix ms, 0 = none) ++ intent JSON
//	intentexp  8-byte expiry ++ mac -> ""   (intents that expire, swept by SetIntent)
//	record     mac -> record JSON           (bucket order is MAC order: List pages it)
//	retry      8-byte due time ++ mac -> "" (the schedule, earliest first)
//	retryat    mac -> 8-byte due time       (index for Unschedule/ScheduledAt)
//	meta       "pending" -> 8-byte number of scheduled retries
//
// Times in keys are unix milliseconds with the sign bit flipped, big-endian,
// so byte order is time order.
package boltstore

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/dialtone-voip/dialtone/services/rps-client/internal/store"
)

var (
	bIntent    = []byte("intent")
	bIntentExp = []byte("intentexp")
	bRecord    = []byte("record")
	bRetry     = []byte("retry")
	bRetryAt   = []byte("retryat")
	bMeta      = []byte("meta")
	kPending   = []byte("pending")
)

// sweepBatch bounds how many expired intents one SetIntent removes.
const sweepBatch = 256

// Store is the bbolt backend.
type Store struct {
	db *bolt.DB
	// now is the clock for intent expiry and lock TTLs (real time, as in
	// Redis; tests of this package may replace it).
	now func() time.Time

	mu    sync.Mutex
	locks map[string]lockEntry
	seq   uint64
}

type lockEntry struct {
	token   uint64
	expires time.Time
}

var _ store.Store = (*Store)(nil)

// Open opens (creating if needed) the bbolt file at path. A second process
// opening the same file fails after 5 s (bbolt's file lock).
func Open(path string) (*Store, error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 5 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("boltstore: open %s: %w", path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bIntent, bIntentExp, bRecord, bRetry, bRetryAt, bMeta} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("boltstore: init %s: %w", path, err)
	}
	return &Store{db: db, now: time.Now, locks: map[string]lockEntry{}}, nil
}

// Close closes the file.
func (s *Store) Close() error { return s.db.Close() }

// Ping fails once the store is closed.
func (s *Store) Ping(ctx context.Context) error {
	return s.view(ctx, func(*bolt.Tx) error { return nil })
}

func (s *Store) view(ctx context.Context, fn func(*bolt.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return s.db.View(fn)
}

// errUnchanged rolls back a transaction that would write nothing new:
// a bbolt commit fsyncs even when no page changed, and redeliveries and
// Unschedule of an unscheduled MAC are the common case.
var errUnchanged = errors.New("unchanged")

func (s *Store) update(ctx context.Context, fn func(*bolt.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := s.db.Update(fn); err != nil && !errors.Is(err, errUnchanged) {
		return err
	}
	return nil
}

// timeKey encodes ms so that byte order is numeric order.
func timeKey(ms int64) []byte {
	return binary.BigEndian.AppendUint64(make([]byte, 0, 8+12), uint64(ms)^(1<<63))
}

func keyTime(b []byte) int64 { return int64(binary.BigEndian.Uint64(b[:8]) ^ (1 << 63)) }

// SetIntent stores in for mac, guarded by revision unless force (manual
// calls), in one transaction. It returns one of the store.Intent* results.
func (s *Store) SetIntent(ctx context.Context, mac string, in store.Intent, force bool, noRecordTTL time.Duration) (int, error) {
	raw, err := json.Marshal(in)
	if err != nil {
		return 0, err
	}
	now := s.now().UnixMilli()
	res := store.IntentStored
	err = s.update(ctx, func(tx *bolt.Tx) error {
		ib, eb := tx.Bucket(bIntent), tx.Bucket(bIntentExp)
		swept, err := sweepIntents(ib, eb, now)
		if err != nil {
			return err
		}
		var oldExp int64
		cur := ib.Get([]byte(mac))
		if len(cur) >= 8 {
			oldExp = keyTime(cur)
			if oldExp != 0 && oldExp <= now {
				oldExp = 0 // expired, as if absent (sweepIntents missed it only when busy)
			} else if !force {
				var c store.Intent
				if json.Unmarshal(cur[8:], &c) == nil && c.Revision > in.Revision {
					res = store.IntentStale
					if swept == 0 {
						return errUnchanged
					}
					return nil
				}
			}
		}
		if oldExp != 0 {
			if err := eb.Delete(append(timeKey(oldExp), mac...)); err != nil {
				return err
			}
		}
		var exp int64
		if in.Op == store.OpDeregister && tx.Bucket(bRecord).Get([]byte(mac)) == nil {
			if noRecordTTL <= 0 {
				return errors.New("invalid expire time")
			}
			exp = now + noRecordTTL.Milliseconds()
			if err := eb.Put(append(timeKey(exp), mac...), nil); err != nil {
				return err
			}
			res = store.IntentNoOp
		}
		val := append(timeKey(exp), raw...)
		if exp == 0 && oldExp == 0 && swept == 0 && bytes.Equal(cur, val) {
			return errUnchanged // a redelivery
		}
		return ib.Put([]byte(mac), val)
	})
	if err != nil {
		return 0, fmt.Errorf("store intent: %w", err)
	}
	return res, nil
}

// sweepIntents deletes up to sweepBatch intents that expired by now and
// returns how many index entries it removed.
func sweepIntents(ib, eb *bolt.Bucket, now int64) (int, error) {
	var keys [][]byte
	c := eb.Cursor()
	for k, _ := c.First(); k != nil && len(keys) < sweepBatch && keyTime(k) <= now; k, _ = c.Next() {
		keys = append(keys, bytes.Clone(k))
	}
	for _, k := range keys {
		mac := k[8:]
		// The index entry may be older than the intent (rewritten since).
		if cur := ib.Get(mac); len(cur) >= 8 && bytes.Equal(cur[:8], k[:8]) {
			if err := ib.Delete(mac); err != nil {
				return 0, err
			}
		}
		if err := eb.Delete(k); err != nil {
			return 0, err
		}
	}
	return len(keys), nil
}

// Intent returns mac's intent, or nil (also when it expired).
func (s *Store) Intent(ctx context.Context, mac string) (*store.Intent, error) {
	var raw []byte
	err := s.view(ctx, func(tx *bolt.Tx) error {
		cur := tx.Bucket(bIntent).Get([]byte(mac))
		if len(cur) < 8 {
			return nil
		}
		if exp := keyTime(cur); exp != 0 && exp <= s.now().UnixMilli() {
			return nil
		}
		raw = bytes.Clone(cur[8:])
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read intent: %w", err)
	}
	if raw == nil {
		return nil, nil
	}
	var in store.Intent
	if err := json.Unmarshal(raw, &in); err != nil {
		return nil, fmt.Errorf("decode intent: %w", err)
	}
	return &in, nil
}

// Record returns mac's record, or nil.
func (s *Store) Record(ctx context.Context, mac string) (*store.Record, error) {
	var raw []byte
	err := s.view(ctx, func(tx *bolt.Tx) error {
		raw = bytes.Clone(tx.Bucket(bRecord).Get([]byte(mac)))
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read record: %w", err)
	}
	if raw == nil {
		return nil, nil
	}
	var r store.Record
	if err := json.Unmarshal(raw, &r); err != nil {
		return nil, fmt.Errorf("decode record: %w", err)
	}
	return &r, nil
}

// PutRecord stores r.
func (s *Store) PutRecord(ctx context.Context, r *store.Record) error {
	raw, err := json.Marshal(r)
	if err != nil {
		return err
	}
	if r.MAC == "" {
		return errors.New("write record: empty MAC")
	}
	err = s.update(ctx, func(tx *bolt.Tx) error {
		b := tx.Bucket(bRecord)
		if bytes.Equal(b.Get([]byte(r.MAC)), raw) {
			return errUnchanged
		}
		return b.Put([]byte(r.MAC), raw)
	})
	if err != nil {
		return fmt.Errorf("write record: %w", err)
	}
	return nil
}

// List returns up to limit records with MAC > after, in MAC order, and
// the last MAC scanned ("" when the records are exhausted). keep filters.
// It pages exactly as the Redis backend does.
func (s *Store) List(ctx context.Context, after string, limit int, keep func(*store.Record) bool) ([]*store.Record, string, error) {
	if limit <= 0 {
		return nil, after, nil
	}
	var out []*store.Record
	cursor := ""
	err := s.view(ctx, func(tx *bolt.Tx) error {
		c := tx.Bucket(bRecord).Cursor()
		var k, v []byte
		if after == "" {
			k, v = c.First()
		} else if k, v = c.Seek([]byte(after)); k != nil && string(k) == after {
			k, v = c.Next()
		}
		for ; k != nil; k, v = c.Next() {
			var r store.Record
			if json.Unmarshal(v, &r) != nil {
				continue
			}
			if keep == nil || keep(&r) {
				out = append(out, &r)
				if len(out) == limit {
					cursor = string(k)
					return nil
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, "", fmt.Errorf("list records: %w", err)
	}
	return out, cursor, nil
}

// DeleteRecord removes mac's retry entry, then its record and intent in
// one transaction.
func (s *Store) DeleteRecord(ctx context.Context, mac string) error {
	if err := s.Unschedule(ctx, mac); err != nil {
		return err
	}
	err := s.update(ctx, func(tx *bolt.Tx) error {
		k := []byte(mac)
		ib, rb := tx.Bucket(bIntent), tx.Bucket(bRecord)
		cur := ib.Get(k)
		if cur == nil && rb.Get(k) == nil {
			return errUnchanged
		}
		if len(cur) >= 8 && keyTime(cur) != 0 {
			if err := tx.Bucket(bIntentExp).Delete(append(bytes.Clone(cur[:8]), k...)); err != nil {
				return err
			}
		}
		if err := ib.Delete(k); err != nil {
			return err
		}
		return rb.Delete(k)
	})
	if err != nil {
		return fmt.Errorf("delete record: %w", err)
	}
	return nil
}

// Schedule (re)schedules mac for at.
func (s *Store) Schedule(ctx context.Context, mac string, at time.Time) error {
	ms := at.UnixMilli()
	err := s.update(ctx, func(tx *bolt.Tx) error {
		rb, ab := tx.Bucket(bRetry), tx.Bucket(bRetryAt)
		switch old := ab.Get([]byte(mac)); {
		case bytes.Equal(old, timeKey(ms)):
			return errUnchanged
		case old != nil:
			if err := rb.Delete(append(bytes.Clone(old), mac...)); err != nil {
				return err
			}
		default:
			if err := addPending(tx, 1); err != nil {
				return err
			}
		}
		if err := rb.Put(append(timeKey(ms), mac...), nil); err != nil {
			return err
		}
		return ab.Put([]byte(mac), timeKey(ms))
	})
	if err != nil {
		return fmt.Errorf("schedule retry: %w", err)
	}
	return nil
}

// Unschedule removes mac from the retry schedule.
func (s *Store) Unschedule(ctx context.Context, mac string) error {
	err := s.update(ctx, func(tx *bolt.Tx) error {
		ab := tx.Bucket(bRetryAt)
		old := ab.Get([]byte(mac))
		if old == nil {
			return errUnchanged
		}
		if err := tx.Bucket(bRetry).Delete(append(bytes.Clone(old), mac...)); err != nil {
			return err
		}
		if err := ab.Delete([]byte(mac)); err != nil {
			return err
		}
		return addPending(tx, -1)
	})
	if err != nil {
		return fmt.Errorf("unschedule retry: %w", err)
	}
	return nil
}

func addPending(tx *bolt.Tx, d int64) error {
	mb := tx.Bucket(bMeta)
	var n int64
	if v := mb.Get(kPending); len(v) == 8 {
		n = int64(binary.BigEndian.Uint64(v))
	}
	return mb.Put(kPending, binary.BigEndian.AppendUint64(nil, uint64(max(n+d, 0))))
}

// Due returns up to n MACs whose retry time has come (n <= 0: all of
// them, as Redis treats a zero count).
func (s *Store) Due(ctx context.Context, now time.Time, n int64) ([]string, error) {
	var macs []string
	ms := now.UnixMilli()
	err := s.view(ctx, func(tx *bolt.Tx) error {
		c := tx.Bucket(bRetry).Cursor()
		for k, _ := c.First(); k != nil && keyTime(k) <= ms && (n <= 0 || int64(len(macs)) < n); k, _ = c.Next() {
			macs = append(macs, string(k[8:]))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read retry schedule: %w", err)
	}
	return macs, nil
}

// Pending returns the number of scheduled retries.
func (s *Store) Pending(ctx context.Context) (int64, error) {
	var n int64
	err := s.view(ctx, func(tx *bolt.Tx) error {
		if v := tx.Bucket(bMeta).Get(kPending); len(v) == 8 {
			n = int64(binary.BigEndian.Uint64(v))
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("read retry schedule: %w", err)
	}
	return n, nil
}

// ScheduledAt returns when mac is scheduled, or the zero time.
func (s *Store) ScheduledAt(ctx context.Context, mac string) (time.Time, error) {
	var at time.Time
	err := s.view(ctx, func(tx *bolt.Tx) error {
		if v := tx.Bucket(bRetryAt).Get([]byte(mac)); len(v) == 8 {
			at = time.UnixMilli(keyTime(v))
		}
		return nil
	})
	if err != nil {
		return time.Time{}, fmt.Errorf("read retry schedule: %w", err)
	}
	return at, nil
}

// Lock takes mac's lock for ttl and returns its release function. The
// locks live in this process only (see the package comment); like the
// Redis locks they expire after ttl (ttl <= 0: never), and a release by a
// holder whose lock expired and was taken again leaves the new lock alone.
func (s *Store) Lock(ctx context.Context, mac string, ttl time.Duration) (func(), error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("lock: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	if e, ok := s.locks[mac]; ok && now.Before(e.expires) {
		return nil, store.ErrLocked
	}
	s.seq++
	token := s.seq
	exp := now.Add(ttl)
	if ttl <= 0 {
		exp = time.Unix(1<<62, 0) // as Redis SET NX without expiry: held until released
	}
	s.locks[mac] = lockEntry{token: token, expires: exp}
	return func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		if e, ok := s.locks[mac]; ok && e.token == token {
			delete(s.locks, mac)
		}
	}, nil
}
