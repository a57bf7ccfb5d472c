package rpsclient

import (
	"sync"
	"time"
)

// callLimiter spaces the attempts made with each vendor account: at most
// Config.VendorRate per second with bursts of Config.VendorBurst (GCRA).
// A boot storm of assignments would otherwise send every registration at
// once, and the vendors publish no limits; their 429s are the last line,
// not the plan.
//
// An attempt that finds no room is not made to wait: reserve hands it the
// next free slot, which it records (store.Record.Slot) and is scheduled
// for; when that time comes it calls without asking again. Each deferral
// takes its own slot, so a queue of N drains at the rate instead of all
// retrying at once. The limit is per replica.
type callLimiter struct {
	interval  time.Duration // 1 / rate
	tolerance time.Duration // (burst - 1) × interval

	mu    sync.Mutex
	tat   map[string]time.Time // per account: theoretical arrival time of the next call
	swept time.Time            // last time idle accounts were forgotten
}

func newCallLimiter(rate float64, burst int) *callLimiter {
	if rate <= 0 {
		return nil // no limit
	}
	interval := time.Duration(float64(time.Second) / rate)
	return &callLimiter{interval: interval, tolerance: time.Duration(max(burst, 1)-1) * interval, tat: map[string]time.Time{}}
}

// reserve takes the account's next slot at or after now and returns its
// time: now when the call may go at once.
func (l *callLimiter) reserve(account string, now time.Time) time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	tat := l.tat[account]
	if tat.Before(now) {
		tat = now
	}
	at := tat.Add(-l.tolerance)
	l.tat[account] = tat.Add(l.interval)
	// Forget accounts that are idle again, at most once a minute (a scan
	// per call would cost O(accounts) when they are all busy).
	if len(l.tat) > 4096 && now.Sub(l.swept) > time.Minute {
		l.swept = now
		for k, t := range l.tat {
			if t.Before(now) {
				delete(l.tat, k)
			}
		}
	}
	if at.Before(now) {
		return now
	}
	return at
}
