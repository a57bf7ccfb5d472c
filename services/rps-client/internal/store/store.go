// Package store defines rps-client's state and the Store interface its
// backends implement: per MAC the intent (what inventory last asked for,
// guarded by phone revision) and the record (what the vendor holds, the last
// attempt and its outcome), a retry schedule that survives restarts, and a
// per-MAC lock that serialises work on one MAC.
//
// Backends: redisstore (shared by replicas) and boltstore (an embedded
// bbolt file, for the one-process dialtone only). storetest is the
// conformance suite both pass.
package store

import (
	"context"
	"errors"
	"time"

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
	// Slot is a call slot reserved under the client-side rate limit: the
	// attempt was deferred to it, and calls without asking again then.
	Slot time.Time `json:"slot,omitzero"`
	// Deregistered is when the record last became DEREGISTERED; such
	// records expire (Config.DeregisteredTTL).
	Deregistered time.Time `json:"deregistered,omitzero"`
	// Objects are vendor-side objects we created for this MAC (see
	// vendors.ObjectLister), oldest first, at most MaxObjects.
	Objects []string `json:"objects,omitempty"`
}

// MaxObjects bounds Record.Objects; the oldest names are dropped first.
const MaxObjects = 32

// AddObjects records objs as in use: each moves to (or is added at) the end.
func (r *Record) AddObjects(objs ...string) {
	for _, o := range objs {
		kept := r.Objects[:0:0]
		for _, x := range r.Objects {
			if x != o {
				kept = append(kept, x)
			}
		}
		r.Objects = append(kept, o)
	}
	if n := len(r.Objects); n > MaxObjects {
		r.Objects = append([]string(nil), r.Objects[n-MaxObjects:]...)
	}
}

// SetIntent results.
const (
	IntentStale  = 0 // an intent of a later revision is stored: nothing to do
	IntentStored = 1 // stored: process the MAC
	IntentNoOp   = 2 // a deregister for a MAC we never touched: stored briefly, nothing to do
)

// ErrLocked means another worker holds the MAC's lock.
var ErrLocked = errors.New("mac is locked by another worker")

// Store is implemented by every backend. All methods are safe for
// concurrent use.
type Store interface {
	// Ping checks that the backend answers.
	Ping(ctx context.Context) error

	// SetIntent stores in for mac atomically, unless (without force) an
	// intent of a later revision is stored. A deregister intent for a MAC
	// without a record expires after noRecordTTL, so phones that were never
	// registered leave no state behind (while a concurrent older register
	// intent still sees it). It returns one of the Intent* results.
	SetIntent(ctx context.Context, mac string, in Intent, force bool, noRecordTTL time.Duration) (int, error)
	// Intent returns mac's intent, or nil.
	Intent(ctx context.Context, mac string) (*Intent, error)

	// Record returns mac's record, or nil.
	Record(ctx context.Context, mac string) (*Record, error)
	// PutRecord stores r under r.MAC.
	PutRecord(ctx context.Context, r *Record) error
	// List returns up to limit records with MAC > after, in MAC order, for
	// which keep (nil: all) is true, and the last MAC scanned: the next
	// page's after, or "" when no records are left.
	List(ctx context.Context, after string, limit int, keep func(*Record) bool) ([]*Record, string, error)
	// DeleteRecord removes mac's record, intent and retry entry (the state
	// of a phone deregistered long ago). A MAC with none is not an error.
	DeleteRecord(ctx context.Context, mac string) error

	// Schedule (re)schedules mac's retry for at (millisecond precision).
	Schedule(ctx context.Context, mac string, at time.Time) error
	// Unschedule removes mac from the retry schedule.
	Unschedule(ctx context.Context, mac string) error
	// Due returns up to n MACs scheduled at or before now, earliest first.
	Due(ctx context.Context, now time.Time, n int64) ([]string, error)
	// Pending returns the number of scheduled retries.
	Pending(ctx context.Context) (int64, error)
	// ScheduledAt returns when mac is scheduled, or the zero time.
	ScheduledAt(ctx context.Context, mac string) (time.Time, error)

	// Lock takes mac's lock for ttl and returns its release function, or
	// ErrLocked. A release after the lock expired and was taken by another
	// worker leaves the new holder's lock alone.
	Lock(ctx context.Context, mac string, ttl time.Duration) (func(), error)

	// Close releases the backend's resources (a Redis store leaves its
	// client open).
	Close() error
}
