package dsr

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	privacyv1alpha1 "github.com/lethe-dev/lethe/api/v1alpha1"
	"github.com/lethe-dev/lethe/internal/audit"
	"github.com/lethe-dev/lethe/internal/engine"
	"github.com/lethe-dev/lethe/internal/testutil/pgtest"
	"github.com/lethe-dev/lethe/internal/testutil/sampleapp"
	"github.com/lethe-dev/lethe/internal/testutil/sampledb"
	"github.com/lethe-dev/lethe/internal/testutil/schemas"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// sample loads the sample application into a fresh, migrated database and
// returns a pool on it and the sample inventory.
func sample(t *testing.T) (*pgxpool.Pool, *privacyv1alpha1.DataInventorySpec) {
	t.Helper()
	return sampledb.Open(t, sampleapp.Options{Tenant: "acme", Seed: 7, Customers: 20})
}

func erasure(pool *pgxpool.Pool, spec *privacyv1alpha1.DataInventorySpec, email string) *Input {
	return &Input{
		Run: engine.Run{UID: "req-1", Type: "Erasure", SubjectType: "customer", SubjectDigest: "sha256:test",
			Actor: "tester", Object: audit.Object{Kind: "DataSubjectRequest", Namespace: "ns", Name: "r", UID: "req-1"},
			Clock: func() time.Time { return time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC) }},
		Type: privacyv1alpha1.RequestErasure, Tenant: "acme", Inventory: spec,
		Identifiers: map[string]string{"email": email}, Method: privacyv1alpha1.ErasureAnonymize,
		Engine: engine.Options{BatchSize: 4},
	}
}

func scalar[T any](t *testing.T, pool *pgxpool.Pool, sql string, args ...any) T {
	t.Helper()
	var v T
	if err := pool.QueryRow(context.Background(), sql, args...).Scan(&v); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return v
}

func TestErasureResumesAfterAnInterruptionAndChangesEachRowOnce(t *testing.T) {
	pool, spec := sample(t)
	ctx := context.Background()
	id := scalar[int64](t, pool, "SELECT customer_id FROM app.cases GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1")
	email := scalar[string](t, pool, "SELECT email FROM app.customers WHERE id = $1", id)
	cases := scalar[int64](t, pool, "SELECT count(*) FROM app.cases WHERE customer_id = $1", id)
	if cases <= 4 {
		t.Fatalf("the sample customer has %d cases; the test needs more than one batch", cases)
	}

	in := erasure(pool, spec, email)
	stop := errors.New("stopped")
	in.Engine.BeforeBatch = func(entity string, batch int) error {
		if entity == "case" && batch == 1 {
			return stop
		}
		return nil
	}
	if _, err := Execute(ctx, pool, in); !errors.Is(err, stop) {
		t.Fatalf("first run: %v", err)
	}
	if got := scalar[int64](t, pool, "SELECT count(*) FROM lethe.run_batches WHERE entity = 'case'"); got != 1 {
		t.Fatalf("after the interruption %d batches of cases are recorded, want 1", got)
	}
	if got := scalar[string](t, pool, "SELECT email FROM app.customers WHERE id = $1", id); got != email {
		t.Fatal("the root was changed before its children were done")
	}

	in.Engine.BeforeBatch = nil
	out, err := Execute(ctx, pool, in)
	if err != nil {
		t.Fatalf("resumed run: %v", err)
	}
	var changedCases int64
	for _, e := range out.Entities {
		if e.Entity == "case" {
			changedCases = e.Changed
		}
	}
	if changedCases != cases {
		t.Errorf("cases changed: %d, want %d", changedCases, cases)
	}
	if got := scalar[int64](t, pool, "SELECT sum(rows_affected)::bigint FROM lethe.audit_log WHERE entity = 'case'"); got != cases {
		t.Errorf("audited case rows: %d, want %d (each exactly once)", got, cases)
	}
	if got := scalar[int64](t, pool, "SELECT count(*) FROM app.customers WHERE email = $1", email); got != 0 {
		t.Error("the e-mail is still there")
	}
	remaining, err := Verify(ctx, pool, spec, map[string]string{"email": email})
	if err != nil || len(remaining) != 0 {
		t.Errorf("verify: %v %v", remaining, err)
	}
	res, err := audit.Verify(ctx, pool, audit.Head{})
	if err != nil || !res.Intact {
		t.Errorf("audit chain: %+v %v", res, err)
	}

	again, err := Execute(ctx, pool, in)
	if err != nil {
		t.Fatal(err)
	}
	if scalar[int64](t, pool, "SELECT sum(rows_affected)::bigint FROM lethe.audit_log WHERE entity = 'case'") != cases {
		t.Error("a completed request ran again")
	}
	for _, e := range again.Entities {
		if e.Entity == "case" && e.Changed != cases {
			t.Errorf("the ledger reports %d cases, want %d", e.Changed, cases)
		}
	}
}

func TestAPlanThatWouldScanALargeTableIsRefusedNamingTheIndex(t *testing.T) {
	pool, spec := sample(t)
	ctx := context.Background()
	if _, err := pool.Exec(ctx, "DROP INDEX app.cases_customer_id_idx; ANALYZE app.cases"); err != nil {
		t.Fatal(err)
	}
	in := erasure(pool, spec, "someone@example.com")
	in.LargeTable = 1
	_, err := Execute(ctx, pool, in)
	var mi *MissingIndexError
	if !errors.As(err, &mi) || !strings.Contains(err.Error(), "app.cases.customer_id") || !strings.Contains(err.Error(), "CREATE INDEX ON app.cases (customer_id)") {
		t.Fatalf("got %v", err)
	}
}

func TestVerifyNamesEveryColumnHoldingAnyOfTheIdentifiers(t *testing.T) {
	pool, spec := sample(t)
	ctx := context.Background()
	id := scalar[int64](t, pool, "SELECT customer_id FROM app.customer_contacts ORDER BY 1 LIMIT 1")
	email := scalar[string](t, pool, "SELECT email FROM app.customers WHERE id = $1", id)
	number := scalar[string](t, pool, "SELECT customer_number FROM app.customers WHERE id = $1", id)
	ids := map[string]string{"email": email, "customerNumber": number}

	remaining, err := Verify(ctx, pool, spec, ids)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"app.customer_contacts.customer_number", "app.customers.customer_number", "app.customers.email"}
	for _, w := range want {
		if !slices.Contains(remaining, w) {
			t.Errorf("before erasure, %s is not named: %v", w, remaining)
		}
	}

	in := erasure(pool, spec, email)
	in.Identifiers = ids
	if _, err := Execute(ctx, pool, in); err != nil {
		t.Fatal(err)
	}
	if remaining, err = Verify(ctx, pool, spec, ids); err != nil || len(remaining) != 0 {
		t.Fatalf("after erasure: %v %v", remaining, err)
	}
}

func TestConcurrentVerificationsEachGetTheirOwnSubjectsColumns(t *testing.T) {
	pool, spec := sample(t)
	ctx := context.Background()
	emails := make([]string, 6)
	for i := range emails {
		emails[i] = scalar[string](t, pool, "SELECT email FROM app.customers ORDER BY id OFFSET $1 LIMIT 1", i)
	}
	for i, email := range emails[:3] {
		in := erasure(pool, spec, email)
		in.Run.UID = fmt.Sprintf("req-%d", i)
		if _, err := Execute(ctx, pool, in); err != nil {
			t.Fatal(err)
		}
	}
	var v Verifier
	for range 3 {
		got := make([][]string, len(emails))
		errs := make([]error, len(emails))
		var wg sync.WaitGroup
		for i, email := range emails {
			wg.Add(1)
			go func() {
				defer wg.Done()
				got[i], errs[i] = v.Verify(ctx, pool, spec, map[string]string{"email": email})
			}()
		}
		wg.Wait()
		for i := range emails {
			if errs[i] != nil {
				t.Fatal(errs[i])
			}
			erased := i < 3
			if erased != (len(got[i]) == 0) || (!erased && !slices.Contains(got[i], "app.customers.email")) {
				t.Errorf("subject %d (erased %v): remaining %v", i, erased, got[i])
			}
		}
	}
}

func TestRestrictionSetsAndLiftClearsTheDeclaredFlagColumn(t *testing.T) {
	pool, spec := sample(t)
	ctx := context.Background()
	if _, err := pool.Exec(ctx, "ALTER TABLE app.customers ADD COLUMN processing_restricted boolean NOT NULL DEFAULT false"); err != nil {
		t.Fatal(err)
	}
	for i := range spec.Entities {
		if spec.Entities[i].Name == "customer" {
			spec.Entities[i].Subject.RestrictedColumn = "processing_restricted"
		}
	}
	id := scalar[int64](t, pool, "SELECT min(id) FROM app.customers")
	email := scalar[string](t, pool, "SELECT email FROM app.customers WHERE id = $1", id)

	in := erasure(pool, spec, email)
	in.Type, in.Run.Type, in.Run.UID = privacyv1alpha1.RequestRestriction, "Restriction", "restrict-1"
	if _, err := Execute(ctx, pool, in); err != nil {
		t.Fatal(err)
	}
	if n := scalar[int64](t, pool, "SELECT count(*) FROM app.customers WHERE processing_restricted"); n != 1 {
		t.Fatalf("%d customers are flagged restricted; want 1", n)
	}
	if !scalar[bool](t, pool, "SELECT processing_restricted FROM app.customers WHERE id = $1", id) {
		t.Fatal("the subject's row is not flagged")
	}
	in.Lift, in.Run.UID = true, "lift-1"
	if _, err := Execute(ctx, pool, in); err != nil {
		t.Fatal(err)
	}
	if n := scalar[int64](t, pool, "SELECT count(*) FROM app.customers WHERE processing_restricted"); n != 0 {
		t.Fatalf("%d customers stay flagged after the lift", n)
	}
}

// A request recreated after its predecessor erased the subject finds
// nothing, and still leaves one audit record of having looked.
func TestAnErasureThatFindsNothingIsAuditedOnce(t *testing.T) {
	pool, spec := sample(t)
	ctx := context.Background()
	email := scalar[string](t, pool, "SELECT email FROM app.customers ORDER BY id LIMIT 1")
	if _, err := Execute(ctx, pool, erasure(pool, spec, email)); err != nil {
		t.Fatal(err)
	}
	again := erasure(pool, spec, email)
	again.Run.UID, again.Run.Object.UID = "req-2", "req-2"
	for range 2 {
		out, err := Execute(ctx, pool, again)
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Entities) != 0 {
			t.Fatalf("the second request found %v", out.Entities)
		}
	}
	if n := scalar[int64](t, pool, "SELECT count(*) FROM lethe.audit_log WHERE object_uid = 'req-2' AND action = 'Erase' AND rows_affected = 0"); n != 1 {
		t.Fatalf("the request that found nothing left %d audit records of having looked, want 1", n)
	}
	res, err := audit.Verify(ctx, pool, audit.Head{})
	if err != nil || !res.Intact {
		t.Errorf("audit chain: %+v %v", res, err)
	}
}

// A subject erased by Anonymize is still found by an identifier no
// strategy changes (Chinook's customer id): an erasure asked for again
// finds the rows but masks none of them twice, and its audit record says it
// looked. Public schema.
func TestAnErasureMadeAgainMasksNoRowTwice(t *testing.T) {
	pool, _, spec := schemas.Open(t, schemas.Chinook, schemas.Options{})
	ctx := context.Background()
	id := scalar[int32](t, pool, "SELECT customer_id FROM public.invoice GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1")
	first := request("req-1", privacyv1alpha1.RequestErasure, spec, "customer", map[string]string{"customerId": fmt.Sprint(id)})
	first.Method = privacyv1alpha1.ErasureAnonymize
	out, err := Execute(ctx, pool, first)
	if err != nil {
		t.Fatal(err)
	}
	var changed int64
	for _, e := range out.Entities {
		changed += e.Changed
	}
	if changed == 0 {
		t.Fatal("the first erasure changed nothing: the test would prove nothing")
	}
	before := scalar[string](t, pool, "SELECT row_to_json(c)::text FROM public.customer c WHERE customer_id = $1", id)

	again := request("req-2", privacyv1alpha1.RequestErasure, spec, "customer", map[string]string{"customerId": fmt.Sprint(id)})
	again.Method = privacyv1alpha1.ErasureAnonymize
	out, err = Execute(ctx, pool, again)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range out.Entities {
		if e.Changed != 0 {
			t.Errorf("the erasure made again changed %d rows of %s", e.Changed, e.Entity)
		}
	}
	if got := scalar[string](t, pool, "SELECT row_to_json(c)::text FROM public.customer c WHERE customer_id = $1", id); got != before {
		t.Errorf("the customer's row was masked again:\n%s\nwas\n%s", got, before)
	}
	if n := scalar[int64](t, pool, "SELECT count(*) FROM lethe.audit_log WHERE object_uid = 'req-2'"); n == 0 {
		t.Error("the erasure made again left no audit record")
	}
}
