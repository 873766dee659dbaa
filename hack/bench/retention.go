package main

// The retention scenario: internal/retention's executor on one large table,
// against one set-based UPDATE of the same rows in the same database.

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sort"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"k8s.io/utils/ptr"

	privacyv1alpha1 "github.com/lethe-dev/lethe/api/v1alpha1"
	"github.com/lethe-dev/lethe/hack/internal/benchutil"
	"github.com/lethe-dev/lethe/hack/localenv"
	"github.com/lethe-dev/lethe/internal/audit"
	"github.com/lethe-dev/lethe/internal/engine"
	"github.com/lethe-dev/lethe/internal/masking"
	"github.com/lethe-dev/lethe/internal/retention"
	"github.com/lethe-dev/lethe/internal/tenantdb"
)

type retentionConfig struct {
	rows    int
	batch   int
	workers int
}

func (c *retentionConfig) validate(config) error {
	if c.rows < 1000 {
		return errors.New("-retention-rows must be at least 1000")
	}
	if c.workers < 1 || c.workers > 8 {
		return errors.New("-retention-workers must be 1 to 8")
	}
	if c.batch < 1 || c.batch > 50000 {
		return errors.New("-retention-batch must be 1 to 50000")
	}
	return nil
}

// retentionRun is one run's figures.
type retentionRun struct {
	eligible                  int64
	setPlain, execPlain       time.Duration
	setHash, execHash         time.Duration
	batches                   []float64 // ms, every batch of both executor runs
	changedPlain, changedHash int64
	secondRunChanged          int64
	postgres                  string
	loadTime                  time.Duration
}

// The bench table: half its rows closed more than a year before the run.
var retentionTable = []string{`CREATE SCHEMA bench`, `CREATE TABLE bench.events (
    id        bigint PRIMARY KEY,
    closed_at timestamptz NOT NULL,
    name      text,
    email     text,
    note      text NOT NULL
)`, `INSERT INTO bench.events
SELECT i, $1::timestamptz - (i % 730) * interval '1 day' - interval '1 hour',
       'Name ' || i, 'person' || i || '@example.com', 'kept for reporting ' || (i % 97)
FROM generate_series(1, $2::bigint) AS i`, `CREATE TABLE bench.events_orig AS SELECT * FROM bench.events`}

var retentionInventory = privacyv1alpha1.DataInventorySpec{
	Subjects: []privacyv1alpha1.SubjectType{{Name: "person", Identifiers: []string{"email"}}},
	Entities: []privacyv1alpha1.Entity{{Name: "event", Table: "bench.events", PrimaryKey: []string{"id"},
		Subject: &privacyv1alpha1.EntitySubject{Type: "person", Identifiers: []privacyv1alpha1.IdentifierColumn{{Name: "email", Column: "email"}}},
		PersonalColumns: []privacyv1alpha1.PersonalColumn{
			{Column: "name", Category: "Name", Strategy: privacyv1alpha1.MaskingStrategy{Type: privacyv1alpha1.StrategyReplace, Value: ptr.To("Anonymized")}},
			{Column: "email", Category: "Email", Strategy: privacyv1alpha1.MaskingStrategy{Type: privacyv1alpha1.StrategyNullify}},
		}}},
}

var hashKey = []byte("a 32-byte key for the benchmark.")

func hashStrategy() privacyv1alpha1.MaskingStrategy {
	return privacyv1alpha1.MaskingStrategy{Type: privacyv1alpha1.StrategyHash,
		KeySecretRef: &privacyv1alpha1.SecretKeyReference{Name: "bench", Key: "key"}}
}

func runRetentionScenario(ctx context.Context, cfg config, rc *retentionConfig) {
	started := time.Now()
	load := benchutil.LoadAverage()
	runs, _ := benchutil.Repeat("retention", cfg.runs, fmt.Sprintf("%d rows", rc.rows), func(i int) (retentionRun, localenv.Versions, error) {
		r, err := measureRetention(ctx, cfg, rc, i)
		return r, localenv.Versions{}, err
	}, func(r retentionRun) string {
		return fmt.Sprintf("Replace/Nullify ratio %.2f, Hash ratio %.2f", ratio(r.setPlain, r.execPlain), ratio(r.setHash, r.execHash))
	})
	rep := benchutil.NewReport("retention", started)
	rep.Printf("load:        1-minute load average %s at the start, %s at the end (other work on the machine\n", load, benchutil.LoadAverage())
	rep.Printf("             shares its cores with the benchmark)\n")
	rep.Printf("go:          %s\n", runtime.Version())
	rep.Printf("postgresql:  %s (local, default durability settings: every commit is flushed to disk)\n", runs[0].postgres)
	rep.Printf("runs:        %d, each in a fresh PostgreSQL\n\n", cfg.runs)
	rep.Printf("table:       bench.events, %d rows (bigint primary key, closed_at, name, email, note), loaded in\n", rc.rows)
	rep.Printf("             %.1f s; %d rows (half) closed more than a year before the run\n", runs[0].loadTime.Seconds(), runs[0].eligible)
	rep.Printf("rule:        age closed_at olderThan 1y, action Anonymize; batchSize %d; %d workers (each its own\n", rc.batch, rc.workers)
	rep.Printf("             range of ids, as the controller runs it);\n")
	rep.Printf("             each batch one transaction: one UPDATE of the next keys (keyset over id, only rows\n")
	rep.Printf("             still pending), its audit record and checkpoint, committed without waiting for the\n")
	rep.Printf("             WAL flush except the last\n")
	rep.Printf("baselines:   one UPDATE ... WHERE closed_at < cut-off of the same rows with the same SQL\n")
	rep.Printf("             expressions, in one transaction, timed in the same run on the same data (the table\n")
	rep.Printf("             is restored and vacuumed before each measurement)\n\n")

	t := rep.TargetTable(44)
	t.AtLeast("Replace/Nullify: executor vs set-based UPDATE", benchutil.Column(runs, func(r retentionRun) float64 { return ratio(r.setPlain, r.execPlain) }), 0.85, "")
	t.AtLeast("keyed Hash: executor vs set-based HMAC UPDATE", benchutil.Column(runs, func(r retentionRun) float64 { return ratio(r.setHash, r.execHash) }), 0.7, "")
	var all []float64
	for _, r := range runs {
		all = append(all, r.batches...)
	}
	t.AtMost("batch transaction p99 (ms)", benchutil.Column(runs, func(r retentionRun) float64 { return benchutil.Percentile(r.batches, 99) }), 250, "ms")
	t.Info("longest batch transaction (ms)", benchutil.Column(runs, func(r retentionRun) float64 { return maxOf(r.batches) }))
	t.Info("set-based Replace/Nullify UPDATE (s)", benchutil.Column(runs, func(r retentionRun) float64 { return r.setPlain.Seconds() }))
	t.Info("executor Replace/Nullify (s)", benchutil.Column(runs, func(r retentionRun) float64 { return r.execPlain.Seconds() }))
	t.Info("set-based HMAC UPDATE (s)", benchutil.Column(runs, func(r retentionRun) float64 { return r.setHash.Seconds() }))
	t.Info("executor keyed Hash (s)", benchutil.Column(runs, func(r retentionRun) float64 { return r.execHash.Seconds() }))
	t.Info("executor rows per second (Replace/Nullify)", benchutil.Column(runs, func(r retentionRun) float64 { return float64(r.changedPlain) / r.execPlain.Seconds() }))
	rep.Printf("\nper run:\n")
	for i, r := range runs {
		rep.Printf("  run %d: %d eligible; changed %d (Replace/Nullify) and %d (Hash); a second run changed %d;\n", i+1, r.eligible, r.changedPlain, r.changedHash, r.secondRunChanged)
		rep.Printf("         %d batches, p50 %.1f ms, p99 %.1f ms, max %.1f ms\n", len(r.batches), benchutil.Percentile(r.batches, 50), benchutil.Percentile(r.batches, 99), maxOf(r.batches))
	}
	rep.Printf("\nnotes:\n")
	rep.Printf("  - a ratio is the set-based UPDATE's time over the executor's: 1.0 means as fast as one statement\n")
	rep.Printf("  - the executor's time includes every batch's key selection, locking, audit record and\n")
	rep.Printf("    checkpoint; the set-based UPDATE has none of them and holds every row lock until it ends\n")
	rep.Printf("  - batch times are each batch transaction's, from its BEGIN to its COMMIT, over %d batches in\n", len(all))
	rep.Printf("    all; the two workers' transactions overlap\n")
	benchutil.Publish(cfg.out, "retention.txt", rep.String())
}

func ratio(set, exec time.Duration) float64 {
	if exec <= 0 {
		return 0
	}
	return set.Seconds() / exec.Seconds()
}

func maxOf(v []float64) float64 {
	m := 0.0
	for _, x := range v {
		m = max(m, x)
	}
	return m
}

func measureRetention(ctx context.Context, cfg config, rc *retentionConfig, runNo int) (res retentionRun, err error) {
	local, err := startPostgres("retention", cfg.keep)
	if err != nil {
		return res, err
	}
	defer local.stop(&err)
	srv, pools := local.srv, local.pools
	db, err := srv.CreateDatabase(ctx, "bench")
	if err != nil {
		return res, err
	}
	pcfg, err := tenantdb.ParseSecret(db.SecretData(), 4)
	if err != nil {
		return res, err
	}
	pool, err := pools.Get(ctx, "bench", pcfg)
	if err != nil {
		return res, err
	}
	now := time.Now().UTC().Truncate(time.Second)
	start := time.Now()
	for _, sql := range retentionTable {
		var args []any
		if len(sql) > 6 && sql[:6] == "INSERT" {
			args = []any{now, rc.rows}
		}
		if _, err := pool.Exec(ctx, sql, args...); err != nil {
			return res, fmt.Errorf("load: %w", err)
		}
	}
	res.loadTime = time.Since(start)
	if _, _, err := tenantdb.Migrate(ctx, pool); err != nil {
		return res, err
	}
	if err := pool.QueryRow(ctx, "SHOW server_version").Scan(&res.postgres); err != nil {
		return res, err
	}
	cutoff := now.AddDate(-1, 0, 0)
	if err := pool.QueryRow(ctx, "SELECT count(*) FROM bench.events WHERE closed_at < $1", cutoff).Scan(&res.eligible); err != nil {
		return res, err
	}
	cat, err := tenantdb.ReadCatalog(ctx, pool)
	if err != nil {
		return res, err
	}
	emailCol := cat.Tables["bench.events"].Columns[3]

	restore := func() error {
		_, err := pool.Exec(ctx, "TRUNCATE bench.events")
		if err == nil {
			_, err = pool.Exec(ctx, "INSERT INTO bench.events SELECT * FROM bench.events_orig")
		}
		if err == nil {
			_, err = pool.Exec(ctx, "VACUUM ANALYZE bench.events")
		}
		if err == nil {
			err = srv.Exec(ctx, db.Name, "CHECKPOINT")
		}
		return err
	}
	timed := func(sql string, args ...any) (time.Duration, error) {
		if err := restore(); err != nil {
			return 0, err
		}
		start := time.Now()
		_, err := pool.Exec(ctx, sql, args...)
		return time.Since(start), err
	}
	execute := func(name string, r privacyv1alpha1.RetentionRule, keys map[string][]byte) (time.Duration, int64, []float64, error) {
		if err := restore(); err != nil {
			return 0, 0, nil, err
		}
		rule, err := retention.Compile(r, &retentionInventory, cat, keys)
		if err != nil {
			return 0, 0, nil, err
		}
		var (
			mu      sync.Mutex
			batches []float64
		)
		run := &ruleRun{
			run: engine.Run{UID: fmt.Sprintf("bench-%d-%s", runNo, name), Kind: engine.KindPolicy, Type: "Retention", Actor: "bench",
				Object: audit.Object{Kind: "RetentionPolicy", Namespace: "bench", Name: "bench", UID: "bench"}},
			opts: engine.Options{BatchSize: rc.batch, Workers: rc.workers, LockTimeout: 5 * time.Second, StatementTimeout: 5 * time.Minute, MaxRetries: 1,
				BatchDone: func(_ string, took time.Duration) {
					mu.Lock()
					defer mu.Unlock()
					batches = append(batches, benchutil.Ms(took))
				}},
			env: retention.Env{PolicyUID: "bench", Now: now},
		}
		start := time.Now()
		p, err := stepUntilDone(ctx, pool, run, rule)
		took := time.Since(start)
		if err != nil {
			return 0, 0, nil, err
		}
		return took, p.Changed, batches, nil
	}

	plain := privacyv1alpha1.RetentionRule{Name: "plain", Entity: "event",
		Age: privacyv1alpha1.RetentionAge{Column: "closed_at", OlderThan: "1y"}, Action: privacyv1alpha1.RetentionAnonymize}
	benchutil.Progress("retention %d: set-based Replace/Nullify UPDATE", runNo)
	if res.setPlain, err = timed("UPDATE bench.events SET name = CASE WHEN name IS NULL THEN NULL ELSE $2::text END, email = NULL WHERE closed_at < $1", cutoff, "Anonymized"); err != nil {
		return res, err
	}
	benchutil.Progress("retention %d: executor Replace/Nullify", runNo)
	var b1, b2 []float64
	if res.execPlain, res.changedPlain, b1, err = execute("plain", plain, nil); err != nil {
		return res, err
	}
	second, err := retention.Compile(plain, &retentionInventory, cat, nil)
	if err != nil {
		return res, err
	}
	again, err := stepUntilDone(ctx, pool, &ruleRun{
		run:  engine.Run{UID: fmt.Sprintf("bench-%d-again", runNo), Kind: engine.KindPolicy, Type: "Retention", Actor: "bench", Object: audit.Object{Kind: "RetentionPolicy", Name: "bench"}},
		opts: engine.Options{BatchSize: rc.batch, LockTimeout: time.Second, StatementTimeout: 5 * time.Minute},
		env:  retention.Env{PolicyUID: "bench", Now: now}}, second)
	if err != nil {
		return res, err
	}
	res.secondRunChanged = again.Changed

	args := &masking.Args{}
	expr, err := masking.Expr(hashStrategy(), emailCol, masking.Keys{HashKey: hashKey}, args)
	if err != nil {
		return res, err
	}
	benchutil.Progress("retention %d: set-based HMAC UPDATE", runNo)
	if res.setHash, err = timed(fmt.Sprintf("UPDATE bench.events SET email = %s WHERE closed_at < $%d", expr, args.Len()+1), args.With(cutoff)...); err != nil {
		return res, err
	}
	hashed := plain
	hashed.Name = "hash"
	hashed.Action = privacyv1alpha1.RetentionPseudonymize
	hashed.Fields = []privacyv1alpha1.FieldOverride{{Column: "email", Strategy: hashStrategy()}}
	benchutil.Progress("retention %d: executor keyed Hash", runNo)
	if res.execHash, res.changedHash, b2, err = execute("hash", hashed, map[string][]byte{"bench/key": hashKey}); err != nil {
		return res, err
	}
	res.batches = append(append(res.batches, b1...), b2...)
	sort.Float64s(res.batches)
	return res, nil
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
