package rolesync

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
)

// stored is what a tenant holds of one role.
type stored struct {
	exists   bool
	role     Role
	specHash string
}

// readStored reads a role's rows in one round trip.
func readStored(ctx context.Context, tx pgx.Tx, key string) (*stored, error) {
	b := &pgx.Batch{}
	b.Queue(`SELECT role_uid, catalog, display_name, default_role, default_scope, default_groups, spec_hash
		FROM lethe.roles WHERE role_key = $1`, key)
	b.Queue("SELECT license FROM lethe.role_licenses WHERE role_key = $1", key)
	b.Queue("SELECT permission, area FROM lethe.role_permissions WHERE role_key = $1", key)
	b.Queue("SELECT kind, name, scope, groups FROM lethe.role_scopes WHERE role_key = $1", key)
	b.Queue("SELECT user_id FROM lethe.role_members WHERE role_key = $1", key)
	br := tx.SendBatch(ctx, b)
	defer func() { _ = br.Close() }()

	s := &stored{role: Role{Key: key}}
	r := &s.role
	err := br.QueryRow().Scan(&r.UID, &r.Catalog, &r.DisplayName, &r.DefaultRole, &r.DefaultScope, &r.DefaultGroups, &s.specHash)
	switch {
	case err == nil:
		s.exists = true
	case !errors.Is(err, pgx.ErrNoRows):
		return nil, fmt.Errorf("read lethe.roles: %w", err)
	}
	if r.Licenses, err = collectStrings(br); err != nil {
		return nil, fmt.Errorf("read lethe.role_licenses: %w", err)
	}
	rows, err := br.Query()
	if err != nil {
		return nil, fmt.Errorf("read lethe.role_permissions: %w", err)
	}
	if r.Permissions, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (Permission, error) {
		var p Permission
		return p, row.Scan(&p.Name, &p.Area)
	}); err != nil {
		return nil, fmt.Errorf("read lethe.role_permissions: %w", err)
	}
	if rows, err = br.Query(); err != nil {
		return nil, fmt.Errorf("read lethe.role_scopes: %w", err)
	}
	if r.Scopes, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (Scope, error) {
		var s Scope
		return s, row.Scan(&s.Kind, &s.Name, &s.Scope, &s.Groups)
	}); err != nil {
		return nil, fmt.Errorf("read lethe.role_scopes: %w", err)
	}
	if r.Members, err = collectStrings(br); err != nil {
		return nil, fmt.Errorf("read lethe.role_members: %w", err)
	}
	r.normalize()
	return s, nil
}

func collectStrings(br pgx.BatchResults) ([]string, error) {
	rows, err := br.Query()
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

// change is one changed row: what it is, its old and new value. An absent
// row has the value "absent".
type change struct {
	key      string
	old, new string
}

const (
	absent  = "absent"
	present = "present"
)

// diff is the difference between a tenant's rows and the resolved role,
// table by table.
type diff struct {
	roleRow     []change // columns of lethe.roles that differ
	newRole     bool
	licenses    setDiff
	members     setDiff
	permAdd     []Permission
	permDel     []string
	permArea    []Permission // area changed
	scopeAdd    []Scope
	scopeDel    []Scope
	scopeUpdate []Scope
	changes     map[string][]change // by table, for the audit records
}

type setDiff struct{ add, del []string }

func (d *diff) empty() bool {
	return len(d.changes) == 0
}

// membersOrLicensesChanged says whether seat counts may have moved.
func (d *diff) membersOrLicensesChanged() bool {
	return d.newRole || len(d.licenses.add)+len(d.licenses.del)+len(d.members.add)+len(d.members.del) > 0
}

func diffSet(table string, old, want []string, changes map[string][]change) setDiff {
	var d setDiff
	had, wanted := toSet(old), toSet(want)
	for _, w := range want {
		if !had[w] {
			d.add = append(d.add, w)
			changes[table] = append(changes[table], change{key: w, old: absent, new: present})
		}
	}
	for _, o := range old {
		if !wanted[o] {
			d.del = append(d.del, o)
			changes[table] = append(changes[table], change{key: o, old: present, new: absent})
		}
	}
	return d
}

// diffRole compares a tenant's rows with the resolved role. Both are
// normalized (sorted).
func diffRole(cur *stored, want *Role) *diff {
	d := &diff{changes: map[string][]change{}}
	old := &cur.role
	if !cur.exists {
		d.newRole = true
		d.changes[tableRoles] = []change{{key: want.Key, old: absent, new: present}}
	} else {
		col := func(name, o, n string) {
			if o != n {
				d.roleRow = append(d.roleRow, change{key: name, old: o, new: n})
			}
		}
		col("role_uid", old.UID, want.UID)
		col("catalog", old.Catalog, want.Catalog)
		col("display_name", quote(old.DisplayName), quote(want.DisplayName))
		col("default_role", old.DefaultRole, want.DefaultRole)
		col("default_scope", old.DefaultScope, want.DefaultScope)
		col("default_groups", groupList(old.DefaultGroups), groupList(want.DefaultGroups))
		if len(d.roleRow) > 0 {
			d.changes[tableRoles] = d.roleRow
		}
	}
	d.licenses = diffSet(tableLicenses, old.Licenses, want.Licenses, d.changes)
	d.members = diffSet(tableMembers, old.Members, want.Members, d.changes)

	oldPerm := map[string]string{}
	for _, p := range old.Permissions {
		oldPerm[p.Name] = p.Area
	}
	for _, p := range want.Permissions {
		area, ok := oldPerm[p.Name]
		switch {
		case !ok:
			d.permAdd = append(d.permAdd, p)
			d.changes[tablePermissions] = append(d.changes[tablePermissions], change{key: p.Name, old: absent, new: "area " + p.Area})
		case area != p.Area:
			d.permArea = append(d.permArea, p)
			d.changes[tablePermissions] = append(d.changes[tablePermissions], change{key: p.Name, old: "area " + area, new: "area " + p.Area})
		}
		delete(oldPerm, p.Name)
	}
	for _, p := range old.Permissions {
		if _, gone := oldPerm[p.Name]; gone {
			d.permDel = append(d.permDel, p.Name)
			d.changes[tablePermissions] = append(d.changes[tablePermissions], change{key: p.Name, old: "area " + p.Area, new: absent})
		}
	}

	oldScope := map[string]Scope{}
	for _, s := range old.Scopes {
		oldScope[s.Kind+" "+s.Name] = s
	}
	for _, s := range want.Scopes {
		k := s.Kind + " " + s.Name
		o, ok := oldScope[k]
		switch {
		case !ok:
			d.scopeAdd = append(d.scopeAdd, s)
			d.changes[tableScopes] = append(d.changes[tableScopes], change{key: k, old: absent, new: scopeText(s)})
		case scopeText(o) != scopeText(s):
			d.scopeUpdate = append(d.scopeUpdate, s)
			d.changes[tableScopes] = append(d.changes[tableScopes], change{key: k, old: scopeText(o), new: scopeText(s)})
		}
		delete(oldScope, k)
	}
	for _, s := range old.Scopes {
		if _, gone := oldScope[s.Kind+" "+s.Name]; gone {
			d.scopeDel = append(d.scopeDel, s)
			d.changes[tableScopes] = append(d.changes[tableScopes], change{key: s.Kind + " " + s.Name, old: scopeText(s), new: absent})
		}
	}
	return d
}

func toSet(ss []string) map[string]bool {
	m := make(map[string]bool, len(ss))
	for _, s := range ss {
		m[s] = true
	}
	return m
}

func quote(s string) string { return fmt.Sprintf("%q", s) }

func groupList(groups []string) string { return "[" + strings.Join(groups, ", ") + "]" }

func scopeText(s Scope) string {
	if len(s.Groups) == 0 {
		return s.Scope
	}
	return s.Scope + " " + groupList(s.Groups)
}

// Tables of the lethe schema that hold roles, in the order changes to them
// are recorded.
const (
	tableRoles       = "lethe.roles"
	tableLicenses    = "lethe.role_licenses"
	tablePermissions = "lethe.role_permissions"
	tableScopes      = "lethe.role_scopes"
	tableMembers     = "lethe.role_members"
)

var tables = []string{tableRoles, tableLicenses, tablePermissions, tableScopes, tableMembers}

// describe renders one table's changes for the audit record: every row
// changed, with its old and new value.
func describe(changes []change) string {
	parts := make([]string, len(changes))
	for i, c := range changes {
		parts[i] = fmt.Sprintf("%s: %s -> %s", c.key, c.old, c.new)
	}
	return strings.Join(parts, "; ")
}
