package main

// The dsr scenario's engine figures: internal/dsr.Execute on one large
// tenant database, without Kubernetes.

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
	"github.com/lethe-dev/lethe/internal/export"
	"github.com/lethe-dev/lethe/internal/tenantdb"
	"github.com/lethe-dev/lethe/internal/testutil/sampleapp"
)

// engineRun is one run of the engine figures, in milliseconds.
type engineRun struct {
	access, erasure []float64
	verify          []float64
	// rows exported per access, found and changed per erasure (sums).
	exported, found, changed int64
	unverified               int
}

// engineResult is every engine run plus the database it ran on.
type engineResult struct {
	runs     []engineRun
	rows     int64 // rows in the application's tables
	tables   int
	loadTime time.Duration
	// settleTime is how long the vacuum and checkpoint after the load took.
	settleTime time.Duration
	postgres   string
	trace      *sqlTracer
	// roundTrip is the median time of `SELECT 1` on the pool, in ms.
	roundTrip float64
}

// runEngine measures dsr.Execute on one database with the sample
// application at cfg.subjects customers.
func runEngine(ctx context.Context, cfg dsrConfig, spec *privacyv1alpha1.DataInventorySpec) (res engineResult, err error) {
	local, err := startPostgres("dsr engine", cfg.keep)
	if err != nil {
		return res, err
	}
	defer local.stop(&err)
	srv, pools := local.srv, local.pools
	db, err := srv.CreateDatabase(ctx, "acme")
	if err != nil {
		return res, err
	}
	benchutil.Progress("dsr engine: loading the sample application with %d customers", cfg.subjects)
	start := time.Now()
	conn, err := srv.AppConn(ctx, db)
	if err != nil {
		return res, err
	}
	err = sampleapp.Load(ctx, conn, sampleapp.Options{Tenant: "acme", Seed: 1, Customers: cfg.subjects})
	_ = conn.Close(context.Background())
	if err != nil {
		return res, err
	}
	res.loadTime = time.Since(start)
	runtime.GC() // the generated rows are garbage now
	benchutil.Progress("dsr engine: loaded in %.1fs", res.loadTime.Seconds())
	// A tenant database in service has been vacuumed and checkpointed since
	// its rows were written; without this, autovacuum's first pass over the
	// millions of new rows and the checkpoint after the load run beside the
	// measured requests.
	start = time.Now()
	for _, sql := range []string{"VACUUM (ANALYZE)", "CHECKPOINT"} {
		if err := srv.Exec(ctx, db.Name, sql); err != nil {
			return res, fmt.Errorf("%s: %w", sql, err)
		}
	}
	res.settleTime = time.Since(start)
	benchutil.Progress("dsr engine: vacuumed and checkpointed in %.1fs", res.settleTime.Seconds())

	pcfg, err := tenantdb.ParseSecret(db.SecretData(), poolConns)
	if err != nil {
		return res, err
	}
	res.trace = newSQLTracer()
	pcfg.Pool.ConnConfig.Tracer = res.trace
	pool, err := pools.Get(ctx, "bench/acme", pcfg)
	if err != nil {
		return res, err
	}
	if _, _, err := tenantdb.Migrate(ctx, pool); err != nil {
		return res, err
	}
	if err := pool.QueryRow(ctx, "SHOW server_version").Scan(&res.postgres); err != nil {
		return res, err
	}
	for _, t := range sampleapp.Tables() {
		var n int64
		if err := pool.QueryRow(ctx, "SELECT count(*) FROM "+t).Scan(&n); err != nil { // #nosec G202 -- a fixed table name
			return res, err
		}
		res.rows += n
		res.tables++
	}

	salt := make([]byte, 32)
	if _, err := rand.Read(salt); err != nil {
		return res, err
	}
	b := &engineBench{pool: pool, spec: spec, salt: salt}

	// Warm-up: connections opened, statements prepared, caches filled.
	for i := range min(warmups, cfg.samples) {
		email, err := b.email(ctx, customerID(cfg, slots(cfg.runs)-1, i))
		if err != nil {
			return res, err
		}
		if i%2 == 0 {
			_, _, err = b.access(ctx, fmt.Sprintf("warmup-%d", i), email)
		} else {
			_, _, _, err = b.erase(ctx, fmt.Sprintf("warmup-%d", i), email)
		}
		if err != nil {
			return res, fmt.Errorf("warm-up: %w", err)
		}
	}

	// The floor under every statement: one round trip to the server.
	var trips []float64
	for range 200 {
		start := time.Now()
		if _, err := pool.Exec(ctx, "SELECT 1"); err != nil {
			return res, err
		}
		trips = append(trips, benchutil.Ms(time.Since(start)))
	}
	res.roundTrip = benchutil.Percentile(trips, 50)

	for run := 1; run <= cfg.runs; run++ {
		r := engineRun{}
		var erased []string
		for i := range cfg.samples {
			accessEmail, err := b.email(ctx, customerID(cfg, 2*(run-1), i))
			if err != nil {
				return res, err
			}
			eraseEmail, err := b.email(ctx, customerID(cfg, 2*(run-1)+1, i))
			if err != nil {
				return res, err
			}
			res.trace.setLabel("access")
			d, rows, err := b.access(ctx, fmt.Sprintf("run%d-access-%d", run, i), accessEmail)
			if err != nil {
				return res, fmt.Errorf("run %d, access %d: %w", run, i, err)
			}
			r.access, r.exported = append(r.access, benchutil.Ms(d)), r.exported+rows
			res.trace.setLabel("erasure")
			d, found, changed, err := b.erase(ctx, fmt.Sprintf("run%d-erasure-%d", run, i), eraseEmail)
			res.trace.setLabel("")
			if err != nil {
				return res, fmt.Errorf("run %d, erasure %d: %w", run, i, err)
			}
			r.erasure, r.found, r.changed = append(r.erasure, benchutil.Ms(d)), r.found+found, r.changed+changed
			erased = append(erased, eraseEmail)
		}
		// The verification re-scans read every inventory table: they run
		// after the timed requests, so they do not disturb them.
		for _, email := range erased[:cfg.verifySamples] {
			start := time.Now()
			remaining, err := dsr.Verify(ctx, pool, spec, map[string]string{"email": email})
			if err != nil {
				return res, fmt.Errorf("run %d, verification: %w", run, err)
			}
			r.verify = append(r.verify, benchutil.Ms(time.Since(start)))
			if len(remaining) > 0 {
				r.unverified++
			}
		}
		res.runs = append(res.runs, r)
		benchutil.Progress("dsr engine run %d/%d: access export p50 %.2f ms p99 %.2f ms; engine erasure p50 %.2f ms p99 %.2f ms; verification scan p50 %.0f ms",
			run, cfg.runs, benchutil.Percentile(r.access, 50), benchutil.Percentile(r.access, 99), benchutil.Percentile(r.erasure, 50),
			benchutil.Percentile(r.erasure, 99), benchutil.Percentile(r.verify, 50))
	}
	return res, nil
}

// engineBench runs requests against one tenant database the way the
// DataSubjectRequest controller does for one target.
type engineBench struct {
	pool *pgxpool.Pool
	spec *privacyv1alpha1.DataInventorySpec
	salt []byte
}

func (b *engineBench) email(ctx context.Context, id int64) (string, error) {
	var email string
	if err := b.pool.QueryRow(ctx, "SELECT email FROM app.customers WHERE id = $1", id).Scan(&email); err != nil {
		return "", fmt.Errorf("customer %d: %w", id, err)
	}
	return email, nil
}

// input is the controller's dsr.Input for a request about the customer.
func (b *engineBench) input(uid string, typ privacyv1alpha1.RequestType, email string) *dsr.Input {
	ids := map[string]string{"email": email}
	return &dsr.Input{
		Run: engine.Run{
			UID: uid, Type: string(typ), SubjectType: subjectType,
			SubjectDigest: dsr.Digest(b.salt, subjectType, ids), Actor: benchActor,
			Object: audit.Object{Kind: "DataSubjectRequest", Namespace: namespace, Name: uid, UID: uid},
			Clock:  time.Now,
		},
		Type: typ, Tenant: "acme", Inventory: b.spec, Identifiers: ids,
		Method: privacyv1alpha1.ErasureAnonymize, Salt: b.salt,
	}
}

// access times an Access request and the package built from its rows.
func (b *engineBench) access(ctx context.Context, uid, email string) (time.Duration, int64, error) {
	in := b.input(uid, privacyv1alpha1.RequestAccess, email)
	start := time.Now()
	out, err := dsr.Execute(ctx, b.pool, in)
	if err != nil {
		return 0, 0, err
	}
	if _, _, err := export.Build(in.Run.SubjectDigest, time.Now(), out.Export); err != nil {
		return 0, 0, err
	}
	d := time.Since(start)
	if n := customers(out); n != 1 {
		return 0, 0, fmt.Errorf("access found %d customers, want 1", n)
	}
	var rows int64
	for _, t := range out.Export {
		rows += int64(len(t.Rows))
	}
	return d, rows, nil
}

// customers is how many rows of the subject's root entity a request found.
func customers(out *dsr.Outcome) int64 {
	for _, e := range out.Entities {
		if e.Entity == "customer" {
			return e.Found
		}
	}
	return 0
}

// erase times an Erasure request, without the verification re-scan.
func (b *engineBench) erase(ctx context.Context, uid, email string) (d time.Duration, found, changed int64, err error) {
	in := b.input(uid, privacyv1alpha1.RequestErasure, email)
	start := time.Now()
	out, err := dsr.Execute(ctx, b.pool, in)
	if err != nil {
		return 0, 0, 0, err
	}
	d = time.Since(start)
	if n := customers(out); n != 1 {
		return 0, 0, 0, fmt.Errorf("erasure found %d customers, want 1", n)
	}
	for _, e := range out.Entities {
		found += e.Found
		changed += e.Changed
	}
	if changed == 0 {
		return 0, 0, 0, errors.New("erasure changed no row")
	}
	return d, found, changed, nil
}
