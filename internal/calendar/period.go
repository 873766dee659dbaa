package calendar

import (
	"fmt"
	"regexp"
	"strconv"
	"time"
)

// period is a period of the API: a number from 1 to 99999 and a unit.
var period = regexp.MustCompile(`^([1-9][0-9]{0,4})(d|w|mo|y)$`)

// Period is a period as written in a spec (`30d`, `2w`, `18mo`, `3y`).
type Period struct {
	// N is the number, 1 to 99999.
	N int
	// Unit is d (days), w (weeks), mo (calendar months) or y (calendar
	// years).
	Unit string
}

// ParsePeriod reads a period; field names the spec field in the error.
func ParsePeriod(field, s string) (Period, error) {
	m := period.FindStringSubmatch(s)
	if m == nil {
		return Period{}, fmt.Errorf("%s %q is not a number followed by d, w, mo or y (for example 90d, 18mo or 3y)", field, s)
	}
	n, _ := strconv.Atoi(m[1])
	return Period{N: n, Unit: m[2]}, nil
}

// Interval is the period as a PostgreSQL interval.
func (p Period) Interval() string {
	unit := map[string]string{"d": "days", "w": "weeks", "mo": "months", "y": "years"}[p.Unit]
	return fmt.Sprintf("%d %s", p.N, unit)
}

// After is the time the period ends when it starts at t, counted in t's
// location: days and weeks to the same clock time, months and years to the
// same date, or the month's last day when it has no such date (as
// Regulation 1182/71 counts: one month after 31 January is 28 or 29
// February, not 3 March).
func (p Period) After(t time.Time) time.Time {
	switch p.Unit {
	case "d":
		return t.AddDate(0, 0, p.N)
	case "w":
		return t.AddDate(0, 0, 7*p.N)
	}
	months := p.N
	if p.Unit == "y" {
		months *= 12
	}
	y, m, d := t.Date()
	first := time.Date(y, m+time.Month(months), 1, t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), t.Location())
	last := time.Date(first.Year(), first.Month()+1, 0, 0, 0, 0, 0, t.Location()).Day()
	return time.Date(first.Year(), first.Month(), min(d, last), t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), t.Location())
}
