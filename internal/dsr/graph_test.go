package dsr

import (
	"context"
	"slices"
	"strconv"
	"testing"

	privacyv1alpha1 "github.com/lethe-dev/lethe/api/v1alpha1"
	"github.com/lethe-dev/lethe/internal/engine"
	"github.com/lethe-dev/lethe/internal/inventory"
	"github.com/lethe-dev/lethe/internal/masking"
	"github.com/lethe-dev/lethe/internal/tenantdb"
)

// keysOf are the keys a graph's steps list for an entity.
func keysOf(steps []engine.Step, entity string) []string {
	for _, s := range steps {
		if s.Entity == entity {
			return s.Keys
		}
	}
	return nil
}

// Two batches whose subjects share a row (a link between customer B and a
// contact person of customer A) plan it once: the second, planning while
// the first holds it, waits for the first to commit and then finds it
// erased, so it is masked once.
func TestTwoBatchesSharingARowMaskItOnce(t *testing.T) {
	pool, spec := sample(t)
	ctx := context.Background()
	var link, a, b int64
	if err := pool.QueryRow(ctx, `SELECT l.id, p.customer_id, l.customer_id FROM app.customer_contacts l
		JOIN app.contact_persons p ON p.id = l.contact_person_id WHERE p.customer_id <> l.customer_id ORDER BY l.id LIMIT 1`).Scan(&link, &a, &b); err != nil {
		t.Fatalf("the sample links no customer to another's contact person: %v", err)
	}
	cat, err := tenantdb.ReadCatalog(ctx, pool)
	if err != nil {
		t.Fatal(err)
	}
	resolved, problems := inventory.Resolve(spec, cat)
	if len(problems) > 0 {
		t.Fatal(problems)
	}
	g, err := NewSubjectGraph(resolved, cat, "customer", Erasure{Method: privacyv1alpha1.ErasureAnonymize, Keys: masking.Keys{PerRow: true}})
	if err != nil {
		t.Fatal(err)
	}
	shared := []string{itoa(link)}

	first, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = first.Rollback(ctx) }()
	steps, _, err := g.Steps(ctx, first, []string{itoa(a)}, false)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(keysOf(steps, "customerContact"), shared[0]) {
		t.Fatalf("customer %d's graph lacks the link %d: %v", a, link, keysOf(steps, "customerContact"))
	}
	if _, err := first.Exec(ctx, "INSERT INTO lethe.erased_rows (table_name, key) VALUES ('app.customer_contacts', $1)", shared[0]); err != nil {
		t.Fatal(err)
	}

	var pid int32
	second, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = second.Rollback(ctx) }()
	if err := second.QueryRow(ctx, "SELECT pg_backend_pid()").Scan(&pid); err != nil {
		t.Fatal(err)
	}
	type planned struct {
		steps []engine.Step
		err   error
	}
	done := make(chan planned, 1)
	go func() {
		s, _, err := g.Steps(ctx, second, []string{itoa(b)}, false)
		done <- planned{s, err}
	}()
	// The second batch either waits for the link's lock or, without one,
	// plans it while the first has not committed.
	var got planned
	for waiting := false; !waiting; {
		select {
		case got = <-done:
			waiting = true
		default:
			var n int
			if err := pool.QueryRow(ctx, `SELECT count(*) FROM pg_catalog.pg_locks WHERE pid = $1 AND NOT granted`, pid).Scan(&n); err != nil {
				t.Fatal(err)
			}
			if n > 0 {
				if err := first.Commit(ctx); err != nil {
					t.Fatal(err)
				}
				got = <-done
				waiting = true
			}
		}
	}
	if got.err != nil {
		t.Fatal(got.err)
	}
	if slices.Contains(keysOf(got.steps, "customerContact"), shared[0]) {
		t.Errorf("customer %d's batch planned the link %d the batch of customer %d masks", b, link, a)
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
