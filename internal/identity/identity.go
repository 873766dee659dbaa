// Package identity encodes who made a change, as the API server
// authenticated them, into the annotations the admission webhooks write
// (privacy.lethe.dev/requested-by, changed-by, approved-by), and reads it
// back for status and audit records.
package identity

import (
	"encoding/json"
	"errors"
	"slices"
	"time"
)

// maxGroups bounds the groups kept: an identity from a directory with
// hundreds of groups must not make the object too large.
const maxGroups = 32

// Identity is an authenticated user at the time of one request.
type Identity struct {
	// Username as the API server authenticated it (for a service account,
	// system:serviceaccount:<namespace>:<name>).
	Username string `json:"username"`
	// UID of the user, when the authenticator gives one.
	UID string `json:"uid,omitempty"`
	// Groups of the user, sorted, at most 32.
	Groups []string `json:"groups,omitempty"`
	// At is when the API server admitted the request.
	At time.Time `json:"at"`
}

// New returns the identity of a request admitted at the given time.
func New(username, uid string, groups []string, at time.Time) Identity {
	g := slices.Clone(groups)
	slices.Sort(g)
	g = slices.Compact(g)
	if len(g) > maxGroups {
		g = g[:maxGroups]
	}
	return Identity{Username: username, UID: uid, Groups: g, At: at.UTC().Truncate(time.Second)}
}

// Encode returns the annotation value.
func (id Identity) Encode() string {
	b, err := json.Marshal(id)
	if err != nil {
		// A struct of strings and a time always marshals.
		panic(err)
	}
	return string(b)
}

// Decode reads an annotation value.
func Decode(s string) (Identity, error) {
	var id Identity
	if err := json.Unmarshal([]byte(s), &id); err != nil {
		return Identity{}, err
	}
	if id.Username == "" {
		return Identity{}, errors.New("identity without a username")
	}
	return id, nil
}

// Actor returns the user name recorded in an annotation value, or fallback
// when there is none or it cannot be read (objects created before the
// webhooks ran).
func Actor(annotation, fallback string) string {
	if annotation == "" {
		return fallback
	}
	id, err := Decode(annotation)
	if err != nil {
		return fallback
	}
	return id.Username
}
