package calendar

import (
	"strings"
	"testing"
	"time"
)

func TestPeriodAfterCountsMonthsToTheSameDateOrTheMonthsLastDay(t *testing.T) {
	at := func(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 10, 30, 0, 0, time.UTC) }
	for _, tc := range []struct {
		period string
		from   time.Time
		want   time.Time
	}{
		{"1d", at(2026, 12, 31), at(2027, 1, 1)},
		{"2w", at(2026, 2, 20), at(2026, 3, 6)},
		{"1mo", at(2027, 1, 31), at(2027, 2, 28)},
		{"1mo", at(2028, 1, 31), at(2028, 2, 29)},
		{"1mo", at(2026, 3, 31), at(2026, 4, 30)},
		{"24mo", at(2026, 12, 8), at(2028, 12, 8)},
		{"24mo", at(2026, 2, 28), at(2028, 2, 28)},
		{"1y", at(2028, 2, 29), at(2029, 2, 28)},
		{"3y", at(2026, 12, 31), at(2029, 12, 31)},
	} {
		p, err := ParsePeriod("retainFor", tc.period)
		if err != nil {
			t.Fatal(err)
		}
		if got := p.After(tc.from); !got.Equal(tc.want) {
			t.Errorf("%s after %s = %s, want %s", tc.period, tc.from.Format(time.DateOnly), got, tc.want)
		}
	}
}

func TestParsePeriodSaysWhatToWrite(t *testing.T) {
	for _, bad := range []string{"", "0d", "24 mo", "2m", "100000d", "1h"} {
		_, err := ParsePeriod("spec.retainFor", bad)
		if err == nil || !strings.Contains(err.Error(), `spec.retainFor "`+bad+`" is not a number followed by d, w, mo or y`) {
			t.Errorf("%q: %v", bad, err)
		}
	}
	p, err := ParsePeriod("olderThan", "18mo")
	if err != nil || p.Interval() != "18 months" {
		t.Fatalf("18mo: %v %v", p, err)
	}
}
