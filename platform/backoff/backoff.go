// Package backoff paces retries: delays that double from a base up to a
// cap, with jitter so that the processes a shared outage interrupted (every
// replica losing NATS or Redis at the same moment) do not come back in
// lockstep. It is the one retry pacing of the suite; a retry loop is
//
//	b := backoff.New(backoff.Policy{Base: 100 * time.Millisecond, Max: 5 * time.Second})
//	for {
//		err := try()
//		if err == nil { break }
//		if backoff.Wait(ctx, b.Next()) != nil { return ctx.Err() }
//	}
//
// or Retry, which is that loop.
package backoff

import (
	"context"
	"math/rand/v2"
	"time"
)

// Policy is an exponential backoff: the n-th wait is Base·2^(n-1), at most
// Max, with equal jitter (a uniformly random wait between half of that and
// all of it). Equal jitter keeps at least half the delay, so a retry never
// comes much sooner than the unjittered schedule would have it, while two
// processes that failed together drift apart.
type Policy struct {
	Base time.Duration
	Max  time.Duration // Base when smaller
}

// Ceiling is the n-th delay before jitter (n ≥ 1; smaller counts as 1):
// Base·2^(n-1), at most Max.
func (p Policy) Ceiling(n int) time.Duration {
	hi := max(p.Max, p.Base)
	d := p.Base
	for i := 1; i < n && d > 0 && d < hi; i++ {
		d *= 2
	}
	return min(d, hi)
}

// Delay is the n-th wait (n ≥ 1): Ceiling(n) with equal jitter, in
// [Ceiling(n)/2, Ceiling(n)].
func (p Policy) Delay(n int) time.Duration {
	return Jitter(p.Ceiling(n))
}

// Jitter returns a uniformly random duration in [d/2, d].
func Jitter(d time.Duration) time.Duration {
	if d <= 1 {
		return max(d, 0)
	}
	return d/2 + rand.N(d-d/2+1)
}

// Backoff counts the failures of one retry loop. Its zero value is not
// usable; make one with New.
type Backoff struct {
	p Policy
	n int
}

// New starts a retry loop with p.
func New(p Policy) *Backoff { return &Backoff{p: p} }

// Next counts a failure and returns how long to wait before the next try.
func (b *Backoff) Next() time.Duration {
	b.n++
	return b.p.Delay(b.n)
}

// Reset starts again from Base, after a success.
func (b *Backoff) Reset() { b.n = 0 }

// Wait waits d or until ctx ends, and returns ctx.Err() in the second case.
func Wait(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Retry calls try until it returns nil, waiting p's delays between the
// calls; each failure is first handed to failed (if not nil) with the wait
// that follows, for logging. It returns nil, or ctx.Err() once ctx ends
// (then try is not called again).
func Retry(ctx context.Context, p Policy, try func(context.Context) error, failed func(err error, wait time.Duration)) error {
	b := New(p)
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		err := try(ctx)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		wait := b.Next()
		if failed != nil {
			failed(err, wait)
		}
		if err := Wait(ctx, wait); err != nil {
			return err
		}
	}
}
