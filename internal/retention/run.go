package retention

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	privacyv1alpha1 "github.com/lethe-dev/lethe/api/v1alpha1"
	"github.com/lethe-dev/lethe/internal/audit"
	"github.com/lethe-dev/lethe/internal/masking"
)

// Run is one run of a policy in one tenant database.
type Run struct {
	// ID is unique per run; it keys the checkpoints.
	ID string
	// PolicyUID keys what outlives a run (rows archived and kept).
	PolicyUID string
	Actor     string
	Object    audit.Object
	// Now is the run's scheduled time: ages are measured from it.
	Now      time.Time
	TimeZone string // IANA; empty means UTC
	// BatchSize bounds the rows of one transaction.
	BatchSize int
	// Workers is how many transactions mask a rule's rows at once, each in
	// its own range of an integer primary key; 0 or 1 means one. Delete and
	// Archive always use one.
	Workers int
	// LockTimeout bounds waiting for a table lock; rows locked by the
	// application are skipped at once and retried (MaxRetries times).
	LockTimeout time.Duration
	// StatementTimeout bounds each statement.
	StatementTimeout time.Duration
	MaxRetries       int
	// Salt keys Fake values.
	Salt []byte
	// SubjectDigest, when set, names in every audit record the one subject
	// the run is for (a PseudonymizationJob's).
	SubjectDigest string
	// BeforeBatch, when set, runs before each batch; an error stops the run
	// there (tests use it to interrupt a run).
	BeforeBatch func(rule string, batch int) error
	// BatchDone, when set, is told how long each committed batch's
	// transaction took, from its start to its commit; workers call it
	// concurrently.
	BatchDone func(rule string, took time.Duration)
}

// Progress is one rule's checkpoint and counts.
type Progress struct {
	Rule          string
	Matched       int64
	Changed       int64
	Locked        int64
	Batches       int
	Done          bool
	ArchiveSHA256 string
}

// ruleInterval is the rule's age as an interval; a rule without an age (a
// PseudonymizationJob's for one subject) takes rows of any age.
func ruleInterval(rule *Rule) (string, error) {
	if rule.Spec.Age.Column == "" {
		return "0 days", nil
	}
	return Interval(rule.Spec.Age.OlderThan)
}

func (r *Run) tz() string {
	if r.TimeZone == "" {
		return "UTC"
	}
	return r.TimeZone
}

// checkpoint is a rule's progress row.
type checkpoint struct {
	Progress
	part       int
	lo, hi     *string // the part's key range, inclusive; nil is open
	lastKey    *string
	keysetDone bool
	lockedKeys []string
	retries    int
	cutoff     time.Time
}

// start records the rule's checkpoints once, one per part, with the
// cut-off computed by the database from the run's time (calendar months in
// the run's zone), and returns them.
func start(ctx context.Context, pool *pgxpool.Pool, run *Run, rule *Rule) ([]*checkpoint, error) {
	interval, err := ruleInterval(rule)
	if err != nil {
		return nil, err
	}
	cps, err := loadAll(ctx, pool, run, rule.Spec.Name)
	if err != nil || len(cps) > 0 {
		return cps, err
	}
	bounds, err := parts(ctx, pool, run, rule)
	if err != nil {
		return nil, fmt.Errorf("rule %s: split the keys: %w", rule.Spec.Name, err)
	}
	b := &pgx.Batch{}
	for i, lh := range bounds {
		b.Queue(`INSERT INTO lethe.retention_progress (run_id, rule, part, lo, hi, entity, cutoff, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6, (($7::timestamptz AT TIME ZONE $8) - $9::interval) AT TIME ZONE $8, $7)
			ON CONFLICT (run_id, rule, part) DO NOTHING`, run.ID, rule.Spec.Name, i, lh[0], lh[1], rule.Entity.Name, run.Now, run.tz(), interval)
	}
	if err := pool.SendBatch(ctx, b).Close(); err != nil {
		return nil, fmt.Errorf("rule %s: record the checkpoint: %w", rule.Spec.Name, err)
	}
	return loadAll(ctx, pool, run, rule.Spec.Name)
}

// parts splits an integer primary key's range into run.Workers ranges of
// equal width, the first and last open-ended; anything else is one part.
func parts(ctx context.Context, pool *pgxpool.Pool, run *Run, rule *Rule) ([][2]*string, error) {
	one := [][2]*string{{nil, nil}}
	integer := rule.pkType == "bigint" || rule.pkType == "integer" || rule.pkType == "smallint"
	if run.Workers <= 1 || rule.masks == nil || rule.Spec.Action == privacyv1alpha1.RetentionArchive || !integer {
		return one, nil
	}
	var lo, hi *int64
	if err := pool.QueryRow(ctx, fmt.Sprintf("SELECT min(%[1]s)::bigint, max(%[1]s)::bigint FROM %[2]s", rule.pk, rule.target)).Scan(&lo, &hi); err != nil { // #nosec G201 -- identifiers sanitized
		return nil, err
	}
	if lo == nil || *hi-*lo < int64(run.Workers) {
		return one, nil
	}
	width := (*hi - *lo + 1) / int64(run.Workers)
	out := make([][2]*string, run.Workers)
	for i := range out {
		if i > 0 {
			v := strconv.FormatInt(*lo+int64(i)*width, 10)
			out[i][0] = &v
		}
		if i < run.Workers-1 {
			v := strconv.FormatInt(*lo+int64(i+1)*width-1, 10)
			out[i][1] = &v
		}
	}
	return out, nil
}

const checkpointColumns = `part, lo, hi, last_key, keyset_done, batches, matched, changed, locked_keys, retries, done, archive_sha256, cutoff`

func scanCheckpoint(row pgx.Row, name string) (*checkpoint, error) {
	cp := &checkpoint{}
	var sha *string
	if err := row.Scan(&cp.part, &cp.lo, &cp.hi, &cp.lastKey, &cp.keysetDone, &cp.Batches, &cp.Matched, &cp.Changed,
		&cp.lockedKeys, &cp.retries, &cp.Done, &sha, &cp.cutoff); err != nil {
		return nil, fmt.Errorf("rule %s: read the checkpoint: %w", name, err)
	}
	cp.Rule = name
	if sha != nil {
		cp.ArchiveSHA256 = *sha
	}
	if cp.Done {
		cp.Locked = int64(len(cp.lockedKeys))
	}
	return cp, nil
}

func loadAll(ctx context.Context, pool *pgxpool.Pool, run *Run, name string) ([]*checkpoint, error) {
	rows, err := pool.Query(ctx, `SELECT `+checkpointColumns+` FROM lethe.retention_progress
		WHERE run_id = $1 AND rule = $2 ORDER BY part`, run.ID, name)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*checkpoint
	for rows.Next() {
		cp, err := scanCheckpoint(rows, name)
		if err != nil {
			return nil, err
		}
		out = append(out, cp)
	}
	return out, rows.Err()
}

// lockPart reads and locks one part's checkpoint inside a batch.
func lockPart(ctx context.Context, tx pgx.Tx, run *Run, name string, part int) (*checkpoint, error) {
	return scanCheckpoint(tx.QueryRow(ctx, `SELECT `+checkpointColumns+` FROM lethe.retention_progress
		WHERE run_id = $1 AND rule = $2 AND part = $3 FOR UPDATE`, run.ID, name, part), name)
}

// Step carries a rule forward until it is done or the deadline passes, and
// returns its progress. It commits batch by batch; call it again (after a
// crash, or with a new deadline) to go on. Rows found locked are retried in
// later calls, at most run.MaxRetries times, then counted as locked.
func Step(ctx context.Context, pool *pgxpool.Pool, run *Run, rule *Rule, deadline time.Time) (*Progress, error) {
	cps, err := start(ctx, pool, run, rule)
	if err != nil {
		return nil, err
	}
	errs := make([]error, len(cps))
	var wg sync.WaitGroup
	for i := range cps {
		wg.Go(func() { cps[i], errs[i] = stepPart(ctx, pool, run, rule, cps[i], deadline) })
	}
	wg.Wait()
	total := &Progress{Rule: rule.Spec.Name, Done: true}
	for _, cp := range cps {
		total.Matched += cp.Matched
		total.Changed += cp.Changed
		total.Locked += cp.Locked
		total.Batches += cp.Batches
		total.Done = total.Done && cp.Done
		if cp.ArchiveSHA256 != "" {
			total.ArchiveSHA256 = cp.ArchiveSHA256
		}
	}
	return total, errors.Join(errs...)
}

// stepPart carries one part forward until it is done or the deadline
// passes.
func stepPart(ctx context.Context, pool *pgxpool.Pool, run *Run, rule *Rule, cp *checkpoint, deadline time.Time) (*checkpoint, error) {
	for did := false; !cp.Done && time.Now().Before(deadline); did = true {
		if err := ctx.Err(); err != nil {
			return cp, err
		}
		// Locked rows are retried once per call, never right after another
		// batch: the caller comes back later, giving the application time
		// to commit.
		if did && cp.keysetDone {
			break
		}
		if run.BeforeBatch != nil {
			if err := run.BeforeBatch(rule.Spec.Name, cp.Batches); err != nil {
				return cp, err
			}
		}
		began := time.Now()
		next, err := batch(ctx, pool, run, rule, cp.part)
		if err != nil {
			return cp, fmt.Errorf("rule %s, batch %d: %w", rule.Spec.Name, cp.Batches, err)
		}
		if run.BatchDone != nil {
			run.BatchDone(rule.Spec.Name, time.Since(began))
		}
		cp = next
	}
	return cp, nil
}

// batch runs one transaction: the next keyset batch (or a retry of the rows
// found locked), its audit record and the checkpoint.
func batch(ctx context.Context, pool *pgxpool.Pool, run *Run, rule *Rule, part int) (*checkpoint, error) {
	var out *checkpoint
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		b := &pgx.Batch{}
		b.Queue(fmt.Sprintf("SET LOCAL lock_timeout = %d", max(run.LockTimeout.Milliseconds(), 1)))
		b.Queue(fmt.Sprintf("SET LOCAL statement_timeout = %d", max(run.StatementTimeout.Milliseconds(), 0)))
		// A batch commits without waiting for its WAL flush: it stays atomic
		// (change, audit record and checkpoint commit or vanish together, so
		// a crash only makes the run redo the lost batches), and the batch
		// that finishes the rule commits synchronously, flushing every
		// earlier one before the rule is reported done.
		b.Queue("SET LOCAL synchronous_commit = off")
		if err := tx.SendBatch(ctx, b).Close(); err != nil {
			return err
		}
		cp, err := lockPart(ctx, tx, run, rule.Spec.Name, part)
		if err != nil {
			return err
		}
		out = cp
		if cp.Done {
			return nil
		}
		retrying := cp.keysetDone
		var candidates, locked, done []string
		var changed int64
		fast := false
		if !retrying && rule.masks != nil {
			if candidates, fast, err = maskNext(ctx, tx, run, rule, cp); err != nil {
				return err
			}
			changed = int64(len(candidates))
		}
		if !fast {
			only := []string(nil)
			if retrying {
				only = cp.lockedKeys
			}
			if candidates, err = selectKeys(ctx, tx, run, rule, cp, only); err != nil {
				return err
			}
			free, err := lockFree(ctx, tx, rule, candidates)
			if err != nil {
				return err
			}
			locked = minus(candidates, free)
			if changed, err = apply(ctx, tx, run, rule, cp.Batches, free); err != nil {
				return err
			}
			done = free
		} else {
			done = candidates
		}
		if rule.pseudo != nil && len(done) > 0 {
			if _, err := tx.Exec(ctx, `INSERT INTO lethe.pseudonymized_rows (table_name, key) SELECT $1, unnest($2::text[])
				ON CONFLICT DO NOTHING`, rule.Entity.Table, done); err != nil {
				return err
			}
		}
		last := cp.lastKey
		switch {
		case retrying:
			cp.lockedKeys = locked
			cp.retries++
			cp.Done = len(locked) == 0 || cp.retries >= run.MaxRetries
		case len(candidates) == run.BatchSize:
			last = &candidates[len(candidates)-1]
			cp.lockedKeys = append(cp.lockedKeys, locked...)
		default:
			cp.keysetDone = true
			cp.lockedKeys = append(cp.lockedKeys, locked...)
			cp.Done = len(cp.lockedKeys) == 0 || run.MaxRetries == 0
		}
		cp.lastKey = last
		if !retrying {
			cp.Matched += int64(len(candidates))
		}
		cp.Changed += changed
		if cp.Done {
			if _, err := tx.Exec(ctx, "SET LOCAL synchronous_commit = on"); err != nil {
				return err
			}
			cp.Locked = int64(len(cp.lockedKeys))
			if rule.Spec.Action == privacyv1alpha1.RetentionArchive {
				if cp.ArchiveSHA256, err = archiveDigest(ctx, tx, run, rule); err != nil {
					return err
				}
			}
		}
		var pre []audit.Statement
		pre = append(pre, audit.Statement{SQL: `UPDATE lethe.retention_progress SET last_key = $3, keyset_done = $11, batches = batches + 1,
			matched = $4, changed = $5, locked_keys = $6, retries = $7, done = $8, archive_sha256 = NULLIF($9, ''), updated_at = $10
			WHERE run_id = $1 AND rule = $2 AND part = $12`, Args: []any{run.ID, rule.Spec.Name, last, cp.Matched, cp.Changed,
			nonNil(cp.lockedKeys), cp.retries, cp.Done, cp.ArchiveSHA256, time.Now(), cp.keysetDone, cp.part}})
		cp.Batches++
		archived := cp.Done && cp.ArchiveSHA256 != ""
		if changed == 0 && !archived {
			return execAll(ctx, tx, pre)
		}
		detail := "rule " + rule.Spec.Name
		if archived {
			detail += ", archive sha256 " + cp.ArchiveSHA256
		}
		_, err = audit.AppendAfter(ctx, tx, audit.Record{Time: time.Now(), Actor: run.Actor, Object: run.Object,
			Action: string(rule.Spec.Action), Entity: rule.Entity.Name, Rows: changed, SubjectDigest: run.SubjectDigest, Detail: detail}, pre...)
		return err
	})
	if out == nil {
		out = &checkpoint{}
	}
	return out, err
}

func execAll(ctx context.Context, tx pgx.Tx, stmts []audit.Statement) error {
	for _, s := range stmts {
		if _, err := tx.Exec(ctx, s.SQL, s.Args...); err != nil {
			return err
		}
	}
	return nil
}

// eligible is the WHERE condition of the rule's rows: old enough, matching
// the conditions, not of a restricted subject, and still pending (not
// masked, not archived and kept). Parameters go to args.
func eligible(run *Run, rule *Rule, cp *checkpoint, args *masking.Args) (string, error) {
	row := "lethe_row."
	age := row + pgx.Identifier{rule.Spec.Age.Column}.Sanitize()
	var conds []string
	cutoff := ""
	if rule.ageKind != "" {
		cutoff = args.Add(cp.cutoff) + "::timestamptz"
	}
	switch rule.ageKind {
	case "":
		conds = append(conds, "true")
	case "timestamptz":
		conds = append(conds, age+" < "+cutoff)
	case "timestamp":
		conds = append(conds, fmt.Sprintf("%s < (%s AT TIME ZONE %s::text)", age, cutoff, args.Add(run.tz())))
	default:
		conds = append(conds, fmt.Sprintf("%s < (%s AT TIME ZONE %s::text)::date", age, cutoff, args.Add(run.tz())))
	}
	for _, c := range rule.Spec.Conditions {
		col := row + pgx.Identifier{c.Column}.Sanitize()
		switch {
		case len(c.In) > 0:
			conds = append(conds, fmt.Sprintf("%s::text = ANY(%s::text[])", col, args.Add(c.In)))
		case len(c.NotIn) > 0:
			conds = append(conds, fmt.Sprintf("%s IS NOT NULL AND NOT (%s::text = ANY(%s::text[]))", col, col, args.Add(c.NotIn)))
		case c.IsNull:
			conds = append(conds, col+" IS NULL")
		default:
			conds = append(conds, col+" IS NOT NULL")
		}
	}
	conds = append(conds, fmt.Sprintf("NOT EXISTS (SELECT 1 FROM lethe.restricted_rows lethe_r WHERE lethe_r.entity = %s AND lethe_r.key = %s%s::text)",
		args.Add(rule.Entity.Name), row, rule.pk))
	switch {
	case rule.pseudo != nil:
		if rule.pseudo.Only != nil {
			conds = append(conds, fmt.Sprintf("%s%s::text = ANY(%s::text[])", row, pgx.Identifier{rule.pseudo.Identifier}.Sanitize(), args.Add(rule.pseudo.Only)))
		}
		conds = append(conds, fmt.Sprintf("NOT EXISTS (SELECT 1 FROM lethe.pseudonymized_rows lethe_p WHERE lethe_p.table_name = %s AND lethe_p.key = %s%s::text)",
			args.Add(rule.Entity.Table), row, rule.pk))
	case rule.masks != nil:
		p, err := masking.PendingSQL(rule.Entity.Table, rule.masks, rule.table.PrimaryKey, rowKeys(run, rule), args)
		if err != nil {
			return "", err
		}
		conds = append(conds, p)
		if rule.Spec.Action == privacyv1alpha1.RetentionPseudonymize {
			// A PseudonymizationJob's keyed pseudonyms are kept: a per-row
			// one would break the person's match across systems.
			conds = append(conds, fmt.Sprintf("NOT EXISTS (SELECT 1 FROM lethe.pseudonymized_rows lethe_p WHERE lethe_p.table_name = %s AND lethe_p.key = %s%s::text)",
				args.Add(rule.Entity.Table), row, rule.pk))
		}
	case rule.Spec.Action == privacyv1alpha1.RetentionArchive:
		conds = append(conds, fmt.Sprintf("NOT EXISTS (SELECT 1 FROM lethe.retention_archived_rows lethe_a WHERE lethe_a.policy_uid = %s AND lethe_a.rule = %s AND lethe_a.key = %s%s::text)",
			args.Add(run.PolicyUID), args.Add(rule.Spec.Name), row, rule.pk))
	}
	return strings.Join(conds, " AND "), nil
}

func rowKeys(run *Run, rule *Rule) masking.Keys {
	k := masking.Keys{PerRow: true, Salt: run.Salt}
	if rule.pseudo != nil {
		k.HashKey, k.Identifier = rule.pseudo.Key, rule.pseudo.Identifier
	}
	return k
}

// setSQL is the head of the UPDATE that masks the rule's rows chosen by a
// WHERE the caller appends, deactivating them too when the rule says so.
func setSQL(run *Run, rule *Rule, args *masking.Args) (string, error) {
	set, err := masking.UpdateSetSQL(rule.Entity.Table, rule.masks, rule.table.PrimaryKey, rowKeys(run, rule), args)
	if err != nil || rule.active == "" {
		return set, err
	}
	return set + ", " + rule.active + " = false", nil
}

// selectKeys returns the next batch of eligible keys after the checkpoint,
// in key order, or those of only (the locked rows to retry) still eligible.
// The keyset condition and ORDER BY ... LIMIT keep it an index range scan.
func selectKeys(ctx context.Context, tx pgx.Tx, run *Run, rule *Rule, cp *checkpoint, only []string) ([]string, error) {
	args := &masking.Args{}
	where, err := eligible(run, rule, cp, args)
	if err != nil {
		return nil, err
	}
	key := "lethe_row." + rule.pk
	switch {
	case only != nil:
		where += fmt.Sprintf(" AND %s = ANY(%s::%s[])", key, args.Add(only), rule.pkType)
	default:
		where += keyRange(rule, cp, args)
	}
	sql := fmt.Sprintf("SELECT %s::text FROM %s AS lethe_row WHERE %s ORDER BY %s LIMIT %d", // #nosec G201 -- identifiers sanitized, values are parameters
		key, rule.target, where, key, run.BatchSize)
	return collect(ctx, tx, sql, args.Values()...)
}

// maskNext masks the next keyset batch in one statement and returns the
// keys it changed, in key order. When a row of the batch is locked by
// another transaction past the lock timeout, it undoes the attempt and
// returns ok false: the caller takes the batch the slow way, skipping
// locked rows.
func maskNext(ctx context.Context, tx pgx.Tx, run *Run, rule *Rule, cp *checkpoint) (keys []string, ok bool, err error) {
	args := &masking.Args{}
	set, err := setSQL(run, rule, args)
	if err != nil {
		return nil, false, err
	}
	where, err := eligible(run, rule, cp, args)
	if err != nil {
		return nil, false, err
	}
	key := "lethe_row." + rule.pk
	where += keyRange(rule, cp, args)
	sql := fmt.Sprintf("WITH lethe_done AS (%s WHERE %s = ANY(ARRAY(SELECT %s FROM %s AS lethe_row WHERE %s ORDER BY %s LIMIT %d)) RETURNING %s) SELECT lethe_done.%s::text FROM lethe_done ORDER BY lethe_done.%s", // #nosec G201 -- identifiers sanitized, values are parameters
		set, key, key, rule.target, where, key, run.BatchSize, key, rule.pk, rule.pk)
	sp, err := tx.Begin(ctx)
	if err != nil {
		return nil, false, err
	}
	keys, err = collect(ctx, sp, sql, args.Values()...)
	if retryable(err) {
		return nil, false, sp.Rollback(ctx)
	}
	if err != nil {
		return nil, false, err
	}
	return keys, true, sp.Commit(ctx)
}

// retryable says whether a batch statement failed in a way the slow path
// handles: a row locked past the lock timeout (it skips locked rows), or
// keyed pseudonyms of two rows of the batch colliding in a unique column
// (it writes them one row at a time).
func retryable(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && (pgErr.Code == "55P03" || pgErr.Code == "23505") // lock_not_available, unique_violation
}

// keyRange is the condition of the keys a part has still to do: after its
// checkpoint, within its range.
func keyRange(rule *Rule, cp *checkpoint, args *masking.Args) string {
	key := "lethe_row." + rule.pk
	out := ""
	switch {
	case cp.lastKey != nil:
		out += fmt.Sprintf(" AND %s > %s::%s", key, args.Add(*cp.lastKey), rule.pkType)
	case cp.lo != nil:
		out += fmt.Sprintf(" AND %s >= %s::%s", key, args.Add(*cp.lo), rule.pkType)
	}
	if cp.hi != nil {
		out += fmt.Sprintf(" AND %s <= %s::%s", key, args.Add(*cp.hi), rule.pkType)
	}
	return out
}

// lockFree locks the rows of keys no other transaction holds, and returns
// their keys; locked rows are skipped, not waited on.
func lockFree(ctx context.Context, tx pgx.Tx, rule *Rule, keys []string) ([]string, error) {
	if len(keys) == 0 {
		return nil, nil
	}
	sql := fmt.Sprintf("SELECT lethe_row.%[1]s::text FROM %[2]s AS lethe_row WHERE lethe_row.%[1]s = ANY($1::%[3]s[]) ORDER BY lethe_row.%[1]s FOR UPDATE SKIP LOCKED", // #nosec G201 -- identifiers sanitized
		rule.pk, rule.target, rule.pkType)
	return collect(ctx, tx, sql, keys)
}

func collect(ctx context.Context, tx pgx.Tx, sql string, args ...any) ([]string, error) {
	rows, err := tx.Query(ctx, sql, args...)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

// apply carries out the rule's action on the locked rows and returns how
// many rows it changed.
func apply(ctx context.Context, tx pgx.Tx, run *Run, rule *Rule, batchNo int, keys []string) (int64, error) {
	if len(keys) == 0 {
		return 0, nil
	}
	switch rule.Spec.Action {
	case privacyv1alpha1.RetentionAnonymize, privacyv1alpha1.RetentionPseudonymize:
		return mask(ctx, tx, run, rule, keys)
	case privacyv1alpha1.RetentionDelete:
		return deleteRows(ctx, tx, rule, keys)
	}
	if err := archive(ctx, tx, run, rule, batchNo, keys); err != nil {
		return 0, err
	}
	then := privacyv1alpha1.ArchiveThenDelete
	if rule.Spec.Archive != nil && rule.Spec.Archive.Then != "" {
		then = rule.Spec.Archive.Then
	}
	switch then {
	case privacyv1alpha1.ArchiveThenDelete:
		return deleteRows(ctx, tx, rule, keys)
	case privacyv1alpha1.ArchiveThenAnonymize:
		return mask(ctx, tx, run, rule, keys)
	}
	_, err := tx.Exec(ctx, `INSERT INTO lethe.retention_archived_rows (policy_uid, rule, key)
		SELECT $1, $2, unnest($3::text[]) ON CONFLICT DO NOTHING`, run.PolicyUID, rule.Spec.Name, keys)
	return int64(len(keys)), err
}

func mask(ctx context.Context, tx pgx.Tx, run *Run, rule *Rule, keys []string) (int64, error) {
	if rule.pseudo != nil {
		return maskKeyed(ctx, tx, run, rule, keys)
	}
	sql, args, err := masking.UpdateSQL(rule.Entity.Table, rule.masks, rule.table.PrimaryKey, rowKeys(run, rule))
	if err != nil {
		return 0, err
	}
	tag, err := tx.Exec(ctx, sql, args.With(keys)...)
	return tag.RowsAffected(), err
}

// maskKeyed writes keyed pseudonyms into the rows in one statement, or,
// when two of them collide in a unique column, one statement per row: each
// then sees the values the earlier ones wrote and takes the row
// discriminator when its value is taken.
func maskKeyed(ctx context.Context, tx pgx.Tx, run *Run, rule *Rule, keys []string) (int64, error) {
	args := &masking.Args{}
	set, err := setSQL(run, rule, args)
	if err != nil {
		return 0, err
	}
	sql := fmt.Sprintf("%s WHERE lethe_row.%s = ANY(%s::%s[])", set, rule.pk, args.Add(nil), rule.pkType) // #nosec G201 -- identifiers sanitized, values are parameters
	vals := args.Values()
	exec := func(ks []string) (int64, error) {
		vals[len(vals)-1] = ks
		sp, err := tx.Begin(ctx)
		if err != nil {
			return 0, err
		}
		tag, err := sp.Exec(ctx, sql, vals...)
		if err != nil {
			return 0, errors.Join(err, sp.Rollback(ctx))
		}
		return tag.RowsAffected(), sp.Commit(ctx)
	}
	n, err := exec(keys)
	if err == nil || len(keys) == 1 || !retryable(err) {
		return n, err
	}
	n = 0
	for _, k := range keys {
		m, err := exec([]string{k})
		if err != nil {
			return 0, err
		}
		n += m
	}
	return n, nil
}

// deleteRows deletes the rows and, first, every row of the inventory's
// tables that refers to them: keys are gathered parents first, rows deleted
// children first.
func deleteRows(ctx context.Context, tx pgx.Tx, rule *Rule, keys []string) (int64, error) {
	found := map[*child][]string{}
	for _, c := range rule.children {
		pk, pkType := keys, rule.pkType
		if c.parent != nil {
			pk, pkType = found[c.parent], c.parent.pkType
		}
		if len(pk) == 0 {
			continue
		}
		ks, err := collect(ctx, tx, fmt.Sprintf("SELECT %s::text FROM %s WHERE %s = ANY($1::%s[])", c.pk, c.target, c.column, pkType), pk) // #nosec G201 -- identifiers sanitized
		if err != nil {
			return 0, err
		}
		found[c] = ks
	}
	// One DELETE per table, in delete order, of the keys every path found.
	byTable := map[string][]*child{}
	var tables []string
	for _, c := range rule.children {
		if byTable[c.target] == nil {
			tables = append(tables, c.target)
		}
		byTable[c.target] = append(byTable[c.target], c)
	}
	sort.SliceStable(tables, func(i, j int) bool {
		return rule.deleteOrder[byTable[tables[i]][0].entity] < rule.deleteOrder[byTable[tables[j]][0].entity]
	})
	var total int64
	for _, t := range tables {
		var ks []string
		for _, c := range byTable[t] {
			ks = append(ks, found[c]...)
		}
		if len(ks) == 0 {
			continue
		}
		c := byTable[t][0]
		tag, err := tx.Exec(ctx, fmt.Sprintf("DELETE FROM %s WHERE %s = ANY($1::%s[])", c.target, c.pk, c.pkType), ks) // #nosec G201 -- identifiers sanitized
		if err != nil {
			return 0, fmt.Errorf("delete the rows of entity %s that refer to them: %w", c.entity, err)
		}
		total += tag.RowsAffected()
	}
	tag, err := tx.Exec(ctx, fmt.Sprintf("DELETE FROM %s WHERE %s = ANY($1::%s[])", rule.target, rule.pk, rule.pkType), keys) // #nosec G201 -- identifiers sanitized
	if err != nil {
		return 0, err
	}
	return total + tag.RowsAffected(), nil
}

// archive writes the rows as CSV (RFC 4180: CRLF line ends, quoted where
// needed; NULL is an empty field) into lethe.retention_archives; the first
// batch starts with the header row.
func archive(ctx context.Context, tx pgx.Tx, run *Run, rule *Rule, batchNo int, keys []string) error {
	cols := make([]string, len(rule.table.Columns))
	names := make([]string, len(rule.table.Columns))
	for i, c := range rule.table.Columns {
		names[i] = c.Name
		cols[i] = pgx.Identifier{c.Name}.Sanitize() + "::text"
	}
	var first int
	if err := tx.QueryRow(ctx, "SELECT count(*) FROM lethe.retention_archives WHERE run_id = $1 AND rule = $2", run.ID, rule.Spec.Name).Scan(&first); err != nil {
		return err
	}
	rows, err := tx.Query(ctx, fmt.Sprintf("SELECT %s FROM %s AS lethe_row WHERE lethe_row.%s = ANY($1::%s[]) ORDER BY lethe_row.%s", // #nosec G201 -- identifiers sanitized
		strings.Join(cols, ", "), rule.target, rule.pk, rule.pkType, rule.pk), keys)
	if err != nil {
		return err
	}
	defer rows.Close()
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	w.UseCRLF = true
	if first == 0 {
		if err := w.Write(names); err != nil {
			return err
		}
	}
	n := 0
	record := make([]string, len(names))
	for rows.Next() {
		vals := make([]*string, len(names))
		ptrs := make([]any, len(names))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return err
		}
		for i, v := range vals {
			record[i] = ""
			if v != nil {
				record[i] = *v
			}
		}
		if err := w.Write(record); err != nil {
			return err
		}
		n++
	}
	if err := rows.Err(); err != nil {
		return err
	}
	w.Flush()
	if err := w.Error(); err != nil {
		return err
	}
	_, err = tx.Exec(ctx, `INSERT INTO lethe.retention_archives (run_id, rule, batch, rows, csv) VALUES ($1, $2, $3, $4, $5)`,
		run.ID, rule.Spec.Name, batchNo, n, buf.String())
	return err
}

// archiveDigest is the SHA-256 of the rule's archive: its batches' CSV in
// order, as Archive returns it.
func archiveDigest(ctx context.Context, tx pgx.Tx, run *Run, rule *Rule) (string, error) {
	var sha *string
	err := tx.QueryRow(ctx, `SELECT encode(sha256(convert_to(string_agg(csv, '' ORDER BY batch), 'UTF8')), 'hex')
		FROM lethe.retention_archives WHERE run_id = $1 AND rule = $2`, run.ID, rule.Spec.Name).Scan(&sha)
	if err != nil || sha == nil {
		return "", err
	}
	return *sha, nil
}

// Archive returns a rule's CSV archive of a run, as one document.
func Archive(ctx context.Context, pool *pgxpool.Pool, runID, rule string) (string, error) {
	var out *string
	err := pool.QueryRow(ctx, `SELECT string_agg(csv, '' ORDER BY batch) FROM lethe.retention_archives
		WHERE run_id = $1 AND rule = $2`, runID, rule).Scan(&out)
	if err != nil || out == nil {
		return "", err
	}
	return *out, nil
}

// Count counts the rows a rule would change now, for a dry run; it changes
// nothing.
func Count(ctx context.Context, pool *pgxpool.Pool, run *Run, rule *Rule) (int64, error) {
	where, args, err := pending(ctx, pool, run, rule)
	if err != nil {
		return 0, err
	}
	var n int64
	err = pool.QueryRow(ctx, fmt.Sprintf("SELECT count(*) FROM %s AS lethe_row WHERE %s", rule.target, where), args.Values()...).Scan(&n) // #nosec G201 -- identifiers sanitized
	return n, err
}

// Identifiers returns the distinct identifiers (Pseudonyms.Identifier) of
// the rows a PseudonymizationJob's rule would change now, so the job can
// record its mapping before it changes them. They are personal: the caller
// keeps them only where the mapping lives.
func Identifiers(ctx context.Context, pool *pgxpool.Pool, run *Run, rule *Rule) ([]string, error) {
	if rule.pseudo == nil {
		return nil, fmt.Errorf("rule %s has no identifier column", rule.Spec.Name)
	}
	where, args, err := pending(ctx, pool, run, rule)
	if err != nil {
		return nil, err
	}
	rows, err := pool.Query(ctx, fmt.Sprintf("SELECT DISTINCT lethe_row.%s::text FROM %s AS lethe_row WHERE %s", // #nosec G201 -- identifiers sanitized
		pgx.Identifier{rule.pseudo.Identifier}.Sanitize(), rule.target, where), args.Values()...)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

// pending is the condition of the rows a rule would change now.
func pending(ctx context.Context, pool *pgxpool.Pool, run *Run, rule *Rule) (string, *masking.Args, error) {
	interval, err := ruleInterval(rule)
	if err != nil {
		return "", nil, err
	}
	cp := &checkpoint{}
	if err := pool.QueryRow(ctx, "SELECT (($1::timestamptz AT TIME ZONE $2) - $3::interval) AT TIME ZONE $2",
		run.Now, run.tz(), interval).Scan(&cp.cutoff); err != nil {
		return "", nil, err
	}
	args := &masking.Args{}
	where, err := eligible(run, rule, cp, args)
	return where, args, err
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

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
