package backoff_test

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/dialtone-voip/dialtone/platform/backoff"
)

func TestCeilingDoublesToMax(t *testing.T) {
	p := backoff.Policy{Base: 100 * time.Millisecond, Max: time.Second}
	want := []time.Duration{100, 100, 200, 400, 800, 1000, 1000}
	for n, w := range want {
		if got := p.Ceiling(n); got != w*time.Millisecond {
			t.Errorf("Ceiling(%d) = %v, want %v", n, got, w*time.Millisecond)
		}
	}
	if got := p.Ceiling(1 << 30); got != time.Second {
		t.Errorf("Ceiling(huge) = %v", got)
	}
	if got := (backoff.Policy{Base: time.Second}).Ceiling(5); got != time.Second {
		t.Errorf("Max below Base: %v, want Base", got)
	}
	if got := (backoff.Policy{Max: time.Second}).Ceiling(5); got != 0 {
		t.Errorf("zero Base: %v", got)
	}
}

// TestJitterBounds: every delay lies in [ceiling/2, ceiling], and the
// delays of one step are not all the same (processes drift apart).
func TestJitterBounds(t *testing.T) {
	p := backoff.Policy{Base: 100 * time.Millisecond, Max: 5 * time.Second}
	for n := 1; n <= 10; n++ {
		c := p.Ceiling(n)
		seen := map[time.Duration]bool{}
		for range 200 {
			d := p.Delay(n)
			if d < c/2 || d > c {
				t.Fatalf("Delay(%d) = %v outside [%v, %v]", n, d, c/2, c)
			}
			seen[d] = true
		}
		if len(seen) < 10 {
			t.Fatalf("Delay(%d): only %d distinct values in 200", n, len(seen))
		}
	}
	for _, d := range []time.Duration{-1, 0, 1} {
		if got := backoff.Jitter(d); got != max(d, 0) {
			t.Errorf("Jitter(%v) = %v", d, got)
		}
	}
}

func TestBackoffNextReset(t *testing.T) {
	p := backoff.Policy{Base: time.Second, Max: 4 * time.Second}
	b := backoff.New(p)
	for i, c := range []time.Duration{1, 2, 4, 4, 4} {
		c *= time.Second
		if d := b.Next(); d < c/2 || d > c {
			t.Fatalf("wait %d = %v, want in [%v, %v]", i+1, d, c/2, c)
		}
	}
	b.Reset()
	if d := b.Next(); d > time.Second {
		t.Fatalf("after Reset: %v", d)
	}
}

// TestRetry: Retry calls again after each failure, waiting the policy's
// jittered delays (checked on the bubble's fake clock), reports each
// failure with its wait, and returns nil on success.
func TestRetry(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := backoff.Policy{Base: 100 * time.Millisecond, Max: 400 * time.Millisecond}
		var (
			calls []time.Time
			waits []time.Duration
		)
		start := time.Now()
		err := backoff.Retry(t.Context(), p, func(context.Context) error {
			calls = append(calls, time.Now())
			if len(calls) < 5 {
				return errors.New("down")
			}
			return nil
		}, func(err error, wait time.Duration) { waits = append(waits, wait) })
		if err != nil {
			t.Fatal(err)
		}
		if len(calls) != 5 || len(waits) != 4 {
			t.Fatalf("%d calls, %d waits", len(calls), len(waits))
		}
		prev := start
		for i, at := range calls {
			gap := at.Sub(prev)
			if i == 0 {
				if gap != 0 {
					t.Fatalf("first call after %v", gap)
				}
			} else {
				c := p.Ceiling(i)
				if gap != waits[i-1] || gap < c/2 || gap > c {
					t.Fatalf("call %d came %v after the one before (reported wait %v, ceiling %v)", i+1, gap, waits[i-1], c)
				}
			}
			prev = at
		}
	})
}

// TestRetryStopsWithContext: once ctx ends Retry returns its error, also
// while waiting, and does not call again.
func TestRetryStopsWithContext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
		defer cancel()
		calls := 0
		err := backoff.Retry(ctx, backoff.Policy{Base: time.Second, Max: 10 * time.Second}, func(context.Context) error {
			calls++
			return errors.New("down")
		}, nil)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("err = %v", err)
		}
		// Waits of 0.5–1, 1–2, 2–4, 4–8 and then 5–10 s: 9 to 15 calls fit in a minute.
		if calls < 9 || calls > 15 {
			t.Fatalf("%d calls in a minute", calls)
		}
		cancel()
		if err := backoff.Retry(ctx, backoff.Policy{Base: time.Second}, func(context.Context) error {
			t.Fatal("called after ctx ended")
			return nil
		}, nil); !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("err = %v", err)
		}
	})
}

func TestWait(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		if err := backoff.Wait(t.Context(), 3*time.Second); err != nil || time.Since(start) != 3*time.Second {
			t.Fatalf("Wait: %v after %v", err, time.Since(start))
		}
		ctx, cancel := context.WithCancel(t.Context())
		time.AfterFunc(time.Second, cancel)
		start = time.Now()
		if err := backoff.Wait(ctx, time.Hour); !errors.Is(err, context.Canceled) || time.Since(start) != time.Second {
			t.Fatalf("Wait: %v after %v", err, time.Since(start))
		}
	})
}
