// Package calendar reads the time zones and schedules users write in specs
// (a RetentionPolicy's schedule and timeZone, a DataSubjectRequest's
// timeZone), with errors that say what to write instead. The admission
// webhooks refuse what it refuses, and the controllers check again with it,
// so both say the same.
package calendar

import (
	"fmt"
	"strings"
	"time"
	"unicode"

	"github.com/robfig/cron/v3"
)

// zoneExamples follows every time zone error.
const zoneExamples = "(for example Europe/Stockholm, America/Los_Angeles or Asia/Tokyo; UTC for none)"

// Zone loads the IANA time zone spec.timeZone names; empty is UTC.
func Zone(name string) (*time.Location, error) {
	if name == "" {
		return time.UTC, nil
	}
	if name == "Local" {
		return nil, fmt.Errorf("spec.timeZone %q is the manager's own time zone, which differs from one cluster to the next: name an IANA time zone %s", name, zoneExamples)
	}
	loc, err := time.LoadLocation(name)
	if err == nil {
		return loc, nil
	}
	msg := fmt.Sprintf("spec.timeZone %q is not an IANA time zone %s", name, zoneExamples)
	if s := suggestZone(name); s != "" {
		msg += fmt.Sprintf("; did you mean %q?", s)
	}
	return nil, fmt.Errorf("%s", msg)
}

// suggestZone returns the zone a name means when only its capitals are
// wrong (europe/berlin, america/los_angeles, utc), or "".
func suggestZone(name string) string {
	for _, c := range []string{titleZone(name), strings.ToUpper(name)} {
		if c == name || c == "Local" {
			continue
		}
		if _, err := time.LoadLocation(c); err == nil {
			return c
		}
	}
	return ""
}

// titleZone capitalizes each word of a zone name, as the IANA names are
// written: America/Los_Angeles, America/Port-au-Prince aside.
func titleZone(name string) string {
	out := []rune(strings.ToLower(name))
	start := true
	for i, r := range out {
		if start {
			out[i] = unicode.ToUpper(r)
		}
		start = r == '/' || r == '_' || r == '-'
	}
	return string(out)
}

// scheduleShape ends every schedule error: what a schedule looks like.
const scheduleShape = `write five fields, minute (0-59) hour (0-23) day-of-month (1-31) month (1-12 or JAN-DEC) day-of-week (0-6 or SUN-SAT), ` +
	`for example "30 2 * * *" (02:30 every day) or "0 3 * * SUN" (03:00 on Sundays), or a descriptor: ` +
	`@hourly, @daily, @weekly, @monthly, @yearly or @every 6h`

// fieldNames names the five fields of a cron schedule, in order.
var fieldNames = []string{"minute", "hour", "day-of-month", "month", "day-of-week"}

// MinEvery is the shortest period `@every` may have.
const MinEvery = time.Minute

// Schedule parses spec.schedule: five cron fields or a descriptor, its
// time zone left to spec.timeZone. It refuses a schedule that names its
// own zone, a field out of range (naming the field), a period shorter than
// MinEvery, and a schedule that never comes (the 30th of February).
func Schedule(expr string) (cron.Schedule, error) {
	s := strings.TrimSpace(expr)
	fail := func(format string, a ...any) (cron.Schedule, error) {
		return nil, fmt.Errorf("spec.schedule %q %s; %s", expr, fmt.Sprintf(format, a...), scheduleShape)
	}
	if strings.HasPrefix(s, "TZ=") || strings.HasPrefix(s, "CRON_TZ=") {
		zone, rest, _ := strings.Cut(s, " ")
		return nil, fmt.Errorf("spec.schedule %q names its time zone: set spec.timeZone: %s and spec.schedule: %q",
			expr, zone[strings.Index(zone, "=")+1:], strings.TrimSpace(rest))
	}
	if strings.HasPrefix(s, "@") {
		sched, err := cron.ParseStandard(s)
		if err != nil {
			return fail("is not a descriptor (%v)", err)
		}
		if every, ok := sched.(cron.ConstantDelaySchedule); ok && every.Delay < MinEvery {
			return fail("runs more often than every %s", MinEvery)
		}
		return sched, nil
	}
	fields := strings.Fields(s)
	if len(fields) != 5 {
		return fail("has %d fields, not five", len(fields))
	}
	for i, f := range fields {
		only := []string{"*", "*", "*", "*", "*"}
		only[i] = f
		if _, err := cron.ParseStandard(strings.Join(only, " ")); err != nil {
			return fail("has an invalid %s %q: %s", fieldNames[i], f, strings.TrimSuffix(err.Error(), ": "+f))
		}
	}
	sched, err := cron.ParseStandard(s)
	if err != nil {
		return fail("is not a cron schedule (%v)", err)
	}
	// SpecSchedule.Next looks five years ahead and returns zero when no
	// time matches: a day no month has (30 2, 31 4).
	if sched.Next(time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)).IsZero() {
		return fail("matches no date: day-of-month %s never falls in month %s", fields[2], fields[3])
	}
	return sched, nil
}
