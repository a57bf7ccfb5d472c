// Package redisstore implements store.Store in Redis, shared by every
// replica: per MAC an intent and a record (JSON strings), a lexically
// sorted index of MACs, a sorted set of pending retries scored by due time
// in milliseconds, and SET NX lock keys with a TTL.
//
// Every per-MAC key carries the MAC as a hash tag ("{mac}") so the Lua
// scripts touching several of them work on Redis Cluster too.
package redisstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/dialtone-voip/dialtone/services/rps-client/internal/store"
)

// Store is the Redis backend.
type Store struct {
	rdb    redis.UniversalClient
	prefix string
}

var _ store.Store = (*Store)(nil)

// New returns a store using keys under prefix (e.g. "dialtone:rps:").
func New(rdb redis.UniversalClient, prefix string) *Store {
	return &Store{rdb: rdb, prefix: prefix}
}

func (s *Store) intentKey(mac string) string { return s.prefix + "{" + mac + "}:want" }
func (s *Store) recordKey(mac string) string { return s.prefix + "{" + mac + "}:dev" }
func (s *Store) lockKey(mac string) string   { return s.prefix + "{" + mac + "}:lock" }
func (s *Store) indexKey() string            { return s.prefix + "index" }
func (s *Store) retryKey() string            { return s.prefix + "retry" }

// Ping checks the connection.
func (s *Store) Ping(ctx context.Context) error { return s.rdb.Ping(ctx).Err() }

// Close does nothing: the client belongs to the caller.
func (s *Store) Close() error { return nil }

// setIntent stores the intent unless a later revision is stored. A
// deregister intent for a MAC without a record expires after ttl, so
// phones that were never registered leave no state behind (but a
// concurrent older register intent still sees it).
var setIntent = redis.NewScript(`
local cur = redis.call('GET', KEYS[1])
if cur and ARGV[5] ~= '1' then
  local ok, c = pcall(cjson.decode, cur)
  if ok and type(c) == 'table' and c.revision and tonumber(c.revision) > tonumber(ARGV[2]) then
    return 0
  end
end
if ARGV[3] == '1' and redis.call('EXISTS', KEYS[2]) == 0 then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[4])
  return 2
end
redis.call('SET', KEYS[1], ARGV[1])
return 1
`)

// SetIntent stores in for mac, guarded by revision unless force (manual
// calls). It returns one of the store.Intent* results.
func (s *Store) SetIntent(ctx context.Context, mac string, in store.Intent, force bool, noRecordTTL time.Duration) (int, error) {
	raw, err := json.Marshal(in)
	if err != nil {
		return 0, err
	}
	dereg, f := "0", "0"
	if in.Op == store.OpDeregister {
		dereg = "1"
	}
	if force {
		f = "1"
	}
	n, err := setIntent.Run(ctx, s.rdb, []string{s.intentKey(mac), s.recordKey(mac)},
		string(raw), in.Revision, dereg, noRecordTTL.Milliseconds(), f).Int()
	if err != nil {
		return 0, fmt.Errorf("store intent: %w", err)
	}
	return n, nil
}

// Intent returns mac's intent, or nil.
func (s *Store) Intent(ctx context.Context, mac string) (*store.Intent, error) {
	raw, err := s.rdb.Get(ctx, s.intentKey(mac)).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read intent: %w", err)
	}
	var in store.Intent
	if err := json.Unmarshal(raw, &in); err != nil {
		return nil, fmt.Errorf("decode intent: %w", err)
	}
	return &in, nil
}

// Record returns mac's record, or nil.
func (s *Store) Record(ctx context.Context, mac string) (*store.Record, error) {
	raw, err := s.rdb.Get(ctx, s.recordKey(mac)).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read record: %w", err)
	}
	var r store.Record
	if err := json.Unmarshal(raw, &r); err != nil {
		return nil, fmt.Errorf("decode record: %w", err)
	}
	return &r, nil
}

// PutRecord stores r and indexes its MAC.
func (s *Store) PutRecord(ctx context.Context, r *store.Record) error {
	raw, err := json.Marshal(r)
	if err != nil {
		return err
	}
	_, err = s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.Set(ctx, s.recordKey(r.MAC), raw, 0)
		p.ZAdd(ctx, s.indexKey(), redis.Z{Score: 0, Member: r.MAC})
		return nil
	})
	if err != nil {
		return fmt.Errorf("write record: %w", err)
	}
	return nil
}

// List returns up to limit records with MAC > after, in MAC order, and
// the last MAC scanned ("" when the index is exhausted). keep filters.
func (s *Store) List(ctx context.Context, after string, limit int, keep func(*store.Record) bool) ([]*store.Record, string, error) {
	var out []*store.Record
	cursor := after
	for len(out) < limit {
		min := "-"
		if cursor != "" {
			min = "(" + cursor
		}
		macs, err := s.rdb.ZRangeArgs(ctx, redis.ZRangeArgs{Key: s.indexKey(), Start: min, Stop: "+", ByLex: true, Count: int64(limit), Offset: 0}).Result()
		if err != nil {
			return nil, "", fmt.Errorf("list index: %w", err)
		}
		if len(macs) == 0 {
			return out, "", nil
		}
		keys := make([]string, len(macs))
		for i, m := range macs {
			keys[i] = s.recordKey(m)
		}
		vals, err := s.mget(ctx, keys)
		if err != nil {
			return nil, "", err
		}
		for i, v := range vals {
			cursor = macs[i]
			if v == nil {
				continue
			}
			var r store.Record
			if json.Unmarshal(v, &r) != nil {
				continue
			}
			if keep == nil || keep(&r) {
				out = append(out, &r)
				if len(out) == limit {
					return out, cursor, nil
				}
			}
		}
		if len(macs) < limit {
			return out, "", nil
		}
	}
	return out, cursor, nil
}

// DeleteRecord removes mac's record and intent (one hash slot, one DEL),
// then its schedule and index entries (shared keys; List skips an index
// entry whose record is gone, should the second step not happen).
func (s *Store) DeleteRecord(ctx context.Context, mac string) error {
	if err := s.rdb.Del(ctx, s.recordKey(mac), s.intentKey(mac)).Err(); err != nil {
		return fmt.Errorf("delete record: %w", err)
	}
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.ZRem(ctx, s.retryKey(), mac)
		p.ZRem(ctx, s.indexKey(), mac)
		return nil
	})
	if err != nil {
		return fmt.Errorf("delete record: %w", err)
	}
	return nil
}

// mget reads keys one by one in a pipeline (MGET across hash slots fails on
// Redis Cluster).
func (s *Store) mget(ctx context.Context, keys []string) ([][]byte, error) {
	cmds := make([]*redis.StringCmd, len(keys))
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, k := range keys {
			cmds[i] = p.Get(ctx, k)
		}
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("read records: %w", err)
	}
	out := make([][]byte, len(keys))
	for i, c := range cmds {
		if b, err := c.Bytes(); err == nil {
			out[i] = b
		}
	}
	return out, nil
}

// Schedule (re)schedules mac for at.
func (s *Store) Schedule(ctx context.Context, mac string, at time.Time) error {
	if err := s.rdb.ZAdd(ctx, s.retryKey(), redis.Z{Score: float64(at.UnixMilli()), Member: mac}).Err(); err != nil {
		return fmt.Errorf("schedule retry: %w", err)
	}
	return nil
}

// Unschedule removes mac from the retry schedule.
func (s *Store) Unschedule(ctx context.Context, mac string) error {
	if err := s.rdb.ZRem(ctx, s.retryKey(), mac).Err(); err != nil {
		return fmt.Errorf("unschedule retry: %w", err)
	}
	return nil
}

// Due returns up to n MACs whose retry time has come.
func (s *Store) Due(ctx context.Context, now time.Time, n int64) ([]string, error) {
	macs, err := s.rdb.ZRangeArgs(ctx, redis.ZRangeArgs{Key: s.retryKey(), Start: "-inf",
		Stop: strconv.FormatInt(now.UnixMilli(), 10), ByScore: true, Count: n}).Result()
	if err != nil {
		return nil, fmt.Errorf("read retry schedule: %w", err)
	}
	return macs, nil
}

// Pending returns the number of scheduled retries.
func (s *Store) Pending(ctx context.Context) (int64, error) {
	return s.rdb.ZCard(ctx, s.retryKey()).Result()
}

// ScheduledAt returns when mac is scheduled, or the zero time.
func (s *Store) ScheduledAt(ctx context.Context, mac string) (time.Time, error) {
	ms, err := s.rdb.ZScore(ctx, s.retryKey(), mac).Result()
	if errors.Is(err, redis.Nil) {
		return time.Time{}, nil
	}
	if err != nil {
		return time.Time{}, err
	}
	return time.UnixMilli(int64(ms)), nil
}

// Lock takes mac's lock for ttl and returns its release function.
func (s *Store) Lock(ctx context.Context, mac string, ttl time.Duration) (func(), error) {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	token := hex.EncodeToString(b)
	ok, err := s.rdb.SetNX(ctx, s.lockKey(mac), token, ttl).Result()
	if err != nil {
		return nil, fmt.Errorf("lock: %w", err)
	}
	if !ok {
		return nil, store.ErrLocked
	}
	return func() {
		// Release with a fresh context: the caller's may be done.
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = unlock.Run(ctx, s.rdb, []string{s.lockKey(mac)}, token).Err()
	}, nil
}

var unlock = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`)
