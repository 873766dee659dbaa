package main

// The dsr scenario's engine figure on a partitioned table: internal/dsr's
// erasure on the Edge schema (internal/testutil/schemas) scaled up, whose
// payments are keyed by (paid_at, id) and partitioned by month, and whose
// foreign-key columns are indexed.

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"runtime"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	privacyv1alpha1 "github.com/lethe-dev/lethe/api/v1alpha1"
	"github.com/lethe-dev/lethe/hack/internal/benchutil"
	"github.com/lethe-dev/lethe/internal/audit"
	"github.com/lethe-dev/lethe/internal/dsr"
	"github.com/lethe-dev/lethe/internal/engine"
	"github.com/lethe-dev/lethe/internal/tenantdb"
	"github.com/lethe-dev/lethe/internal/testutil/schemas"
)

// edgeResult is the figure's runs and the database they ran on.
type edgeResult struct {
	runs       [][]float64 // erasure times (ms) by run
	found      int64       // rows found and changed, all runs
	changed    int64
	payments   int64
	rows       int64 // rows in the schema's tables
	tables     int
	partitions int
	loadTime   time.Duration
	settleTime time.Duration
	trace      *sqlTracer
}

// edgeSlots is how many members each sample position provides: one per run
// and one for the warm-up.
func edgeSlots(runs int) int { return runs + 1 }

// edgeMember is the member of sample i in a slot, spread over the members.
func edgeMember(cfg dsrConfig, slot, i int) int {
	block := cfg.edgeMembers / cfg.samples
	return i*block + slot*(block/edgeSlots(cfg.runs)) + 1
}

// runEdgeEngine times dsr.Execute(Erasure) on the Edge schema with
// cfg.edgeMembers members and cfg.edgePayments payments per account.
func runEdgeEngine(ctx context.Context, cfg dsrConfig) (res edgeResult, err error) {
	local, err := startPostgres("dsr edge", cfg.keep)
	if err != nil {
		return res, err
	}
	defer local.stop(&err)
	db, err := local.srv.CreateDatabase(ctx, "edge")
	if err != nil {
		return res, err
	}
	benchutil.Progress("dsr edge: loading the Edge schema with %d members, %d payments per account", cfg.edgeMembers, cfg.edgePayments)
	start := time.Now()
	conn, err := local.srv.AppConn(ctx, db)
	if err != nil {
		return res, err
	}
	err = schemas.Load(ctx, conn, schemas.Edge, schemas.Options{Members: cfg.edgeMembers, PaymentsPerAccount: cfg.edgePayments})
	_ = conn.Close(context.Background())
	if err != nil {
		return res, err
	}
	res.loadTime = time.Since(start)
	runtime.GC()
	start = time.Now()
	for _, sql := range []string{"VACUUM (ANALYZE)", "CHECKPOINT"} {
		if err := local.srv.Exec(ctx, db.Name, sql); err != nil {
			return res, fmt.Errorf("%s: %w", sql, err)
		}
	}
	res.settleTime = time.Since(start)
	benchutil.Progress("dsr edge: loaded in %.1fs, vacuumed and checkpointed in %.1fs", res.loadTime.Seconds(), res.settleTime.Seconds())

	pcfg, err := tenantdb.ParseSecret(db.SecretData(), poolConns)
	if err != nil {
		return res, err
	}
	res.trace = newSQLTracer()
	pcfg.Pool.ConnConfig.Tracer = res.trace
	pool, err := local.pools.Get(ctx, "bench/edge", pcfg)
	if err != nil {
		return res, err
	}
	if _, _, err := tenantdb.Migrate(ctx, pool); err != nil {
		return res, err
	}
	if err := edgeCounts(ctx, pool, &res); err != nil {
		return res, err
	}
	spec, err := schemas.Inventory(schemas.Edge)
	if err != nil {
		return res, err
	}
	salt := make([]byte, 32)
	if _, err := rand.Read(salt); err != nil {
		return res, err
	}
	erase := func(uid string, member int) (time.Duration, int64, int64, error) {
		ids := map[string]string{"email": schemas.MemberEmail(member)}
		in := &dsr.Input{
			Run: engine.Run{UID: uid, Type: string(privacyv1alpha1.RequestErasure), SubjectType: "member",
				SubjectDigest: dsr.Digest(salt, "member", ids), Actor: benchActor,
				Object: audit.Object{Kind: "DataSubjectRequest", Namespace: namespace, Name: uid, UID: uid}, Clock: time.Now},
			Type: privacyv1alpha1.RequestErasure, Tenant: "edge", Inventory: spec, Identifiers: ids,
			Method: privacyv1alpha1.ErasureAnonymize, Salt: salt,
		}
		start := time.Now()
		out, err := dsr.Execute(ctx, pool, in)
		if err != nil {
			return 0, 0, 0, err
		}
		d := time.Since(start)
		var found, changed, members int64
		for _, e := range out.Entities {
			found += e.Found
			changed += e.Changed
			if e.Entity == "member" {
				members = e.Found
			}
		}
		if members != 1 {
			return 0, 0, 0, fmt.Errorf("erasure found %d members, want 1", members)
		}
		if changed == 0 {
			return 0, 0, 0, errors.New("erasure changed no row")
		}
		return d, found, changed, nil
	}
	for i := range min(warmups, cfg.samples) {
		if _, _, _, err := erase(fmt.Sprintf("edge-warmup-%d", i), edgeMember(cfg, edgeSlots(cfg.runs)-1, i)); err != nil {
			return res, fmt.Errorf("warm-up: %w", err)
		}
	}
	for run := 1; run <= cfg.runs; run++ {
		var times []float64
		res.trace.setLabel("edge erasure")
		for i := range cfg.samples {
			d, found, changed, err := erase(fmt.Sprintf("edge-run%d-%d", run, i), edgeMember(cfg, run-1, i))
			if err != nil {
				return res, fmt.Errorf("run %d, erasure %d: %w", run, i, err)
			}
			times = append(times, benchutil.Ms(d))
			res.found, res.changed = res.found+found, res.changed+changed
		}
		res.trace.setLabel("")
		res.runs = append(res.runs, times)
		benchutil.Progress("dsr edge run %d/%d: engine erasure p50 %.2f ms p99 %.2f ms", run, cfg.runs,
			benchutil.Percentile(times, 50), benchutil.Percentile(times, 99))
	}
	return res, nil
}

// edgeCounts reads the size of the loaded schema.
func edgeCounts(ctx context.Context, pool *pgxpool.Pool, res *edgeResult) error {
	if err := pool.QueryRow(ctx, "SELECT count(*) FROM edge.payments").Scan(&res.payments); err != nil {
		return err
	}
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM pg_catalog.pg_inherits
		WHERE inhparent = 'edge.payments'::pg_catalog.regclass`).Scan(&res.partitions); err != nil {
		return err
	}
	cat, err := tenantdb.ReadCatalog(ctx, pool)
	if err != nil {
		return err
	}
	for name, t := range cat.Tables {
		if t.Schema != "edge" {
			continue
		}
		var n int64
		if err := pool.QueryRow(ctx, "SELECT count(*) FROM "+t.Ident()).Scan(&n); err != nil { // #nosec G202 -- a table of the catalog, quoted
			return fmt.Errorf("%s: %w", name, err)
		}
		res.rows += n
		res.tables++
	}
	return nil
}

// writeEdgeFigure writes the figure.
func writeEdgeFigure(rep *benchutil.Report, cfg dsrConfig, res edgeResult) {
	w := rep.Printf
	w("\nEngine on a partitioned table: internal/dsr.Execute(Erasure) on the Edge schema scaled up\n\n")
	w("database:    Edge schema (internal/testutil/schemas, its hand-written DataInventory), %d members,\n", cfg.edgeMembers)
	w("             %d payments per account: %d payments keyed by (paid_at, id) in %d monthly partitions,\n", cfg.edgePayments, res.payments, res.partitions)
	w("             %d rows in %d tables (loaded in %.0f s, then vacuumed and checkpointed in %.0f s); every\n", res.rows, res.tables,
		res.loadTime.Seconds(), res.settleTime.Seconds())
	w("             foreign-key column indexed (payments by account_code, refunds by (paid_at, payment_id)...);\n")
	w("             one pool of %d connections, one request at a time\n", poolConns)
	w("subjects:    %d members per run, spread over the members, every run new ones; %d warm-up requests\n", cfg.samples, min(warmups, cfg.samples))
	w("erasure:     as on the sample schema (method Anonymize), through the member's accounts to their\n")
	w("             payments and refunds, and every other entity of the member\n\n")
	t := rep.TargetTable(34)
	n := len(res.runs)
	p50, p99 := make([]float64, n), make([]float64, n)
	for i, r := range res.runs {
		p50[i], p99[i] = benchutil.Percentile(r, 50), benchutil.Percentile(r, 99)
	}
	t.Info("engine erasure p50 (ms)", p50)
	t.AtMost("engine erasure p99 (ms)", p99, benchutil.Ms(targetErasureP99), "ms")
	measured := float64(cfg.samples * n)
	w("\nper subject (mean): erasure found %.1f rows and changed %.1f\n", float64(res.found)/measured, float64(res.changed)/measured)
	w("per run (p50 / p99 / max, ms):\n")
	var wall float64
	for i, r := range res.runs {
		w("  run %d: engine erasure %.2f / %.2f / %.2f\n", i+1, benchutil.Percentile(r, 50), benchutil.Percentile(r, 99), benchutil.Percentile(r, 100))
		for _, v := range r {
			wall += v
		}
	}
	if res.trace != nil && wall > 0 {
		w("where the engine time goes (all runs):\n")
		w("  engine erasure, %.2f ms per request on average:\n", wall/measured)
		for _, l := range res.trace.breakdown("edge erasure", cfg.samples*n, wall) {
			w("    %s\n", l)
		}
	}
}
