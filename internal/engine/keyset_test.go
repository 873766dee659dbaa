package engine

import (
	"context"
	"testing"
	"time"

	"github.com/lethe-dev/lethe/internal/audit"
	"github.com/lethe-dev/lethe/internal/masking"
	"github.com/lethe-dev/lethe/internal/tenantdb"
	"github.com/lethe-dev/lethe/internal/testutil/pgtest"
	"github.com/lethe-dev/lethe/internal/testutil/testdb"
)

// A keyset batch updates the rows it selected through the row versions it
// read (on a partitioned table, partition by partition). A row another
// transaction updates in between (here while the batch waits for its lock)
// has a new version: the batch must still change it, keep the other
// transaction's change, and record it once.
func TestAKeysetBatchChangesARowAnotherTransactionUpdatedMeanwhile(t *testing.T) {
	for name, ddl := range map[string]string{
		"table": `CREATE TABLE public.people (id int PRIMARY KEY, name text NOT NULL, note text)`,
		"partitioned table": `CREATE TABLE public.people (id int PRIMARY KEY, name text NOT NULL, note text) PARTITION BY RANGE (id);
			CREATE TABLE public.people_low PARTITION OF public.people FOR VALUES FROM (1) TO (11);
			CREATE TABLE public.people_high PARTITION OF public.people FOR VALUES FROM (11) TO (100)`,
	} {
		t.Run(name, func(t *testing.T) { changesARowUpdatedMeanwhile(t, ddl) })
	}
}

func changesARowUpdatedMeanwhile(t *testing.T, ddl string) {
	ctx := context.Background()
	pool, db := testdb.New(t, 3)
	if _, err := pool.Exec(ctx, ddl+`;
		INSERT INTO public.people SELECT i, 'person ' || i, NULL FROM generate_series(1, 20) i`); err != nil {
		t.Fatal(err)
	}
	cat, err := tenantdb.ReadCatalog(ctx, pool)
	if err != nil {
		t.Fatal(err)
	}
	people, err := NewTarget(cat.Tables["public.people"], nil)
	if err != nil {
		t.Fatal(err)
	}
	step := &Step{Name: "mask", Entity: "person", Target: people, Action: "Anonymize",
		Where: func(*masking.Args, *time.Time) (string, error) { return "lethe_row.name <> 'masked'", nil },
		Set: func(*masking.Args, string) (string, error) {
			return "UPDATE public.people AS lethe_row SET name = 'masked'", nil
		}}

	app, err := pgtest.Shared().AppConn(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = app.Close(ctx) }()
	tx, err := app.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback(ctx) }()
	if _, err := tx.Exec(ctx, "UPDATE public.people SET note = 'kept' WHERE id = 7"); err != nil {
		t.Fatal(err)
	}

	type result struct {
		p   *Progress
		err error
	}
	done := make(chan result, 1)
	run := &Run{UID: "run-concurrent", Kind: KindPolicy, Type: "Retention", Actor: "tester", Object: audit.Object{Kind: "Test", UID: "pol"}}
	go func() {
		p, err := Advance(ctx, pool, run, step, Options{BatchSize: 50, LockTimeout: time.Minute}, time.Now().Add(time.Minute))
		done <- result{p, err}
	}()
	// The batch selected row 7 and waits for the application's lock on it.
	for waiting := int64(0); waiting == 0; {
		select {
		case r := <-done:
			t.Fatalf("the run ended before it met the locked row: %+v, %v", r.p, r.err)
		case <-time.After(20 * time.Millisecond):
		}
		waiting = count(t, pool, "SELECT count(*) FROM pg_catalog.pg_stat_activity WHERE datname = $1 AND wait_event_type = 'Lock'", db.Name)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	r := <-done
	if r.err != nil {
		t.Fatal(r.err)
	}
	if !r.p.Done || r.p.Changed != 20 {
		t.Fatalf("progress %+v; want done with the 20 rows changed", r.p)
	}
	if n := count(t, pool, "SELECT count(*) FROM public.people WHERE id = 7 AND name = 'masked' AND note = 'kept'"); n != 1 {
		t.Fatal("row 7 lost the other transaction's change or was not masked")
	}
	if n := count(t, pool, "SELECT count(*) FROM public.people WHERE name <> 'masked'"); n != 0 {
		t.Fatalf("%d rows were not masked", n)
	}
	if n := count(t, pool, "SELECT count(*) FROM lethe.run_batches b, unnest(b.keys) AS k WHERE b.run_uid = 'run-concurrent' AND k = '7'"); n != 1 {
		t.Fatalf("the ledger records row 7 %d times; want once", n)
	}
	if n := count(t, pool, "SELECT coalesce(sum(rows_affected), 0)::bigint FROM lethe.audit_log WHERE object_uid = 'pol'"); n != 20 {
		t.Fatalf("the audit log records %d rows; want 20", n)
	}
}

// A partitioned table's batch updates the partitions the catalog listed
// when the step was made: rows of a partition created since are changed
// too (the batch is done again by key).
func TestAKeysetBatchChangesRowsOfAPartitionCreatedSince(t *testing.T) {
	ctx := context.Background()
	pool, _ := testdb.New(t, 3)
	if _, err := pool.Exec(ctx, `CREATE TABLE public.people (id int PRIMARY KEY, name text NOT NULL) PARTITION BY RANGE (id);
		CREATE TABLE public.people_low PARTITION OF public.people FOR VALUES FROM (1) TO (11);
		INSERT INTO public.people SELECT i, 'person ' || i FROM generate_series(1, 10) i`); err != nil {
		t.Fatal(err)
	}
	cat, err := tenantdb.ReadCatalog(ctx, pool)
	if err != nil {
		t.Fatal(err)
	}
	people, err := NewTarget(cat.Tables["public.people"], nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `CREATE TABLE public.people_high PARTITION OF public.people FOR VALUES FROM (11) TO (100);
		INSERT INTO public.people SELECT i, 'person ' || i FROM generate_series(11, 20) i`); err != nil {
		t.Fatal(err)
	}
	step := &Step{Name: "mask", Entity: "person", Target: people, Action: "Anonymize",
		Where: func(*masking.Args, *time.Time) (string, error) { return "lethe_row.name <> 'masked'", nil },
		Set: func(*masking.Args, string) (string, error) {
			return "UPDATE public.people AS lethe_row SET name = 'masked'", nil
		}}
	run := &Run{UID: "run-new-partition", Kind: KindPolicy, Type: "Retention", Actor: "tester", Object: audit.Object{Kind: "Test", UID: "pol"}}
	p, err := Advance(ctx, pool, run, step, Options{BatchSize: 50}, time.Now().Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if !p.Done || p.Changed != 20 {
		t.Fatalf("progress %+v; want done with the 20 rows changed", p)
	}
	if n := count(t, pool, "SELECT count(*) FROM public.people WHERE name <> 'masked'"); n != 0 {
		t.Fatalf("%d rows were not masked", n)
	}
}
