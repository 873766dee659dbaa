package engine

import (
	"context"
	"errors"
	"os"
	"strconv"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/lethe-dev/lethe/internal/audit"
	"github.com/lethe-dev/lethe/internal/masking"
	"github.com/lethe-dev/lethe/internal/tenantdb"
	"github.com/lethe-dev/lethe/internal/testutil/pgtest"
	"github.com/lethe-dev/lethe/internal/testutil/testdb"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// setup returns a migrated database with a table of ten rows whose value
// must stay below 10.
func setup(t *testing.T) *pgxpool.Pool {
	t.Helper()
	ctx := context.Background()
	pool, _ := testdb.New(t, 1)
	if _, err := pool.Exec(ctx, `CREATE TABLE public.items (id int PRIMARY KEY, v int NOT NULL CHECK (v < 10));
		INSERT INTO public.items SELECT i, 0 FROM generate_series(1, 10) i`); err != nil {
		t.Fatal(err)
	}
	return pool
}

func count(t *testing.T, pool *pgxpool.Pool, sql string, args ...any) int64 {
	t.Helper()
	var n int64
	if err := pool.QueryRow(context.Background(), sql, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// items is public.items as the executor addresses it.
func items(t *testing.T, pool *pgxpool.Pool) *Target {
	t.Helper()
	cat, err := tenantdb.ReadCatalog(context.Background(), pool)
	if err != nil {
		t.Fatal(err)
	}
	tg, err := NewTarget(cat.Tables["public.items"], nil)
	if err != nil {
		t.Fatal(err)
	}
	return tg
}

// add is a step that adds to v of the rows with the given keys.
func add(tg *Target, entity string, by int, keys ...string) Step {
	return Step{Entity: entity, Target: tg, Action: "Add", Keys: keys, Set: func(args *masking.Args, _ string) (string, error) {
		return "UPDATE public.items AS lethe_row SET v = v + " + args.Add(by) + "::int", nil
	}}
}

func TestAFailingBatchKeepsTheBatchesBeforeItAndResumesAtIt(t *testing.T) {
	pool := setup(t)
	ctx := context.Background()
	run := &Run{UID: "run-1", Type: "Test", SubjectType: "item", SubjectDigest: "sha256:x", Actor: "tester",
		Object: audit.Object{Kind: "Test", Namespace: "ns", Name: "run-1", UID: "run-1"}}
	plan := &Plan{Entities: []PlannedEntity{{Entity: "a", Keys: []string{"1", "2", "3"}}, {Entity: "b", Keys: []string{"4", "5", "6"}}}}
	if _, _, err := Begin(ctx, pool, run, func() (*Plan, error) { return plan, nil }); err != nil {
		t.Fatal(err)
	}
	// The step of c breaks the table's check: its batch must not commit;
	// the batches of a and b, sent with it, must.
	tg := items(t, pool)
	steps := []Step{add(tg, "a", 1, "1", "2", "3"), add(tg, "b", 1, "4", "5"), add(tg, "c", 20, "6")}
	_, err := Execute(ctx, pool, run, steps, Options{BatchSize: 2, Complete: true})
	if err == nil {
		t.Fatal("the run succeeded although a batch breaks a check constraint")
	}
	if got := count(t, pool, "SELECT sum(v)::bigint FROM public.items"); got != 5 {
		t.Fatalf("rows changed: sum %d, want 5 (a's three rows and b's two)", got)
	}
	if got := count(t, pool, "SELECT count(*) FROM lethe.run_batches WHERE run_uid = 'run-1'"); got != 3 {
		t.Fatalf("ledger rows: %d, want 3", got)
	}
	if got := count(t, pool, "SELECT count(*) FROM lethe.run_plan WHERE run_uid = 'run-1'"); got != 2 {
		t.Fatalf("plan rows: %d, want the 2 recorded with the first batches", got)
	}
	if got := count(t, pool, "SELECT count(*) FROM lethe.runs WHERE uid = 'run-1' AND state = 'InProgress'"); got != 1 {
		t.Fatal("the run is not recorded as in progress")
	}

	// Resumed with the step mended, only the failed batch runs.
	resumed := &Run{UID: run.UID, Type: run.Type, SubjectType: run.SubjectType, SubjectDigest: run.SubjectDigest,
		Actor: run.Actor, Object: run.Object}
	state, _, err := Begin(ctx, pool, resumed, func() (*Plan, error) { t.Fatal("a resumed run planned again"); return nil, nil })
	if err != nil || state != StateInProgress {
		t.Fatalf("resume: state %q, %v", state, err)
	}
	steps[2] = add(tg, "c", 3, "6")
	results, err := Execute(ctx, pool, resumed, steps, Options{BatchSize: 2, Complete: true})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int64{"a": 3, "b": 2, "c": 1}
	for _, r := range results {
		if r.Changed != want[r.Entity] {
			t.Errorf("entity %s: %d rows changed, want %d", r.Entity, r.Changed, want[r.Entity])
		}
	}
	if got := count(t, pool, "SELECT sum(v)::bigint FROM public.items"); got != 8 {
		t.Fatalf("rows changed: sum %d, want 8 (every batch once)", got)
	}
	if got := count(t, pool, "SELECT sum(rows_affected)::bigint FROM lethe.audit_log WHERE object_uid = 'run-1'"); got != 6 {
		t.Fatalf("audited rows: %d, want 6", got)
	}
	if got := count(t, pool, "SELECT count(*) FROM lethe.runs WHERE uid = 'run-1' AND state = 'Completed'"); got != 1 {
		t.Fatal("the run is not completed")
	}
	if res, err := audit.Verify(ctx, pool, audit.Head{}); err != nil || !res.Intact {
		t.Fatalf("audit chain: %+v, %v", res, err)
	}
	if got := count(t, pool, "SELECT count(*) FROM lethe.run_plan WHERE run_uid = 'run-1' AND cardinality(keys) + cardinality(shared_keys) > 0"); got != 0 {
		t.Fatal("the plan's keys of a completed run are kept")
	}
	if got := count(t, pool, "SELECT sum(found)::bigint FROM lethe.run_plan WHERE run_uid = 'run-1'"); got != 6 {
		t.Fatalf("the completed run's plan counts %d rows found, want 6", got)
	}
}

func TestARunStoppedBeforeItsFirstBatchKeepsItsPlan(t *testing.T) {
	pool := setup(t)
	ctx := context.Background()
	run := &Run{UID: "run-2", Type: "Test", Object: audit.Object{Kind: "Test", UID: "run-2"}}
	plan := &Plan{Entities: []PlannedEntity{{Entity: "a", Keys: []string{"1"}}}}
	if _, _, err := Begin(ctx, pool, run, func() (*Plan, error) { return plan, nil }); err != nil {
		t.Fatal(err)
	}
	stop := errors.New("stopped")
	_, err := Execute(ctx, pool, run, []Step{add(items(t, pool), "a", 1, "1")}, Options{Complete: true,
		BeforeBatch: func(string, int) error { return stop }})
	if !errors.Is(err, stop) {
		t.Fatalf("Execute: %v, want the stop", err)
	}
	if got := count(t, pool, "SELECT count(*) FROM lethe.run_plan WHERE run_uid = 'run-2'"); got != 1 {
		t.Fatalf("plan rows: %d, want 1", got)
	}
	if got := count(t, pool, "SELECT count(*) FROM lethe.runs WHERE uid = 'run-2' AND state = 'InProgress'"); got != 1 {
		t.Fatal("a stopped run is not in progress")
	}
	if got := count(t, pool, "SELECT sum(v)::bigint FROM public.items"); got != 0 {
		t.Fatal("a stopped run changed rows")
	}
}

func TestARunLongerThanOneRoundTripRunsEachBatchOnce(t *testing.T) {
	pool := setup(t)
	ctx := context.Background()
	keys := make([]string, 10)
	for i := range keys {
		keys[i] = strconv.Itoa(i + 1)
	}
	// One key a batch, ten entities of the same rows: 100 batches, four
	// round trips of at most batchesPerTrip.
	var steps []Step
	plan := &Plan{}
	tg := items(t, pool)
	for e := range 10 {
		name := "e" + strconv.Itoa(e)
		steps = append(steps, add(tg, name, 0, keys...))
		plan.Entities = append(plan.Entities, PlannedEntity{Entity: name, Keys: keys})
	}
	run := &Run{UID: "run-3", Type: "Test", Object: audit.Object{Kind: "Test", UID: "run-3"}}
	if _, _, err := Begin(ctx, pool, run, func() (*Plan, error) { return plan, nil }); err != nil {
		t.Fatal(err)
	}
	results, err := Execute(ctx, pool, run, steps, Options{BatchSize: 1, Complete: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range results {
		if r.Changed != 10 {
			t.Errorf("entity %s: %d rows changed, want 10", r.Entity, r.Changed)
		}
	}
	if got := count(t, pool, "SELECT count(*) FROM lethe.run_batches WHERE run_uid = 'run-3'"); got != 100 {
		t.Fatalf("ledger rows: %d, want 100", got)
	}
	if got := count(t, pool, "SELECT count(*) FROM lethe.audit_log WHERE object_uid = 'run-3'"); got != 100 {
		t.Fatalf("audit records: %d, want 100", got)
	}
	if got := count(t, pool, "SELECT count(*) FROM lethe.runs WHERE uid = 'run-3' AND state = 'Completed'"); got != 1 {
		t.Fatal("the run is not completed")
	}
}
