// Package rolesync writes resolved roles into a tenant database's lethe
// schema: lethe.roles and its children (licenses, effective permissions,
// effective scopes, members), diff-based (rows that did not change are left
// untouched, revoked rows are deleted), each change in one transaction with
// its audit records. Rows changed by hand are put back and the change is
// reported as drift. Two guards refuse a change, leaving the tenant as it
// was: license seats, and the last user able to manage roles or users.
//
// It also maps the tenant's organization (users, teams, groups) into the
// views lethe.org_users and lethe.org_groups that lethe.can and
// lethe.visible_users read.
package rolesync

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"slices"
	"sort"
	"time"

	"github.com/lethe-dev/lethe/internal/audit"
)

// lockKey serialises role changes within one tenant database, so the guards
// see every other role's committed rows.
const lockKey int64 = 0x6c65746865_03

// Scope kinds in lethe.role_scopes.
const (
	KindArea       = "area"
	KindPermission = "permission"
)

// Audit actions.
const (
	ActionSync        = "SyncRole"
	ActionRepairDrift = "RepairRoleDrift"
	ActionRemove      = "RemoveRole"
	ActionOrganize    = "MapOrganization"
)

// Permission is an effective permission and its product area.
type Permission struct {
	Name string
	Area string
}

// Scope is an effective scope of an area or of a scoped permission.
type Scope struct {
	Kind   string
	Name   string
	Scope  string
	Groups []string
}

// Role is a resolved role as the tenant stores it.
type Role struct {
	// Key identifies the role in the tenant: namespace/name of the Role.
	Key           string
	UID           string
	Catalog       string
	DisplayName   string
	DefaultRole   string
	DefaultScope  string
	DefaultGroups []string
	Licenses      []string
	Permissions   []Permission
	Scopes        []Scope
	Members       []string
}

// normalize sorts every list, so equal roles compare and hash alike.
func (r *Role) normalize() {
	sortStrings := func(s []string) []string {
		if len(s) == 0 {
			return nil
		}
		out := slices.Clone(s)
		sort.Strings(out)
		return slices.Compact(out)
	}
	r.DefaultGroups = sortStrings(r.DefaultGroups)
	r.Licenses = sortStrings(r.Licenses)
	r.Members = sortStrings(r.Members)
	r.Permissions = slices.Clone(r.Permissions)
	sort.Slice(r.Permissions, func(i, j int) bool { return r.Permissions[i].Name < r.Permissions[j].Name })
	r.Scopes = slices.Clone(r.Scopes)
	for i := range r.Scopes {
		r.Scopes[i].Groups = sortStrings(r.Scopes[i].Groups)
	}
	sort.Slice(r.Scopes, func(i, j int) bool {
		a, b := r.Scopes[i], r.Scopes[j]
		return a.Kind < b.Kind || (a.Kind == b.Kind && a.Name < b.Name)
	})
}

// hash identifies what the operator writes for a role.
func (r *Role) hash() string {
	b, err := json.Marshal(r)
	if err != nil {
		panic(err) // plain strings and slices always marshal
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// Guards are the rules a change must keep in the tenant.
type Guards struct {
	// Seats of each license type of the catalog.
	Seats map[string]int32
	// ManagerPermissions must each stay held by at least one active user
	// (the permissions to manage roles and to manage users).
	ManagerPermissions []string
}

// Request asks to bring one role in one tenant to its resolved state.
type Request struct {
	Role   Role
	Object audit.Object
	// Actor is who the change is made for, recorded in the audit log.
	Actor  string
	Guards Guards
	// Synced says the caller last saw this tenant hold exactly this role:
	// any difference found now was made by hand.
	Synced bool
	// Time of the audit records; zero means now.
	Time time.Time
}

// Outcome of a sync.
type Outcome int

const (
	// Unchanged means the tenant already held the role as resolved.
	Unchanged Outcome = iota
	// Applied means the tenant's rows were changed to match the role.
	Applied
	// DriftRepaired means rows changed by hand were put back.
	DriftRepaired
	// Refused means a guard refused the change; the tenant keeps its previous
	// state.
	Refused
)

// TableChange counts the rows changed in one table.
type TableChange struct {
	Table string
	Rows  int
}

// Refusal says why a guard refused a change.
type Refusal struct {
	// Reason is a condition reason: SeatsExceeded or LastRoleManager.
	Reason string
	// Problems name the licenses or permissions at fault.
	Problems []string
}

// Result of a sync or a removal.
type Result struct {
	Outcome Outcome
	Changes []TableChange
	Refusal *Refusal
	// SeatsMayHaveChanged says the change moved members or licenses, so
	// seat counts taken before it are out of date.
	SeatsMayHaveChanged bool
}

// Rows is the number of rows changed.
func (r Result) Rows() int {
	n := 0
	for _, c := range r.Changes {
		n += c.Rows
	}
	return n
}
