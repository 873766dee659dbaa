package engine

import (
	"context"
	"testing"
	"time"

	"github.com/lethe-dev/lethe/internal/audit"
	"github.com/lethe-dev/lethe/internal/masking"
	"github.com/lethe-dev/lethe/internal/tenantdb"
	"github.com/lethe-dev/lethe/internal/testutil/testdb"
)

// A table keyed by time holds the rows a rule selects at the start of its
// key range: the two workers must share them, not the key range.
func TestWorkersShareTheRowsAStepMatches(t *testing.T) {
	ctx := context.Background()
	pool, _ := testdb.New(t, 3)
	if _, err := pool.Exec(ctx, `CREATE TABLE public.events (at timestamptz PRIMARY KEY, v int NOT NULL);
		INSERT INTO public.events SELECT timestamptz '2025-01-01 00:00+00' + i * interval '1 hour', 0 FROM generate_series(1, 2000) i;
		ANALYZE public.events`); err != nil {
		t.Fatal(err)
	}
	cat, err := tenantdb.ReadCatalog(ctx, pool)
	if err != nil {
		t.Fatal(err)
	}
	events, err := NewTarget(cat.Tables["public.events"], nil)
	if err != nil {
		t.Fatal(err)
	}
	// The first 600 hours match.
	step := &Step{Name: "old", Entity: "event", Target: events, Action: "Anonymize",
		Where: func(*masking.Args, *time.Time) (string, error) {
			return "lethe_row.at <= timestamptz '2025-01-01 00:00+00' + interval '600 hours' AND lethe_row.v = 0", nil
		},
		Set: func(*masking.Args, string) (string, error) { return "UPDATE public.events AS lethe_row SET v = 1", nil }}
	run := &Run{UID: "run-split", Kind: KindPolicy, Type: "Retention", Actor: "tester", Object: audit.Object{Kind: "Test", UID: "pol"}}
	p, err := Advance(ctx, pool, run, step, Options{BatchSize: 50, Workers: 2}, time.Now().Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if !p.Done || p.Changed != 600 {
		t.Fatalf("progress %+v; want done with the 600 matching rows changed", p)
	}
	rows, err := pool.Query(ctx, "SELECT matched FROM lethe.run_steps WHERE run_uid = 'run-split' ORDER BY part")
	if err != nil {
		t.Fatal(err)
	}
	var parts []int64
	for rows.Next() {
		var n int64
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		parts = append(parts, n)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if len(parts) != 2 {
		t.Fatalf("%d parts; want 2", len(parts))
	}
	for i, n := range parts {
		if n < 200 || n > 400 {
			t.Fatalf("part %d took %d of the 600 rows (parts %v); want about half each", i, n, parts)
		}
	}
}
