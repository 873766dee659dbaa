// Package engine is the batched, resumable executor shared by requests,
// retention and pseudonymization: work is split into steps (an entity) and
// batches (a slice of its keys); each batch commits in one transaction
// together with its ledger row and its audit record, so a run stopped
// anywhere resumes without repeating a batch and without double-counting.
package engine

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/lethe-dev/lethe/internal/audit"
)

// DefaultBatchSize is how many keys one transaction changes at most.
const DefaultBatchSize = 500

// Run identifies one run: a request (or policy run) in one tenant database.
type Run struct {
	// UID is unique per run; it keys the ledger.
	UID           string
	Type          string
	SubjectType   string
	SubjectDigest string
	Actor         string
	Object        audit.Object
	// Clock is the clock; nil means time.Now.
	Clock func() time.Time
}

// Now is the run's clock.
func (r *Run) Now() time.Time { return r.now() }

func (r *Run) now() time.Time {
	if r.Clock != nil {
		return r.Clock()
	}
	return time.Now()
}

// Plan is what a run will touch: per entity, the keys it owns and the keys
// it shares.
type Plan struct {
	Entities []PlannedEntity
}

// PlannedEntity is one entity's keys in a plan.
type PlannedEntity struct {
	Entity string
	Keys   []string
	Shared []string
}

// State of a run recorded in the database.
type State string

// The states.
const (
	StateNew        State = ""
	StateInProgress State = "InProgress"
	StateCompleted  State = "Completed"
)

// Begin records the run and its plan, once: if the run was recorded before
// (a resumed run), the stored plan is returned and plan is not called, so a
// run that already changed rows keeps acting on the rows it first found.
func Begin(ctx context.Context, pool *pgxpool.Pool, run *Run, plan func() (*Plan, error)) (State, *Plan, error) {
	state, err := stateOf(ctx, pool, run.UID)
	if err != nil {
		return StateNew, nil, err
	}
	if state != StateNew {
		p, err := loadPlan(ctx, pool, run.UID)
		return state, p, err
	}
	p, err := plan()
	if err != nil {
		return StateNew, nil, err
	}
	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		b := &pgx.Batch{}
		b.Queue(`INSERT INTO lethe.requests (uid, type, subject_type, subject_digest, state, created_at)
			VALUES ($1, $2, $3, $4, 'InProgress', $5)`, run.UID, run.Type, run.SubjectType, run.SubjectDigest, run.now())
		for _, e := range p.Entities {
			b.Queue(`INSERT INTO lethe.request_plan (request_uid, entity, keys, shared_keys) VALUES ($1, $2, $3, $4)`,
				run.UID, e.Entity, nonNil(e.Keys), nonNil(e.Shared))
		}
		return tx.SendBatch(ctx, b).Close()
	})
	if err != nil {
		return StateNew, nil, fmt.Errorf("record the plan: %w", err)
	}
	return StateInProgress, p, nil
}

func stateOf(ctx context.Context, pool *pgxpool.Pool, uid string) (State, error) {
	var s string
	err := pool.QueryRow(ctx, "SELECT state FROM lethe.requests WHERE uid = $1", uid).Scan(&s)
	if errors.Is(err, pgx.ErrNoRows) {
		return StateNew, nil
	}
	return State(s), err
}

func loadPlan(ctx context.Context, pool *pgxpool.Pool, uid string) (*Plan, error) {
	rows, err := pool.Query(ctx, "SELECT entity, keys, shared_keys FROM lethe.request_plan WHERE request_uid = $1", uid)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	p := &Plan{}
	for rows.Next() {
		var e PlannedEntity
		if err := rows.Scan(&e.Entity, &e.Keys, &e.Shared); err != nil {
			return nil, err
		}
		p.Entities = append(p.Entities, e)
	}
	return p, rows.Err()
}

// Step is the work on one entity: Apply changes the rows with the given keys
// inside tx and returns how many rows it changed.
type Step struct {
	Entity string
	// Action names the change in the ledger and the audit log ("Mask",
	// "Delete", "Rectify", ...).
	Action string
	Keys   []string
	Apply  func(ctx context.Context, tx pgx.Tx, keys []string) (int64, error)
}

// StepResult is how many rows a step changed over all its batches.
type StepResult struct {
	Entity  string
	Action  string
	Changed int64
}

// Options tune Execute.
type Options struct {
	BatchSize int
	// BeforeBatch, when set, runs before each batch that is not done yet;
	// an error stops the run there (tests use it to interrupt a run).
	BeforeBatch func(entity string, batch int) error
}

// Execute runs the steps in order, batch by batch. A batch already in the
// ledger is skipped and its recorded count reused.
func Execute(ctx context.Context, pool *pgxpool.Pool, run *Run, steps []Step, opts Options) ([]StepResult, error) {
	size := opts.BatchSize
	if size <= 0 {
		size = DefaultBatchSize
	}
	done, err := doneBatches(ctx, pool, run.UID)
	if err != nil {
		return nil, err
	}
	results := make([]StepResult, 0, len(steps))
	for _, s := range steps {
		res := StepResult{Entity: s.Entity, Action: s.Action}
		for b := 0; b*size < len(s.Keys); b++ {
			if n, ok := done[batchKey{s.Entity, b}]; ok {
				res.Changed += n
				continue
			}
			if opts.BeforeBatch != nil {
				if err := opts.BeforeBatch(s.Entity, b); err != nil {
					return results, err
				}
			}
			keys := s.Keys[b*size : min((b+1)*size, len(s.Keys))]
			n, err := runBatch(ctx, pool, run, s, b, keys)
			if err != nil {
				return results, err
			}
			res.Changed += n
		}
		results = append(results, res)
	}
	return results, nil
}

type batchKey struct {
	entity string
	batch  int
}

// doneBatches reads the run's ledger once: the batches already committed.
func doneBatches(ctx context.Context, pool *pgxpool.Pool, uid string) (map[batchKey]int64, error) {
	rows, err := pool.Query(ctx, "SELECT entity, batch, rows FROM lethe.request_steps WHERE request_uid = $1", uid)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	done := map[batchKey]int64{}
	for rows.Next() {
		var k batchKey
		var n int64
		if err := rows.Scan(&k.entity, &k.batch, &n); err != nil {
			return nil, err
		}
		done[k] = n
	}
	return done, rows.Err()
}

// asyncCommit lets a batch commit without waiting for its WAL flush. It
// stays atomic (the change, its ledger row and its audit record commit or
// vanish together, so a run resumes correctly after a crash), and Complete
// commits synchronously, which flushes every earlier batch of the run before
// the run is reported done.
var asyncCommit = audit.Statement{SQL: "SET LOCAL synchronous_commit = off"}

// runBatch changes one batch in one transaction with its ledger row and its
// audit record. The ledger's primary key makes a concurrent second attempt
// fail and roll back its change.
func runBatch(ctx context.Context, pool *pgxpool.Pool, run *Run, s Step, batch int, keys []string) (int64, error) {
	var changed int64
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		var err error
		if changed, err = s.Apply(ctx, tx, keys); err != nil {
			return err
		}
		_, err = audit.AppendAfter(ctx, tx, audit.Record{Time: run.now(), Actor: run.Actor, Object: run.Object,
			Action: s.Action, Entity: s.Entity, Rows: changed, SubjectDigest: run.SubjectDigest},
			asyncCommit,
			audit.Statement{SQL: `INSERT INTO lethe.request_steps (request_uid, entity, batch, action, rows, done_at)
				VALUES ($1, $2, $3, $4, $5, $6)`, Args: []any{run.UID, s.Entity, batch, s.Action, changed, run.now()}})
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("entity %s, batch %d: %w", s.Entity, batch, err)
	}
	return changed, nil
}

// Record appends one audit record for a run, in its own transaction, for
// actions that change no rows (an export, a discovery).
func Record(ctx context.Context, pool *pgxpool.Pool, run *Run, action, entity string, rows int64) error {
	return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		return AppendRecord(ctx, tx, run, action, entity, rows)
	})
}

// AppendRecord appends the run's audit record for an action inside tx.
func AppendRecord(ctx context.Context, tx pgx.Tx, run *Run, action, entity string, rows int64) error {
	_, err := audit.Append(ctx, tx, audit.Record{Time: run.now(), Actor: run.Actor, Object: run.Object,
		Action: action, Entity: entity, Rows: rows, SubjectDigest: run.SubjectDigest})
	return err
}

// Complete marks the run completed and drops its plan (the keys are needed
// no more; the ledger stays). A completed run is never executed again.
func Complete(ctx context.Context, pool *pgxpool.Pool, run *Run) error {
	return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		b := &pgx.Batch{}
		b.Queue("SET LOCAL synchronous_commit = on")
		b.Queue("DELETE FROM lethe.request_plan WHERE request_uid = $1", run.UID)
		b.Queue("UPDATE lethe.requests SET state = 'Completed', completed_at = $2 WHERE uid = $1", run.UID, run.now())
		return tx.SendBatch(ctx, b).Close()
	})
}

// Ledger returns the rows changed per entity as recorded, for a completed
// run whose results must be reported again.
func Ledger(ctx context.Context, pool *pgxpool.Pool, uid string) ([]StepResult, error) {
	rows, err := pool.Query(ctx, `SELECT entity, min(action), sum(rows)::bigint FROM lethe.request_steps
		WHERE request_uid = $1 GROUP BY entity ORDER BY entity`, uid)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []StepResult
	for rows.Next() {
		var r StepResult
		if err := rows.Scan(&r.Entity, &r.Action, &r.Changed); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
