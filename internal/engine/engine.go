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
	"github.com/jackc/pgx/v5/pgconn"
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

	// ledger holds the batches done, as Begin read or recorded them.
	ledger map[batchKey]int64
	// unrecorded is the transaction that records a new run and its plan,
	// until it is sent.
	unrecorded []Statement
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
//
// The run's state, stored plan and ledger are read in one round trip. A new
// run's plan is recorded, in its own transaction, in the round trip of the
// run's first batches (Execute) or of Complete, whichever comes first; if
// neither comes, nothing was changed and the next attempt plans again. The
// plan commits without waiting for its WAL flush: a batch commits after it,
// and the log is flushed in order, so no batch survives a crash without
// its plan.
func Begin(ctx context.Context, pool *pgxpool.Pool, run *Run, plan func() (*Plan, error)) (State, *Plan, error) {
	return BeginWith(ctx, pool, run, nil, plan)
}

// BeginWith is Begin with planning statements that travel in the round trip
// that reads the run's state: queue adds them to it, and plan, called for a
// new run only, builds the plan from their results. They run for a resumed
// or completed run too, so they must be safe to repeat: reads, or writes
// that keep what an earlier attempt wrote.
func BeginWith(ctx context.Context, pool *pgxpool.Pool, run *Run, queue func(*pgx.Batch), plan func() (*Plan, error)) (State, *Plan, error) {
	state, stored, done, err := readRun(ctx, pool, run.UID, queue)
	if err != nil {
		return StateNew, nil, err
	}
	if state != StateNew {
		run.ledger = done
		return state, stored, nil
	}
	p, err := plan()
	if err != nil {
		return StateNew, nil, err
	}
	record := []Statement{{SQL: "BEGIN"}, {SQL: asyncCommit}, {SQL: `INSERT INTO lethe.requests (uid, type, subject_type, subject_digest, state, created_at)
		VALUES ($1, $2, $3, $4, 'InProgress', $5)`, Args: []any{run.UID, run.Type, run.SubjectType, run.SubjectDigest, run.now()}}}
	for _, e := range p.Entities {
		record = append(record, Statement{SQL: `INSERT INTO lethe.request_plan (request_uid, entity, keys, shared_keys) VALUES ($1, $2, $3, $4)`,
			Args: []any{run.UID, e.Entity, nonNil(e.Keys), nonNil(e.Shared)}})
	}
	record = append(record, Statement{SQL: "COMMIT"})
	run.unrecorded = record
	run.ledger = map[batchKey]int64{}
	return StateInProgress, p, nil
}

// readRun reads a run's state, plan and ledger in one round trip, with the
// caller's statements queued by queue, if any.
func readRun(ctx context.Context, pool *pgxpool.Pool, uid string, queue func(*pgx.Batch)) (State, *Plan, map[batchKey]int64, error) {
	state := StateNew
	p := &Plan{}
	done := map[batchKey]int64{}
	b := &pgx.Batch{}
	b.Queue("SELECT state FROM lethe.requests WHERE uid = $1", uid).QueryRow(func(row pgx.Row) error {
		var s string
		err := row.Scan(&s)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		state = State(s)
		return err
	})
	b.Queue("SELECT entity, keys, shared_keys FROM lethe.request_plan WHERE request_uid = $1", uid).Query(func(rows pgx.Rows) error {
		for rows.Next() {
			var e PlannedEntity
			if err := rows.Scan(&e.Entity, &e.Keys, &e.Shared); err != nil {
				return err
			}
			p.Entities = append(p.Entities, e)
		}
		return rows.Err()
	})
	b.Queue("SELECT entity, batch, rows FROM lethe.request_steps WHERE request_uid = $1", uid).Query(func(rows pgx.Rows) error {
		for rows.Next() {
			var k batchKey
			var n int64
			if err := rows.Scan(&k.entity, &k.batch, &n); err != nil {
				return err
			}
			done[k] = n
		}
		return rows.Err()
	})
	if queue != nil {
		queue(b)
	}
	if err := SendTx(ctx, pool, b); err != nil {
		return StateNew, nil, nil, err
	}
	return state, p, done, nil
}

// Statement is one SQL statement and its arguments.
type Statement = audit.Statement

// Step is the work on one entity: Change returns the statement that changes
// the rows with the given keys. It is one INSERT, UPDATE or DELETE without a
// RETURNING clause; the engine counts the rows it changes and runs it in the
// batch's transaction.
type Step struct {
	Entity string
	// Action names the change in the ledger and the audit log ("Mask",
	// "Delete", "Rectify", ...).
	Action string
	Keys   []string
	Change func(keys []string) Statement
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
	// Complete, when set, marks the run completed as Complete does, in the
	// round trip of the last batches, once every batch is done.
	Complete bool
}

// batchesPerTrip bounds how many batches travel to the database together.
const batchesPerTrip = 32

// pendingBatch is a batch not in the ledger yet.
type pendingBatch struct {
	step  int
	batch int
	keys  []string
}

// Execute runs the steps in order, batch by batch, each batch in its own
// transaction with its ledger row and its audit record. A batch already in
// the ledger is skipped and its recorded count reused. The batches are sent
// to the database together (one round trip for up to batchesPerTrip of
// them) and committed in order: when one fails, the batches before it stay
// committed and the ones after it are not run.
func Execute(ctx context.Context, pool *pgxpool.Pool, run *Run, steps []Step, opts Options) ([]StepResult, error) {
	size := opts.BatchSize
	if size <= 0 {
		size = DefaultBatchSize
	}
	done := run.ledger
	if done == nil {
		var err error
		if _, _, done, err = readRun(ctx, pool, run.UID, nil); err != nil {
			return nil, err
		}
	}
	results := make([]StepResult, len(steps))
	var pending []pendingBatch
	var stop error
plan:
	for i, s := range steps {
		results[i] = StepResult{Entity: s.Entity, Action: s.Action}
		for b := 0; b*size < len(s.Keys); b++ {
			if n, ok := done[batchKey{s.Entity, b}]; ok {
				results[i].Changed += n
				continue
			}
			if opts.BeforeBatch != nil {
				if stop = opts.BeforeBatch(s.Entity, b); stop != nil {
					break plan
				}
			}
			pending = append(pending, pendingBatch{step: i, batch: b, keys: s.Keys[b*size : min((b+1)*size, len(s.Keys))]})
		}
	}
	for first := true; first || len(pending) > 0; first = false {
		trip := pending[:min(batchesPerTrip, len(pending))]
		pending = pending[len(trip):]
		complete := opts.Complete && stop == nil && len(pending) == 0
		if len(trip) == 0 && len(run.unrecorded) == 0 && !complete {
			break
		}
		if err := runBatches(ctx, pool, run, steps, trip, results, complete); err != nil {
			return nil, err
		}
	}
	if stop != nil {
		return nil, stop
	}
	return results, nil
}

type batchKey struct {
	entity string
	batch  int
}

// asyncCommit lets a batch commit without waiting for its WAL flush. It
// stays atomic (the change, its ledger row and its audit record commit or
// vanish together, so a run resumes correctly after a crash), and Complete
// commits synchronously, which flushes every earlier batch of the run before
// the run is reported done.
const asyncCommit = "SET LOCAL synchronous_commit = off"

// runBatches sends, in one round trip, the run's record if it is not sent
// yet, then the batches, each in its own transaction (one statement changes
// the rows, writes the ledger row with the count and appends the audit
// record), then, when complete is set, the run's completion. The ledger's
// primary key makes a concurrent second attempt fail and roll back its
// change. The counts are added to results as the batches commit.
func runBatches(ctx context.Context, pool *pgxpool.Pool, run *Run, steps []Step, trip []pendingBatch, results []StepResult, complete bool) error {
	b := &pgx.Batch{}
	recorded := len(run.unrecorded) == 0
	for i, st := range run.unrecorded {
		q := b.Queue(st.SQL, st.Args...)
		if i == len(run.unrecorded)-1 {
			q.Exec(func(pgconn.CommandTag) error {
				recorded = true
				return nil
			})
		}
	}
	committed := 0
	for _, pb := range trip {
		s := steps[pb.step]
		var n int64
		b.Queue("BEGIN")
		b.Queue(asyncCommit)
		sql, args := batchSQL(run, s, pb)
		b.Queue(sql, args...).QueryRow(func(row pgx.Row) error { return row.Scan(&n) })
		b.Queue("COMMIT").Exec(func(pgconn.CommandTag) error {
			results[pb.step].Changed += n
			committed++
			return nil
		})
	}
	if complete {
		queueComplete(b, run)
	}
	err := SendTx(ctx, pool, b)
	if recorded {
		run.unrecorded = nil
	}
	switch {
	case err == nil:
		return nil
	case !recorded:
		return fmt.Errorf("record the plan: %w", err)
	case committed < len(trip):
		failed := trip[committed]
		return fmt.Errorf("entity %s, batch %d: %w", steps[failed.step].Entity, failed.batch, err)
	}
	return fmt.Errorf("complete the run: %w", err)
}

// batchSQL is one batch's statement: the step's change, counted, then its
// ledger row and its audit record with that count.
func batchSQL(run *Run, s Step, pb pendingBatch) (string, []any) {
	change := s.Change(pb.keys)
	args := append([]any{}, change.Args...)
	ledger := len(args) + 1
	args = append(args, run.UID, s.Entity, pb.batch, s.Action, run.now())
	call, auditArgs := audit.AppendCall(audit.Record{Time: run.now(), Actor: run.Actor, Object: run.Object,
		Action: s.Action, Entity: s.Entity, SubjectDigest: run.SubjectDigest}, len(args)+1, "ledger.rows")
	args = append(args, auditArgs...)
	sql := fmt.Sprintf(`WITH changed AS (%s RETURNING 1),
	ledger AS (INSERT INTO lethe.request_steps (request_uid, entity, batch, action, rows, done_at)
		SELECT $%d, $%d, $%d, $%d, count(*), $%d FROM changed RETURNING rows)
SELECT ledger.rows FROM ledger, %s`, change.SQL, ledger, ledger+1, ledger+2, ledger+3, ledger+4, call)
	return sql, args
}

// SendTx sends a batch that holds its own BEGIN and COMMIT statements on one
// connection and reads every result. When a statement fails, the server
// skips the rest of the batch; the open transaction is then rolled back so
// the connection goes back to the pool clean.
func SendTx(ctx context.Context, pool *pgxpool.Pool, b *pgx.Batch) error {
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	err = conn.SendBatch(ctx, b).Close()
	if err != nil && conn.Conn().PgConn().TxStatus() != 'I' {
		if _, rerr := conn.Exec(ctx, "ROLLBACK"); rerr != nil {
			return errors.Join(err, rerr)
		}
	}
	return err
}

// Record appends one audit record for a run, in its own transaction, for
// actions that change no rows (an export, a discovery).
func Record(ctx context.Context, pool *pgxpool.Pool, run *Run, action, entity string, rows int64) error {
	b := &pgx.Batch{}
	b.Queue("BEGIN")
	QueueRecord(b, run, action, entity, rows)
	b.Queue("COMMIT")
	return SendTx(ctx, pool, b)
}

// QueueRecord queues the run's audit record for an action onto b, for the
// transaction b runs in.
func QueueRecord(b *pgx.Batch, run *Run, action, entity string, rows int64) {
	audit.QueueAppend(b, auditRecord(run, action, entity, rows), nil)
}

// AppendRecord appends the run's audit record for an action inside tx.
func AppendRecord(ctx context.Context, tx pgx.Tx, run *Run, action, entity string, rows int64) error {
	_, err := audit.Append(ctx, tx, auditRecord(run, action, entity, rows))
	return err
}

func auditRecord(run *Run, action, entity string, rows int64) audit.Record {
	return audit.Record{Time: run.now(), Actor: run.Actor, Object: run.Object,
		Action: action, Entity: entity, Rows: rows, SubjectDigest: run.SubjectDigest}
}

// Complete marks the run completed and drops its plan (the keys are needed
// no more; the ledger stays), in one round trip with the run's record if
// that was not sent yet. It commits synchronously, so every batch of the
// run is on disk before the run is reported done. A completed run is never
// executed again.
func Complete(ctx context.Context, pool *pgxpool.Pool, run *Run) error {
	return runBatches(ctx, pool, run, nil, nil, nil, true)
}

func queueComplete(b *pgx.Batch, run *Run) {
	b.Queue("BEGIN")
	b.Queue("SET LOCAL synchronous_commit = on")
	b.Queue("DELETE FROM lethe.request_plan WHERE request_uid = $1", run.UID)
	b.Queue("UPDATE lethe.requests SET state = 'Completed', completed_at = $2 WHERE uid = $1", run.UID, run.now())
	b.Queue("COMMIT")
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
