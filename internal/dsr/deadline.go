// Package dsr carries out one data subject request in one tenant database:
// discovery, access export, erasure, rectification and restriction, through
// the inventory's subject graph and the resumable engine, and verifies
// erasure by scanning for the subject's identifiers afterwards.
package dsr

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"sort"
	"time"
)

// Regulations and their deadlines.
const (
	GDPR = "GDPR"
	CCPA = "CCPA"
)

// Deadline is the legal deadline of a request received at received,
// counted in loc (nil means UTC) as Regulation 1182/71 counts periods: the
// day of receipt does not count, and the period ends at the end of its
// last day. GDPR: one month (three when extended), ending on the day of
// the last month with the same date as the day of receipt, or on that
// month's last day when it has no such date (received 31 January: due at
// the end of 28 or 29 February). CCPA: 45 days (90 when extended) after the
// day of receipt. The result is the last second of the due day in loc.
func Deadline(regulation string, received time.Time, extended bool, loc *time.Location) time.Time {
	if loc == nil {
		loc = time.UTC
	}
	y, m, d := received.In(loc).Date()
	var due time.Time
	if regulation == CCPA {
		days := 45
		if extended {
			days = 90
		}
		due = time.Date(y, m, d+days, 0, 0, 0, 0, loc)
	} else {
		months := 1
		if extended {
			months = 3
		}
		first := time.Date(y, m+time.Month(months), 1, 0, 0, 0, 0, loc)
		last := first.AddDate(0, 1, -1).Day()
		due = time.Date(first.Year(), first.Month(), min(d, last), 0, 0, 0, 0, loc)
	}
	return time.Date(due.Year(), due.Month(), due.Day(), 23, 59, 59, 0, loc)
}

// ConfirmationDue is when a CCPA request's receipt must have been confirmed
// to the consumer: the end of the tenth business day after the day of
// receipt, counted in loc (nil means UTC). Business days are Monday to
// Friday; public holidays, which differ by state and year, are not known,
// so the date is never later than the law's.
func ConfirmationDue(received time.Time, loc *time.Location) time.Time {
	if loc == nil {
		loc = time.UTC
	}
	y, m, d := received.In(loc).Date()
	day := time.Date(y, m, d, 0, 0, 0, 0, loc)
	for n := 0; n < 10; {
		day = time.Date(day.Year(), day.Month(), day.Day()+1, 0, 0, 0, 0, loc)
		if wd := day.Weekday(); wd != time.Saturday && wd != time.Sunday {
			n++
		}
	}
	return time.Date(day.Year(), day.Month(), day.Day(), 23, 59, 59, 0, loc)
}

// Digest is the salted digest that stands for a subject outside the tenant
// databases: HMAC-SHA-256 keyed with the salt over the subject type and the
// identifiers, sorted by name.
func Digest(salt []byte, subjectType string, identifiers map[string]string) string {
	names := make([]string, 0, len(identifiers))
	for n := range identifiers {
		names = append(names, n)
	}
	sort.Strings(names)
	h := hmac.New(sha256.New, salt)
	h.Write([]byte(subjectType))
	for _, n := range names {
		h.Write([]byte{0})
		h.Write([]byte(n))
		h.Write([]byte{0})
		h.Write([]byte(identifiers[n]))
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil))
}
