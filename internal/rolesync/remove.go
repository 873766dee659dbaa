package rolesync

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	privacyv1alpha1 "github.com/lethe-dev/lethe/api/v1alpha1"
	"github.com/lethe-dev/lethe/internal/audit"
)

// RemoveRequest asks to remove one role from one tenant.
type RemoveRequest struct {
	Key    string
	Object audit.Object
	Actor  string
	Guards Guards
}

// Remove deletes a role and every row of it from a tenant in one transaction
// with its audit record, unless that would leave no active user holding a
// guarded permission. Removing a role the tenant does not hold changes
// nothing.
func Remove(ctx context.Context, db Beginner, req RemoveRequest) (res Result, err error) {
	err = inTx(ctx, db, func(tx pgx.Tx) error {
		var counts [4]int64
		err := tx.QueryRow(ctx, `SELECT
			(SELECT pg_catalog.count(*) FROM lethe.role_licenses WHERE role_key = $1),
			(SELECT pg_catalog.count(*) FROM lethe.role_permissions WHERE role_key = $1),
			(SELECT pg_catalog.count(*) FROM lethe.role_scopes WHERE role_key = $1),
			(SELECT pg_catalog.count(*) FROM lethe.role_members WHERE role_key = $1)
			FROM lethe.roles WHERE role_key = $1`, req.Key).Scan(&counts[0], &counts[1], &counts[2], &counts[3])
		if errors.Is(err, pgx.ErrNoRows) {
			res.Outcome = Unchanged
			return nil
		}
		if err != nil {
			return fmt.Errorf("read lethe.roles: %w", err)
		}
		before, err := countUsers(ctx, tx, managersSQL, req.Guards.ManagerPermissions)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, "DELETE FROM lethe.roles WHERE role_key = $1", req.Key); err != nil {
			return fmt.Errorf("delete role %s: %w", req.Key, err)
		}
		lost, err := managersLost(ctx, tx, before, req.Guards.ManagerPermissions)
		if err != nil {
			return err
		}
		if len(lost) > 0 {
			res.Refusal = &Refusal{Reason: privacyv1alpha1.ReasonLastRoleManager, Problems: lost}
			return errRefused
		}
		rows := int64(1)
		for _, n := range counts {
			rows += n
		}
		if _, err := audit.Append(ctx, tx, audit.Record{
			Actor: req.Actor, Object: req.Object, Action: ActionRemove, Rows: rows,
			Entity: tableRoles, Detail: fmt.Sprintf("%s: present -> absent (with %d licenses, %d permissions, %d scopes, %d members)",
				req.Key, counts[0], counts[1], counts[2], counts[3]),
		}); err != nil {
			return err
		}
		res.Outcome = Applied
		res.Changes = []TableChange{
			{Table: tableRoles, Rows: 1}, {Table: tableLicenses, Rows: int(counts[0])}, {Table: tablePermissions, Rows: int(counts[1])},
			{Table: tableScopes, Rows: int(counts[2])}, {Table: tableMembers, Rows: int(counts[3])},
		}
		return nil
	})
	if errors.Is(err, errRefused) {
		res.Outcome = Refused
		return res, nil
	}
	return res, err
}
