package calendar

import (
	"strings"
	"testing"
	"time"
)

func TestZone(t *testing.T) {
	for _, c := range []struct {
		name string
		want string // the zone loaded, or "" for an error
		says []string
	}{
		{"", "UTC", nil},
		{"UTC", "UTC", nil},
		{"Europe/Stockholm", "Europe/Stockholm", nil},
		{"America/Argentina/Buenos_Aires", "America/Argentina/Buenos_Aires", nil},
		{"Mars/Olympus", "", []string{`spec.timeZone "Mars/Olympus" is not an IANA time zone (for example Europe/Stockholm, America/Los_Angeles or Asia/Tokyo; UTC for none)`}},
		{"europe/berlin", "", []string{`did you mean "Europe/Berlin"?`}},
		{"america/los_angeles", "", []string{`did you mean "America/Los_Angeles"?`}},
		{"utc", "", []string{`did you mean "UTC"?`}},
		{"Local", "", []string{"the manager's own time zone", "for example Europe/Stockholm"}},
	} {
		loc, err := Zone(c.name)
		if c.want != "" {
			if err != nil || loc.String() != c.want {
				t.Errorf("Zone(%q) = %v, %v; want %s", c.name, loc, err, c.want)
			}
			continue
		}
		if err == nil {
			t.Errorf("Zone(%q) = %v; want an error", c.name, loc)
			continue
		}
		for _, s := range c.says {
			if !strings.Contains(err.Error(), s) {
				t.Errorf("Zone(%q): %q does not say %q", c.name, err, s)
			}
		}
		if strings.Contains(err.Error(), "did you mean") && c.name == "Mars/Olympus" {
			t.Errorf("Zone(%q) suggests a zone: %q", c.name, err)
		}
	}
}

func TestSchedule(t *testing.T) {
	from := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		expr string
		next time.Time // zero for an error
		says []string
	}{
		{"30 2 * * *", time.Date(2026, 11, 3, 2, 30, 0, 0, time.UTC), nil},
		{"0 3 * * SUN", time.Date(2026, 11, 8, 3, 0, 0, 0, time.UTC), nil},
		{"0 0 29 2 *", time.Date(2028, 2, 29, 0, 0, 0, 0, time.UTC), nil},
		{"@daily", time.Date(2026, 11, 3, 0, 0, 0, 0, time.UTC), nil},
		{"@every 6h", from.Add(6 * time.Hour), nil},
		{" 30 2 * * * ", time.Date(2026, 11, 3, 2, 30, 0, 0, time.UTC), nil},
		{"61 25 * * *", time.Time{}, []string{`spec.schedule "61 25 * * *" has an invalid minute "61": end of range (61) above maximum (59); write five fields`,
			"minute (0-59) hour (0-23)", `for example "30 2 * * *"`}},
		{"0 25 * * *", time.Time{}, []string{`invalid hour "25"`}},
		{"0 2 * 13 *", time.Time{}, []string{`invalid month "13"`}},
		{"0 2 * * MONDAY", time.Time{}, []string{`invalid day-of-week "MONDAY"`}},
		{"0 2 * *", time.Time{}, []string{"has 4 fields, not five", "@daily"}},
		{"0 0 2 * * *", time.Time{}, []string{"has 6 fields, not five"}},
		{"every night", time.Time{}, []string{"has 2 fields, not five"}},
		{"", time.Time{}, []string{"has 0 fields, not five"}},
		{"@nightly", time.Time{}, []string{"is not a descriptor", "@hourly, @daily"}},
		{"@every 10s", time.Time{}, []string{"runs more often than every 1m0s"}},
		{"0 0 30 2 *", time.Time{}, []string{"matches no date: day-of-month 30 never falls in month 2"}},
		{"0 0 31 4,6 *", time.Time{}, []string{"matches no date"}},
		{"CRON_TZ=Europe/Berlin 0 2 * * *", time.Time{}, []string{"names its time zone: set spec.timeZone: Europe/Berlin and spec.schedule: \"0 2 * * *\""}},
		{"TZ=Mars/Olympus", time.Time{}, []string{"names its time zone"}},
	} {
		s, err := Schedule(c.expr)
		if !c.next.IsZero() {
			if err != nil {
				t.Errorf("Schedule(%q): %v", c.expr, err)
			} else if got := s.Next(from); !got.Equal(c.next) {
				t.Errorf("Schedule(%q).Next = %s; want %s", c.expr, got, c.next)
			}
			continue
		}
		if err == nil {
			t.Errorf("Schedule(%q) accepted; want an error", c.expr)
			continue
		}
		for _, want := range c.says {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("Schedule(%q): %q does not say %q", c.expr, err, want)
			}
		}
	}
}
