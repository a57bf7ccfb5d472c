// Package redisstore implements store.Store on Redis through go-redis's
// UniversalClient (single node, Sentinel, or Cluster with a hash-tagged
// prefix). Every batch is one Lua script, so it is atomic and checks its
// preconditions on the server; reads are plain commands (no scripts).
//
// Keys, under a prefix P (default "{dt}:"; the braces keep every key in one
// Cluster hash slot, which the scripts need):
//
//	P{kind}:{id}        string "rev\nterms\nkeys\nrefs\nvalue" (value: protobuf;
//	                    one string, not a hash: a hash with a value over 64
//	                    bytes leaves the compact listpack encoding)
//	P x:{kind}:         zset  every id of the kind (score 0, ordered by id)
//	P x:{kind}:{term}   zset  ids carrying an index term ("t=acme", "s=2", "v=yealink")
//	P u:{kind}          hash  unique key (token hash) -> "id\nrefs" (the owner's refs,
//	                    so Resolve is two plain round trips: HGET, then MGET)
//	P f:{kind}:{id}     set   referrers of a record ("p:001565aabbcc")
//	P seq, P hwm        revision counter and last committed revision
//	P ob                stream the outbox: s=subject m=msg id d=data
//	P cl                stream the change log (store.ChangeLog): entry id
//	                    "{rev}-0", t=random tag of the batch, r=refs it wrote;
//	                    at least the last store.ChangeLogKeep revisions
//	P clh               string "{rev} {tag}" of the change log's last entry
package redisstore

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"

	"github.com/dialtone-voip/dialtone/services/inventory/internal/store"
)

// DefaultPrefix is the key prefix when none is given.
const DefaultPrefix = "{dt}:"

var (
	//go:embed apply.lua
	applySrc    string
	applyScript = redis.NewScript(applySrc)
)

// Store is the Redis backend.
type Store struct {
	c    redis.UniversalClient
	p    string
	keep int64 // revisions the change log keeps
}

// Option tunes New.
type Option func(*Store)

// ChangeLogKeep sets how many revisions the change log keeps at least
// (default store.ChangeLogKeep; tests use small values to see it trimmed).
func ChangeLogKeep(n int64) Option { return func(s *Store) { s.keep = max(n, 1) } }

// New returns a store over c using keys under prefix ("" means
// DefaultPrefix). Closing the store does not close c.
func New(c redis.UniversalClient, prefix string, opts ...Option) *Store {
	if prefix == "" {
		prefix = DefaultPrefix
	}
	s := &Store{c: c, p: prefix, keep: store.ChangeLogKeep}
	for _, o := range opts {
		o(s)
	}
	return s
}

var (
	_ store.Store     = (*Store)(nil)
	_ store.ChangeLog = (*Store)(nil)
)

func unavailable(err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%w: redis: %w", store.ErrUnavailable, err)
}

func (s *Store) recKey(k store.Kind, id string) string { return s.p + string(k) + ":" + id }

// decode parses a stored record string.
func decode(k store.Kind, id string, raw any) (store.Record, error) {
	x, ok := raw.(string)
	if !ok {
		return store.Record{}, fmt.Errorf("redisstore: malformed record %s", store.Ref(k, id))
	}
	parts := strings.SplitN(x, "\n", 5)
	if len(parts) != 5 {
		return store.Record{}, fmt.Errorf("redisstore: malformed record %s", store.Ref(k, id))
	}
	r, err := strconv.ParseInt(parts[0], 10, 64)
	if err != nil {
		return store.Record{}, fmt.Errorf("redisstore: malformed revision of %s", store.Ref(k, id))
	}
	return store.Record{
		Kind: k, ID: id, Rev: r,
		Terms: strings.Fields(parts[1]), Keys: strings.Fields(parts[2]), Refs: strings.Fields(parts[3]),
		Value: []byte(parts[4]),
	}, nil
}

// Get implements store.Store.
func (s *Store) Get(ctx context.Context, k store.Kind, id string) (store.Record, error) {
	v, err := s.c.Get(ctx, s.recKey(k, id)).Result()
	if errors.Is(err, redis.Nil) {
		return store.Record{}, store.ErrNotFound
	}
	if err != nil {
		return store.Record{}, unavailable(err)
	}
	return decode(k, id, v)
}

// Resolve implements store.Store: HGET of the key's entry (the owner's id
// and refs), then one MGET of the record and its references. Between the
// two the record may change; references it names that were not fetched are
// fetched in a third round trip.
func (s *Store) Resolve(ctx context.Context, k store.Kind, key string) (store.Record, []store.Record, error) {
	entry, err := s.c.HGet(ctx, s.p+"u:"+string(k), key).Result()
	if errors.Is(err, redis.Nil) {
		return store.Record{}, nil, store.ErrNotFound
	}
	if err != nil {
		return store.Record{}, nil, unavailable(err)
	}
	id, refList, _ := strings.Cut(entry, "\n")
	refs := strings.Fields(refList)
	keys := make([]string, 0, 1+len(refs))
	keys = append(keys, s.recKey(k, id))
	for _, r := range refs {
		keys = append(keys, s.p+r)
	}
	vals, err := s.c.MGet(ctx, keys...).Result()
	if err != nil {
		return store.Record{}, nil, unavailable(err)
	}
	if vals[0] == nil {
		return store.Record{}, nil, store.ErrNotFound
	}
	rec, err := decode(k, id, vals[0])
	if err != nil {
		return store.Record{}, nil, err
	}
	got := make(map[string]any, len(refs))
	for i, r := range refs {
		got[r] = vals[i+1]
	}
	var missing []string
	for _, r := range rec.Refs {
		if _, ok := got[r]; !ok {
			missing = append(missing, r)
		}
	}
	if len(missing) > 0 {
		mk := make([]string, len(missing))
		for i, r := range missing {
			mk[i] = s.p + r
		}
		mv, err := s.c.MGet(ctx, mk...).Result()
		if err != nil {
			return store.Record{}, nil, unavailable(err)
		}
		for i, r := range missing {
			got[r] = mv[i]
		}
	}
	out := make([]store.Record, 0, len(rec.Refs))
	for _, r := range rec.Refs {
		v := got[r]
		if v == nil {
			continue
		}
		rk, rid, ok := store.ParseRef(r)
		if !ok {
			return store.Record{}, nil, errors.New("redisstore: malformed reference")
		}
		x, err := decode(rk, rid, v)
		if err != nil {
			return store.Record{}, nil, err
		}
		out = append(out, x)
	}
	if !slices.Contains(rec.Keys, key) {
		return store.Record{}, nil, store.ErrNotFound // the key moved on between the reads
	}
	return rec, out, nil
}

// List implements store.Store.
func (s *Store) List(ctx context.Context, q store.ListQuery) ([]store.Record, error) {
	if q.Limit <= 0 {
		return nil, nil
	}
	zkey := s.p + "x:" + string(q.Kind) + ":"
	rest := q.Terms
	if len(q.Terms) > 0 {
		zkey += q.Terms[0]
		rest = q.Terms[1:]
	}
	chunk := int64(q.Limit)
	if len(rest) > 0 && chunk < 256 {
		chunk = 256 // filtering: read ahead
	}
	after := q.After
	out := make([]store.Record, 0, q.Limit)
	for len(out) < q.Limit {
		min := "-"
		if after != "" {
			min = "(" + after
		}
		ids, err := s.c.ZRangeByLex(ctx, zkey, &redis.ZRangeBy{Min: min, Max: "+", Count: chunk}).Result()
		if err != nil {
			return nil, unavailable(err)
		}
		if len(ids) == 0 {
			break
		}
		keys := make([]string, len(ids))
		for i, id := range ids {
			keys[i] = s.recKey(q.Kind, id)
		}
		vals, err := s.c.MGet(ctx, keys...).Result()
		if err != nil {
			return nil, unavailable(err)
		}
		for i, id := range ids {
			if vals[i] == nil {
				continue // deleted between the two reads
			}
			r, err := decode(q.Kind, id, vals[i])
			if err != nil {
				return nil, err
			}
			if r.HasTerms(rest) {
				out = append(out, r)
				if len(out) == q.Limit {
					break
				}
			}
		}
		after = ids[len(ids)-1]
		if int64(len(ids)) < chunk {
			break
		}
	}
	return out, nil
}

// Referrers implements store.Store.
func (s *Store) Referrers(ctx context.Context, ref string) ([]string, error) {
	m, err := s.c.SMembers(ctx, s.p+"f:"+ref).Result()
	if err != nil {
		return nil, unavailable(err)
	}
	return m, nil
}

// Apply implements store.Store.
func (s *Store) Apply(ctx context.Context, build func(rev int64) (store.Batch, error)) (int64, error) {
	for attempt := 0; attempt < 1000; attempt++ {
		rev, err := s.c.Incr(ctx, s.p+"seq").Result()
		if err != nil {
			return 0, unavailable(err)
		}
		b, err := build(rev)
		if err != nil {
			return 0, err
		}
		if err := b.Validate(); err != nil {
			return 0, err
		}
		args := make([]any, 0, 6+8*len(b.Ops)+3*len(b.Outbox))
		args = append(args, s.p, rev, len(b.Ops))
		for _, op := range b.Ops {
			del := "0"
			if op.Delete {
				del = "1"
			}
			args = append(args, string(op.Kind), op.ID, del, op.Expect,
				strings.Join(op.Terms, " "), strings.Join(op.Keys, " "), strings.Join(op.Refs, " "), op.Value)
		}
		args = append(args, len(b.Outbox))
		for _, m := range b.Outbox {
			args = append(args, m.Subject, m.MsgID, m.Data)
		}
		args = append(args, strconv.FormatUint(rand.Uint64(), 36), s.keep)
		res, err := applyScript.Run(ctx, s.c, nil, args...).Slice()
		if err != nil {
			return 0, unavailable(err)
		}
		status, _ := res[0].(string)
		switch status {
		case "OK":
			return rev, nil
		case "REV":
			continue // a later revision committed first; take a new one
		case "ERR":
			return 0, opError(b, res)
		}
		return 0, fmt.Errorf("redisstore: unexpected apply reply %q", status)
	}
	return 0, fmt.Errorf("%w: could not commit in revision order", store.ErrUnavailable)
}

func opError(b store.Batch, res []any) error {
	code, _ := res[1].(string)
	idx, _ := res[2].(int64)
	detail, _ := res[3].(string)
	e := &store.OpError{Index: int(idx) - 1, Detail: detail}
	if e.Index >= 0 && e.Index < len(b.Ops) {
		e.Kind, e.ID = b.Ops[e.Index].Kind, b.Ops[e.Index].ID
	}
	switch code {
	case "NOTFOUND":
		e.Err = store.ErrNotFound
	case "EXISTS":
		e.Err = store.ErrExists
	case "CONFLICT":
		e.Err = store.ErrConflict
	case "DUPKEY":
		e.Err = store.ErrDuplicateKey
	case "REFERENCED":
		e.Err = store.ErrReferenced
	case "MISSINGREF":
		e.Err = store.ErrMissingRef
	case "LOG":
		return fmt.Errorf("%w: redisstore: the change log is ahead of the committed revision (%s deleted?)", store.ErrUnavailable, "hwm")
	default:
		e.Err = fmt.Errorf("redisstore: unknown error code %q", code)
	}
	return e
}

// changesPage bounds one XRANGE of Changes.
const changesPage = 512

// Changes implements store.ChangeLog. When nothing was committed after
// since — the common case, asked for before every cached profile is
// served — one MGET of hwm and clh shows it; otherwise one XRANGE starting
// at the entry of since (inclusive), whose tag proves the log continues it.
// hwm is checked as well as clh because a writer that predates clh moves
// hwm but not clh.
func (s *Store) Changes(ctx context.Context, since store.Cursor) (store.Cursor, []string, bool, error) {
	key := s.p + "cl"
	if since.Rev <= 0 {
		return s.lastChange(ctx)
	}
	rev := strconv.FormatInt(since.Rev, 10)
	head, err := s.c.MGet(ctx, s.p+"hwm", s.p+"clh").Result()
	if err != nil {
		return store.Cursor{}, nil, false, unavailable(err)
	}
	if hwm, _ := head[0].(string); hwm == rev {
		if h, _ := head[1].(string); len(h) == len(rev)+1+len(since.Tag) &&
			h[:len(rev)] == rev && h[len(rev)] == ' ' && h[len(rev)+1:] == since.Tag {
			return since, nil, true, nil
		}
	}
	start := rev + "-0"
	var refs []string
	cur := since
	for {
		msgs, err := s.c.XRangeN(ctx, key, start, "+", changesPage).Result()
		if err != nil {
			return store.Cursor{}, nil, false, unavailable(err)
		}
		if len(msgs) == 0 || msgs[0].ID != start || msgs[0].Values["t"] != cur.Tag {
			return s.lastChange(ctx) // trimmed past since, or another history
		}
		for _, m := range msgs[1:] {
			rev, ok := entryRev(m.ID)
			if !ok {
				return store.Cursor{}, nil, false, fmt.Errorf("redisstore: malformed change log id %q", m.ID)
			}
			tag, _ := m.Values["t"].(string)
			r, _ := m.Values["r"].(string)
			refs = append(refs, strings.Fields(r)...)
			cur = store.Cursor{Rev: rev, Tag: tag}
		}
		if len(msgs) < changesPage {
			return cur, refs, true, nil
		}
		start = msgs[len(msgs)-1].ID // the next page starts at (and checks) the last entry
	}
}

// lastChange is the cursor of the last logged batch (zero for an empty
// log), with ok false: the caller starts over from there.
func (s *Store) lastChange(ctx context.Context) (store.Cursor, []string, bool, error) {
	msgs, err := s.c.XRevRangeN(ctx, s.p+"cl", "+", "-", 1).Result()
	if err != nil {
		return store.Cursor{}, nil, false, unavailable(err)
	}
	if len(msgs) == 0 {
		return store.Cursor{}, nil, false, nil
	}
	rev, ok := entryRev(msgs[0].ID)
	if !ok {
		return store.Cursor{}, nil, false, fmt.Errorf("redisstore: malformed change log id %q", msgs[0].ID)
	}
	tag, _ := msgs[0].Values["t"].(string)
	return store.Cursor{Rev: rev, Tag: tag}, nil, false, nil
}

func entryRev(id string) (int64, bool) {
	ms, seq, ok := strings.Cut(id, "-")
	if !ok || seq != "0" {
		return 0, false
	}
	rev, err := strconv.ParseInt(ms, 10, 64)
	return rev, err == nil && rev > 0
}

// Outbox implements store.Store.
func (s *Store) Outbox(ctx context.Context, limit int) ([]store.OutboxEntry, error) {
	msgs, err := s.c.XRangeN(ctx, s.p+"ob", "-", "+", int64(limit)).Result()
	if err != nil {
		return nil, unavailable(err)
	}
	out := make([]store.OutboxEntry, 0, len(msgs))
	for _, m := range msgs {
		subj, _ := m.Values["s"].(string)
		id, _ := m.Values["m"].(string)
		data, _ := m.Values["d"].(string)
		out = append(out, store.OutboxEntry{ID: m.ID, Message: store.Message{Subject: subj, MsgID: id, Data: []byte(data)}})
	}
	return out, nil
}

// AckOutbox implements store.Store.
func (s *Store) AckOutbox(ctx context.Context, ids ...string) error {
	if len(ids) == 0 {
		return nil
	}
	return unavailable(s.c.XDel(ctx, s.p+"ob", ids...).Err())
}

// Ping implements store.Store.
func (s *Store) Ping(ctx context.Context) error { return unavailable(s.c.Ping(ctx).Err()) }

// Close implements store.Store; the client stays open (its owner closes it).
func (s *Store) Close() error { return nil }
