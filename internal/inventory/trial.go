package inventory

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	privacyv1alpha1 "github.com/lethe-dev/lethe/api/v1alpha1"
	"github.com/lethe-dev/lethe/internal/masking"
	"github.com/lethe-dev/lethe/internal/tenantdb"
)

// Beginner starts a transaction: a pool or a connection.
type Beginner interface {
	Begin(ctx context.Context) (pgx.Tx, error)
}

// trialTimeout bounds each statement of a trial (milliseconds), and
// trialLockTimeout how long it waits for a row the application holds.
const (
	trialTimeout     = "2000"
	trialLockTimeout = "500"
)

// trialKeys are the per-run inputs of a trial: a throwaway HMAC key and
// subject token, so every strategy compiles; nothing is kept.
var trialKeys = masking.Keys{HashKey: []byte("lethe-trial-key-never-committed!"), Subject: "trial", Number: 1}

// TrialMasking tries the masking of every personal column whose values only
// the database can judge (a CHECK constraint names it, or its type is a
// domain: tenantdb.Column.Constrained) and that the catalog finds no fault
// with: on one existing row of its table, in a transaction that is always
// rolled back, with a short statement timeout, it runs the UPDATE the
// masking engine builds (masking.UpdateSQL). It returns, sorted, the columns
// whose constraint refuses the masked value, each naming the entity, the
// column and the constraint PostgreSQL names; never a value. A table with no
// rows, or without a key to address one, is not tried.
//
// err is a failure that says nothing of the inventory (a timeout, a lock
// held by the application, a lost connection): the columns left untried are
// tried again at the next check.
func TrialMasking(ctx context.Context, db Beginner, spec *privacyv1alpha1.DataInventorySpec, cat *tenantdb.Catalog) (problems []string, err error) {
	type trial struct {
		entity string
		table  *tenantdb.Table
		col    tenantdb.Column
		s      privacyv1alpha1.MaskingStrategy
	}
	var trials []trial
	for i := range spec.Entities {
		e := &spec.Entities[i]
		t, ok := cat.Table(e.Table)
		if !ok || len(t.Key) == 0 {
			continue
		}
		for _, pc := range e.PersonalColumns {
			c, ok := t.Column(pc.Column)
			if ok && c.Constrained && masking.Check(pc.Strategy, c) == "" && !slices.Contains(t.Key, c.Name) {
				trials = append(trials, trial{entity: e.Name, table: t, col: c, s: pc.Strategy})
			}
		}
	}
	if len(trials) == 0 {
		return nil, nil
	}
	tx, err := db.Begin(ctx)
	if err != nil {
		return nil, err
	}
	defer func() { _ = tx.Rollback(ctx) }()
	if _, err := tx.Exec(ctx, "SELECT pg_catalog.set_config('statement_timeout', $1, true), pg_catalog.set_config('lock_timeout', $2, true)",
		trialTimeout, trialLockTimeout); err != nil {
		return nil, err
	}
	var failed error
	for _, tr := range trials {
		why, err := tryMasking(ctx, tx, tr.table, tr.col, tr.s)
		switch {
		case err != nil:
			failed = errors.Join(failed, fmt.Errorf("trial of %s: %s", columnName(tr.table.TableName().String(), tr.col.Name), tenantdb.SafeError(err)))
		case why != "":
			problems = append(problems, fmt.Sprintf("entity %s: column %s (%s) cannot take strategy %s: %s",
				tr.entity, columnName(tr.table.TableName().String(), tr.col.Name), tr.col.Type, tr.s.Type, why))
		}
	}
	sort.Strings(problems)
	return problems, failed
}

// tryMasking masks one column of one row inside a savepoint and rolls it
// back. It returns why the database refused the masked value, or an error
// that says nothing of the strategy.
func tryMasking(ctx context.Context, tx pgx.Tx, t *tenantdb.Table, c tenantdb.Column, s privacyv1alpha1.MaskingStrategy) (string, error) {
	sql, args, err := masking.UpdateSQL(t.TableName().String(), []masking.Assignment{{Column: c, Strategy: s}}, t.Key, trialKeys)
	if err != nil {
		return "", err
	}
	if _, err := tx.Exec(ctx, "SAVEPOINT lethe_trial"); err != nil {
		return "", err
	}
	var execErr error
	keys, err := oneRow(ctx, tx, t, c.Name)
	if err == nil && keys != nil {
		_, execErr = tx.Exec(ctx, sql, args.With(keys...)...)
	}
	if _, rbErr := tx.Exec(ctx, "ROLLBACK TO SAVEPOINT lethe_trial"); rbErr != nil || err != nil {
		return "", errors.Join(err, rbErr)
	}
	var pgErr *pgconn.PgError
	if execErr == nil || !errors.As(execErr, &pgErr) || (!strings.HasPrefix(pgErr.Code, "22") && !strings.HasPrefix(pgErr.Code, "23")) {
		return "", execErr
	}
	if pgErr.ConstraintName != "" {
		return fmt.Sprintf("constraint %s refuses the masked value (SQLSTATE %s; tried on one row, rolled back)", tenantdb.QuoteIdent(pgErr.ConstraintName), pgErr.Code), nil
	}
	return fmt.Sprintf("the database refuses the masked value: %s (tried on one row, rolled back)", tenantdb.SafeError(execErr)), nil
}

// oneRow reads the key of one row of t, as text arrays of one element each
// (UpdateSQL's key set), preferring a row where column holds a value: every
// strategy keeps NULL as NULL. It returns nil when the table is empty.
func oneRow(ctx context.Context, tx pgx.Tx, t *tenantdb.Table, column string) ([]any, error) {
	sel := make([]string, len(t.Key))
	for i, k := range t.Key {
		sel[i] = pgx.Identifier{k}.Sanitize() + "::text"
	}
	query := "SELECT " + strings.Join(sel, ", ") + " FROM " + t.Ident() // #nosec G202 -- identifiers sanitized
	for _, where := range []string{" WHERE " + pgx.Identifier{column}.Sanitize() + " IS NOT NULL LIMIT 1", " LIMIT 1"} {
		vals := make([]string, len(t.Key))
		dest := make([]any, len(t.Key))
		for i := range vals {
			dest[i] = &vals[i]
		}
		err := tx.QueryRow(ctx, query+where).Scan(dest...)
		if errors.Is(err, pgx.ErrNoRows) {
			continue
		}
		if err != nil {
			return nil, err
		}
		keys := make([]any, len(vals))
		for i, v := range vals {
			keys[i] = []string{v}
		}
		return keys, nil
	}
	return nil, nil
}
