package main

// The retention scenario's measurements: one PostgreSQL per run, the bench
// tables loaded at each size, each measurement on a restored table.

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"k8s.io/utils/ptr"

	privacyv1alpha1 "github.com/lethe-dev/lethe/api/v1alpha1"
	"github.com/lethe-dev/lethe/hack/internal/benchutil"
	"github.com/lethe-dev/lethe/internal/audit"
	"github.com/lethe-dev/lethe/internal/engine"
	"github.com/lethe-dev/lethe/internal/masking"
	"github.com/lethe-dev/lethe/internal/retention"
	"github.com/lethe-dev/lethe/internal/tenantdb"
	"github.com/lethe-dev/lethe/internal/testutil/pgtest"
)

// benchTable is one of the two tables the scenario measures: the same
// columns and the same generated rows, keyed and stored differently.
type benchTable struct {
	name   string // schema.table
	entity string
	key    []string
	// create makes the empty table; months are the first days of the
	// months the rows span (the partitions of the monthly table).
	create func(months []time.Time) []string
	what   string
}

var (
	singleTable = benchTable{name: "bench.events", entity: "event", key: []string{"id"},
		what: "bench.events: bigint primary key (id)",
		create: func([]time.Time) []string {
			return []string{`CREATE TABLE bench.events (
    id        bigint PRIMARY KEY,
    closed_at timestamptz NOT NULL,
    name      text,
    email     text,
    note      text NOT NULL
)`}
		}}
	monthlyTable = benchTable{name: "bench.events_monthly", entity: "monthlyEvent", key: []string{"closed_at", "id"},
		what: "bench.events_monthly: primary key (closed_at, id), PARTITION BY RANGE (closed_at), one partition a month",
		create: func(months []time.Time) []string {
			out := []string{`CREATE TABLE bench.events_monthly (
    id        bigint NOT NULL,
    closed_at timestamptz NOT NULL,
    name      text,
    email     text,
    note      text NOT NULL,
    PRIMARY KEY (closed_at, id)
) PARTITION BY RANGE (closed_at)`}
			for i, m := range months {
				out = append(out, fmt.Sprintf("CREATE TABLE bench.events_monthly_m%02d PARTITION OF bench.events_monthly FOR VALUES FROM ('%s') TO ('%s')",
					i, m.Format(time.RFC3339), m.AddDate(0, 1, 0).Format(time.RFC3339)))
			}
			return out
		}}
)

// fill writes n rows into a bench table: row i closed i % 730 days and an
// hour before now, so half of them closed more than a year before.
const fill = `INSERT INTO %s (id, closed_at, name, email, note)
SELECT i, $1::timestamptz - (i %% 730) * interval '1 day' - interval '1 hour',
       'Name ' || i, 'person' || i || '@example.com', 'kept for reporting ' || (i %% 97)
FROM generate_series(1, $2::bigint) AS i`

// monthsOf are the first days of the months rows written by fill at now
// fall in.
func monthsOf(now time.Time) []time.Time {
	first := now.Add(-730*24*time.Hour - time.Hour)
	m := time.Date(first.Year(), first.Month(), 1, 0, 0, 0, 0, time.UTC)
	var out []time.Time
	for ; !m.After(now); m = m.AddDate(0, 1, 0) {
		out = append(out, m)
	}
	return out
}

func retentionInventory() *privacyv1alpha1.DataInventorySpec {
	columns := []privacyv1alpha1.PersonalColumn{
		{Column: "name", Category: "Name", Strategy: privacyv1alpha1.MaskingStrategy{Type: privacyv1alpha1.StrategyReplace, Value: ptr.To("Anonymized")}},
		{Column: "email", Category: "Email", Strategy: privacyv1alpha1.MaskingStrategy{Type: privacyv1alpha1.StrategyNullify}},
	}
	spec := &privacyv1alpha1.DataInventorySpec{Subjects: []privacyv1alpha1.SubjectType{{Name: "person", Identifiers: []string{"email"}}}}
	for _, t := range []benchTable{singleTable, monthlyTable} {
		spec.Entities = append(spec.Entities, privacyv1alpha1.Entity{Name: t.entity, Table: t.name, PrimaryKey: t.key,
			Subject:         &privacyv1alpha1.EntitySubject{Type: "person", Identifiers: []privacyv1alpha1.IdentifierColumn{{Name: "email", Column: "email"}}},
			PersonalColumns: columns})
	}
	return spec
}

var hashKey = []byte("a 32-byte key for the benchmark.")

func hashStrategy() privacyv1alpha1.MaskingStrategy {
	return privacyv1alpha1.MaskingStrategy{Type: privacyv1alpha1.StrategyHash,
		KeySecretRef: &privacyv1alpha1.SecretKeyReference{Name: "bench", Key: "key"}}
}

// tableRun is one table at one size in one run.
type tableRun struct {
	rows, eligible int64
	load           time.Duration
	// At the measured batch size: both set-based statements and both
	// executor runs, their batches (ms), rows changed, and what a second
	// Replace/Nullify run changed.
	setPlain, execPlain time.Duration
	setHash, execHash   time.Duration
	batches             []float64
	// The set-based Replace/Nullify UPDATE cut in two halves of the key
	// range, both run at once on two connections: what two writers at
	// once can do on this machine.
	halves                    time.Duration
	changedPlain, changedHash int64
	again                     int64
	// At the default batch size, when it is not the measured one.
	small *smallRun
}

// smallRun is both executor runs at the default batch size.
type smallRun struct {
	execPlain, execHash time.Duration
	batches             []float64
}

// retentionRun is one run: every size of the single-column table, then
// the monthly table.
type retentionRun struct {
	postgres, sharedBuffers, maxWAL string
	single                          []tableRun
	monthly                         tableRun
}

// tableBench measures one table of one database.
type tableBench struct {
	rc    *retentionConfig
	srv   *pgtest.Server
	db    pgtest.Database
	pool  *pgxpool.Pool
	table benchTable
	rows  int
	now   time.Time
	runNo int
}

func measureRetention(ctx context.Context, cfg config, rc *retentionConfig, runNo int) (res retentionRun, err error) {
	local, err := startPostgres("retention", cfg.keep)
	if err != nil {
		return res, err
	}
	defer local.stop(&err)
	db, err := local.srv.CreateDatabase(ctx, "bench")
	if err != nil {
		return res, err
	}
	pcfg, err := tenantdb.ParseSecret(db.SecretData(), int32(rc.workers)+2) // #nosec G115 -- at most 8 workers
	if err != nil {
		return res, err
	}
	pool, err := local.pools.Get(ctx, "bench", pcfg)
	if err != nil {
		return res, err
	}
	if _, _, err := tenantdb.Migrate(ctx, pool); err != nil {
		return res, err
	}
	for setting, dest := range map[string]*string{"server_version": &res.postgres, "shared_buffers": &res.sharedBuffers, "max_wal_size": &res.maxWAL} {
		if err := pool.QueryRow(ctx, "SHOW "+setting).Scan(dest); err != nil {
			return res, err
		}
	}
	if _, err := pool.Exec(ctx, "CREATE SCHEMA bench"); err != nil {
		return res, err
	}
	b := &tableBench{rc: rc, srv: local.srv, db: db, pool: pool, now: time.Now().UTC().Truncate(time.Second), runNo: runNo}
	for _, n := range rc.sizes {
		b.table = singleTable
		r, err := b.measure(ctx, n)
		if err != nil {
			return res, fmt.Errorf("%s, %d rows: %w", singleTable.name, n, err)
		}
		res.single = append(res.single, r)
	}
	b.table = monthlyTable
	if res.monthly, err = b.measure(ctx, rc.monthlyRows); err != nil {
		return res, fmt.Errorf("%s, %d rows: %w", monthlyTable.name, rc.monthlyRows, err)
	}
	return res, nil
}

// measure loads the table with n rows and takes its figures.
func (b *tableBench) measure(ctx context.Context, n int) (res tableRun, err error) {
	t := b.table
	b.rows = n
	label := fmt.Sprintf("retention %d: %s, %d rows", b.runNo, t.name, n)
	benchutil.Progress("%s: loading", label)
	start := time.Now()
	stmts := append([]string{"DROP TABLE IF EXISTS " + t.name + ", " + t.name + "_orig"}, t.create(monthsOf(b.now))...)
	for _, sql := range stmts {
		if _, err := b.pool.Exec(ctx, sql); err != nil {
			return res, fmt.Errorf("load: %w", err)
		}
	}
	if _, err := b.pool.Exec(ctx, fmt.Sprintf(fill, t.name), b.now, n); err != nil {
		return res, fmt.Errorf("load: %w", err)
	}
	if _, err := b.pool.Exec(ctx, fmt.Sprintf("CREATE TABLE %s_orig AS SELECT * FROM %s", t.name, t.name)); err != nil {
		return res, fmt.Errorf("load: %w", err)
	}
	res.load, res.rows = time.Since(start), int64(n)
	cutoff := b.now.AddDate(-1, 0, 0)
	if err := b.pool.QueryRow(ctx, "SELECT count(*) FROM "+t.name+" WHERE closed_at < $1", cutoff).Scan(&res.eligible); err != nil {
		return res, err
	}
	cat, err := tenantdb.ReadCatalog(ctx, b.pool)
	if err != nil {
		return res, err
	}
	email, ok := cat.Tables[t.name].Column("email")
	if !ok {
		return res, fmt.Errorf("%s has no column email", t.name)
	}
	plain := privacyv1alpha1.RetentionRule{Name: "plain", Entity: t.entity,
		Age: privacyv1alpha1.RetentionAge{Column: "closed_at", OlderThan: "1y"}, Action: privacyv1alpha1.RetentionAnonymize}
	hashed := plain
	hashed.Name = "hash"
	hashed.Action = privacyv1alpha1.RetentionPseudonymize
	hashed.Fields = []privacyv1alpha1.FieldOverride{{Column: "email", Strategy: hashStrategy()}}
	keys := map[string][]byte{"bench/key": hashKey}
	args := &masking.Args{}
	expr, err := masking.Expr(hashStrategy(), email, masking.Keys{HashKey: hashKey}, args)
	if err != nil {
		return res, err
	}

	benchutil.Progress("%s: set-based Replace/Nullify UPDATE", label)
	if res.setPlain, err = b.timed(ctx, "UPDATE "+t.name+" SET name = CASE WHEN name IS NULL THEN NULL ELSE $2::text END, email = NULL WHERE closed_at < $1",
		cutoff, "Anonymized"); err != nil {
		return res, err
	}
	benchutil.Progress("%s: set-based Replace/Nullify UPDATE in two halves at once", label)
	if res.halves, err = b.halves(ctx, cutoff); err != nil {
		return res, err
	}
	benchutil.Progress("%s: executor Replace/Nullify, batchSize %d", label, b.rc.batch)
	var batches []float64
	if res.execPlain, res.changedPlain, batches, err = b.execute(ctx, "plain", plain, nil, b.rc.batch); err != nil {
		return res, err
	}
	res.batches = append(res.batches, batches...)
	if res.again, err = b.again(ctx, plain, cat); err != nil {
		return res, err
	}
	benchutil.Progress("%s: set-based HMAC UPDATE", label)
	if res.setHash, err = b.timed(ctx, fmt.Sprintf("UPDATE %s SET email = %s WHERE closed_at < $%d", t.name, expr, args.Len()+1), args.With(cutoff)...); err != nil {
		return res, err
	}
	benchutil.Progress("%s: executor keyed Hash, batchSize %d", label, b.rc.batch)
	if res.execHash, res.changedHash, batches, err = b.execute(ctx, "hash", hashed, keys, b.rc.batch); err != nil {
		return res, err
	}
	res.batches = append(res.batches, batches...)
	sort.Float64s(res.batches)
	if b.rc.batch == defaultBatch {
		return res, nil
	}
	res.small = &smallRun{}
	benchutil.Progress("%s: executor Replace/Nullify and keyed Hash, batchSize %d", label, defaultBatch)
	if res.small.execPlain, _, batches, err = b.execute(ctx, "plain-small", plain, nil, defaultBatch); err != nil {
		return res, err
	}
	res.small.batches = append(res.small.batches, batches...)
	if res.small.execHash, _, batches, err = b.execute(ctx, "hash-small", hashed, keys, defaultBatch); err != nil {
		return res, err
	}
	res.small.batches = append(res.small.batches, batches...)
	sort.Float64s(res.small.batches)
	return res, nil
}

// restore puts the table back as loaded, vacuumed, analysed and
// checkpointed, so every measurement starts from the same state.
func (b *tableBench) restore(ctx context.Context) error {
	t := b.table.name
	for _, sql := range []string{"TRUNCATE " + t, "INSERT INTO " + t + " SELECT * FROM " + t + "_orig", "VACUUM ANALYZE " + t} {
		if _, err := b.pool.Exec(ctx, sql); err != nil {
			return err
		}
	}
	return b.srv.Exec(ctx, b.db.Name, "CHECKPOINT")
}

// timed restores the table and times one statement.
func (b *tableBench) timed(ctx context.Context, sql string, args ...any) (time.Duration, error) {
	if err := b.restore(ctx); err != nil {
		return 0, err
	}
	start := time.Now()
	_, err := b.pool.Exec(ctx, sql, args...)
	return time.Since(start), err
}

// halves restores the table and times the set-based Replace/Nullify
// UPDATE cut at the median of the rows it changes (the key's first column),
// both halves run at once, each on its own connection in its own
// transaction.
func (b *tableBench) halves(ctx context.Context, cutoff time.Time) (time.Duration, error) {
	if err := b.restore(ctx); err != nil {
		return 0, err
	}
	first := pgx.Identifier{b.table.key[0]}.Sanitize()
	var median string
	if err := b.pool.QueryRow(ctx, fmt.Sprintf("SELECT percentile_disc(0.5) WITHIN GROUP (ORDER BY %s)::text FROM %s WHERE closed_at < $1",
		first, b.table.name), cutoff).Scan(&median); err != nil {
		return 0, err
	}
	set := "UPDATE " + b.table.name + " SET name = CASE WHEN name IS NULL THEN NULL ELSE $2::text END, email = NULL WHERE closed_at < $1 AND "
	half := []string{fmt.Sprintf("%s <= CAST($3::text AS %s)", first, b.keyType()), fmt.Sprintf("%s > CAST($3::text AS %s)", first, b.keyType())}
	errs := make([]error, 2)
	var wg sync.WaitGroup
	start := time.Now()
	for i := range half {
		wg.Go(func() { _, errs[i] = b.pool.Exec(ctx, set+half[i], cutoff, "Anonymized", median) })
	}
	wg.Wait()
	return time.Since(start), errors.Join(errs...)
}

// keyType is the type of the table's first key column.
func (b *tableBench) keyType() string {
	if b.table.key[0] == "id" {
		return "bigint"
	}
	return "timestamptz"
}

// execute restores the table and runs a rule through the executor with
// the scenario's workers: its time, rows changed and batch times (ms).
func (b *tableBench) execute(ctx context.Context, name string, r privacyv1alpha1.RetentionRule, keys map[string][]byte, batch int) (time.Duration, int64, []float64, error) {
	if err := b.restore(ctx); err != nil {
		return 0, 0, nil, err
	}
	cat, err := tenantdb.ReadCatalog(ctx, b.pool)
	if err != nil {
		return 0, 0, nil, err
	}
	rule, err := retention.Compile(r, retentionInventory(), cat, keys)
	if err != nil {
		return 0, 0, nil, err
	}
	var (
		mu      sync.Mutex
		batches []float64
	)
	run := b.ruleRun(name, batch, func(_ string, took time.Duration) {
		mu.Lock()
		defer mu.Unlock()
		batches = append(batches, benchutil.Ms(took))
	})
	start := time.Now()
	p, err := stepUntilDone(ctx, b.pool, run, rule)
	took := time.Since(start)
	if err != nil {
		return 0, 0, nil, err
	}
	return took, p.Changed, batches, nil
}

// again runs the Replace/Nullify rule once more, on the table as the
// executor left it: it must find nothing to change.
func (b *tableBench) again(ctx context.Context, r privacyv1alpha1.RetentionRule, cat *tenantdb.Catalog) (int64, error) {
	rule, err := retention.Compile(r, retentionInventory(), cat, nil)
	if err != nil {
		return 0, err
	}
	p, err := stepUntilDone(ctx, b.pool, b.ruleRun("again", b.rc.batch, nil), rule)
	if err != nil {
		return 0, err
	}
	return p.Changed, nil
}

func (b *tableBench) ruleRun(name string, batch int, done func(string, time.Duration)) *ruleRun {
	uid := fmt.Sprintf("bench-%d-%s-%d-%s", b.runNo, strings.ReplaceAll(b.table.name, ".", "-"), b.rows, name)
	return &ruleRun{
		run: engine.Run{UID: uid, Kind: engine.KindPolicy, Type: "Retention", Actor: "bench",
			Object: audit.Object{Kind: "RetentionPolicy", Namespace: "bench", Name: "bench", UID: "bench"}},
		opts: engine.Options{BatchSize: batch, Workers: b.rc.workers, LockTimeout: 5 * time.Second, StatementTimeout: 5 * time.Minute,
			MaxRetries: 1, BatchDone: done},
		env: retention.Env{PolicyUID: "bench", Now: b.now},
	}
}

// ruleRun is a policy's or a job's run as the executor and the rules see
// it.
type ruleRun struct {
	run  engine.Run
	opts engine.Options
	env  retention.Env
}

func stepUntilDone(ctx context.Context, pool *pgxpool.Pool, x *ruleRun, rule *retention.Rule) (*engine.Progress, error) {
	for {
		p, err := engine.Advance(ctx, pool, &x.run, rule.Step(x.env), x.opts, time.Now().Add(time.Hour))
		if err != nil || p.Done {
			return p, err
		}
	}
}
