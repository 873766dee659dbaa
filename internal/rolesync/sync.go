package rolesync

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/lethe-dev/lethe/internal/audit"
)

// Beginner starts transactions: a pool or a connection.
type Beginner interface {
	Begin(ctx context.Context) (pgx.Tx, error)
}

// Sync brings one role in one tenant to its resolved state, in one
// transaction: only the rows that differ are written, each changed table
// gets an audit record naming every row with its old and new value, and the
// guards are checked against every role of the tenant. A refused change is
// rolled back.
func Sync(ctx context.Context, db Beginner, req Request) (res Result, err error) {
	want := req.Role
	want.normalize()
	err = inTx(ctx, db, func(tx pgx.Tx) error {
		cur, err := readStored(ctx, tx, want.Key)
		if err != nil {
			return err
		}
		d := diffRole(cur, &want)
		if d.empty() {
			res.Outcome = Unchanged
			return nil
		}
		seats, err := newSeatGuard(ctx, tx, &want, d, req.Guards)
		if err != nil {
			return err
		}
		managers, err := newManagerGuard(ctx, tx, cur, &want, d, req.Guards)
		if err != nil {
			return err
		}
		if err := apply(ctx, tx, &want, d); err != nil {
			return err
		}
		if err := writeSpecHash(ctx, tx, &want, cur, d); err != nil {
			return err
		}
		for _, g := range []guard{seats, managers} {
			if res.Refusal, err = g.check(ctx, tx); err != nil {
				return err
			} else if res.Refusal != nil {
				return errRefused
			}
		}
		action := ActionSync
		res.Outcome = Applied
		if cur.specHash == want.hash() || (!cur.exists && req.Synced) {
			action, res.Outcome = ActionRepairDrift, DriftRepaired
		}
		res.SeatsMayHaveChanged = d.membersOrLicensesChanged()
		res.Changes, err = auditChanges(ctx, tx, req, action, d.changes)
		return err
	})
	if errors.Is(err, errRefused) {
		res.Outcome, res.Changes, res.SeatsMayHaveChanged = Refused, nil, false
		return res, nil
	}
	return res, err
}

// errRefused rolls a refused change back.
var errRefused = errors.New("refused by a guard")

// inTx runs fn in a transaction that holds the tenant's role lock.
func inTx(ctx context.Context, db Beginner, fn func(pgx.Tx) error) (err error) {
	tx, err := db.Begin(ctx)
	if err != nil {
		return err
	}
	defer func() {
		if rerr := tx.Rollback(ctx); rerr != nil && !errors.Is(rerr, pgx.ErrTxClosed) && err == nil {
			err = rerr
		}
	}()
	if _, err := tx.Exec(ctx, "SELECT pg_catalog.pg_advisory_xact_lock($1)", lockKey); err != nil {
		return fmt.Errorf("lock roles: %w", err)
	}
	if err := fn(tx); err != nil {
		return err
	}
	return tx.Commit(ctx)
}

// apply writes the diff: deletes, inserts and updates of the changed rows
// only.
func apply(ctx context.Context, tx pgx.Tx, r *Role, d *diff) error {
	b := &pgx.Batch{}
	groups := func(g []string) []string {
		if g == nil {
			return []string{}
		}
		return g
	}
	switch {
	case d.newRole:
		b.Queue(`INSERT INTO lethe.roles (role_key, role_uid, catalog, display_name, default_role, default_scope, default_groups, spec_hash)
			VALUES ($1, $2, $3, $4, $5, $6, $7, '')`,
			r.Key, r.UID, r.Catalog, r.DisplayName, r.DefaultRole, r.DefaultScope, groups(r.DefaultGroups))
	case len(d.roleRow) > 0:
		b.Queue(`UPDATE lethe.roles SET role_uid = $2, catalog = $3, display_name = $4, default_role = $5,
			default_scope = $6, default_groups = $7 WHERE role_key = $1`,
			r.Key, r.UID, r.Catalog, r.DisplayName, r.DefaultRole, r.DefaultScope, groups(r.DefaultGroups))
	}
	queueSet(b, "role_licenses", "license", r.Key, d.licenses)
	queueSet(b, "role_members", "user_id", r.Key, d.members)
	if len(d.permDel) > 0 {
		b.Queue("DELETE FROM lethe.role_permissions WHERE role_key = $1 AND permission = ANY ($2)", r.Key, d.permDel)
	}
	if names, areas := splitPermissions(d.permAdd); len(names) > 0 {
		b.Queue(`INSERT INTO lethe.role_permissions (role_key, permission, area)
			SELECT $1, p, a FROM ROWS FROM (pg_catalog.unnest($2::text[]), pg_catalog.unnest($3::text[])) AS u (p, a)`, r.Key, names, areas)
	}
	if names, areas := splitPermissions(d.permArea); len(names) > 0 {
		b.Queue(`UPDATE lethe.role_permissions rp SET area = u.a
			FROM ROWS FROM (pg_catalog.unnest($2::text[]), pg_catalog.unnest($3::text[])) AS u (p, a)
			WHERE rp.role_key = $1 AND rp.permission = u.p`, r.Key, names, areas)
	}
	for _, s := range d.scopeDel {
		b.Queue("DELETE FROM lethe.role_scopes WHERE role_key = $1 AND kind = $2 AND name = $3", r.Key, s.Kind, s.Name)
	}
	for _, s := range d.scopeAdd {
		b.Queue("INSERT INTO lethe.role_scopes (role_key, kind, name, scope, groups) VALUES ($1, $2, $3, $4, $5)",
			r.Key, s.Kind, s.Name, s.Scope, groups(s.Groups))
	}
	for _, s := range d.scopeUpdate {
		b.Queue("UPDATE lethe.role_scopes SET scope = $4, groups = $5 WHERE role_key = $1 AND kind = $2 AND name = $3",
			r.Key, s.Kind, s.Name, s.Scope, groups(s.Groups))
	}
	if b.Len() == 0 {
		return nil
	}
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return fmt.Errorf("write role %s: %w", r.Key, err)
	}
	return nil
}

func queueSet(b *pgx.Batch, table, column, key string, d setDiff) {
	t := pgx.Identifier{"lethe", table}.Sanitize()
	c := pgx.Identifier{column}.Sanitize()
	if len(d.del) > 0 {
		b.Queue("DELETE FROM "+t+" WHERE role_key = $1 AND "+c+" = ANY ($2)", key, d.del)
	}
	if len(d.add) > 0 {
		b.Queue("INSERT INTO "+t+" (role_key, "+c+") SELECT $1, v FROM pg_catalog.unnest($2::text[]) AS u (v)", key, d.add)
	}
}

func splitPermissions(ps []Permission) (names, areas []string) {
	for _, p := range ps {
		names = append(names, p.Name)
		areas = append(areas, p.Area)
	}
	return names, areas
}

// writeSpecHash records what the operator wrote, when it differs.
func writeSpecHash(ctx context.Context, tx pgx.Tx, r *Role, cur *stored, d *diff) error {
	h := r.hash()
	if !d.newRole && cur.specHash == h {
		return nil
	}
	_, err := tx.Exec(ctx, "UPDATE lethe.roles SET spec_hash = $2 WHERE role_key = $1", r.Key, h)
	return err
}

// auditChanges appends one audit record per changed table, in the
// transaction of the change.
func auditChanges(ctx context.Context, tx pgx.Tx, req Request, action string, changes map[string][]change) ([]TableChange, error) {
	var out []TableChange
	for _, table := range tables {
		cs := changes[table]
		if len(cs) == 0 {
			continue
		}
		if _, err := audit.Append(ctx, tx, audit.Record{
			Time: req.Time, Actor: req.Actor, Object: req.Object, Action: action,
			Entity: table, Detail: describe(cs), Rows: int64(len(cs)),
		}); err != nil {
			return nil, err
		}
		out = append(out, TableChange{Table: table, Rows: len(cs)})
	}
	return out, nil
}
