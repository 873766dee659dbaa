package dsr

import (
	"testing"
	"time"
)

func TestDeadline(t *testing.T) {
	jan31 := time.Date(2026, 1, 31, 9, 0, 0, 0, time.UTC)
	mar1 := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	tests := []struct {
		reg      string
		received time.Time
		extended bool
		want     time.Time
	}{
		{GDPR, mar1, false, time.Date(2026, 4, 1, 9, 0, 0, 0, time.UTC)},
		{GDPR, mar1, true, time.Date(2026, 6, 1, 9, 0, 0, 0, time.UTC)},
		{GDPR, jan31, false, time.Date(2026, 3, 3, 9, 0, 0, 0, time.UTC)}, // Go normalises Feb 31
		{CCPA, mar1, false, time.Date(2026, 4, 15, 9, 0, 0, 0, time.UTC)},
		{CCPA, mar1, true, time.Date(2026, 5, 30, 9, 0, 0, 0, time.UTC)},
	}
	for _, tt := range tests {
		if got := Deadline(tt.reg, tt.received, tt.extended); !got.Equal(tt.want) {
			t.Errorf("%s from %s extended=%v: got %s, want %s", tt.reg, tt.received, tt.extended, got, tt.want)
		}
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
