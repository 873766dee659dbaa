package rbac

import (
	"fmt"
	"slices"
	"sort"
)

// SeatCount is how many seats of a license are used in one tenant before and
// after a change, and how many the catalog gives.
type SeatCount struct {
	License string
	Before  int64
	After   int64
	Seats   int32
}

// Available is the seats left after the change; negative when the catalog's
// seats were lowered below the seats used.
func (s SeatCount) Available() int64 { return int64(s.Seats) - s.After }

// SeatsExceeded lists, sorted, the licenses a change would take over their
// seats. A change that uses no more seats than before is never refused, so a
// tenant over its seats (the catalog lowered them) can still shrink.
func SeatsExceeded(counts []SeatCount) []string {
	var out []string
	for _, c := range counts {
		if c.After > int64(c.Seats) && c.After > c.Before {
			out = append(out, fmt.Sprintf("license %s would use %d of %d seats", c.License, c.After, c.Seats))
		}
	}
	sort.Strings(out)
	return out
}

// ManagerCount is how many active users hold a guarded permission (to manage
// roles, or users) in one tenant before and after a change.
type ManagerCount struct {
	Permission string
	Before     int64
	After      int64
}

// LastManagerLost lists, sorted, the guarded permissions a change would leave
// no active user holding. A tenant that had no such user before (a new
// tenant being set up) is not held to the rule.
func LastManagerLost(counts []ManagerCount) []string {
	var out []string
	for _, c := range counts {
		if c.Before > 0 && c.After == 0 {
			out = append(out, c.Permission)
		}
	}
	sort.Strings(out)
	return out
}

// Grant is what one role gives in one tenant: its effective permissions
// and its members.
type Grant struct {
	Permissions []string
	Members     []string
}

// Holders counts, per guarded permission, the distinct members of the
// grants holding it. Every member counts as active: it is the count the
// admission webhook can make without the tenant database, which knows who
// is inactive.
func Holders(grants []Grant, guarded []string) map[string]int64 {
	out := make(map[string]int64, len(guarded))
	for _, p := range guarded {
		users := map[string]bool{}
		for _, g := range grants {
			if slices.Contains(g.Permissions, p) {
				for _, m := range g.Members {
					users[m] = true
				}
			}
		}
		out[p] = int64(len(users))
	}
	return out
}
