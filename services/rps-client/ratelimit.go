package rpsclient

import (
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// callLimiter spaces the attempts made with each vendor account: at most
// Config.VendorRate per second with bursts of Config.VendorBurst, one
// rate.Limiter per account. A boot storm of assignments would otherwise
// send every registration at once, and the vendors publish no limits;
// their 429s are the last line, not the plan.
//
// An attempt that finds no room is not made to wait: reserve hands it the
// next free slot (rate.Limiter.ReserveN), which it records
// (store.Record.Slot) and is scheduled for; when that time comes it calls
// without asking again. Each deferral takes its own slot, so a queue of N
// drains at the rate instead of all retrying at once. The limit is per
// replica.
type callLimiter struct {
	limit rate.Limit
	burst int

	mu       sync.Mutex
	accounts map[string]*rate.Limiter
	swept    time.Time // last time idle accounts were forgotten
}

func newCallLimiter(r float64, burst int) *callLimiter {
	if r <= 0 {
		return nil // no limit
	}
	return &callLimiter{limit: rate.Limit(r), burst: max(burst, 1), accounts: map[string]*rate.Limiter{}}
}

// reserve takes the account's next slot at or after now and returns its
// time: now when the call may go at once.
func (l *callLimiter) reserve(account string, now time.Time) time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	lim := l.accounts[account]
	if lim == nil {
		lim = rate.NewLimiter(l.limit, l.burst)
		l.accounts[account] = lim
	}
	// One token never exceeds the burst, so the reservation is always OK;
	// it is kept (never cancelled): the caller holds the slot.
	at := now.Add(lim.ReserveN(now, 1).DelayFrom(now))
	// Forget accounts that are idle again (a full bucket, as a new limiter
	// would be), at most once a minute (a scan per call would cost
	// O(accounts) when they are all busy).
	if len(l.accounts) > 4096 && now.Sub(l.swept) > time.Minute {
		l.swept = now
		for k, a := range l.accounts {
			if a.TokensAt(now) >= float64(l.burst) {
				delete(l.accounts, k)
			}
		}
	}
	return at
}
