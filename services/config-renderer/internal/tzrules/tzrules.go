// Package tzrules derives a time zone's UTC offsets and daylight-saving rules for
// one year from Go's time zone database (time.LoadLocation and the zone
// transitions it reports), so renderers encode what the tz database says instead
// of hand-copied tables. Results are cached per (zone, year).
package tzrules

import (
	"fmt"
	"sync"
	"time"
	_ "time/tzdata" // the database travels with the binary; phones must not depend on the host's zoneinfo
)

// Transition is one DST change, expressed the way phones take it: the local wall
// clock just before the change (in the offset in force before it).
type Transition struct {
	At      time.Time // the instant, UTC
	Month   time.Month
	Day     int
	Weekday time.Weekday
	Hour    int
	Minute  int
	// Week is the week-of-month form of this year's date: 1..4 for the n-th
	// weekday of the month, 5 for the last one.
	Week int
	// Stable reports whether the week-of-month form also gives next year's change
	// (false for rules like "Fri>=23"); encoders that can take an exact date then
	// use the date for Year instead.
	Stable bool
}

// Rules is a zone's time keeping for one calendar year.
type Rules struct {
	Zone string
	Year int
	// StdOffset is the offset outside DST, seconds east of UTC.
	StdOffset int
	// DSTOffset is the offset during DST (equal to StdOffset when HasDST is false).
	DSTOffset int
	HasDST    bool
	// Start is the change into DST (to DSTOffset), End the change back. For
	// southern-hemisphere zones End comes before Start within the year.
	Start, End Transition
}

// Save is the DST saving in seconds.
func (r *Rules) Save() int { return r.DSTOffset - r.StdOffset }

type key struct {
	zone string
	year int
}

var cache sync.Map // key -> *Rules

// For returns the rules of zone for year. Rules are immutable and shared.
func For(zone string, year int) (*Rules, error) {
	if v, ok := cache.Load(key{zone, year}); ok {
		return v.(*Rules), nil
	}
	r, err := compute(zone, year)
	if err != nil {
		return nil, err
	}
	v, _ := cache.LoadOrStore(key{zone, year}, r)
	return v.(*Rules), nil
}

// Load is time.LoadLocation, cached.
func Load(zone string) (*time.Location, error) {
	if zone == "" {
		return nil, fmt.Errorf("empty time zone")
	}
	if v, ok := locs.Load(zone); ok {
		return v.(*time.Location), nil
	}
	loc, err := time.LoadLocation(zone)
	if err != nil {
		return nil, fmt.Errorf("unknown time zone %q: %w", zone, err)
	}
	locs.Store(zone, loc)
	return loc, nil
}

var locs sync.Map

type change struct {
	at         time.Time
	before     int // offset before
	after      int // offset after
	wallBefore time.Time
}

// transitions lists the offset changes in [Jan 1 year, Jan 1 year+1) local time.
func transitions(loc *time.Location, year int) []change {
	start := time.Date(year, 1, 1, 0, 0, 0, 0, loc)
	end := time.Date(year+1, 1, 1, 0, 0, 0, 0, loc)
	var out []change
	t := start
	for i := 0; i < 16; i++ {
		_, zend := t.ZoneBounds()
		if zend.IsZero() || !zend.Before(end) {
			break
		}
		_, before := t.Zone()
		_, after := zend.Zone()
		if before != after { // abbreviation-only changes are not transitions for a phone
			out = append(out, change{at: zend.UTC(), before: before, after: after,
				wallBefore: zend.In(time.FixedZone("", before))})
		}
		t = zend
	}
	return out
}

func compute(zone string, year int) (*Rules, error) {
	loc, err := Load(zone)
	if err != nil {
		return nil, err
	}
	r := &Rules{Zone: zone, Year: year}
	ch := transitions(loc, year)
	if len(ch) < 2 {
		// No DST this year (or a permanent change): the offset in force at the end
		// of the year is the one the phone should keep.
		_, off := time.Date(year, 12, 31, 12, 0, 0, 0, loc).Zone()
		r.StdOffset, r.DSTOffset = off, off
		return r, nil
	}
	// DST is the larger of the offsets: robust against zones whose tzdata marks
	// winter as "negative DST" (Europe/Dublin).
	lo, hi := ch[0].before, ch[0].before
	for _, c := range ch {
		lo, hi = min(lo, c.before, c.after), max(hi, c.before, c.after)
	}
	r.StdOffset, r.DSTOffset, r.HasDST = lo, hi, true
	var startC, endC *change
	for i := range ch {
		c := &ch[i]
		if c.after == hi && startC == nil {
			startC = c
		}
		if c.after == lo && endC == nil {
			endC = c
		}
	}
	if startC == nil || endC == nil {
		r.HasDST = false
		r.DSTOffset = r.StdOffset
		return r, nil
	}
	r.Start = mkTransition(*startC)
	r.End = mkTransition(*endC)
	// A week-of-month form is offered only when it reproduces next year's change too.
	if next := transitions(loc, year+1); len(next) >= 2 {
		for _, c := range next {
			switch {
			case c.after == hi:
				r.Start.Stable = sameWeekRule(r.Start, mkTransition(c))
			case c.after == lo:
				r.End.Stable = sameWeekRule(r.End, mkTransition(c))
			}
		}
	}
	return r, nil
}

func mkTransition(c change) Transition {
	w := c.wallBefore
	t := Transition{At: c.at, Month: w.Month(), Day: w.Day(), Weekday: w.Weekday(), Hour: w.Hour(), Minute: w.Minute()}
	t.Week = (t.Day-1)/7 + 1
	if t.Day+7 > daysIn(w.Year(), w.Month()) {
		t.Week = 5
	}
	return t
}

func sameWeekRule(a, b Transition) bool {
	return a.Month == b.Month && a.Week == b.Week && a.Weekday == b.Weekday && a.Hour == b.Hour && a.Minute == b.Minute
}

func daysIn(year int, m time.Month) int {
	return time.Date(year, m+1, 0, 0, 0, 0, 0, time.UTC).Day()
}

// DateOf resolves a week-of-month rule (week 1..4, 5 = last) in year to a day of month.
func DateOf(year int, m time.Month, week int, wd time.Weekday) int {
	if week == 5 {
		last := daysIn(year, m)
		lwd := time.Date(year, m, last, 0, 0, 0, 0, time.UTC).Weekday()
		return last - (int(lwd)-int(wd)+7)%7
	}
	fwd := time.Date(year, m, 1, 0, 0, 0, 0, time.UTC).Weekday()
	return 1 + (int(wd)-int(fwd)+7)%7 + (week-1)*7
}
