package engine

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/lethe-dev/lethe/internal/masking"
)

// Progress is a keyset step's progress over all its parts.
type Progress struct {
	Step    string
	Matched int64
	Changed int64
	// Locked counts rows that stayed locked through every retry (known
	// once the step is done); the next run takes them.
	Locked  int64
	Batches int
	Done    bool
	// ArchiveSHA256 is the digest of the step's archive, once done.
	ArchiveSHA256 string
	Effects       Effects
}

// checkpoint is one part's row of lethe.run_steps.
type checkpoint struct {
	part       int
	lo, hi     *string
	cutoff     *time.Time
	lastKey    *string
	keysetDone bool
	batches    int
	matched    int64
	changed    int64
	locked     []string
	retries    int
	done       bool
	archive    string
}

const checkpointColumns = `part, lo, hi, cutoff, last_key, keyset_done, batches, matched, changed, locked_keys, retries, done, COALESCE(archive_sha256, '')`

func scanCheckpoint(row pgx.Row) (*checkpoint, error) {
	cp := &checkpoint{}
	err := row.Scan(&cp.part, &cp.lo, &cp.hi, &cp.cutoff, &cp.lastKey, &cp.keysetDone, &cp.batches, &cp.matched, &cp.changed,
		&cp.locked, &cp.retries, &cp.done, &cp.archive)
	return cp, err
}

// Advance carries a keyset step forward until it is done or the deadline
// passes, and returns its progress. Its checkpoints are written on the
// first call, one per part (Options.Workers parts split by the
// distribution of the key's first column over the rows the step matches,
// for a step that updates; one otherwise), with the run's record if it has
// none yet. Batches commit one by one; call it again (after a crash, or
// with a new deadline) to go on.
// Rows found locked are retried in later calls, at most MaxRetries times,
// then counted as locked.
func Advance(ctx context.Context, pool *pgxpool.Pool, run *Run, s *Step, opts Options, deadline time.Time) (*Progress, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	cps, err := start(ctx, pool, run, s, opts)
	if err != nil {
		return nil, err
	}
	errs := make([]error, len(cps))
	var wg sync.WaitGroup
	for i := range cps {
		wg.Go(func() { errs[i] = advancePart(ctx, pool, run, s, opts, cps[i], deadline) })
	}
	wg.Wait()
	out := progressOf(s, cps)
	if err := errors.Join(errs...); err != nil {
		return out, err
	}
	if out.Effects, err = stepEffects(ctx, pool, run, s); err != nil {
		return out, err
	}
	if out.Done && s.Archive != nil {
		if out.ArchiveSHA256, err = archiveDigest(ctx, pool, run, s, cps[0]); err != nil {
			return out, err
		}
	}
	return out, nil
}

// Recorded is what the run's checkpoints of a keyset step say was done, or
// nil when the step has not started: a status lost before it was written
// (a crash, a wipe) is rebuilt from it, not from counting again the rows
// still pending.
func Recorded(ctx context.Context, pool *pgxpool.Pool, run *Run, s *Step) (*Progress, error) {
	cps, err := loadCheckpoints(ctx, pool, run, s)
	if err != nil || len(cps) == 0 {
		return nil, err
	}
	return progressOf(s, cps), nil
}

func progressOf(s *Step, cps []*checkpoint) *Progress {
	out := &Progress{Step: s.name(), Done: true}
	for _, cp := range cps {
		out.Matched += cp.matched
		out.Changed += cp.changed
		out.Batches += cp.batches
		out.Done = out.Done && cp.done
		if cp.done {
			out.Locked += int64(len(cp.locked))
		}
	}
	return out
}

// start writes the step's checkpoints once, with the cut-off the database
// computes, and returns them.
func start(ctx context.Context, pool *pgxpool.Pool, run *Run, s *Step, opts Options) ([]*checkpoint, error) {
	cps, err := loadCheckpoints(ctx, pool, run, s)
	if err != nil || len(cps) > 0 {
		return cps, err
	}
	bounds := [][2]*string{{nil, nil}}
	if s.Set != nil && s.Archive == nil && opts.Workers > 1 {
		where, args, err := Matching(ctx, pool, s)
		if err == nil {
			bounds, err = split(ctx, pool, s.Target, opts.Workers, where, args)
		}
		if err != nil {
			return nil, fmt.Errorf("step %s: split the keys: %w", s.name(), err)
		}
	}
	cutoff, cutoffArgs := "NULL::timestamptz", []any{}
	if s.Cutoff != nil {
		cutoff, cutoffArgs = s.Cutoff.SQL, s.Cutoff.Args
	}
	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		rec := recordRun(run)
		if _, err := tx.Exec(ctx, rec.SQL, rec.Args...); err != nil {
			return err
		}
		b := &pgx.Batch{}
		for i, lh := range bounds {
			args := append(append([]any{}, cutoffArgs...), run.UID, s.name(), i, s.Entity, lh[0], lh[1], time.Now())
			n := len(cutoffArgs)
			b.Queue(fmt.Sprintf(`INSERT INTO lethe.run_steps (run_uid, step, part, entity, lo, hi, cutoff, updated_at)
				VALUES ($%d, $%d, $%d, $%d, $%d, $%d, (%s), $%d) ON CONFLICT (run_uid, step, part) DO NOTHING`,
				n+1, n+2, n+3, n+4, n+5, n+6, cutoff, n+7), args...)
		}
		return tx.SendBatch(ctx, b).Close()
	})
	if err != nil {
		return nil, fmt.Errorf("step %s: record the checkpoints: %w", s.name(), err)
	}
	return loadCheckpoints(ctx, pool, run, s)
}

func loadCheckpoints(ctx context.Context, pool *pgxpool.Pool, run *Run, s *Step) ([]*checkpoint, error) {
	rows, err := pool.Query(ctx, `SELECT `+checkpointColumns+` FROM lethe.run_steps WHERE run_uid = $1 AND step = $2 ORDER BY part`, run.UID, s.name())
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*checkpoint
	for rows.Next() {
		cp, err := scanCheckpoint(rows)
		if err != nil {
			return nil, fmt.Errorf("step %s: read the checkpoint: %w", s.name(), err)
		}
		out = append(out, cp)
	}
	return out, rows.Err()
}

// advancePart carries one part forward until it is done or the deadline
// passes.
func advancePart(ctx context.Context, pool *pgxpool.Pool, run *Run, s *Step, opts Options, cp *checkpoint, deadline time.Time) error {
	for did := false; !cp.done && time.Now().Before(deadline); did = true {
		if err := ctx.Err(); err != nil {
			return err
		}
		// Locked rows are retried once per call, never right after another
		// batch: the caller comes back later, giving the application time
		// to commit.
		if did && cp.keysetDone {
			return nil
		}
		if opts.BeforeBatch != nil {
			if err := opts.BeforeBatch(s.name(), cp.batches); err != nil {
				return err
			}
		}
		began := time.Now()
		var err error
		if cp.keysetDone {
			err = slowKeyset(ctx, pool, run, s, opts, cp, false)
		} else if err = fastKeyset(ctx, pool, run, s, opts, cp); isLockTimeout(err) || isConflict(err) || (s.OneRowOnConflict && isUniqueViolation(err)) {
			err = slowKeyset(ctx, pool, run, s, opts, cp, isUniqueViolation(err))
		}
		if err != nil {
			return fmt.Errorf("step %s, batch %d: %w", s.name(), cp.batches, err)
		}
		if opts.BatchDone != nil {
			opts.BatchDone(s.name(), time.Since(began))
		}
		if cp.done {
			return flush(ctx, pool, run, s, cp)
		}
	}
	return nil
}

// flush commits synchronously once a part is done: batches commit without
// waiting for their WAL flush (each stays atomic, so a crash only makes
// the run redo the batches it lost), and this commit flushes every earlier
// one before the part is reported done.
func flush(ctx context.Context, pool *pgxpool.Pool, run *Run, s *Step, cp *checkpoint) error {
	return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SET LOCAL synchronous_commit = on"); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, "UPDATE lethe.run_steps SET updated_at = $4 WHERE run_uid = $1 AND step = $2 AND part = $3",
			run.UID, s.name(), cp.part, time.Now())
		return err
	})
}

// keysetSelection is the part's next batch after its checkpoint.
func keysetSelection(s *Step, opts Options, cp *checkpoint) (selection, error) {
	sel := selection{lo: cp.lo, hi: cp.hi, limit: opts.batchSize(), cutoff: cp.cutoff}
	if cp.lastKey != nil {
		after, err := s.Target.Split(*cp.lastKey)
		if err != nil {
			return sel, err
		}
		sel.after = after
	}
	return sel, nil
}

// fastKeyset runs the next batch as one statement, in one round trip.
func fastKeyset(ctx context.Context, pool *pgxpool.Pool, run *Run, s *Step, opts Options, cp *checkpoint) error {
	sel, err := keysetSelection(s, opts, cp)
	if err != nil {
		return err
	}
	bs := &batchSQL{run: run, step: s, part: cp.part, batch: cp.batches, sel: sel, cp: &checkpointUpdate{computed: true}}
	sql, args, err := bs.statement()
	if err != nil {
		return err
	}
	var got batchResult
	var entry *int64
	b := &pgx.Batch{}
	queueSettings(b, opts, true)
	for _, c := range deferred(s) {
		b.Queue("SET CONSTRAINTS " + c + " DEFERRED")
	}
	b.Queue(sql, args...).QueryRow(func(row pgx.Row) error { return row.Scan(append(got.dest(), &entry)...) })
	b.Queue("COMMIT")
	if err := SendTx(ctx, pool, b); err != nil {
		return err
	}
	cp.batches++
	cp.matched += got.selected
	cp.changed += got.rows
	if got.last != nil {
		cp.lastKey = got.last
	}
	cp.keysetDone = got.selected < int64(sel.limit)
	cp.done = cp.keysetDone && len(cp.locked) == 0
	return nil
}

// slowKeyset runs the next batch, or the retry of the rows found locked,
// skipping rows other transactions hold; with oneRow, each row is changed
// by a statement of its own (rows whose new values collided).
func slowKeyset(ctx context.Context, pool *pgxpool.Pool, run *Run, s *Step, opts Options, cp *checkpoint, oneRow bool) error {
	retrying := cp.keysetDone
	var next *checkpoint
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if err := setLocal(ctx, tx, opts); err != nil {
			return err
		}
		cur, err := scanCheckpoint(tx.QueryRow(ctx, `SELECT `+checkpointColumns+` FROM lethe.run_steps
			WHERE run_uid = $1 AND step = $2 AND part = $3 FOR UPDATE`, run.UID, s.name(), cp.part))
		if err != nil {
			return err
		}
		if cur.done || cur.batches != cp.batches {
			next = cur // another worker moved it: take its view
			return nil
		}
		candidates, err := candidatesOf(ctx, tx, s, opts, cur, retrying)
		if err != nil {
			return err
		}
		free, err := freeOf(ctx, tx, s.Target, candidates)
		if err != nil {
			return err
		}
		locked := minus(candidates, free)
		up := &checkpointUpdate{keyset: true, locked: locked, retries: cur.retries + 1}
		if !retrying {
			up.matched = int64(len(candidates))
			if len(candidates) > 0 {
				up.last = &candidates[len(candidates)-1]
			}
			up.keyset = len(candidates) < opts.batchSize()
			up.locked = append(append([]string{}, cur.locked...), locked...)
			up.retries = cur.retries
		}
		up.done = up.keyset && (len(up.locked) == 0 || up.retries >= opts.maxRetries())
		bs := &batchSQL{run: run, step: s, part: cp.part, batch: cp.batches, sel: selection{keys: nonNil(free), cutoff: cur.cutoff}, cp: up}
		if oneRow {
			for _, k := range free {
				if err := oneRowChange(ctx, tx, run, s, k, cur.cutoff); err != nil {
					return err
				}
			}
			bs.changed = nonNil(free)
		}
		var got batchResult
		if err := execBatch(ctx, tx, bs, &got); err != nil {
			return err
		}
		next = cur
		next.batches++
		next.matched += up.matched
		next.changed += got.rows
		if up.last != nil {
			next.lastKey = up.last
		}
		next.keysetDone, next.locked, next.retries, next.done = up.keyset, up.locked, up.retries, up.done
		return nil
	})
	if err != nil {
		return err
	}
	*cp = *next
	return nil
}

// candidatesOf are the keys a slow batch tries: the next batch after the
// checkpoint, or the locked rows still selected.
func candidatesOf(ctx context.Context, tx pgx.Tx, s *Step, opts Options, cp *checkpoint, retrying bool) ([]string, error) {
	args := &masking.Args{}
	var sql string
	if retrying {
		where, err := s.Where(args, cp.cutoff)
		if err != nil {
			return nil, err
		}
		sql = fmt.Sprintf("SELECT %s FROM %s AS %s WHERE (%s) AND %s ORDER BY %s", // #nosec G201 -- identifiers sanitized, values are parameters
			s.Target.KeyText(Row), s.Target.Ident, Row, where, s.Target.In(Row, args.Add(nonNil(cp.locked))), s.Target.OrderBy(Row))
	} else {
		sel, err := keysetSelection(s, opts, cp)
		if err != nil {
			return nil, err
		}
		inner, err := (&batchSQL{step: s, sel: sel}).selectSQL(args)
		if err != nil {
			return nil, err
		}
		sql = fmt.Sprintf("SELECT %s FROM (%s) AS lethe_sel ORDER BY %s", s.Target.KeyText("lethe_sel"), inner, s.Target.OrderBy("lethe_sel"))
	}
	rows, err := tx.Query(ctx, sql, args.Values()...)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

// oneRowChange changes one row by a statement of its own, in a
// subtransaction.
func oneRowChange(ctx context.Context, tx pgx.Tx, run *Run, s *Step, key string, cutoff *time.Time) error {
	if s.Set == nil {
		return fmt.Errorf("step %s changes no column, one row at a time or otherwise", s.name())
	}
	args := &masking.Args{}
	head, err := s.Set(args, "false")
	if err != nil {
		return err
	}
	sp, err := tx.Begin(ctx)
	if err != nil {
		return err
	}
	if _, err := sp.Exec(ctx, head+" WHERE "+s.Target.In(Row, args.Add([]string{key})), args.Values()...); err != nil {
		return errors.Join(err, sp.Rollback(ctx))
	}
	return sp.Commit(ctx)
}

// stepEffects sums the effects the ledger records for a step.
func stepEffects(ctx context.Context, pool *pgxpool.Pool, run *Run, s *Step) (Effects, error) {
	if s.Delete == nil {
		return nil, nil
	}
	rows, err := pool.Query(ctx, `SELECT effects::text FROM lethe.run_batches WHERE run_uid = $1 AND step = $2 AND effects IS NOT NULL`, run.UID, s.name())
	if err != nil {
		return nil, err
	}
	raws, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, err
	}
	var out Effects
	for _, r := range raws {
		fx, err := parseEffects([]byte(r))
		if err != nil {
			return nil, err
		}
		out = out.Add(fx)
	}
	return out, nil
}

// Count counts the rows a keyset step would take now, for a dry run; it
// changes nothing. The cut-off is computed as the first batch would.
func Count(ctx context.Context, pool *pgxpool.Pool, s *Step) (int64, error) {
	where, args, err := Matching(ctx, pool, s)
	if err != nil {
		return 0, err
	}
	var n int64
	err = pool.QueryRow(ctx, fmt.Sprintf("SELECT count(*) FROM %s AS %s WHERE %s", s.Target.Ident, Row, where), args.Values()...).Scan(&n) // #nosec G201 -- identifiers sanitized
	return n, err
}

// Matching is the condition of the rows a keyset step would take now, on
// Row, with its parameters.
func Matching(ctx context.Context, pool *pgxpool.Pool, s *Step) (string, *masking.Args, error) {
	var cutoff *time.Time
	if s.Cutoff != nil {
		if err := pool.QueryRow(ctx, "SELECT "+s.Cutoff.SQL, s.Cutoff.Args...).Scan(&cutoff); err != nil {
			return "", nil, err
		}
	}
	args := &masking.Args{}
	where, err := s.Where(args, cutoff)
	return where, args, err
}
