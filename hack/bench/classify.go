package main

// The classify scenario: internal/classify's content sampler on one large
// table of personal columns.

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/lethe-dev/lethe/hack/internal/benchutil"
	"github.com/lethe-dev/lethe/hack/localenv"
	"github.com/lethe-dev/lethe/internal/classify"
	"github.com/lethe-dev/lethe/internal/tenantdb"
)

type classifyConfig struct {
	rows   int
	sample int
}

func (c *classifyConfig) validate(config) error {
	if c.rows < 1000 {
		return errors.New("-classify-rows must be at least 1000")
	}
	if c.sample < 1 || c.sample > classify.MaxSampleRows {
		return fmt.Errorf("-classify-sample must be 1 to %d", classify.MaxSampleRows)
	}
	return nil
}

// classifyRun is one run's figures.
type classifyRun struct {
	took, catalog, fullScan time.Duration
	sampled                 int64
	findings                []classify.Finding
	sampleErr               string
}

// The bench table: every column but the key and the date is personal; the
// check digits of the personnummer and IBANs are valid.
const classifyDDL = `CREATE SCHEMA bench;
CREATE TABLE bench.people (
    id           bigint PRIMARY KEY,
    email        text NOT NULL,
    full_name    text NOT NULL,
    phone        text,
    iban         text,
    personnummer text,
    last_ip      inet,
    note         text,
    avatar       bytea,
    created_at   timestamptz NOT NULL
)`

const classifyLoad = `INSERT INTO bench.people
SELECT i, 'person' || i || '@example.org',
       (ARRAY['Anna','Bo','Chloé','Dagny','Emil','Fatima'])[1 + i % 6] || ' ' ||
       (ARRAY['Berg','Dubois','García','Fischer','Holm'])[1 + (i / 6) % 5],
       '+46 70 ' || lpad((i % 10000000)::text, 7, '0'),
       ($2::text[])[1 + i % pg_catalog.cardinality($2::text[])],
       ($3::text[])[1 + i % pg_catalog.cardinality($3::text[])],
       ('10.' || (i % 256) || '.' || ((i / 256) % 256) || '.' || (1 + i % 250))::inet,
       'Called back about order ' || i || ', asked for a refund.',
       decode('89504e470d0a1a0a' || md5(i::text), 'hex'),
       timestamptz '2025-01-01 00:00+00' + (i % 10000) * interval '1 hour'
FROM generate_series(1, $1::bigint) AS i`

// benchIBANs are valid IBANs (the examples of their national formats).
var benchIBANs = []string{"GB82 WEST 1234 5698 7654 32", "DE89370400440532013000", "FR1420041010050500013M02606",
	"SE4550000000058398257466", "ES9121000418450200051332"}

// benchPersonnummer are personnummer with valid check digits.
func benchPersonnummer() []string {
	var out []string
	for _, p := range []string{"811218987", "900101123", "051231123", "460228123", "770707777"} {
		out = append(out, p[:6]+"-"+p[6:]+luhnDigit(p))
	}
	return out
}

// luhnDigit is the check digit that makes digits pass the Luhn check.
func luhnDigit(digits string) string {
	sum := 0
	for i := range len(digits) {
		d := int(digits[len(digits)-1-i] - '0')
		if i%2 == 0 {
			if d *= 2; d > 9 {
				d -= 9
			}
		}
		sum += d
	}
	return strconv.Itoa((10 - sum%10) % 10)
}

func runClassifyScenario(ctx context.Context, cfg config, cc *classifyConfig) {
	started := time.Now()
	load := benchutil.LoadAverage()
	local, err := startPostgres("classify", cfg.keep)
	if err != nil {
		benchutil.Fatalf("classify: %v", err)
	}
	var (
		pool             *pgxpool.Pool
		postgres         string
		loadTime         time.Duration
		cat              *tenantdb.Catalog
		runs             []classifyRun
		estimate, actual int64
	)
	err = func() (err error) {
		defer local.stop(&err)
		db, err := local.srv.CreateDatabase(ctx, "bench")
		if err != nil {
			return err
		}
		pcfg, err := tenantdb.ParseSecret(db.SecretData(), 4)
		if err != nil {
			return err
		}
		if pool, err = local.pools.Get(ctx, "bench", pcfg); err != nil {
			return err
		}
		if err := pool.QueryRow(ctx, "SHOW server_version").Scan(&postgres); err != nil {
			return err
		}
		benchutil.Progress("classify: loading %d rows", cc.rows)
		start := time.Now()
		if _, err := pool.Exec(ctx, classifyDDL); err != nil {
			return fmt.Errorf("load: %w", err)
		}
		if _, err := pool.Exec(ctx, classifyLoad, cc.rows, benchIBANs, benchPersonnummer()); err != nil {
			return fmt.Errorf("load: %w", err)
		}
		if _, err := pool.Exec(ctx, "VACUUM ANALYZE bench.people"); err != nil {
			return fmt.Errorf("load: %w", err)
		}
		loadTime = time.Since(start)
		if err := pool.QueryRow(ctx, "SELECT count(*) FROM bench.people").Scan(&actual); err != nil {
			return err
		}
		runs, _ = benchutil.Repeat("classify", cfg.runs, fmt.Sprintf("sampling a table of %d rows", cc.rows), func(int) (classifyRun, localenv.Versions, error) {
			r, c, err := measureClassify(ctx, pool, cc)
			cat = c
			return r, localenv.Versions{}, err
		}, func(r classifyRun) string {
			return fmt.Sprintf("%.3f s, %d rows sampled, %d columns found", r.took.Seconds(), r.sampled, len(r.findings))
		})
		estimate = cat.Tables["bench.people"].Rows
		return nil
	}()
	if err != nil {
		benchutil.Fatalf("classify: %v", err)
	}

	rep := benchutil.NewReport("classify", started)
	rep.Printf("load:        1-minute load average %s at the start, %s at the end (other work on the machine\n", load, benchutil.LoadAverage())
	rep.Printf("             shares its cores with the benchmark)\n")
	rep.Printf("go:          %s\n", runtime.Version())
	rep.Printf("postgresql:  %s (local, default durability settings)\n", postgres)
	rep.Printf("runs:        %d, on the same table in one PostgreSQL (its pages cached after the load)\n\n", cfg.runs)
	rep.Printf("table:       bench.people, %d rows (estimate %d), loaded with generate_series and vacuumed in\n", actual, estimate)
	rep.Printf("             %.1f s: e-mail, full name, phone, IBAN, personnummer, inet, note, a PNG bytea, a\n", loadTime.Seconds())
	rep.Printf("             bigint key and a date\n")
	rep.Printf("sampler:     classify.Classify with SampleRows %d and the default 2 s statement timeout: a\n", cc.sample)
	rep.Printf("             TABLESAMPLE SYSTEM block sample topped up from the first rows, every pattern\n")
	rep.Printf("             counted in SQL, only counts returned; timed from the call to its result\n\n")

	t := rep.TargetTable(44)
	t.Below(fmt.Sprintf("sampler on one %s-row table (s)", rowsLabel(cc.rows)), benchutil.Column(runs, func(r classifyRun) float64 { return r.took.Seconds() }), 2, "s")
	t.Info("rows sampled", benchutil.Column(runs, func(r classifyRun) float64 { return float64(r.sampled) }))
	t.Info("catalog read (s)", benchutil.Column(runs, func(r classifyRun) float64 { return r.catalog.Seconds() }))
	t.Info("full scan, e-mail pattern alone (s)", benchutil.Column(runs, func(r classifyRun) float64 { return r.fullScan.Seconds() }))

	last := runs[len(runs)-1]
	rep.Printf("\nfound (last run):\n")
	for _, f := range last.findings {
		var why []string
		for _, r := range f.Reasons {
			why = append(why, r.Detail)
		}
		rep.Printf("  %-13s %-10s %s\n", f.Column, f.Category, strings.Join(why, "; "))
	}
	if last.sampleErr != "" {
		rep.Printf("  sample error: %s\n", last.sampleErr)
	}
	rep.Printf("\nnotes:\n")
	rep.Printf("  - the target is for a table of 1,000,000 rows (-classify-rows); a block sample reads\n")
	rep.Printf("    about four times SampleRows rows whatever the table's size\n")
	rep.Printf("  - the full scan is one count(*) FILTER (WHERE email ~ pattern) over every row: what\n")
	rep.Printf("    checking every value of one column for one pattern would cost, for comparison\n")
	benchutil.Publish(cfg.out, "classify.txt", rep.String())
}

// rowsLabel writes a row count as 1M, 250k or 5000.
func rowsLabel(n int) string {
	switch {
	case n%1_000_000 == 0:
		return strconv.Itoa(n/1_000_000) + "M"
	case n%1000 == 0:
		return strconv.Itoa(n/1000) + "k"
	}
	return strconv.Itoa(n)
}

func measureClassify(ctx context.Context, pool *pgxpool.Pool, cc *classifyConfig) (classifyRun, *tenantdb.Catalog, error) {
	var r classifyRun
	start := time.Now()
	cat, err := tenantdb.ReadCatalog(ctx, pool)
	if err != nil {
		return r, nil, err
	}
	r.catalog = time.Since(start)
	start = time.Now()
	res, err := classify.Classify(ctx, pool, cat, classify.Options{SampleRows: cc.sample})
	r.took = time.Since(start)
	if err != nil {
		return r, nil, err
	}
	for _, t := range res.Tables {
		if t.Name == "bench.people" {
			r.sampled, r.sampleErr = t.Sampled, t.SampleError
		}
	}
	r.findings = res.Findings
	sort.Slice(r.findings, func(i, j int) bool { return r.findings[i].Column < r.findings[j].Column })
	start = time.Now()
	var n int64
	if err := pool.QueryRow(ctx, `SELECT count(*) FILTER (WHERE email ~ '^[A-Za-z0-9._%+''-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}$') FROM bench.people`).Scan(&n); err != nil {
		return r, nil, err
	}
	r.fullScan = time.Since(start)
	return r, cat, nil
}
