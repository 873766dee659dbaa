package engine

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// lockedState is a listed step's rows found locked and not done yet.
type lockedState struct {
	keys    []string
	retries int
}

// RowsLockedError says rows of a request stayed locked by other
// transactions through the executor's retries; the run resumes later, with
// only them left to do.
type RowsLockedError struct {
	Step string
	Rows int
}

func (e *RowsLockedError) Error() string {
	return fmt.Sprintf("step %s: %d rows are locked by other transactions; they are retried later", e.Step, e.Rows)
}

func sqlState(err error) string {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code
	}
	return ""
}

// isLockTimeout says a statement gave up waiting for a row lock.
func isLockTimeout(err error) bool { return sqlState(err) == "55P03" }

// isConflict says a batch's rows were changed by another transaction
// between its selection and its change (lethe.raise_conflict, byTID).
func isConflict(err error) bool { return sqlState(err) == "40001" }

// isUniqueViolation says rows collided in a unique column.
func isUniqueViolation(err error) bool { return sqlState(err) == "23505" }

// Concurrent says another attempt of the same run got there first: a batch
// or a plan this attempt tried to record is in the ledger already
// (lethe.run_batches, lethe.run_plan), and this attempt's change rolled
// back with its record. A manager that dies with batches in flight leaves
// them to its database session, which may commit them after a new manager
// has read the ledger. It is no error of the data: trying again goes on
// from the ledger.
func Concurrent(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "23505" && pgErr.SchemaName == "lethe" &&
		(pgErr.ConstraintName == "run_batches_pkey" || pgErr.ConstraintName == "run_plan_pkey")
}

// setLocal applies the executor's settings inside tx.
func setLocal(ctx context.Context, tx pgx.Tx, opts Options) error {
	b := &pgx.Batch{}
	b.Queue(fmt.Sprintf("SET LOCAL lock_timeout = %d", max(opts.lockTimeout().Milliseconds(), 1)))
	b.Queue(fmt.Sprintf("SET LOCAL statement_timeout = %d", max(opts.StatementTimeout.Milliseconds(), 0)))
	b.Queue("SET LOCAL plan_cache_mode = force_custom_plan")
	b.Queue(asyncCommit)
	return tx.SendBatch(ctx, b).Close()
}

// freeOf locks the rows of keys that no other transaction holds and
// returns their keys in key order; locked rows are skipped, not waited on.
func freeOf(ctx context.Context, tx pgx.Tx, t *Target, keys []string) ([]string, error) {
	if len(keys) == 0 {
		return nil, nil
	}
	rows, err := tx.Query(ctx, fmt.Sprintf("SELECT %s FROM %s AS %s WHERE %s ORDER BY %s FOR UPDATE OF %s SKIP LOCKED", // #nosec G201 -- identifiers sanitized
		t.KeyText(Row), t.Ident, Row, t.In(Row, "$1"), t.OrderBy(Row), Row), keys)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

// slowBatch redoes a listed step's batch without the rows other
// transactions hold: it locks the free ones, changes them with the batch's
// ledger row and audit record, and records, in the same transaction, the
// step's locked rows as next says from the keys still locked.
func slowBatch(ctx context.Context, pool *pgxpool.Pool, run *Run, s *Step, batch int, candidates []string, opts Options, res *StepResult,
	next func(still []string) lockedState) (lockedState, error) {
	var ls lockedState
	var got batchResult
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if err := setLocal(ctx, tx, opts); err != nil {
			return err
		}
		free, err := freeOf(ctx, tx, s.Target, candidates)
		if err != nil {
			return err
		}
		bs := &batchSQL{run: run, step: s, batch: batch, sel: selection{keys: nonNil(free)}, auditEmpty: true}
		if err := execBatch(ctx, tx, bs, &got); err != nil {
			return err
		}
		ls = next(minus(candidates, free))
		return saveLocked(ctx, tx, run, s, ls)
	})
	if err != nil {
		return lockedState{}, fmt.Errorf("step %s, batch %d: %w", s.name(), batch, err)
	}
	res.Changed += got.rows
	fx, err := parseEffects(got.effects)
	res.Effects = res.Effects.Add(fx)
	return ls, err
}

// execBatch runs a batch's statement inside tx, after deferring the
// constraints of its cycles.
func execBatch(ctx context.Context, tx pgx.Tx, bs *batchSQL, got *batchResult) error {
	for _, c := range deferred(bs.step) {
		if _, err := tx.Exec(ctx, "SET CONSTRAINTS "+c+" DEFERRED"); err != nil {
			return err
		}
	}
	sql, args, err := bs.statement()
	if err != nil {
		return err
	}
	var entry *int64
	return tx.QueryRow(ctx, sql, args...).Scan(append(got.dest(), &entry)...)
}

// saveLocked records a listed step's locked rows.
func saveLocked(ctx context.Context, tx pgx.Tx, run *Run, s *Step, ls lockedState) error {
	_, err := tx.Exec(ctx, `INSERT INTO lethe.run_steps (run_uid, step, part, entity, locked_keys, retries, updated_at)
		VALUES ($1, $2, 0, $3, $4, $5, $6)
		ON CONFLICT (run_uid, step, part) DO UPDATE SET locked_keys = EXCLUDED.locked_keys, retries = EXCLUDED.retries, updated_at = EXCLUDED.updated_at`,
		run.UID, s.name(), s.Entity, nonNil(ls.keys), ls.retries, time.Now())
	return err
}

// retryLocked tries the locked rows of listed steps once more, each step's
// in one batch numbered after its planned ones. Rows still locked make a
// RowsLockedError: the caller comes back later.
func retryLocked(ctx context.Context, pool *pgxpool.Pool, run *Run, steps []Step, locked map[string]lockedState, results []StepResult, opts Options) error {
	size := run.listedBatchSize(opts)
	var left *RowsLockedError
	for i := range steps {
		s := &steps[i]
		ls, ok := locked[s.name()]
		if !ok || len(ls.keys) == 0 {
			continue
		}
		batch := (len(s.Keys)+size-1)/size + ls.retries
		if d, ok := run.ledger[batchKey{s.name(), batch}]; ok {
			results[i].Changed += d.rows
			results[i].Effects = results[i].Effects.Add(d.effects)
			continue
		}
		retries := ls.retries + 1
		ls, err := slowBatch(ctx, pool, run, s, batch, ls.keys, opts, &results[i], func(still []string) lockedState {
			return lockedState{keys: still, retries: retries}
		})
		if err != nil {
			return err
		}
		locked[s.name()] = ls
		if len(ls.keys) > 0 && left == nil {
			left = &RowsLockedError{Step: s.name(), Rows: len(ls.keys)}
		}
	}
	if left != nil {
		return left
	}
	return nil
}

func minus(a, b []string) []string {
	in := make(map[string]bool, len(b))
	for _, s := range b {
		in[s] = true
	}
	var out []string
	for _, s := range a {
		if !in[s] {
			out = append(out, s)
		}
	}
	return out
}
