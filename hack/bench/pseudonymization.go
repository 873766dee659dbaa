package main

// The pseudonymization scenario: a PseudonymizationJob's work (keyed
// pseudonyms through internal/retention) on the employees of two tenant
// databases that know the same people, against one set-based HMAC UPDATE
// of the same columns per tenant in the same run.

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	privacyv1alpha1 "github.com/lethe-dev/lethe/api/v1alpha1"
	"github.com/lethe-dev/lethe/hack/internal/benchutil"
	"github.com/lethe-dev/lethe/hack/localenv"
	"github.com/lethe-dev/lethe/internal/audit"
	"github.com/lethe-dev/lethe/internal/engine"
	"github.com/lethe-dev/lethe/internal/masking"
	"github.com/lethe-dev/lethe/internal/retention"
	"github.com/lethe-dev/lethe/internal/tenantdb"
	"github.com/lethe-dev/lethe/internal/testutil/pgtest"
)

type pseudonymizationConfig struct {
	employees int
	batch     int
}

func (c *pseudonymizationConfig) validate(config) error {
	if c.employees < 1000 || c.employees%2 != 0 {
		return errors.New("-pseudonymization-employees must be an even number, at least 1000")
	}
	if c.batch < 1 || c.batch > 50000 {
		return errors.New("-pseudonymization-batch must be 1 to 50000")
	}
	return nil
}

// pseudonymizationRun is one run's figures.
type pseudonymizationRun struct {
	set, exec     time.Duration
	changed       int64
	secondChanged int64
	equal         int64 // employees with the same pseudonyms in both tenants
	postgres      string
}

// The bench table of each tenant: the same employees (the same employee
// ids) with other names.
var pseudonymizationTable = []string{`CREATE SCHEMA bench`, `CREATE TABLE bench.employees (
    id            bigint PRIMARY KEY,
    employee_id   text NOT NULL UNIQUE,
    first_name    text NOT NULL,
    last_name     text NOT NULL,
    user_name     text NOT NULL UNIQUE,
    email         text NOT NULL,
    team          text NOT NULL,
    last_login_at timestamptz
)`, `INSERT INTO bench.employees
SELECT i, 'E' || lpad(i::text, 7, '0'), $1 || 'First' || i, 'Last' || i, $1 || 'user' || i, $1 || i || '@example.com',
       'team ' || (i % 40), now() - (i % 400) * interval '1 day'
FROM generate_series(1, $2::bigint) AS i`, `CREATE TABLE bench.employees_orig AS SELECT * FROM bench.employees`}

func pseudonymOf(format string) privacyv1alpha1.MaskingStrategy {
	return privacyv1alpha1.MaskingStrategy{Type: privacyv1alpha1.StrategyPseudonym, Format: ptr(format)}
}

var pseudonymizationInventory = privacyv1alpha1.DataInventorySpec{
	Subjects: []privacyv1alpha1.SubjectType{{Name: "employee", Identifiers: []string{"employeeId"}}},
	Entities: []privacyv1alpha1.Entity{{Name: "employee", Table: "bench.employees", PrimaryKey: []string{"id"},
		Subject:          &privacyv1alpha1.EntitySubject{Type: "employee", Identifiers: []privacyv1alpha1.IdentifierColumn{{Name: "employeeId", Column: "employee_id"}}},
		Pseudonymization: &privacyv1alpha1.EntityPseudonymization{MatchColumn: "employee_id"},
		PersonalColumns: []privacyv1alpha1.PersonalColumn{
			{Column: "employee_id", Category: "Identifier", Strategy: pseudonymOf("EMP-{n}")},
			{Column: "first_name", Category: "Name", Strategy: pseudonymOf("F_{n}")},
			{Column: "last_name", Category: "Name", Strategy: pseudonymOf("L_{n}")},
			{Column: "user_name", Category: "UserName", Strategy: pseudonymOf("user-{hex:12}")},
			{Column: "email", Category: "Email", Strategy: pseudonymOf("{n}@pseudonymized.invalid")},
		}}},
}

var pseudonymKey = []byte("a 32-byte pseudonym key, shared.")

func runPseudonymizationScenario(ctx context.Context, cfg config, pc *pseudonymizationConfig) {
	started := time.Now()
	load := benchutil.LoadAverage()
	runs, _ := benchutil.Repeat("pseudonymization", cfg.runs, fmt.Sprintf("%d employees", pc.employees), func(i int) (pseudonymizationRun, localenv.Versions, error) {
		r, err := measurePseudonymization(ctx, cfg, pc, i)
		return r, localenv.Versions{}, err
	}, func(r pseudonymizationRun) string {
		return fmt.Sprintf("%.0f subjects/s, ratio %.2f", float64(r.changed)/r.exec.Seconds(), ratio(r.set, r.exec))
	})
	rep := benchutil.NewReport("pseudonymization", started)
	rep.Printf("load:        1-minute load average %s at the start, %s at the end (other work on the machine\n", load, benchutil.LoadAverage())
	rep.Printf("             shares its cores with the benchmark)\n")
	rep.Printf("go:          %s\n", runtime.Version())
	rep.Printf("postgresql:  %s (local, default durability settings: every commit is flushed to disk)\n", runs[0].postgres)
	rep.Printf("runs:        %d, each in a fresh PostgreSQL\n\n", cfg.runs)
	rep.Printf("tenants:     2 databases of one server, %d employees each (%d in all), the same employee ids\n", pc.employees/2, pc.employees)
	rep.Printf("             in both; bench.employees with unique employee_id and user_name\n")
	rep.Printf("job:         keyed pseudonyms (HMAC-SHA-256 of employee_id) for employee_id EMP-{n}, first_name\n")
	rep.Printf("             F_{n}, last_name L_{n}, user_name user-{hex:12} and email {n}@pseudonymized.invalid;\n")
	rep.Printf("             batchSize %d, 2 workers per tenant, tenants one after the other, as the controller\n", pc.batch)
	rep.Printf("             runs them; each batch one transaction: UPDATE, pseudonymized_rows, audit, checkpoint\n")
	rep.Printf("baseline:    one UPDATE per tenant of every row with the same SQL expressions (HMAC computed in\n")
	rep.Printf("             SQL, uniqueness probes included), in one transaction, timed in the same run on the\n")
	rep.Printf("             same data (tables restored and vacuumed before each measurement)\n\n")

	t := rep.TargetTable(44)
	t.AtLeast("executor vs set-based HMAC UPDATE", benchutil.Column(runs, func(r pseudonymizationRun) float64 { return ratio(r.set, r.exec) }), 0.7, "")
	t.Info("subjects per second (executor)", benchutil.Column(runs, func(r pseudonymizationRun) float64 { return float64(r.changed) / r.exec.Seconds() }))
	t.Info("subjects per second (set-based)", benchutil.Column(runs, func(r pseudonymizationRun) float64 { return float64(r.changed) / r.set.Seconds() }))
	t.Info("executor, both tenants (s)", benchutil.Column(runs, func(r pseudonymizationRun) float64 { return r.exec.Seconds() }))
	t.Info("set-based, both tenants (s)", benchutil.Column(runs, func(r pseudonymizationRun) float64 { return r.set.Seconds() }))
	rep.Printf("\nper run:\n")
	for i, r := range runs {
		rep.Printf("  run %d: changed %d employees; %d have the same pseudonyms in both tenants; a second job changed %d\n",
			i+1, r.changed, r.equal, r.secondChanged)
	}
	rep.Printf("\nnotes:\n")
	rep.Printf("  - the ratio is the set-based UPDATE's time over the executor's: 1.0 means as fast as one statement\n")
	rep.Printf("  - the executor's time includes every batch's key selection, the pseudonymized_rows record,\n")
	rep.Printf("    audit record and checkpoint; the set-based UPDATE has none of them and is not resumable\n")
	benchutil.Publish(cfg.out, "pseudonymization.txt", rep.String())
}

func measurePseudonymization(ctx context.Context, cfg config, pc *pseudonymizationConfig, runNo int) (res pseudonymizationRun, err error) {
	local, err := startPostgres("pseudonymization", cfg.keep)
	if err != nil {
		return res, err
	}
	defer local.stop(&err)
	srv, pools := local.srv, local.pools
	type tenant struct {
		db   pgtest.Database
		pool *pgxpool.Pool
		cat  *tenantdb.Catalog
	}
	var tenants []tenant
	for _, name := range []string{"acme", "globex"} {
		db, err := srv.CreateDatabase(ctx, name)
		if err != nil {
			return res, err
		}
		pcfg, err := tenantdb.ParseSecret(db.SecretData(), 4)
		if err != nil {
			return res, err
		}
		pool, err := pools.Get(ctx, name, pcfg)
		if err != nil {
			return res, err
		}
		for _, sql := range pseudonymizationTable {
			var args []any
			if len(sql) > 6 && sql[:6] == "INSERT" {
				args = []any{name, pc.employees / 2}
			}
			if _, err := pool.Exec(ctx, sql, args...); err != nil {
				return res, fmt.Errorf("load: %w", err)
			}
		}
		if _, _, err := tenantdb.Migrate(ctx, pool); err != nil {
			return res, err
		}
		cat, err := tenantdb.ReadCatalog(ctx, pool)
		if err != nil {
			return res, err
		}
		tenants = append(tenants, tenant{db: db, pool: pool, cat: cat})
	}
	if err := tenants[0].pool.QueryRow(ctx, "SHOW server_version").Scan(&res.postgres); err != nil {
		return res, err
	}
	restore := func() error {
		for _, t := range tenants {
			for _, sql := range []string{"TRUNCATE bench.employees", "INSERT INTO bench.employees SELECT * FROM bench.employees_orig",
				"TRUNCATE lethe.pseudonymized_rows", "VACUUM ANALYZE bench.employees"} {
				if _, err := t.pool.Exec(ctx, sql); err != nil {
					return err
				}
			}
			if err := srv.Exec(ctx, t.db.Name, "CHECKPOINT"); err != nil {
				return err
			}
		}
		return nil
	}
	p := retention.Pseudonyms{Key: pseudonymKey, Identifier: "employee_id"}
	job := privacyv1alpha1.RetentionRule{Name: "employee", Entity: "employee"}

	benchutil.Progress("pseudonymization %d: set-based HMAC UPDATE", runNo)
	if err := restore(); err != nil {
		return res, err
	}
	ent := pseudonymizationInventory.Entities[0]
	for _, t := range tenants {
		var cols []masking.Assignment
		for _, pcol := range ent.PersonalColumns {
			for _, c := range t.cat.Tables["bench.employees"].Columns {
				if c.Name == pcol.Column {
					cols = append(cols, masking.Assignment{Column: c, Strategy: pcol.Strategy})
				}
			}
		}
		args := &masking.Args{}
		sql, err := masking.UpdateSetSQL("bench.employees", cols, []string{"id"},
			masking.Keys{PerRow: true, HashKey: pseudonymKey, Identifier: "employee_id"}, args)
		if err != nil {
			return res, err
		}
		start := time.Now()
		if _, err := t.pool.Exec(ctx, sql, args.Values()...); err != nil {
			return res, fmt.Errorf("set-based UPDATE: %w", err)
		}
		res.set += time.Since(start)
	}

	benchutil.Progress("pseudonymization %d: executor", runNo)
	if err := restore(); err != nil {
		return res, err
	}
	execute := func(id string) (time.Duration, int64, error) {
		var took time.Duration
		var changed int64
		for _, t := range tenants {
			rule, err := retention.CompileJob(job, &pseudonymizationInventory, t.cat, nil, p)
			if err != nil {
				return 0, 0, err
			}
			run := &ruleRun{
				run: engine.Run{UID: fmt.Sprintf("bench-%d-%s", runNo, id), Kind: engine.KindJob, Type: "Pseudonymization", Actor: "bench",
					Object: audit.Object{Kind: "PseudonymizationJob", Namespace: "bench", Name: "bench", UID: "bench"}},
				opts: engine.Options{BatchSize: pc.batch, Workers: 2, LockTimeout: 5 * time.Second, StatementTimeout: 5 * time.Minute, MaxRetries: 1},
				env:  retention.Env{PolicyUID: "bench", Now: time.Now()},
			}
			start := time.Now()
			pr, err := stepUntilDone(ctx, t.pool, run, rule)
			if err != nil {
				return 0, 0, err
			}
			took += time.Since(start)
			changed += pr.Changed
		}
		return took, changed, nil
	}
	if res.exec, res.changed, err = execute("job"); err != nil {
		return res, err
	}
	if _, res.secondChanged, err = execute("again"); err != nil {
		return res, err
	}
	// The same employee ids must have the same pseudonyms in both tenants.
	rows, err := tenants[1].pool.Query(ctx, "SELECT id, employee_id, first_name, last_name, user_name, email FROM bench.employees")
	if err != nil {
		return res, err
	}
	other := map[int64]string{}
	for rows.Next() {
		var id int64
		var a, b, c, d, e string
		if err := rows.Scan(&id, &a, &b, &c, &d, &e); err != nil {
			return res, err
		}
		other[id] = a + b + c + d + e
	}
	if err := rows.Err(); err != nil {
		return res, err
	}
	rows, err = tenants[0].pool.Query(ctx, "SELECT id, employee_id, first_name, last_name, user_name, email FROM bench.employees")
	if err != nil {
		return res, err
	}
	for rows.Next() {
		var id int64
		var a, b, c, d, e string
		if err := rows.Scan(&id, &a, &b, &c, &d, &e); err != nil {
			return res, err
		}
		if other[id] == a+b+c+d+e {
			res.equal++
		}
	}
	return res, rows.Err()
}
