package engine

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/lethe-dev/lethe/internal/audit"
	"github.com/lethe-dev/lethe/internal/masking"
	"github.com/lethe-dev/lethe/internal/tenantdb"
	"github.com/lethe-dev/lethe/internal/testutil/pgtest"
	"github.com/lethe-dev/lethe/internal/testutil/testdb"
)

// beforeOneExecutor is the last schema version of the two executors.
const beforeOneExecutor = 7

// A request and a retention run in progress when the operator is upgraded
// resume under the one executor: the request's plan and done batches, and
// the run's checkpoints (their parts' bounds included), are carried over,
// and no batch is done twice.
func TestRunsInProgressBeforeTheUpgradeResume(t *testing.T) {
	ctx := context.Background()
	pool := testdb.Pool(t, pgtest.NewDatabase(t), 2)
	if _, _, err := tenantdb.MigrateTo(ctx, pool, beforeOneExecutor); err != nil {
		t.Fatal(err)
	}
	// What the earlier version wrote: a request over items 1-3 (entity a)
	// and 4-6 (entity b) whose first batch (items 1 and 2) is done, and a
	// retention run over events in two parts (ids 1-5 and 6 on, bounds
	// inclusive then), the first done up to id 3.
	exec(t, pool, `CREATE TABLE public.items (id int PRIMARY KEY, v int NOT NULL CHECK (v < 10));
		INSERT INTO public.items SELECT i, 0 FROM generate_series(1, 6) i;
		CREATE TABLE public.events (id int PRIMARY KEY, v int NOT NULL);
		INSERT INTO public.events SELECT i, 0 FROM generate_series(1, 10) i;
		INSERT INTO lethe.requests (uid, type, subject_type, subject_digest, state, created_at)
			VALUES ('req-old', 'Erasure', 'item', 'sha256:x', 'InProgress', now());
		INSERT INTO lethe.request_plan (request_uid, entity, keys) VALUES ('req-old', 'a', '{1,2,3}'), ('req-old', 'b', '{4,5,6}');
		UPDATE public.items SET v = v + 1 WHERE id IN (1, 2);
		INSERT INTO lethe.request_steps (request_uid, entity, batch, action, rows, done_at) VALUES ('req-old', 'a', 0, 'Add', 2, now());
		UPDATE public.events SET v = v + 1 WHERE id IN (1, 2, 3);
		INSERT INTO lethe.retention_progress (run_id, rule, part, lo, hi, entity, cutoff, last_key, batches, matched, changed, updated_at)
			VALUES ('pol-run', 'r', 0, NULL, '5', 'event', now(), '3', 1, 3, 3, now()),
			       ('pol-run', 'r', 1, '6', NULL, 'event', now(), NULL, 0, 0, 0, now())`)

	version, applied, err := tenantdb.Migrate(ctx, pool)
	if err != nil || applied == 0 {
		t.Fatalf("upgrade: version %d, %d applied, %v", version, applied, err)
	}
	cat, err := tenantdb.ReadCatalog(ctx, pool)
	if err != nil {
		t.Fatal(err)
	}
	target := func(name string) *Target {
		tg, err := NewTarget(cat.Tables[name], nil)
		if err != nil {
			t.Fatal(err)
		}
		return tg
	}
	increment := func(table string) func(*masking.Args, string) (string, error) {
		return func(*masking.Args, string) (string, error) {
			return "UPDATE " + table + " AS lethe_row SET v = v + 1", nil
		}
	}

	// The request resumes at its second batch.
	req := &Run{UID: "req-old", Type: "Erasure", SubjectType: "item", SubjectDigest: "sha256:x", Actor: "tester",
		Object: audit.Object{Kind: "Test", UID: "req-old"}}
	state, plan, err := Begin(ctx, pool, req, func() (*Plan, error) { t.Fatal("the carried-over request planned again"); return nil, nil })
	if err != nil || state != StateInProgress || len(plan.Entities) != 2 {
		t.Fatalf("resume: %q, %+v, %v", state, plan, err)
	}
	items := target("public.items")
	steps := []Step{{Entity: "a", Target: items, Action: "Add", Keys: plan.Entities[0].Keys, Set: increment("public.items")},
		{Entity: "b", Target: items, Action: "Add", Keys: plan.Entities[1].Keys, Set: increment("public.items")}}
	if plan.Entities[0].Entity != "a" {
		steps[0].Keys, steps[1].Keys = plan.Entities[1].Keys, plan.Entities[0].Keys
	}
	if _, err := Execute(ctx, pool, req, steps, Options{BatchSize: 2, Complete: true}); err != nil {
		t.Fatal(err)
	}
	if n := count(t, pool, "SELECT count(*) FROM public.items WHERE v <> 1"); n != 0 {
		t.Fatalf("%d items were not changed exactly once", n)
	}
	if n := count(t, pool, "SELECT count(*) FROM lethe.runs WHERE uid = 'req-old' AND state = 'Completed'"); n != 1 {
		t.Fatal("the carried-over request did not complete")
	}

	// The retention run resumes after id 3 in its first part, from id 6
	// in its second.
	pol := &Run{UID: "pol-run", Kind: KindPolicy, Type: "Retention", Actor: "tester", Object: audit.Object{Kind: "Test", UID: "pol"}}
	step := &Step{Name: "r", Entity: "event", Target: target("public.events"), Action: "Anonymize", Set: increment("public.events"),
		Where: func(*masking.Args, *time.Time) (string, error) { return "true", nil }}
	for range 100 {
		p, err := Advance(ctx, pool, pol, step, Options{BatchSize: 2, Workers: 2}, time.Now().Add(time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		if p.Done {
			if p.Changed != 10 {
				t.Fatalf("the run counts %d rows changed; want the 3 before the upgrade and 7 after", p.Changed)
			}
			break
		}
	}
	if n := count(t, pool, "SELECT count(*) FROM public.events WHERE v <> 1"); n != 0 {
		t.Fatalf("%d events were not changed exactly once", n)
	}
	if n := count(t, pool, "SELECT count(*) FROM lethe.run_steps WHERE run_uid = 'pol-run' AND done"); n != 2 {
		t.Fatalf("%d of the run's 2 parts are done", n)
	}
}

func exec(t *testing.T, pool *pgxpool.Pool, sql string) {
	t.Helper()
	if _, err := pool.Exec(context.Background(), sql); err != nil {
		t.Fatal(err)
	}
}

// A resumed request reports what the ledger says its earlier batches did
// to other tables, not only what its new batches did.
func TestAResumedDeleteReportsTheEffectsOfItsEarlierBatches(t *testing.T) {
	pool := setup(t)
	ctx := context.Background()
	exec(t, pool, `CREATE TABLE public.parents (id int PRIMARY KEY);
		CREATE TABLE public.visits (id int PRIMARY KEY, parent_id int NOT NULL REFERENCES public.parents ON DELETE CASCADE);
		INSERT INTO public.parents SELECT i FROM generate_series(1, 4) i;
		INSERT INTO public.visits SELECT i, i FROM generate_series(1, 4) i`)
	cat, err := tenantdb.ReadCatalog(ctx, pool)
	if err != nil {
		t.Fatal(err)
	}
	tg, err := NewTarget(cat.Tables["public.parents"], nil)
	if err != nil {
		t.Fatal(err)
	}
	d, blocked, err := PlanDeletion(cat, tg, Scope{Entity: func(string) string { return "" }}, false)
	if err != nil || len(blocked) > 0 || len(d.Effects) != 1 {
		t.Fatalf("plan: %+v, blocked %v, %v", d, blocked, err)
	}
	keys := []string{"1", "2", "3", "4"}
	step := []Step{{Entity: "parent", Target: tg, Action: "Delete", Keys: keys, Delete: d}}
	plan := &Plan{Entities: []PlannedEntity{{Entity: "parent", Keys: keys}}}
	run := &Run{UID: "req-fx", Type: "Erasure", Object: audit.Object{Kind: "Test", UID: "req-fx"}}
	if _, _, err := Begin(ctx, pool, run, func() (*Plan, error) { return plan, nil }); err != nil {
		t.Fatal(err)
	}
	stop := errors.New("stopped")
	_, err = Execute(ctx, pool, run, step, Options{BatchSize: 2, Complete: true, BeforeBatch: func(_ string, b int) error {
		if b == 1 {
			return stop
		}
		return nil
	}})
	if !errors.Is(err, stop) {
		t.Fatalf("first attempt: %v", err)
	}
	resumed := &Run{UID: run.UID, Type: run.Type, Object: run.Object}
	if _, _, err := Begin(ctx, pool, resumed, func() (*Plan, error) { t.Fatal("planned again"); return nil, nil }); err != nil {
		t.Fatal(err)
	}
	results, err := Execute(ctx, pool, resumed, step, Options{BatchSize: 2, Complete: true})
	if err != nil {
		t.Fatal(err)
	}
	if results[0].Changed != 4 || results[0].Effects.Total() != 4 {
		t.Fatalf("the resumed run reports %d rows deleted and effects %v; want 4 and the 4 visits the CASCADE took", results[0].Changed, results[0].Effects)
	}
}
