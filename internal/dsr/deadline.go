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

// Deadline is the legal deadline of a request received at received: GDPR one
// month (three when extended), CCPA 45 days (90 when extended). Months are
// calendar months.
func Deadline(regulation string, received time.Time, extended bool) time.Time {
	if regulation == CCPA {
		days := 45
		if extended {
			days = 90
		}
		return received.AddDate(0, 0, days)
	}
	months := 1
	if extended {
		months = 3
	}
	return received.AddDate(0, months, 0)
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
