// Package store is inventory's persistence contract: versioned records of a
// few kinds, secondary indexes, unique keys, references that block deletion,
// and a transactional outbox, applied atomically in batches. Two backends
// implement it (redisstore, boltstore) and one conformance suite (storetest)
// holds them to the same behaviour.
//
// The store knows nothing about phones or extensions: values are opaque bytes
// (protobuf binary) and the caller says which index terms, unique keys and
// references each record has. Every batch gets one new revision from a
// counter that only grows, in commit order, so a revision is also the record's
// etag and a global "happened after" order.
package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// Kind is a record type. Its byte is part of storage keys.
type Kind byte

// The kinds inventory stores.
const (
	KindTenant    Kind = 't'
	KindInterface Kind = 'i'
	KindExtension Kind = 'e'
	KindPhone     Kind = 'p'
	// KindJob holds work that must follow a committed batch: the phones
	// of a changed extension, interface or tenant still to be marked
	// changed (server.RunFanouts).
	KindJob Kind = 'j'
	// KindKey holds the data keys that seal secrets at rest, each wrapped
	// by a key-encryption key (sealstore).
	KindKey Kind = 'k'
	// KindUser holds console users (id: the user id; value: the User
	// message with the bcrypt hash in its password field).
	KindUser Kind = 'u'
)

// Kinds lists every kind.
var Kinds = []Kind{KindTenant, KindInterface, KindExtension, KindPhone, KindJob, KindKey, KindUser}

func (k Kind) String() string {
	switch k {
	case KindTenant:
		return "tenant"
	case KindInterface:
		return "sip interface"
	case KindExtension:
		return "extension"
	case KindPhone:
		return "phone"
	case KindJob:
		return "job"
	case KindKey:
		return "data key"
	case KindUser:
		return "user"
	}
	return fmt.Sprintf("kind(%q)", byte(k))
}

// Ref names a record as a reference target: "e:acme/100".
func Ref(k Kind, id string) string { return string(k) + ":" + id }

// ParseRef splits a reference into kind and id.
func ParseRef(ref string) (Kind, string, bool) {
	if len(ref) < 3 || ref[1] != ':' {
		return 0, "", false
	}
	return Kind(ref[0]), ref[2:], true
}

// Record is one stored resource.
type Record struct {
	Kind Kind
	// ID is unique within the kind and orders listings (byte-wise).
	ID string
	// Rev is the revision of the batch that last wrote the record (> 0).
	Rev int64
	// Terms are non-unique index terms ("t=acme", "s=2"); List filters by them.
	Terms []string
	// Keys are unique within the kind (token hashes); Resolve finds the record by one.
	Keys []string
	// Refs are records this one points at (Ref form). They must exist when the
	// record is written, and cannot be deleted while it points at them.
	Refs  []string
	Value []byte
}

// Expectations of an Op about the record's current revision.
const (
	// ExpectAny: put creates or replaces; delete needs the record to exist.
	ExpectAny int64 = -1
	// ExpectAbsent: put fails with ErrExists when the record exists.
	ExpectAbsent int64 = 0
	// Any value > 0: the record must exist (ErrNotFound) at exactly that
	// revision (ErrConflict).
)

// Op writes or deletes one record. A batch may hold at most one Op per record.
type Op struct {
	Kind   Kind
	ID     string
	Delete bool
	Expect int64
	// For puts: the record's full new index set and value.
	Terms, Keys, Refs []string
	Value             []byte
}

// Message is an event to publish after the batch commits (the outbox).
type Message struct {
	Subject string
	MsgID   string
	Data    []byte
}

// OutboxEntry is a committed Message not yet acknowledged as published.
type OutboxEntry struct {
	ID string
	Message
}

// Batch is applied atomically: every Op's precondition holds and all are
// applied with the outbox messages, or nothing is.
type Batch struct {
	Ops    []Op
	Outbox []Message
}

// ListQuery selects records of one kind in ID order.
type ListQuery struct {
	Kind Kind
	// Terms all must match (AND). The first term's index is scanned, so put
	// the most selective first. Empty lists every record of the kind.
	Terms []string
	// After excludes IDs <= After (paging).
	After string
	// Limit is the maximum number of records returned (> 0).
	Limit int
}

// Store is implemented by every backend. All methods are safe for
// concurrent use.
type Store interface {
	// Get returns one record or ErrNotFound.
	Get(ctx context.Context, kind Kind, id string) (Record, error)
	// Resolve finds the record holding unique key, and the records it
	// references (in Refs order, missing ones skipped), in a bounded number
	// of round trips.
	Resolve(ctx context.Context, kind Kind, key string) (Record, []Record, error)
	// List returns up to q.Limit records in ascending ID order. Records
	// present for the whole of a paged listing appear exactly once.
	List(ctx context.Context, q ListQuery) ([]Record, error)
	// Referrers returns the refs (Ref form) of every record pointing at ref.
	Referrers(ctx context.Context, ref string) ([]string, error)
	// Apply allocates the next revision, calls build with it, and applies the
	// batch atomically. build must be a pure function of rev: a backend may
	// call it again with a later revision. It returns the committed revision.
	Apply(ctx context.Context, build func(rev int64) (Batch, error)) (int64, error)
	// Outbox returns up to limit unacknowledged messages, oldest first.
	Outbox(ctx context.Context, limit int) ([]OutboxEntry, error)
	// AckOutbox removes published messages; unknown IDs are ignored.
	AckOutbox(ctx context.Context, ids ...string) error
	// Ping checks that the backend answers.
	Ping(ctx context.Context) error
	Close() error
}

// Cursor is a position in a ChangeLog: the revision of a committed batch
// and the tag that batch was committed with (random per batch, so a
// revision re-used by another history after a failover does not match).
type Cursor struct {
	Rev int64
	Tag string
}

// ChangeLog is implemented by backends that several processes share
// (Redis). It lets a process keep data derived from records — inventory's
// profile cache — coherent with batches any process commits, in one round
// trip: every committed batch is logged with the refs of the records it
// wrote or deleted, and the log keeps at least the last ChangeLogKeep
// revisions.
type ChangeLog interface {
	// Changes returns the cursor of the last committed batch and the refs
	// (Ref form, possibly repeated) of every record changed by batches
	// committed after since. ok is false when the log cannot show that it
	// continues since — since is zero, was trimmed away, or belongs to
	// another history (a failover lost it) — and then everything derived
	// before must be dropped; refs is nil then.
	Changes(ctx context.Context, since Cursor) (next Cursor, refs []string, ok bool, err error)
}

// ChangeLogKeep is how many revisions a ChangeLog keeps at least.
const ChangeLogKeep = 10000

// Sentinel errors; backends wrap them in *OpError for batch failures.
var (
	ErrNotFound     = errors.New("not found")
	ErrExists       = errors.New("already exists")
	ErrConflict     = errors.New("revision conflict")
	ErrDuplicateKey = errors.New("unique key held by another record")
	ErrReferenced   = errors.New("still referenced")
	ErrMissingRef   = errors.New("referenced record does not exist")
	ErrUnavailable  = errors.New("store unavailable")
	ErrInvalid      = errors.New("invalid batch")
	// ErrSealed: the record's secrets are sealed and this process has no
	// key-encryption key to open them (sealstore).
	ErrSealed = errors.New("secrets sealed: no key-encryption key")
)

// OpError says which Op of a batch failed its precondition.
type OpError struct {
	Index int
	Kind  Kind
	ID    string
	// Detail is the offending reference for ErrMissingRef, the key index for
	// ErrDuplicateKey; it never holds a key itself (keys may derive from secrets).
	Detail string
	Err    error
}

func (e *OpError) Error() string {
	if e.Detail != "" {
		return fmt.Sprintf("store: %s %q: %v (%s)", e.Kind, e.ID, e.Err, e.Detail)
	}
	return fmt.Sprintf("store: %s %q: %v", e.Kind, e.ID, e.Err)
}

func (e *OpError) Unwrap() error { return e.Err }

// Validate checks what every backend refuses alike: empty IDs, characters
// that storage encodings reserve, and two Ops on one record.
func (b Batch) Validate() error {
	seen := make(map[string]bool, len(b.Ops))
	for i, op := range b.Ops {
		if op.ID == "" || !validToken(op.ID) {
			return fmt.Errorf("%w: op %d: bad id", ErrInvalid, i)
		}
		r := Ref(op.Kind, op.ID)
		if seen[r] {
			return fmt.Errorf("%w: op %d: second op on %s", ErrInvalid, i, r)
		}
		seen[r] = true
		if op.Expect < ExpectAny || (op.Delete && op.Expect == ExpectAbsent) {
			return fmt.Errorf("%w: op %d: bad expectation %d", ErrInvalid, i, op.Expect)
		}
		for _, list := range [][]string{op.Terms, op.Keys, op.Refs} {
			for _, s := range list {
				if s == "" || !validToken(s) {
					return fmt.Errorf("%w: op %d: bad index entry", ErrInvalid, i)
				}
			}
		}
		for _, ref := range op.Refs {
			if _, _, ok := ParseRef(ref); !ok || ref == r {
				return fmt.Errorf("%w: op %d: bad ref", ErrInvalid, i)
			}
		}
	}
	return nil
}

// validToken refuses the bytes the encodings use as separators (space,
// newline, NUL) and other control characters.
func validToken(s string) bool {
	return !strings.ContainsFunc(s, func(r rune) bool { return r <= ' ' || r == 0x7f })
}

// HasTerms reports whether r carries every term.
func (r Record) HasTerms(terms []string) bool {
	for _, t := range terms {
		found := false
		for _, have := range r.Terms {
			if have == t {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}
