package dsr

import (
	"testing"
	"time"
)

func TestDeadline(t *testing.T) {
	jan31 := time.Date(2026, 1, 31, 9, 0, 0, 0, time.UTC)
	mar1 := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	end := func(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 23, 59, 59, 0, time.UTC) }
	tests := []struct {
		reg      string
		received time.Time
		extended bool
		want     time.Time
	}{
		{GDPR, mar1, false, end(2026, 4, 1)},
		{GDPR, mar1, true, end(2026, 6, 1)},
		{GDPR, jan31, false, end(2026, 2, 28)},                                        // no 31 February: the month's last day
		{GDPR, time.Date(2028, 1, 31, 9, 0, 0, 0, time.UTC), false, end(2028, 2, 29)}, // a leap year
		{GDPR, jan31, true, end(2026, 4, 30)},                                         // three months from the day of receipt
		{GDPR, time.Date(2026, 12, 31, 9, 0, 0, 0, time.UTC), false, end(2027, 1, 31)},
		{CCPA, mar1, false, end(2026, 4, 15)},
		{CCPA, mar1, true, end(2026, 5, 30)},
	}
	for _, tt := range tests {
		if got := Deadline(tt.reg, tt.received, tt.extended, nil); !got.Equal(tt.want) {
			t.Errorf("%s from %s extended=%v: got %s, want %s", tt.reg, tt.received, tt.extended, got, tt.want)
		}
	}
}

// Every start day of a common year and a leap year and the day after
// (732 days), both
// regulations, with and without extension, in a time zone with summer
// time: the deadline is the end of the right calendar day there.
func TestDeadlineOnEveryDayOfTwoYears(t *testing.T) {
	loc, err := time.LoadLocation("Europe/Stockholm")
	if err != nil {
		t.Fatal(err)
	}
	start := time.Date(2027, 1, 1, 0, 30, 0, 0, loc)
	daysIn := func(y int, m time.Month) int { return time.Date(y, m+1, 0, 0, 0, 0, 0, time.UTC).Day() }
	n := 0
	for i := range 732 {
		day := start.AddDate(0, 0, i)
		// received late in the evening local time: already the next day in UTC
		received := time.Date(day.Year(), day.Month(), day.Day(), 23, 30, 0, 0, loc)
		for _, extended := range []bool{false, true} {
			g := Deadline(GDPR, received, extended, loc)
			months := 1
			if extended {
				months = 3
			}
			wantMonth := (int(received.Month())-1+months)%12 + 1
			wantYear := received.Year() + (int(received.Month())-1+months)/12
			wantDay := min(received.Day(), daysIn(wantYear, time.Month(wantMonth)))
			gl := g.In(loc)
			if gl.Year() != wantYear || int(gl.Month()) != wantMonth || gl.Day() != wantDay || gl.Hour() != 23 || gl.Minute() != 59 {
				t.Fatalf("GDPR from %s extended=%v: %s, want the end of %d-%02d-%02d there", received, extended, gl, wantYear, wantMonth, wantDay)
			}
			c := Deadline(CCPA, received, extended, loc).In(loc)
			days := 45
			if extended {
				days = 90
			}
			y, m, d := received.Date()
			if want := time.Date(y, m, d+days, 23, 59, 59, 0, loc); !c.Equal(want) {
				t.Fatalf("CCPA from %s extended=%v: %s, want %s", received, extended, c, want)
			}
			n += 2
		}
	}
	if n != 732*4 {
		t.Fatalf("checked %d deadlines; want 732 days × 2 regulations × 2", n)
	}
}

func TestDigestIsSaltedAndOrderIndependent(t *testing.T) {
	a := Digest([]byte("salt"), "customer", map[string]string{"email": "a@example.com", "customerNumber": "42"})
	b := Digest([]byte("salt"), "customer", map[string]string{"customerNumber": "42", "email": "a@example.com"})
	c := Digest([]byte("other"), "customer", map[string]string{"email": "a@example.com", "customerNumber": "42"})
	d := Digest([]byte("salt"), "employee", map[string]string{"email": "a@example.com", "customerNumber": "42"})
	if a != b {
		t.Error("the digest must not depend on map order")
	}
	if a == c || a == d {
		t.Error("salt and subject type must change the digest")
	}
	if len(a) != len("sha256:")+64 {
		t.Errorf("digest %q", a)
	}
}

func TestConfirmationDueCountsTenBusinessDays(t *testing.T) {
	la, err := time.LoadLocation("America/Los_Angeles")
	if err != nil {
		t.Fatal(err)
	}
	end := func(y int, m time.Month, d int, loc *time.Location) time.Time {
		return time.Date(y, m, d, 23, 59, 59, 0, loc)
	}
	for _, tt := range []struct {
		received time.Time
		loc      *time.Location
		want     time.Time
	}{
		{time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC), nil, end(2026, 12, 21, time.UTC)},  // a Monday: two weeks later
		{time.Date(2026, 12, 11, 9, 0, 0, 0, time.UTC), nil, end(2026, 12, 25, time.UTC)}, // a Friday
		{time.Date(2026, 12, 12, 9, 0, 0, 0, time.UTC), nil, end(2026, 12, 25, time.UTC)}, // a Saturday counts from Monday
		{time.Date(2028, 2, 18, 9, 0, 0, 0, time.UTC), nil, end(2028, 3, 3, time.UTC)},    // across 29 February
		// 02:00 UTC on a Saturday is still Friday in Los Angeles.
		{time.Date(2026, 12, 12, 2, 0, 0, 0, time.UTC), la, end(2026, 12, 25, la)},
	} {
		if got := ConfirmationDue(tt.received, tt.loc); !got.Equal(tt.want) {
			t.Errorf("received %s (%v): got %s, want %s", tt.received, tt.loc, got, tt.want)
		}
	}
	// Over two years, the due day is a weekday, 12 (received on a Sunday) to 14 days after receipt.
	for day := time.Date(2027, 1, 1, 12, 0, 0, 0, la); day.Year() < 2029; day = day.AddDate(0, 0, 1) {
		due := ConfirmationDue(day, la)
		days := int(due.Sub(day).Hours() / 24)
		if wd := due.Weekday(); wd == time.Saturday || wd == time.Sunday || days < 12 || days > 14 {
			t.Fatalf("received %s: due %s (%s, %d days later)", day.Format(time.DateOnly), due, due.Weekday(), days)
		}
	}
}
