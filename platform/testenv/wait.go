package testenv

import (
	"errors"
	"testing"
	"time"
)

// pollEvery is how often WaitFor re-checks: short enough that a test does
// not wait long after the condition holds, long enough not to spin a loaded
// machine.
const pollEvery = 10 * time.Millisecond

// WaitFor polls cond until it returns true, and fails the test naming what
// when it has not within d. Tests use it instead of sleeping for "long
// enough": it waits no longer than the condition needs, and on a loaded
// machine as long as d allows.
func WaitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	if err := Poll(d, cond); err != nil {
		t.Fatalf("testenv: timed out after %v waiting for %s", d, what)
	}
}

// Poll is WaitFor for code without a testing.TB (a harness's Start, a
// goroutine), or for a test that reports the timeout with details of its
// own: it returns ErrTimeout when cond has not held within d.
func Poll(d time.Duration, cond func() bool) error {
	return PollEvery(d, pollEvery, cond)
}

// PollEvery is Poll re-checking every interval instead of every 10 ms, for
// a condition that is costly to check (it starts a process, loads a page).
func PollEvery(d, interval time.Duration, cond func() bool) error {
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			return ErrTimeout
		}
		time.Sleep(interval)
	}
	return nil
}

// ErrTimeout is Poll's error when the condition did not hold in time.
var ErrTimeout = errors.New("testenv: condition did not hold in time")
