package server

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/dialtone-voip/dialtone/services/inventory/internal/store"
)

// Fan-out jobs. A change to an extension, SIP interface or tenant changes
// the profile of every phone that uses it, and each of those phones gets
// its own batch (and UPDATED event, which makes pnp-listener send a
// check-sync) after the change commits. So that a crash or a store error
// in between loses none of them, the change's own batch also writes a job
// record (store.KindJob, id = the changed record's ref). The RPC then
// touches the phones and deletes the job at the revision it wrote; a job
// still there later — the process died, a phone could not be written, or
// another change rewrote the job meanwhile — is finished by RunFanouts.

// fanoutJob is the op that records a fan-out for ref in a change's batch.
// Its value is "{unix nanoseconds} {why}"; a later change of the same ref
// replaces it (one pending fan-out covers both).
func (s *Server) fanoutJob(ref, why string) store.Op {
	return store.Op{Kind: store.KindJob, ID: ref, Expect: store.ExpectAny,
		Value: []byte(strconv.FormatInt(s.now().UnixNano(), 10) + " " + why)}
}

// fanOut touches the phones that refer to ref and, when every one was
// written, deletes the job written at revision rev.
func (s *Server) fanOut(ctx context.Context, ref, why string, rev int64) {
	if s.skipFanout.Load() {
		return
	}
	if err := s.touchReferrers(ctx, ref, why); err != nil {
		return // the job stays; RunFanouts retries
	}
	_, err := s.st.Apply(ctx, func(int64) (store.Batch, error) {
		return store.Batch{Ops: []store.Op{{Kind: store.KindJob, ID: ref, Delete: true, Expect: rev}}}, nil
	})
	if err != nil && !errors.Is(err, store.ErrConflict) && !errors.Is(err, store.ErrNotFound) {
		// Conflict: rewritten by a later change, whose own fan-out deletes it.
		s.log.Warn("cannot delete a finished fan-out job; it will run again", "ref", ref, "err", err)
	}
}

func parseJob(v []byte) (time.Time, string) {
	at, why, _ := strings.Cut(string(v), " ")
	n, _ := strconv.ParseInt(at, 10, 64)
	return time.Unix(0, n), why
}

// Fan-out jobs younger than fanoutGrace are left to the RPC that wrote
// them (still touching its phones); older ones are taken to be abandoned.
const (
	fanoutGrace = time.Minute
	fanoutEvery = 30 * time.Second
)

// RunFanouts finishes abandoned fan-out jobs every 30 s until ctx ends.
func (s *Server) RunFanouts(ctx context.Context) error {
	t := time.NewTicker(fanoutEvery)
	defer t.Stop()
	for {
		if _, err := s.FinishFanouts(ctx, fanoutGrace); err != nil && ctx.Err() == nil {
			s.log.Warn("finishing fan-out jobs failed; will retry", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// FinishFanouts runs every fan-out job older than grace and returns how
// many it ran.
func (s *Server) FinishFanouts(ctx context.Context, grace time.Duration) (int, error) {
	n, after := 0, ""
	for {
		recs, err := s.st.List(ctx, store.ListQuery{Kind: store.KindJob, After: after, Limit: 100})
		if err != nil {
			return n, err
		}
		for _, r := range recs {
			at, why := parseJob(r.Value)
			if s.now().Sub(at) < grace {
				continue
			}
			s.log.Info("finishing an abandoned fan-out", "ref", r.ID, "revision", r.Rev)
			s.fanOut(ctx, r.ID, why, r.Rev)
			n++
		}
		if len(recs) < 100 {
			return n, nil
		}
		after = recs[len(recs)-1].ID
	}
}
