package pnplistener

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/dialtone-voip/dialtone/services/pnp-listener/internal/seen"
)

// One route to a phone's profile NOTIFY (issue 20): every trigger — its
// SUBSCRIBE, a PhoneChanged event, the retry timer — feeds the phone's one
// flow record, which runs rounds of "look up, then NOTIFY" one at a time.
// The states and transitions are in the module README ("One NOTIFY route").

// supersedeEvery bounds how often one phone's new boots may cut short the
// NOTIFY in flight to its previous dialog (besides once per NOTIFY): a
// flood of new Call-IDs for one MAC starts at most one extra NOTIFY per
// interval; the rest wait for the round under way, as before.
const supersedeEvery = 4 * time.Second

// errSuperseded is the cause with which a new boot cancels the NOTIFY in
// flight to the phone's old dialog.
var errSuperseded = errors.New("superseded by a new SUBSCRIBE dialog")

// flowState is where a phone's flow is.
type flowState uint8

const (
	// flowQueued: a round waits in a lane for a worker.
	flowQueued flowState = iota + 1
	// flowLookup: a worker is asking inventory for the URL.
	flowLookup
	// flowRetry: the lookup found no phone or timed out; one more is
	// made after unknownRetry, or at once when an event comes.
	flowRetry
	// flowNotify: the NOTIFY transaction is in flight (sipgo retransmits
	// it until the phone answers or --notify-timeout).
	flowNotify
)

// flow is one phone's record; it exists only while a round is under way
// (the seen cache keeps what outlives it: dialog, CSeq, delivered URL).
type flow struct {
	state flowState
	round uint64
	// kind is what started the round: kindBoot (its SUBSCRIBE) or
	// kindLate (an event, which also takes over a round not yet started).
	kind     string
	phone    seen.Phone
	start    time.Time // the SUBSCRIBE, for boot rounds
	skipSame bool      // skip the NOTIFY when the dialog already has the URL
	retried  bool
	// unavailable counts lookups inventory answered Unavailable.
	unavailable int
	known       bool // admitted to the known lane
	timer       *time.Timer
	// again: a trigger came during the lookup or the NOTIFY; one more
	// round follows this one (with next* as its start).
	again        bool
	nextKind     string
	nextSkipSame bool
	nextStart    time.Time
	nextKnown    bool
	// In state notify: the dialog the NOTIFY went to and the cancel that
	// stops its transaction (nil once used: one supersede per NOTIFY).
	notifyCallID string
	cancelNotify context.CancelCauseFunc
	// lastSupersede is when a new boot last cut a NOTIFY short
	// (supersedeEvery).
	lastSupersede time.Time
}

// flows is the table of phones with a round under way. Its size is bounded:
// unknown phones get a record only below maxUnknown; known phones by their
// lane and the NOTIFY slots.
type flows struct {
	mu         sync.Mutex
	m          map[string]*flow
	seq        uint64
	maxUnknown int
}

func newFlows(maxUnknown int) *flows {
	return &flows{m: make(map[string]*flow), maxUnknown: maxUnknown}
}

// Len is the number of phones with a round under way.
func (t *flows) Len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.m)
}

// roundInfo is what a worker needs of a round, copied under the lock.
type roundInfo struct {
	mac      string
	round    uint64
	kind     string
	phone    seen.Phone
	start    time.Time
	skipSame bool
	stale    bool
}

// enqueueLocked starts a new round of f in a lane. It returns the outcome
// to count when the lane refused it; the caller then drops f.
func (t *flows) enqueueLocked(s *Service, mac string, f *flow) string {
	t.seq++
	f.round, f.state = t.seq, flowQueued
	if f.timer != nil {
		f.timer.Stop()
		f.timer = nil
	}
	return s.admit(job{kind: f.kind, mac: mac, round: f.round}, f.known)
}

// bootFlow is the SUBSCRIBE trigger: a phone opened a new dialog (p). known
// says whether the phone is assigned or answered us before.
func (s *Service) bootFlow(p seen.Phone, start time.Time, known bool) {
	t := s.flows
	t.mu.Lock()
	f, ok := t.m[p.MAC]
	if !ok {
		if !known && len(t.m) >= t.maxUnknown {
			t.mu.Unlock()
			s.m.notifies.WithLabelValues(kindBoot, outShedQueue).Inc()
			return
		}
		f = &flow{kind: kindBoot, phone: p, start: start, known: known}
		t.m[p.MAC] = f
		out := t.enqueueLocked(s, p.MAC, f)
		if out != "" {
			delete(t.m, p.MAC)
		}
		t.mu.Unlock()
		if out != "" {
			s.m.notifies.WithLabelValues(kindBoot, out).Inc()
		}
		return
	}
	// A round is under way for an older dialog: the new one replaces it.
	promoted := known && !f.known
	f.known = f.known || known
	switch {
	case f.state == flowQueued && !promoted:
		// The worker reads the phone when the round starts.
		f.kind, f.phone, f.start, f.skipSame, f.retried = kindBoot, p, start, false, false
		t.mu.Unlock()
	case f.state == flowQueued || f.state == flowRetry:
		// Waiting for its retry, or queued behind unknown boots while the
		// phone is now known: start the round in the new dialog now.
		f.kind, f.phone, f.start, f.skipSame, f.retried = kindBoot, p, start, false, false
		out := t.enqueueLocked(s, p.MAC, f)
		if out != "" {
			delete(t.m, p.MAC)
		}
		t.mu.Unlock()
		if out != "" {
			s.m.notifies.WithLabelValues(kindBoot, out).Inc()
		}
	default: // lookup or NOTIFY in flight for the old dialog
		f.again, f.nextKind, f.nextSkipSame, f.nextStart, f.nextKnown = true, kindBoot, false, start, known
		f.phone = p
		// The phone booted again while its NOTIFY is retransmitted to
		// the old dialog, which will never answer: stop that transaction
		// (counted superseded); its end starts the round for the new
		// dialog at once. Once per NOTIFY and once per supersedeEvery,
		// so new Call-IDs cannot multiply NOTIFYs.
		var cancel context.CancelCauseFunc
		if f.state == flowNotify && f.cancelNotify != nil && p.Dialog.CallID != f.notifyCallID &&
			(f.lastSupersede.IsZero() || start.Sub(f.lastSupersede) >= supersedeEvery) {
			cancel, f.cancelNotify, f.lastSupersede = f.cancelNotify, nil, start
		}
		t.mu.Unlock()
		if cancel != nil {
			cancel(errSuperseded)
		}
	}
}

// changedFlow is the event trigger: inventory says the phone's URL may have
// changed. p is the phone as the seen cache holds it. known puts the round
// in the known lane: an assignment or a new token is an admin's act, but a
// discovery is caused by whoever sent the SUBSCRIBE, so it counts only for
// a phone already known. It returns the events_total result.
func (s *Service) changedFlow(p seen.Phone, skipSame, known bool) string {
	t := s.flows
	t.mu.Lock()
	f, ok := t.m[p.MAC]
	var out string
	switch {
	case !ok && !known && len(t.m) >= t.maxUnknown:
		t.mu.Unlock()
		s.m.notifies.WithLabelValues(kindLate, outShedQueue).Inc()
		return "refused"
	case !ok:
		f = &flow{kind: kindLate, phone: p, skipSame: skipSame, known: known}
		t.m[p.MAC] = f
		out = t.enqueueLocked(s, p.MAC, f)
	case f.state == flowQueued && (f.known || !known):
		// The queued round will read inventory after this change.
		f.kind, f.skipSame = kindLate, f.skipSame && skipSame
		t.mu.Unlock()
		return "coalesced"
	case f.state == flowQueued || f.state == flowRetry:
		// Take the round over now, in the known lane when the event
		// says so (an unknown boot's round may wait behind a flood; its
		// old job is skipped).
		f.kind, f.phone, f.skipSame, f.retried = kindLate, p, skipSame, false
		f.known = f.known || known
		out = t.enqueueLocked(s, p.MAC, f)
	default:
		if f.again {
			f.nextSkipSame = f.nextSkipSame && skipSame
			f.nextKnown = f.nextKnown || known
		} else {
			f.again, f.nextKind, f.nextSkipSame, f.nextStart, f.nextKnown = true, kindLate, skipSame, time.Time{}, known
		}
		t.mu.Unlock()
		return "coalesced"
	}
	if out != "" {
		delete(t.m, p.MAC)
	}
	t.mu.Unlock()
	if out != "" {
		s.m.notifies.WithLabelValues(kindLate, out).Inc()
	}
	return "notify"
}

// start moves a queued round to its lookup. ok is false when the job's
// round was replaced (skip it). A boot round that waited staleAfter is
// marked stale: the phone has given up on that SUBSCRIBE.
func (t *flows) start(j job, waited time.Duration) (roundInfo, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	f, ok := t.m[j.mac]
	if !ok || f.round != j.round || f.state != flowQueued {
		return roundInfo{}, false
	}
	f.state = flowLookup
	return roundInfo{
		mac: j.mac, round: f.round, kind: f.kind, phone: f.phone, start: f.start, skipSame: f.skipSame,
		stale: f.kind == kindBoot && waited > staleAfter,
	}, true
}

// wait schedules another lookup of a round: the one retry of a lookup that
// found no phone, or timed out for a late round (after unknownRetry), or, for
// a boot that inventory answered Unavailable (a failover) or did not answer
// in time (overload), up to unavailableRetries
// more after 1.5, 3 and 6 s, inside the phone's own wait. It reports false
// when those are spent (the caller counts and finishes the round). An event
// that came during the lookup starts the next round at once instead.
func (t *flows) wait(s *Service, r roundInfo, unavailable bool) bool {
	t.mu.Lock()
	f, ok := t.m[r.mac]
	if !ok || f.round != r.round {
		t.mu.Unlock()
		return true
	}
	if f.again {
		t.mu.Unlock()
		t.finish(s, r.mac, r.round)
		return true
	}
	d := unknownRetry
	switch {
	case unavailable && f.unavailable < unavailableRetries:
		d <<= f.unavailable
		f.unavailable++
	case !unavailable && !f.retried:
		f.retried = true
	default:
		t.mu.Unlock()
		return false
	}
	f.state = flowRetry
	round := f.round
	f.timer = time.AfterFunc(d, func() { t.retry(s, r.mac, round) })
	t.mu.Unlock()
	return true
}

// retry is the retry timer's trigger.
func (t *flows) retry(s *Service, mac string, round uint64) {
	if s.runCtx.Err() != nil {
		t.drop(mac, round)
		return
	}
	t.mu.Lock()
	f, ok := t.m[mac]
	if !ok || f.round != round || f.state != flowRetry {
		t.mu.Unlock()
		return
	}
	f.timer = nil
	t.requeueAndUnlock(s, mac, f)
}

// requeueAndUnlock queues f's next round and releases t.mu; a round the
// lanes refuse ends the flow and is counted.
func (t *flows) requeueAndUnlock(s *Service, mac string, f *flow) {
	kind := f.kind
	out := t.enqueueLocked(s, mac, f)
	if out != "" {
		delete(t.m, mac)
	}
	t.mu.Unlock()
	if out != "" {
		s.m.notifies.WithLabelValues(kind, out).Inc()
	}
}

// notifying marks the round's NOTIFY as sent to the dialog callID; cancel
// stops its transaction when a new boot supersedes it.
func (t *flows) notifying(mac string, round uint64, callID string, cancel context.CancelCauseFunc) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if f, ok := t.m[mac]; ok && f.round == round {
		f.state, f.notifyCallID, f.cancelNotify = flowNotify, callID, cancel
	}
}

// finish ends a round (its outcome counted by the caller): the flow goes
// unless a trigger came meanwhile, which starts its next round.
func (t *flows) finish(s *Service, mac string, round uint64) {
	t.mu.Lock()
	f, ok := t.m[mac]
	if !ok || f.round != round {
		t.mu.Unlock()
		return
	}
	f.notifyCallID, f.cancelNotify = "", nil
	if !f.again || s.runCtx.Err() != nil {
		delete(t.m, mac)
		t.mu.Unlock()
		return
	}
	f.again, f.retried, f.unavailable = false, false, 0
	f.kind, f.skipSame, f.start = f.nextKind, f.nextSkipSame, f.nextStart
	f.known = f.known || f.nextKnown
	if p, ok := s.seen.Get(mac, time.Now()); ok {
		f.phone = p
	}
	t.requeueAndUnlock(s, mac, f)
}

// drop forgets a round (the service is stopping).
func (t *flows) drop(mac string, round uint64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if f, ok := t.m[mac]; ok && f.round == round {
		delete(t.m, mac)
	}
}
