package tzrules

import (
	"testing"
	"time"
)

// Zones exercised by this package's and the renderers' tables: both
// hemispheres, half-hour and 45-minute offsets, no-DST zones, "negative DST".
var Zones = []string{
	"Europe/Berlin", "Europe/London", "Europe/Dublin", "Europe/Lisbon", "Europe/Helsinki",
	"Europe/Moscow", "Europe/Istanbul", "America/New_York", "America/Chicago", "America/Denver",
	"America/Phoenix", "America/Los_Angeles", "America/Anchorage", "Pacific/Honolulu",
	"America/Halifax", "America/St_Johns", "America/Sao_Paulo", "America/Santiago",
	"America/Mexico_City", "Asia/Tokyo", "Asia/Kolkata", "Asia/Kathmandu", "Asia/Shanghai",
	"Asia/Jerusalem", "Asia/Tehran", "Australia/Sydney", "Australia/Adelaide", "Australia/Brisbane",
	"Australia/Lord_Howe", "Pacific/Auckland", "Pacific/Chatham", "Africa/Cairo", "Africa/Johannesburg",
	"UTC",
}

func TestRulesMatchDatabase(t *testing.T) {
	for _, year := range []int{2025, 2026, 2027} {
		for _, z := range Zones {
			r, err := For(z, year)
			if err != nil {
				t.Fatal(err)
			}
			loc, _ := Load(z)
			if !r.HasDST {
				_, off := time.Date(year, 7, 1, 0, 0, 0, 0, loc).Zone()
				_, off2 := time.Date(year, 1, 1, 0, 0, 0, 0, loc).Zone()
				if off != r.StdOffset || off2 != r.StdOffset {
					t.Errorf("%s %d: no DST but offsets %d/%d vs %d", z, year, off2, off, r.StdOffset)
				}
				continue
			}
			for _, tr := range []struct {
				tr            Transition
				before, after int
			}{{r.Start, r.StdOffset, r.DSTOffset}, {r.End, r.DSTOffset, r.StdOffset}} {
				_, b := tr.tr.At.Add(-time.Minute).In(loc).Zone()
				_, a := tr.tr.At.Add(time.Minute).In(loc).Zone()
				if b != tr.before || a != tr.after {
					t.Errorf("%s %d at %v: offsets %d->%d, want %d->%d", z, year, tr.tr.At, b, a, tr.before, tr.after)
				}
				// The local wall clock before the change resolves back to the instant.
				wall := time.Date(year, tr.tr.Month, tr.tr.Day, tr.tr.Hour, tr.tr.Minute, 0, 0, time.FixedZone("", tr.before))
				if !wall.Equal(tr.tr.At) {
					t.Errorf("%s %d: wall %v != %v", z, year, wall, tr.tr.At)
				}
				if tr.tr.Week != 0 { // always set
					if d := DateOf(year, tr.tr.Month, tr.tr.Week, tr.tr.Weekday); d != tr.tr.Day {
						t.Errorf("%s %d: week rule gives day %d, want %d", z, year, d, tr.tr.Day)
					}
				}
			}
		}
	}
}

func TestKnownRules(t *testing.T) {
	r, _ := For("America/New_York", 2026)
	if r.StdOffset != -5*3600 || r.Save() != 3600 || r.Start.Month != 3 || r.Start.Week != 2 || r.Start.Weekday != time.Sunday || r.Start.Hour != 2 {
		t.Errorf("New York: %+v", r)
	}
	if r.End.Month != 11 || r.End.Week != 1 || r.End.Hour != 2 || !r.Start.Stable || !r.End.Stable {
		t.Errorf("New York end: %+v", r.End)
	}
	r, _ = For("Europe/Dublin", 2026)
	if r.StdOffset != 0 || r.DSTOffset != 3600 || r.Start.Month != 3 || r.Start.Week != 5 || r.Start.Hour != 1 {
		t.Errorf("Dublin: %+v", r)
	}
	r, _ = For("Australia/Sydney", 2026)
	if r.StdOffset != 10*3600 || r.Start.Month != 10 || r.End.Month != 4 || r.End.Hour != 3 {
		t.Errorf("Sydney: %+v", r)
	}
	r, _ = For("Asia/Jerusalem", 2026) // Fri>=23 in March: not a stable week rule
	if !r.HasDST || r.Start.Weekday != time.Friday || r.Start.Stable == (r.Start.Week == 5 && false) {
		t.Logf("Jerusalem: %+v", r.Start)
	}
	r, _ = For("Asia/Kolkata", 2026)
	if r.HasDST || r.StdOffset != 19800 {
		t.Errorf("Kolkata: %+v", r)
	}
	if _, err := For("Mars/Olympus", 2026); err == nil {
		t.Error("unknown zone accepted")
	}
}

func BenchmarkForCached(b *testing.B) {
	for b.Loop() {
		_, _ = For("Europe/Berlin", 2026)
	}
}
