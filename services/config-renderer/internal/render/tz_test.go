package render

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dialtone-voip/dialtone/services/config-renderer/internal/tzrules"
)

// tzZones: 30 zones on both hemispheres, with and without DST, with half-hour
// and 45-minute offsets and "negative DST" (Dublin).
var tzZones = []string{
	"Europe/Berlin", "Europe/London", "Europe/Dublin", "Europe/Lisbon", "Europe/Helsinki", "Europe/Madrid",
	"Europe/Moscow", "Europe/Istanbul", "America/New_York", "America/Chicago", "America/Denver",
	"America/Phoenix", "America/Los_Angeles", "America/Anchorage", "Pacific/Honolulu", "America/Halifax",
	"America/St_Johns", "America/Sao_Paulo", "America/Santiago", "America/Mexico_City", "Asia/Tokyo",
	"Asia/Kolkata", "Asia/Kathmandu", "Asia/Shanghai", "Asia/Jerusalem", "Australia/Sydney",
	"Australia/Adelaide", "Australia/Brisbane", "Pacific/Auckland", "Africa/Cairo", "Africa/Johannesburg", "UTC",
}

// offsetFunc gives the UTC offset (seconds) a phone would compute at t from the
// vendor's encoding, decoded independently of the encoder.
type offsetFunc func(t time.Time) int

// probes are the instants checked for a zone/year: a minute either side of each
// transition, and mid-winter/mid-summer.
func probes(r *tzrules.Rules) []time.Time {
	ts := []time.Time{time.Date(r.Year, 1, 15, 12, 0, 0, 0, time.UTC), time.Date(r.Year, 7, 15, 12, 0, 0, 0, time.UTC)}
	if r.HasDST {
		for _, at := range []time.Time{r.Start.At, r.End.At} {
			ts = append(ts, at.Add(-time.Minute), at.Add(time.Minute), at.Add(-25*time.Hour), at.Add(25*time.Hour))
		}
	}
	return ts
}

// between reports whether t is in DST given the UTC instants of start and end
// (either order: southern-hemisphere DST spans the new year).
func between(t, start, end time.Time) bool {
	if start.Before(end) {
		return !t.Before(start) && t.Before(end)
	}
	return !t.Before(start) || t.Before(end)
}

func wallToUTC(year int, m time.Month, d, h, min int, offset int) time.Time {
	return time.Date(year, m, d, h, min, 0, 0, time.FixedZone("", offset))
}

func decodeYealink(r *tzrules.Rules, v map[string]string) (offsetFunc, error) {
	std, err := parseSignedHM(v["offset"], ":")
	if err != nil {
		return nil, err
	}
	if v["summer"] == "0" {
		return func(time.Time) int { return std }, nil
	}
	save, _ := strconv.Atoi(v["save"])
	var sm, sd, sh, em, ed, eh int
	if _, err := fmt.Sscanf(v["start"]+" "+v["end"], "%d/%d/%d %d/%d/%d", &sm, &sd, &sh, &em, &ed, &eh); err != nil {
		return nil, err
	}
	dst := std + save*60
	start := wallToUTC(r.Year, time.Month(sm), sd, sh, 0, std)
	end := wallToUTC(r.Year, time.Month(em), ed, eh, 0, dst)
	return func(t time.Time) int {
		if between(t, start, end) {
			return dst
		}
		return std
	}, nil
}

func parseSignedHM(s, sep string) (int, error) {
	sign := 1
	switch {
	case strings.HasPrefix(s, "-"):
		sign, s = -1, s[1:]
	case strings.HasPrefix(s, "+"):
		s = s[1:]
	}
	h, m, _ := strings.Cut(s, sep)
	hh, err := strconv.Atoi(h)
	if err != nil {
		return 0, err
	}
	mm := 0
	if m != "" {
		if mm, err = strconv.Atoi(m); err != nil {
			return 0, err
		}
	}
	return sign * (hh*3600 + mm*60), nil
}

// weekRule resolves "week w (5 = last) weekday wd of month m" to a day.
func weekRule(year, m, w, wd int) int {
	return tzrules.DateOf(year, time.Month(m), w, time.Weekday(wd))
}

func decodeFanvil(r *tzrules.Rules, v map[string]string) (offsetFunc, error) {
	q, err := strconv.Atoi(v["zone"])
	if err != nil {
		return nil, err
	}
	std := q * 900
	if v["dst"] == "0" {
		return func(time.Time) int { return std }, nil
	}
	save, _ := strconv.Atoi(v["offset"])
	dst := std + save*60
	at := func(p string, off int) time.Time {
		m, _ := strconv.Atoi(v[p+"Mon"])
		w, _ := strconv.Atoi(v[p+"Week"])
		if w == -1 {
			w = 5
		}
		wd, _ := strconv.Atoi(v[p+"Wday"])
		h, _ := strconv.Atoi(v[p+"Hour"])
		return wallToUTC(r.Year, time.Month(m), weekRule(r.Year, m, w, wd), h, 0, off)
	}
	start, end := at("Start", std), at("End", dst)
	return func(t time.Time) int {
		if between(t, start, end) {
			return dst
		}
		return std
	}, nil
}

var posixRE = regexp.MustCompile(`^([A-Za-z]{3,})(-?\d+(?::\d\d)?)(?:([A-Za-z]{3,})(-?\d+(?::\d\d)?),(M\d+\.\d\.\d|J\d+)/(\d\d):(\d\d):00,(M\d+\.\d\.\d|J\d+)/(\d\d):(\d\d):00)?$`)

func decodePOSIX(r *tzrules.Rules, s string) (offsetFunc, error) {
	m := posixRE.FindStringSubmatch(s)
	if m == nil {
		return nil, fmt.Errorf("not a POSIX TZ string: %q", s)
	}
	west, err := parseSignedHM(m[2], ":")
	if err != nil {
		return nil, err
	}
	std := -west
	if m[3] == "" {
		return func(time.Time) int { return std }, nil
	}
	w2, _ := parseSignedHM(m[4], ":")
	dst := -w2
	day := func(rule string) (time.Month, int) {
		if strings.HasPrefix(rule, "J") {
			n, _ := strconv.Atoi(rule[1:])
			d := time.Date(r.Year, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, n-1)
			if isLeap(r.Year) && n >= 60 {
				d = d.AddDate(0, 0, 1)
			}
			return d.Month(), d.Day()
		}
		var mo, w, wd int
		fmt.Sscanf(rule, "M%d.%d.%d", &mo, &w, &wd)
		return time.Month(mo), weekRule(r.Year, mo, w, wd)
	}
	sm, sd := day(m[5])
	em, ed := day(m[8])
	sh, _ := strconv.Atoi(m[6])
	smin, _ := strconv.Atoi(m[7])
	eh, _ := strconv.Atoi(m[9])
	emin, _ := strconv.Atoi(m[10])
	start, end := wallToUTC(r.Year, sm, sd, sh, smin, std), wallToUTC(r.Year, em, ed, eh, emin, dst)
	return func(t time.Time) int {
		if between(t, start, end) {
			return dst
		}
		return std
	}, nil
}

func decodePoly(r *tzrules.Rules, v map[string]string) (offsetFunc, error) {
	std, err := strconv.Atoi(v["offset"])
	if err != nil {
		return nil, err
	}
	if v["dst"] == "0" {
		return func(time.Time) int { return std }, nil
	}
	dst := std + 3600 // Poly's saving is always one hour
	at := func(p string, off int) time.Time {
		get := func(k string) int { n, _ := strconv.Atoi(v[p+"."+k]); return n }
		m, date, h := get("month"), get("date"), get("time")
		d := date
		if v["fixed"] == "0" {
			wd := get("dow") - 1
			if get("last") == 1 {
				d = weekRule(r.Year, m, 5, wd)
			} else {
				d = weekRule(r.Year, m, (date-1)/7+1, wd)
			}
		}
		return wallToUTC(r.Year, time.Month(m), d, h, 0, off)
	}
	start, end := at("start", std), at("stop", dst)
	return func(t time.Time) int {
		if between(t, start, end) {
			return dst
		}
		return std
	}, nil
}

func decodeCisco(r *tzrules.Rules, v map[string]string) (offsetFunc, error) {
	std, err := parseSignedHM(strings.TrimPrefix(v["zone"], "GMT"), ":")
	if err != nil {
		return nil, err
	}
	if v["dst"] == "No" {
		return func(time.Time) int { return std }, nil
	}
	parts := map[string]string{}
	for _, kv := range strings.Split(v["rule"], ";") {
		k, val, _ := strings.Cut(kv, "=")
		parts[k] = val
	}
	save, err := parseSignedHM(parts["save"], ":")
	if err != nil {
		return nil, err
	}
	dst := std + save
	at := func(s string, off int) time.Time {
		var m, d, w, h, mi, sec int
		fmt.Sscanf(s, "%d/%d/%d/%d:%d:%d", &m, &d, &w, &h, &mi, &sec)
		day := d
		switch {
		case w == 0:
		case d == -1:
			day = weekRule(r.Year, m, 5, w%7)
		default: // first weekday w (1=Mon..7=Sun) on or after d
			t := time.Date(r.Year, time.Month(m), d, 0, 0, 0, 0, time.UTC)
			for int(t.Weekday()) != w%7 {
				t = t.AddDate(0, 0, 1)
			}
			day = t.Day()
		}
		return wallToUTC(r.Year, time.Month(m), day, h, mi, off)
	}
	start, end := at(parts["start"], std), at(parts["end"], dst)
	return func(t time.Time) int {
		if between(t, start, end) {
			return dst
		}
		return std
	}, nil
}

// decodeNamed: the vendor applies the named zone's own rules.
func decodeNamed(zone string) (offsetFunc, error) {
	loc, err := tzrules.Load(canonical(zone))
	if err != nil {
		return nil, err
	}
	return func(t time.Time) int { _, o := t.In(loc).Zone(); return o }, nil
}

func TestTimeZoneEncodings(t *testing.T) {
	type dec func(r *tzrules.Rules, tz *TZ) (offsetFunc, error)
	vendors := map[string]dec{
		"yealink":     func(r *tzrules.Rules, tz *TZ) (offsetFunc, error) { return decodeYealink(r, tz.V) },
		"fanvil":      func(r *tzrules.Rules, tz *TZ) (offsetFunc, error) { return decodeFanvil(r, tz.V) },
		"grandstream": func(r *tzrules.Rules, tz *TZ) (offsetFunc, error) { return decodePOSIX(r, tz.V["posix"]) },
		"poly":        func(r *tzrules.Rules, tz *TZ) (offsetFunc, error) { return decodePoly(r, tz.V) },
		"cisco":       func(r *tzrules.Rules, tz *TZ) (offsetFunc, error) { return decodeCisco(r, tz.V) },
		"gigaset":     func(r *tzrules.Rules, tz *TZ) (offsetFunc, error) { return decodeNamed(tz.V["name"]) },
		"snom": func(r *tzrules.Rules, tz *TZ) (offsetFunc, error) {
			for _, z := range snomZones {
				if z.id == tz.V["id"] {
					return decodeNamed(z.zone)
				}
			}
			return nil, fmt.Errorf("unknown snom id %q", tz.V["id"])
		},
		"htek": func(r *tzrules.Rules, tz *TZ) (offsetFunc, error) {
			for off, idx := range htekZones {
				if idx == tz.V["index"] {
					// The phone applies its own DST for the index (P75=2); only the
					// standard offset and the DST switch are ours to check.
					if (tz.V["dst"] == "2") != r.HasDST {
						return nil, fmt.Errorf("P75 %s for HasDST %v", tz.V["dst"], r.HasDST)
					}
					return func(time.Time) int { return off }, nil
				}
			}
			return nil, fmt.Errorf("unknown htek index")
		},
	}
	supported := map[string]int{}
	for _, year := range []int{2026, 2027} {
		for _, zone := range tzZones {
			r, err := tzrules.For(zone, year)
			if err != nil {
				t.Fatal(err)
			}
			loc, _ := tzrules.Load(zone)
			for vendor, decode := range vendors {
				tz, err := specs[vendor].tz(r)
				if err != nil {
					if !errors.Is(err, ErrInvalid) {
						t.Errorf("%s %s: %v", vendor, zone, err)
					}
					continue // the vendor cannot express this zone: refused, never approximated
				}
				supported[vendor]++
				f, err := decode(r, tz)
				if err != nil {
					t.Errorf("%s %s %d: decode %v: %v", vendor, zone, year, tz.V, err)
					continue
				}
				for _, at := range probes(r) {
					_, want := at.In(loc).Zone()
					if vendor == "htek" {
						want = r.StdOffset
					}
					if got := f(at); got != want {
						t.Errorf("%s %s %d at %s: encoding %v gives offset %d, tz database %d", vendor, zone, year, at.Format(time.RFC3339), tz.V, got, want)
					}
				}
			}
		}
	}
	for vendor := range vendors {
		if supported[vendor] < 25*2 && vendor != "gigaset" && vendor != "snom" {
			t.Errorf("%s supports only %d zone-years", vendor, supported[vendor])
		}
		t.Logf("%s: %d of %d zone-years expressible", vendor, supported[vendor], 2*len(tzZones))
	}
}

func TestPOSIXStrings(t *testing.T) {
	for zone, want := range map[string]string{
		"Europe/Berlin":    "CET-1CEST-2,M3.5.0/02:00:00,M10.5.0/03:00:00",
		"America/New_York": "EST5EDT4,M3.2.0/02:00:00,M11.1.0/02:00:00",
		"Asia/Kolkata":     "IST-5:30",
		"Australia/Sydney": "AEST-10AEDT-11,M10.1.0/02:00:00,M4.1.0/03:00:00",
		"UTC":              "UTC0",
	} {
		r, _ := tzrules.For(zone, 2026)
		if got := POSIX(r); got != want {
			t.Errorf("%s: %s, want %s", zone, got, want)
		}
	}
}
