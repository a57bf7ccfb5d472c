package rpsclient

import (
	"context"
	"errors"
	"time"

	"github.com/dialtone-voip/dialtone/services/rps-client/internal/store"
)

// sweepLoop deletes expired statuses every Config.SweepInterval.
func (s *Service) sweepLoop(ctx context.Context) {
	t := time.NewTicker(s.cfg.SweepInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if n, err := s.SweepDeregistered(ctx); err != nil && ctx.Err() == nil {
				s.log.Warn("sweeping expired statuses failed", "deleted", n, "error", err.Error())
			} else if n > 0 {
				s.log.Info("expired statuses deleted", "deleted", n, "older_than", s.cfg.DeregisteredTTL.String())
			}
		}
	}
}

// SweepDeregistered deletes the status (record, intent, retry entry) of
// every phone deregistered more than Config.DeregisteredTTL ago, so that
// phones deleted over the years leave nothing behind. It returns how many
// it deleted. A status is kept while anything is pending for it: a
// registration held at a vendor, a register intent, a scheduled retry, or
// a worker holding the MAC.
func (s *Service) SweepDeregistered(ctx context.Context) (int, error) {
	if s.cfg.DeregisteredTTL <= 0 {
		return 0, nil
	}
	cutoff := s.now().Add(-s.cfg.DeregisteredTTL)
	n, after := 0, ""
	for {
		recs, next, err := s.store.List(ctx, after, 256, func(r *store.Record) bool { return expired(r, cutoff) })
		if err != nil {
			return n, err
		}
		for _, r := range recs {
			ok, err := s.expire(ctx, r.MAC, cutoff)
			if err != nil {
				return n, err
			}
			if ok {
				n++
				s.metrics.expired.Inc()
			}
		}
		if next == "" {
			return n, nil
		}
		after = next
	}
}

// expired reports whether r is a status of a phone deregistered before
// cutoff (records from before Deregistered was kept use their last attempt).
func expired(r *store.Record, cutoff time.Time) bool {
	at := r.Deregistered
	if at.IsZero() {
		at = r.LastAttempt
	}
	return r.State == stDeregistered && !r.Held && at.Before(cutoff)
}

// expire deletes mac's status if, under its lock, it is still expired and
// nothing is pending for it.
func (s *Service) expire(ctx context.Context, mac string, cutoff time.Time) (bool, error) {
	unlock, err := s.store.Lock(ctx, mac, s.cfg.LockTTL)
	if errors.Is(err, store.ErrLocked) {
		return false, nil // being worked on: not expired
	}
	if err != nil {
		return false, err
	}
	defer unlock()
	rec, err := s.store.Record(ctx, mac)
	if err != nil || rec == nil || !expired(rec, cutoff) {
		return false, err
	}
	in, err := s.store.Intent(ctx, mac)
	if err != nil || in != nil && in.Op == store.OpRegister {
		return false, err
	}
	if at, err := s.store.ScheduledAt(ctx, mac); err != nil || !at.IsZero() {
		return false, err
	}
	return true, s.store.DeleteRecord(ctx, mac)
}
