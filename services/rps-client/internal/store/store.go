// Package store keeps rps-client's state in Redis: per MAC the intent (what
// inventory last asked for, guarded by phone revision) and the record (what
// the vendor holds, the last attempt and its outcome), a sorted set of
// pending retries that survives restarts, and a per-MAC lock that
// serialises work on one MAC across replicas.
//
// Every per-MAC key carries the MAC as a hash tag ("{mac}") so the Lua
// scripts touching several of them work on Redis Cluster too.
package store

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

	rpsv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/rps/v1"
)

// Op is what an intent asks for.
type Op string

// Intent operations.
const (
	OpRegister   Op = "register"
	OpDeregister Op = "deregister"
)

// Intent is the desired state of one MAC.
type Intent struct {
	Op       Op     `json:"op"`
	Vendor   string `json:"vendor"`
	Tenant   string `json:"tenant"`
	Revision int64  `json:"revision"`
	// URL is set only by a manual RegisterDevice; event-driven intents ask
	// inventory for the current URL at every attempt.
	URL    string `json:"url,omitempty"`
	Manual bool   `json:"manual,omitempty"`
}

// Record is what rps-client knows about one MAC at its vendor.
type Record struct {
	MAC           string                  `json:"mac"`
	Vendor        string                  `json:"vendor"`
	Tenant        string                  `json:"tenant"`
	State         rpsv1.RegistrationState `json:"state"`
	Reason        rpsv1.FailureReason     `json:"reason,omitempty"`
	LastError     string                  `json:"last_error,omitempty"`
	LastAttempt   time.Time               `json:"last_attempt,omitzero"`
	NextAttempt   time.Time               `json:"next_attempt,omitzero"`
	Attempts      int32                   `json:"attempts"`
	RegisteredURL string                  `json:"registered_url,omitempty"`
	PhoneRevision int64                   `json:"phone_revision"`
	// IntentRevision is the revision of the intent the last attempt
	// answered. Unlike PhoneRevision (inventory's live revision, which our
	// own RpsResult bumps) it moves only with changes we act on.
	IntentRevision int64 `json:"intent_revision"`

	// Held: we may hold a registration at HeldVendor with the account of
	// HeldAccount ("tenant/vendor" credentials key). Set before a register
	// call, cleared after a confirmed deregister or a refusal that proves
	// the MAC is not ours.
	Held        bool   `json:"held,omitempty"`
	HeldVendor  string `json:"held_vendor,omitempty"`
	HeldAccount string `json:"held_account,omitempty"`
	// Target is the URL of the current attempt series (Attempts counts
	// attempts at it); FailedURL and CredFP pin a permanent failure.
	Target    string `json:"target,omitempty"`
	FailedURL string `json:"failed_url,omitempty"`
	CredFP    string `json:"cred_fp,omitempty"`
	// Published: an RpsResult for this state and attempt count went out.
	Published bool `json:"published,omitempty"`
}

// Store is the Redis state.
type Store struct {
	rdb    redis.UniversalClient
	prefix string
}

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

// SetIntent results.
const (
	IntentStale  = 0 // an intent of a later revision is stored: nothing to do
	IntentStored = 1 // stored: process the MAC
	IntentNoOp   = 2 // a deregister for a MAC we never touched: stored briefly, nothing to do
)

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
// calls). It returns one of the Intent* results.
func (s *Store) SetIntent(ctx context.Context, mac string, in Intent, force bool, noRecordTTL time.Duration) (int, error) {
	raw, err := json.Marshal(in)
	if err != nil {
		return 0, err
	}
	dereg, f := "0", "0"
	if in.Op == OpDeregister {
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
func (s *Store) Intent(ctx context.Context, mac string) (*Intent, error) {
	raw, err := s.rdb.Get(ctx, s.intentKey(mac)).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read intent: %w", err)
	}
	var in Intent
	if err := json.Unmarshal(raw, &in); err != nil {
		return nil, fmt.Errorf("decode intent: %w", err)
	}
	return &in, nil
}

// Record returns mac's record, or nil.
func (s *Store) Record(ctx context.Context, mac string) (*Record, error) {
	raw, err := s.rdb.Get(ctx, s.recordKey(mac)).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read record: %w", err)
	}
	var r Record
	if err := json.Unmarshal(raw, &r); err != nil {
		return nil, fmt.Errorf("decode record: %w", err)
	}
	return &r, nil
}

// PutRecord stores r and indexes its MAC.
func (s *Store) PutRecord(ctx context.Context, r *Record) error {
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
func (s *Store) List(ctx context.Context, after string, limit int, keep func(*Record) bool) ([]*Record, string, error) {
	var out []*Record
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
			var r Record
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

// ErrLocked means another worker holds the MAC's lock.
var ErrLocked = errors.New("mac is locked by another worker")

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
		return nil, ErrLocked
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
