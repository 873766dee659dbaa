package engine

import (
	"context"
	"errors"
	"testing"

	"github.com/lethe-dev/lethe/internal/audit"
)

// testRun is a run of a test request; each call is a new attempt of it, as
// a restarted manager would make.
func testRun(uid string) *Run {
	return &Run{UID: uid, Type: "Test", Object: audit.Object{Kind: "Test", UID: uid}}
}

var tenKeys = []string{"1", "2", "3", "4", "5", "6", "7", "8", "9", "10"}

// A run resumed by a manager with another batch size goes on with the size
// its ledger numbers batches by: no row is taken for done, none twice.
func TestAResumedRunKeepsTheBatchSizeItBeganWith(t *testing.T) {
	pool := setup(t)
	ctx := context.Background()
	tg := items(t, pool)
	plan := func() (*Plan, error) { return &Plan{Entities: []PlannedEntity{{Entity: "a", Keys: tenKeys}}}, nil }
	first := testRun("run-size")
	if _, _, err := Begin(ctx, pool, first, plan); err != nil {
		t.Fatal(err)
	}
	stop := errors.New("stopped")
	_, err := Execute(ctx, pool, first, []Step{add(tg, "a", 1, tenKeys...)}, Options{BatchSize: 2,
		BeforeBatch: func(_ string, batch int) error {
			if batch == 2 {
				return stop
			}
			return nil
		}})
	if !errors.Is(err, stop) {
		t.Fatalf("Execute: %v, want the stop", err)
	}
	if got := count(t, pool, "SELECT sum(v)::bigint FROM public.items"); got != 4 {
		t.Fatalf("rows changed before the stop: %d, want 4 (two batches of 2)", got)
	}

	for _, size := range []int{5, 1} {
		again := testRun("run-size")
		if _, _, err := Begin(ctx, pool, again, func() (*Plan, error) { t.Fatal("a resumed run planned again"); return nil, nil }); err != nil {
			t.Fatal(err)
		}
		results, err := Execute(ctx, pool, again, []Step{add(tg, "a", 1, tenKeys...)}, Options{BatchSize: size, Complete: true})
		if err != nil {
			t.Fatal(err)
		}
		if results[0].Changed != 10 {
			t.Errorf("resumed with batch size %d: %d rows changed, want 10", size, results[0].Changed)
		}
	}
	if got := count(t, pool, "SELECT count(*) FROM public.items WHERE v <> 1"); got != 0 {
		t.Fatalf("%d rows not changed exactly once", got)
	}
	if got := count(t, pool, "SELECT count(*) FROM lethe.run_batches WHERE run_uid = 'run-size'"); got != 5 {
		t.Fatalf("ledger rows: %d, want 5 batches of 2", got)
	}
}

// An attempt that read the ledger before another attempt of the same run
// committed a batch (the session of a killed manager finishing what it was
// sent) fails on that batch with a Concurrent error and changes nothing;
// the next attempt goes on from the ledger.
func TestABatchCommittedByAnotherAttemptFailsAsConcurrent(t *testing.T) {
	pool := setup(t)
	ctx := context.Background()
	tg := items(t, pool)
	plan := func() (*Plan, error) { return &Plan{Entities: []PlannedEntity{{Entity: "a", Keys: tenKeys}}}, nil }
	steps := []Step{add(tg, "a", 1, tenKeys...)}
	first := testRun("run-race")
	if _, _, err := Begin(ctx, pool, first, plan); err != nil {
		t.Fatal(err)
	}
	stop := errors.New("stopped")
	if _, err := Execute(ctx, pool, first, steps, Options{BatchSize: 2, BeforeBatch: func(_ string, batch int) error {
		if batch == 1 {
			return stop
		}
		return nil
	}}); !errors.Is(err, stop) {
		t.Fatalf("Execute: %v, want the stop", err)
	}

	late := testRun("run-race")
	if _, _, err := Begin(ctx, pool, late, plan); err != nil {
		t.Fatal(err)
	}
	if _, err := Execute(ctx, pool, testRun("run-race"), steps, Options{BatchSize: 2, Complete: true}); err != nil {
		t.Fatal(err)
	}
	_, err := Execute(ctx, pool, late, steps, Options{BatchSize: 2, Complete: true})
	if !Concurrent(err) {
		t.Fatalf("the attempt that read the ledger before the batches committed: %v, want a Concurrent error", err)
	}
	if got := count(t, pool, "SELECT count(*) FROM public.items WHERE v <> 1"); got != 0 {
		t.Fatalf("%d rows not changed exactly once", got)
	}
	if _, err := pool.Exec(ctx, "INSERT INTO public.items VALUES (1, 0)"); err == nil || Concurrent(err) {
		t.Fatalf("a unique violation in the application's table: %v, want an error that is not Concurrent", err)
	}
}
