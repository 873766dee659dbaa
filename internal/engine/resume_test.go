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
