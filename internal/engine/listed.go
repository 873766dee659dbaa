package engine

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Plan is what a listed run will touch: per step, the keys it owns and the
// keys it shares (found, exported, never changed).
type Plan struct {
	Entities []PlannedEntity
}

// PlannedEntity is one step's keys in a plan.
type PlannedEntity struct {
	// Entity names the step (an entity's name; other steps of a request,
	// such as unlinking another subject's references, have names of their
	// own).
	Entity string
	Keys   []string
	Shared []string
	// Found and SharedFound count Keys and Shared. A completed run keeps
	// only them: its keys are dropped when it completes.
	Found, SharedFound int64
}

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
	state, stored, err := readRun(ctx, pool, run, queue)
	if err != nil {
		return StateNew, nil, err
	}
	if state != StateNew {
		return state, stored, nil
	}
	p, err := plan()
	if err != nil {
		return StateNew, nil, err
	}
	for i := range p.Entities {
		e := &p.Entities[i]
		e.Found, e.SharedFound = int64(len(e.Keys)+len(e.Shared)), int64(len(e.Shared))
	}
	record := []Statement{{SQL: "BEGIN"}, {SQL: asyncCommit}, recordRun(run)}
	for _, e := range p.Entities {
		record = append(record, Statement{SQL: `INSERT INTO lethe.run_plan (run_uid, step, keys, shared_keys) VALUES ($1, $2, $3, $4)`,
			Args: []any{run.UID, e.Entity, nonNil(e.Keys), nonNil(e.Shared)}})
	}
	record = append(record, Statement{SQL: "COMMIT"})
	run.unrecorded = record
	return StateInProgress, p, nil
}

// readRun reads a run's state, plan, ledger and locked rows in one round
// trip, with the caller's statements queued by queue, if any; the ledger
// and the locked rows are kept in run.
func readRun(ctx context.Context, pool *pgxpool.Pool, run *Run, queue func(*pgx.Batch)) (State, *Plan, error) {
	uid := run.UID
	state := StateNew
	p := &Plan{}
	done := map[batchKey]doneBatch{}
	locked := map[string]lockedState{}
	b := &pgx.Batch{}
	var size int
	b.Queue("SELECT state, COALESCE(batch_size, 0) FROM lethe.runs WHERE uid = $1", uid).QueryRow(func(row pgx.Row) error {
		var s string
		err := row.Scan(&s, &size)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		state = State(s)
		return err
	})
	b.Queue(`SELECT step, keys, shared_keys, COALESCE(found, cardinality(keys) + cardinality(shared_keys)), COALESCE(shared, cardinality(shared_keys))
		FROM lethe.run_plan WHERE run_uid = $1`, uid).Query(func(rows pgx.Rows) error {
		for rows.Next() {
			var e PlannedEntity
			if err := rows.Scan(&e.Entity, &e.Keys, &e.Shared, &e.Found, &e.SharedFound); err != nil {
				return err
			}
			p.Entities = append(p.Entities, e)
		}
		return rows.Err()
	})
	b.Queue("SELECT step, batch, rows, effects::text FROM lethe.run_batches WHERE run_uid = $1 AND part = 0", uid).Query(func(rows pgx.Rows) error {
		for rows.Next() {
			var k batchKey
			var d doneBatch
			var fx *string
			if err := rows.Scan(&k.step, &k.batch, &d.rows, &fx); err != nil {
				return err
			}
			if fx != nil {
				var err error
				if d.effects, err = parseEffects([]byte(*fx)); err != nil {
					return err
				}
			}
			done[k] = d
		}
		return rows.Err()
	})
	b.Queue("SELECT step, locked_keys, retries FROM lethe.run_steps WHERE run_uid = $1 AND part = 0 AND cardinality(locked_keys) > 0", uid).
		Query(func(rows pgx.Rows) error {
			for rows.Next() {
				var name string
				var ls lockedState
				if err := rows.Scan(&name, &ls.keys, &ls.retries); err != nil {
					return err
				}
				locked[name] = ls
			}
			return rows.Err()
		})
	if queue != nil {
		queue(b)
	}
	if err := SendTx(ctx, pool, b); err != nil {
		return StateNew, nil, err
	}
	run.ledger, run.locked, run.batchSize = done, locked, size
	return state, p, nil
}

type batchKey struct {
	step  string
	batch int
}

// doneBatch is a batch the ledger records: its rows and its effects.
type doneBatch struct {
	rows    int64
	effects Effects
}

// batchesPerTrip bounds how many batches travel to the database together.
const batchesPerTrip = 32

// asyncCommit lets a batch commit without waiting for its WAL flush. It
// stays atomic (the change, its ledger row and its audit record commit or
// vanish together, so a run resumes correctly after a crash), and the
// run's completion commits synchronously, which flushes every earlier
// batch of the run before the run is reported done.
const asyncCommit = "SET LOCAL synchronous_commit = off"

// pendingBatch is a batch of a listed step not in the ledger yet.
type pendingBatch struct {
	step  int
	batch int
	keys  []string
}

// Execute runs listed steps in order, batch by batch, each batch in its own
// transaction with its ledger row and its audit record. A batch already in
// the ledger is skipped and its recorded count reused. The batches are sent
// to the database together (one round trip for up to batchesPerTrip of
// them) and committed in order: when one fails, the batches before it stay
// committed. A batch that meets rows locked past the lock timeout is redone
// without them, and they are retried later (RowsLockedError when they stay
// locked). A run resumed keeps the batch size it began with, whatever
// opts says: its ledger numbers batches by it.
func Execute(ctx context.Context, pool *pgxpool.Pool, run *Run, steps []Step, opts Options) ([]StepResult, error) {
	if run.ledger == nil {
		if _, _, err := readRun(ctx, pool, run, nil); err != nil {
			return nil, err
		}
	}
	size := run.listedBatchSize(opts)
	if n := len(run.unrecorded); n > 0 && run.batchSize == 0 {
		// A new run: its batch size is recorded with its plan, in the
		// plan's transaction (before its COMMIT).
		run.unrecorded = slices.Insert(run.unrecorded, n-1, Statement{SQL: "UPDATE lethe.runs SET batch_size = $2 WHERE uid = $1",
			Args: []any{run.UID, size}})
		run.batchSize = size
	}
	done := run.ledger
	for i := range steps {
		if err := steps[i].check(); err != nil {
			return nil, err
		}
	}
	results := make([]StepResult, len(steps))
	var pending []pendingBatch
	var stop error
plan:
	for i, s := range steps {
		results[i] = StepResult{Step: s.name(), Entity: s.Entity, Action: s.Action}
		for b := 0; b*size < len(s.Keys); b++ {
			if d, ok := done[batchKey{s.name(), b}]; ok {
				results[i].Changed += d.rows
				results[i].Effects = results[i].Effects.Add(d.effects)
				continue
			}
			if opts.BeforeBatch != nil {
				if stop = opts.BeforeBatch(s.name(), b); stop != nil {
					break plan
				}
			}
			pending = append(pending, pendingBatch{step: i, batch: b, keys: s.Keys[b*size : min((b+1)*size, len(s.Keys))]})
		}
	}
	locked := run.locked
	if locked == nil {
		locked = map[string]lockedState{}
	}
	completed := false
	for len(pending) > 0 || len(run.unrecorded) > 0 || (opts.Complete && stop == nil && len(locked) == 0 && !completed) {
		trip := pending[:min(batchesPerTrip, len(pending))]
		pending = pending[len(trip):]
		complete := opts.Complete && stop == nil && len(pending) == 0 && len(locked) == 0
		n, err := runBatches(ctx, pool, run, steps, trip, results, complete, opts)
		if err == nil {
			completed = completed || complete
			continue
		}
		if !isLockTimeout(err) || n >= len(trip) {
			return nil, err
		}
		// The batch that met a lock is redone without the locked rows;
		// the ones after it go out again.
		pb := trip[n]
		s := &steps[pb.step]
		before := locked[s.name()]
		ls, err := slowBatch(ctx, pool, run, s, pb.batch, pb.keys, opts, &results[pb.step], func(still []string) lockedState {
			return lockedState{keys: append(slices.Clone(before.keys), still...), retries: before.retries}
		})
		if err != nil {
			return nil, err
		}
		if len(ls.keys) > 0 {
			locked[s.name()] = ls
		}
		pending = append(slices.Clone(trip[n+1:]), pending...)
	}
	if stop != nil {
		return nil, stop
	}
	if len(locked) == 0 {
		return results, nil
	}
	if err := retryLocked(ctx, pool, run, steps, locked, results, opts); err != nil {
		return nil, err
	}
	if opts.Complete && !completed {
		if err := Complete(ctx, pool, run, opts); err != nil {
			return nil, err
		}
	}
	return results, nil
}

// runBatches sends, in one round trip, the run's record if it is not sent
// yet, then the batches, each in its own transaction (one statement
// changes the rows, writes the ledger row and appends the audit record),
// then, when complete is set, the run's completion. The ledger's primary
// key makes a concurrent second attempt fail and roll back its change. It
// returns how many of trip committed.
func runBatches(ctx context.Context, pool *pgxpool.Pool, run *Run, steps []Step, trip []pendingBatch, results []StepResult, complete bool, opts Options) (int, error) {
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
		s := &steps[pb.step]
		bs := &batchSQL{run: run, step: s, batch: pb.batch, sel: selection{keys: pb.keys}, auditEmpty: true}
		sql, args, err := bs.statement()
		if err != nil {
			return 0, fmt.Errorf("step %s: %w", s.name(), err)
		}
		var res batchResult
		var entry *int64
		queueSettings(b, opts, false)
		for _, c := range deferred(s) {
			b.Queue("SET CONSTRAINTS " + c + " DEFERRED")
		}
		b.Queue(sql, args...).QueryRow(func(row pgx.Row) error { return row.Scan(append(res.dest(), &entry)...) })
		b.Queue("COMMIT").Exec(func(pgconn.CommandTag) error {
			r := &results[pb.step]
			r.Changed += res.rows
			fx, err := parseEffects(res.effects)
			r.Effects = r.Effects.Add(fx)
			committed++
			return err
		})
	}
	if complete {
		queueComplete(b, run, opts)
	}
	err := SendTx(ctx, pool, b)
	if recorded {
		run.unrecorded = nil
	}
	switch {
	case err == nil:
		return committed, nil
	case !recorded:
		return 0, fmt.Errorf("record the plan: %w", err)
	case committed < len(trip):
		failed := trip[committed]
		return committed, fmt.Errorf("step %s, batch %d: %w", steps[failed.step].name(), failed.batch, err)
	}
	return committed, fmt.Errorf("complete the run: %w", err)
}

// queueSettings opens a batch's transaction with the executor's settings:
// the lock and statement timeouts and an asynchronous commit; a keyset
// batch also has its plan made for its own values (a generic plan does
// not know where in the key range the batch starts, and may read the rest
// of the range for every batch).
func queueSettings(b *pgx.Batch, opts Options, keyset bool) {
	b.Queue("BEGIN")
	b.Queue(fmt.Sprintf("SET LOCAL lock_timeout = %d", max(opts.lockTimeout().Milliseconds(), 1)))
	b.Queue(fmt.Sprintf("SET LOCAL statement_timeout = %d", max(opts.StatementTimeout.Milliseconds(), 0)))
	if keyset {
		b.Queue("SET LOCAL plan_cache_mode = force_custom_plan")
	}
	b.Queue(asyncCommit)
}

func deferred(s *Step) []string {
	if s.Delete == nil {
		return nil
	}
	return s.Delete.Deferred
}

// Complete marks the run completed and drops its plan's keys (they are
// needed no more; their counts and the ledger stay), in one round trip with the run's record if
// that was not sent yet. It commits synchronously, so every batch of the
// run is on disk before the run is reported done. A completed run is never
// executed again.
func Complete(ctx context.Context, pool *pgxpool.Pool, run *Run, opts Options) error {
	_, err := runBatches(ctx, pool, run, nil, nil, nil, true, opts)
	return err
}

func queueComplete(b *pgx.Batch, run *Run, opts Options) {
	b.Queue("BEGIN")
	b.Queue("SET LOCAL synchronous_commit = on")
	b.Queue(recordRun(run).SQL, recordRun(run).Args...)
	if opts.EmptyAction != "" {
		QueueRecord(b, run, opts.EmptyAction, "", 0)
	}
	for _, st := range opts.OnComplete {
		b.Queue(st.SQL, st.Args...)
	}
	b.Queue(`UPDATE lethe.run_plan SET found = cardinality(keys) + cardinality(shared_keys), shared = cardinality(shared_keys),
		keys = '{}', shared_keys = '{}' WHERE run_uid = $1 AND found IS NULL`, run.UID)
	b.Queue("UPDATE lethe.runs SET state = 'Completed', completed_at = $2 WHERE uid = $1", run.UID, run.now())
	b.Queue("COMMIT")
}
