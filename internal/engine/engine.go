// Package engine is the one batched, resumable executor of Lethe: data
// subject requests (erasure, rectification), retention rules (anonymize,
// pseudonymize, delete, archive) and pseudonymization jobs all change rows
// through it.
//
// A run (lethe.runs) is made of steps, each on one table: the entity of a
// request, a retention rule, a job's entity. A step's rows are either
// listed (a request's plan: the subject's keys, found once and recorded in
// lethe.run_plan before anything changes) or selected by a condition in key
// order (a rule: keyset batches over the table's key, of any shape:
// composite, partitioned, uuid, text, a unique index where there is no
// primary key). Either way the work is cut into batches, and each batch is
// one transaction that holds:
//
//   - the change itself (an UPDATE or DELETE, with what must go first:
//     rows that refer to the changed rows through foreign keys);
//   - its ledger row in lethe.run_batches: the step, the action, the row
//     count, the keys of the rows it changed, and what other tables lost or
//     had changed through ON DELETE actions;
//   - the step's checkpoint in lethe.run_steps (keyset steps: the last key
//     done, counts, rows found locked);
//   - its audit record (lethe.audit_append, hash-chained).
//
// So a run stopped anywhere resumes after its last committed batch, never
// repeats one, and its counts equal the audit log's.
//
// One rule for rows the application holds locked: every batch runs with a
// lock timeout; a batch that meets a lock is redone skipping the locked
// rows, which are retried in later passes (Options.MaxRetries), then
// reported. One rule for errors: Permanent says which cannot heal by
// waiting.
package engine

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/lethe-dev/lethe/internal/audit"
)

// DefaultBatchSize is how many rows one transaction changes at most.
const DefaultBatchSize = 500

// The kinds of run.
const (
	KindRequest = "Request"
	KindPolicy  = "Policy"
	KindJob     = "Job"
)

// Run identifies one run in one tenant database: a request, a policy's run,
// a job.
type Run struct {
	// UID is unique per run; it keys the plan, the checkpoints and the
	// ledger.
	UID string
	// Kind is KindRequest, KindPolicy or KindJob.
	Kind string
	// Type is the request type, or what the policy or job does.
	Type          string
	SubjectType   string
	SubjectDigest string
	Actor         string
	Object        audit.Object
	// Clock is the clock; nil means time.Now.
	Clock func() time.Time

	// ledger holds the batches done, as Begin read or recorded them, and
	// locked the rows of listed steps found locked and not done yet.
	ledger map[batchKey]doneBatch
	locked map[string]lockedState
	// batchSize is the batch size the run's listed batches are numbered
	// by, once recorded (0: a new run, or one recorded before it was).
	batchSize int
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

// listedBatchSize is the size of the run's listed batches: the one it
// began with once recorded, else the options'.
func (r *Run) listedBatchSize(opts Options) int {
	if r.batchSize > 0 {
		return r.batchSize
	}
	return opts.batchSize()
}

func (r *Run) kind() string {
	if r.Kind == "" {
		return KindRequest
	}
	return r.Kind
}

// Options tune the executor.
type Options struct {
	// BatchSize bounds the rows of one transaction (default
	// DefaultBatchSize).
	BatchSize int
	// Workers is how many transactions work on one keyset step at once,
	// each in its own range of keys; 0 or 1 means one.
	Workers int
	// LockTimeout bounds the wait for a row lock (default 5 s): a batch
	// that meets a lock is redone skipping the locked rows.
	LockTimeout time.Duration
	// StatementTimeout bounds each statement; 0 means none.
	StatementTimeout time.Duration
	// MaxRetries is how often rows found locked are retried before they
	// are reported (default 3).
	MaxRetries int
	// BeforeBatch, when set, runs before each batch that is not done yet;
	// an error stops the run there (tests use it to interrupt a run).
	BeforeBatch func(step string, batch int) error
	// BatchDone, when set, is told how long each committed batch took;
	// workers call it concurrently.
	BatchDone func(step string, took time.Duration)
	// Complete, for listed steps, marks the run completed in the round trip
	// of its last batches, once every batch is done.
	Complete bool
	// EmptyAction, when set, is the action of an audit record of no rows
	// that the run's completion appends in its own transaction, exactly
	// once: a request that found nothing to change still leaves a record
	// of having looked.
	EmptyAction string
	// OnComplete are statements of the caller's that the run's completion
	// runs in its own transaction (an erasure's tombstone), so that they
	// commit if and only if the run completes.
	OnComplete []Statement
}

func (o Options) batchSize() int {
	if o.BatchSize <= 0 {
		return DefaultBatchSize
	}
	return o.BatchSize
}

func (o Options) lockTimeout() time.Duration {
	if o.LockTimeout <= 0 {
		return 5 * time.Second
	}
	return o.LockTimeout
}

func (o Options) maxRetries() int {
	if o.MaxRetries < 0 {
		return 0
	}
	if o.MaxRetries == 0 {
		return 3
	}
	return o.MaxRetries
}

// Statement is one SQL statement and its arguments.
type Statement = audit.Statement

// State of a run recorded in the database.
type State string

// The states.
const (
	StateNew        State = ""
	StateInProgress State = "InProgress"
	StateCompleted  State = "Completed"
)

// recordRun is the statement that records a run, once.
func recordRun(run *Run) Statement {
	return Statement{SQL: `INSERT INTO lethe.runs (uid, kind, type, subject_type, subject_digest, object_uid, state, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, 'InProgress', $7) ON CONFLICT (uid) DO NOTHING`,
		Args: []any{run.UID, run.kind(), run.Type, run.SubjectType, run.SubjectDigest, run.Object.UID, run.now()}}
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

// StepResult is what a step did over all its batches.
type StepResult struct {
	Step    string
	Entity  string
	Action  string
	Changed int64
	// Effects are the rows other tables lost or had changed through
	// foreign keys, by table.
	Effects Effects
}

// Ledger returns what a run did per step as its ledger records it, for a
// completed run whose results must be reported again.
func Ledger(ctx context.Context, pool *pgxpool.Pool, uid string) ([]StepResult, error) {
	rows, err := pool.Query(ctx, `SELECT step, min(entity), min(action), sum(rows)::bigint,
			COALESCE(jsonb_agg(effects) FILTER (WHERE effects IS NOT NULL), '[]')
		FROM lethe.run_batches WHERE run_uid = $1 GROUP BY step ORDER BY step`, uid)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []StepResult
	for rows.Next() {
		var r StepResult
		var effects []Effects
		if err := rows.Scan(&r.Step, &r.Entity, &r.Action, &r.Changed, &effects); err != nil {
			return nil, err
		}
		for _, e := range effects {
			r.Effects = r.Effects.Add(e)
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
