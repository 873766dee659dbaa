package rolesync

import (
	"context"
	"fmt"
	"slices"

	"github.com/jackc/pgx/v5"

	privacyv1alpha1 "github.com/lethe-dev/lethe/api/v1alpha1"
	"github.com/lethe-dev/lethe/internal/rbac"
)

// A guard counts what it protects before a change (inside the change's
// transaction, under the tenant's role lock) and checks it after.
type guard interface {
	check(ctx context.Context, tx pgx.Tx) (*Refusal, error)
}

// noGuard is a guard the change cannot trip.
type noGuard struct{}

func (noGuard) check(context.Context, pgx.Tx) (*Refusal, error) { return nil, nil }

// seatGuard protects the seats of the licenses a change may take over them.
type seatGuard struct {
	licenses []string
	before   map[string]int64
	seats    map[string]int32
}

// newSeatGuard counts, before a change of members or licenses, the seats
// used of each of the role's licenses that the change could take over its
// seats. Every member row of the tenant, plus the rows the change adds,
// bounds the seats any license can use after it: licenses with more seats
// than that are safe without counting.
func newSeatGuard(ctx context.Context, tx pgx.Tx, want *Role, d *diff, g Guards) (guard, error) {
	if !d.membersOrLicensesChanged() {
		return noGuard{}, nil
	}
	var rows int64
	if err := tx.QueryRow(ctx, "SELECT pg_catalog.count(*) FROM lethe.role_members").Scan(&rows); err != nil {
		return nil, fmt.Errorf("count members: %w", err)
	}
	upper := rows + int64(len(d.members.add))
	var tight []string
	for _, l := range want.Licenses {
		if int64(g.Seats[l]) < upper {
			tight = append(tight, l)
		}
	}
	if len(tight) == 0 {
		return noGuard{}, nil
	}
	before, err := countUsers(ctx, tx, seatsSQL, tight)
	if err != nil {
		return nil, err
	}
	return &seatGuard{licenses: tight, before: before, seats: g.Seats}, nil
}

func (s *seatGuard) check(ctx context.Context, tx pgx.Tx) (*Refusal, error) {
	after, err := countUsers(ctx, tx, seatsSQL, s.licenses)
	if err != nil {
		return nil, err
	}
	counts := make([]rbac.SeatCount, 0, len(s.licenses))
	for _, l := range s.licenses {
		counts = append(counts, rbac.SeatCount{License: l, Before: s.before[l], After: after[l], Seats: s.seats[l]})
	}
	if exceeded := rbac.SeatsExceeded(counts); len(exceeded) > 0 {
		return &Refusal{Reason: privacyv1alpha1.ReasonSeatsExceeded, Problems: exceeded}, nil
	}
	return nil, nil
}

// managerGuard keeps at least one active user holding each guarded
// permission.
type managerGuard struct {
	permissions []string
	before      map[string]int64
}

// newManagerGuard counts the holders of the guarded permissions before a
// change that can move them: one that touches members of a role holding
// one, or grants or revokes one.
func newManagerGuard(ctx context.Context, tx pgx.Tx, cur *stored, want *Role, d *diff, g Guards) (guard, error) {
	guarded := g.ManagerPermissions
	if len(guarded) == 0 {
		return noGuard{}, nil
	}
	holds := func(r *Role) bool {
		return slices.ContainsFunc(r.Permissions, func(p Permission) bool { return slices.Contains(guarded, p.Name) })
	}
	needed := len(d.members.add)+len(d.members.del) > 0 && (holds(&cur.role) || holds(want))
	needed = needed || slices.ContainsFunc(d.permDel, func(p string) bool { return slices.Contains(guarded, p) })
	needed = needed || slices.ContainsFunc(d.permAdd, func(p Permission) bool { return slices.Contains(guarded, p.Name) })
	if !needed {
		return noGuard{}, nil
	}
	before, err := countUsers(ctx, tx, managersSQL, guarded)
	if err != nil {
		return nil, err
	}
	return &managerGuard{permissions: guarded, before: before}, nil
}

func (m *managerGuard) check(ctx context.Context, tx pgx.Tx) (*Refusal, error) {
	lost, err := managersLost(ctx, tx, m.before, m.permissions)
	if err != nil || len(lost) == 0 {
		return nil, err
	}
	return &Refusal{Reason: privacyv1alpha1.ReasonLastRoleManager, Problems: lost}, nil
}

// inactiveUsers is the set of users the organization marks inactive; small,
// so PostgreSQL hashes it once per count.
const inactiveUsers = `SELECT u.user_id FROM lethe.org_users u WHERE u.active IS FALSE AND u.user_id IS NOT NULL`

// seatsSQL counts, per license, the active users holding a role with it.
const seatsSQL = `
SELECT h.license, pg_catalog.count(*)
FROM (SELECT DISTINCT l.license, m.user_id
      FROM lethe.role_licenses l
      JOIN lethe.role_members m ON m.role_key = l.role_key
      WHERE l.license = ANY ($1)) AS h
WHERE h.user_id NOT IN (` + inactiveUsers + `)
GROUP BY h.license`

// managersSQL counts, per permission, the active users holding it.
const managersSQL = `
SELECT h.permission, pg_catalog.count(*)
FROM (SELECT DISTINCT p.permission, m.user_id
      FROM lethe.role_permissions p
      JOIN lethe.role_members m ON m.role_key = p.role_key
      WHERE p.permission = ANY ($1)) AS h
WHERE h.user_id NOT IN (` + inactiveUsers + `)
GROUP BY h.permission`

// Querier runs queries: a pool, a connection or a transaction.
type Querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// CountSeats counts, per license, the active users of a tenant holding a
// role with it. It reads every member of the tenant: callers cache it.
func CountSeats(ctx context.Context, q Querier, licenses []string) (map[string]int64, error) {
	return countUsers(ctx, q, seatsSQL, licenses)
}

func countUsers(ctx context.Context, q Querier, sql string, keys []string) (map[string]int64, error) {
	out := map[string]int64{}
	if len(keys) == 0 {
		return out, nil
	}
	rows, err := q.Query(ctx, sql, keys)
	if err != nil {
		return nil, fmt.Errorf("count users: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var k string
		var n int64
		if err := rows.Scan(&k, &n); err != nil {
			return nil, err
		}
		out[k] = n
	}
	return out, rows.Err()
}

// managersLost compares the holders of the guarded permissions now with
// before.
func managersLost(ctx context.Context, q Querier, before map[string]int64, guarded []string) ([]string, error) {
	after, err := countUsers(ctx, q, managersSQL, guarded)
	if err != nil {
		return nil, err
	}
	counts := make([]rbac.ManagerCount, 0, len(guarded))
	for _, p := range guarded {
		counts = append(counts, rbac.ManagerCount{Permission: p, Before: before[p], After: after[p]})
	}
	return rbac.LastManagerLost(counts), nil
}
