package retention

import (
	"context"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	privacyv1alpha1 "github.com/lethe-dev/lethe/api/v1alpha1"
	"github.com/lethe-dev/lethe/internal/audit"
	"github.com/lethe-dev/lethe/internal/engine"
	"github.com/lethe-dev/lethe/internal/tenantdb"
	"github.com/lethe-dev/lethe/internal/testutil/pgtest"
	"github.com/lethe-dev/lethe/internal/testutil/sampleapp"
	"github.com/lethe-dev/lethe/internal/testutil/sampledb"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

var ctx = context.Background()

// sample loads the sample application (60 customers) into a fresh, migrated
// database and returns a pool and the sample inventory.
func sample(t *testing.T) (*pgxpool.Pool, *privacyv1alpha1.DataInventorySpec) {
	t.Helper()
	return sampleTenant(t, "acme", 3)
}

// sampleTenant is sample with a tenant name and seed of its own.
func sampleTenant(t *testing.T, tenant string, seed int64) (*pgxpool.Pool, *privacyv1alpha1.DataInventorySpec) {
	t.Helper()
	return sampledb.Open(t, sampleapp.Options{Tenant: tenant, Seed: seed, Customers: 60})
}

func compile(t *testing.T, pool *pgxpool.Pool, inv *privacyv1alpha1.DataInventorySpec, r privacyv1alpha1.RetentionRule) *Rule {
	t.Helper()
	cat, err := tenantdb.ReadCatalog(ctx, pool)
	if err != nil {
		t.Fatal(err)
	}
	rule, err := Compile(r, inv, cat, nil)
	if err != nil {
		t.Fatal(err)
	}
	return rule
}

// testRun is a run of the executor as a policy's run would be.
type testRun struct {
	engine.Run
	engine.Options
	Env
}

func newRun(id string) *testRun {
	return &testRun{
		Run: engine.Run{UID: id, Kind: engine.KindPolicy, Type: "Retention", Actor: "tester",
			Object: audit.Object{Kind: "RetentionPolicy", Namespace: "ns", Name: "p", UID: "policy-1"}},
		Options: engine.Options{BatchSize: 7, MaxRetries: 2, LockTimeout: time.Second, StatementTimeout: 30 * time.Second},
		Env:     Env{PolicyUID: "policy-1", Now: sampleapp.ReferenceTime()},
	}
}

// Step carries the rule forward as a policy's reconcile does.
func Step(ctx context.Context, pool *pgxpool.Pool, run *testRun, rule *Rule, deadline time.Time) (*engine.Progress, error) {
	return engine.Advance(ctx, pool, &run.Run, rule.Step(run.Env), run.Options, deadline)
}

// finish steps a rule until it is done.
func finish(t *testing.T, pool *pgxpool.Pool, run *testRun, rule *Rule) *engine.Progress {
	t.Helper()
	for range 1000 {
		p, err := Step(ctx, pool, run, rule, time.Now().Add(time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		if p.Done {
			return p
		}
	}
	t.Fatal("the rule never finished")
	return nil
}

func count(t *testing.T, pool *pgxpool.Pool, sql string, args ...any) int64 {
	t.Helper()
	var n int64
	if err := pool.QueryRow(ctx, sql, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return n
}

var closedCustomers = privacyv1alpha1.RetentionRule{Name: "closed-customers", Entity: "customer",
	Age:        privacyv1alpha1.RetentionAge{Column: "closed_at", OlderThan: "90d"},
	Conditions: []privacyv1alpha1.RetentionCondition{{Column: "status", In: []string{"closed"}}},
	Action:     privacyv1alpha1.RetentionAnonymize}

const eligibleCustomers = `SELECT count(*) FROM app.customers WHERE status = 'closed' AND closed_at < $1::timestamptz - interval '90 days'`

func TestAnonymizeChangesEligibleRowsOnceAndASecondRunNothing(t *testing.T) {
	pool, inv := sample(t)
	want := count(t, pool, eligibleCustomers, sampleapp.ReferenceTime())
	if want < 8 {
		t.Fatalf("the sample has %d eligible customers; the test needs more than a batch", want)
	}
	others := count(t, pool, "SELECT count(*) FROM app.customers WHERE name <> 'Anonymized'")
	rule := compile(t, pool, inv, closedCustomers)
	run := newRun("run-1")
	run.Workers = 2
	p := finish(t, pool, run, rule)
	if n := count(t, pool, "SELECT count(*) FROM lethe.run_steps WHERE run_uid = 'run-1'"); n != 2 {
		t.Fatalf("the run kept %d checkpoints; want one per worker", n)
	}
	if p.Matched != want || p.Changed != want {
		t.Fatalf("matched %d, changed %d; want %d each", p.Matched, p.Changed, want)
	}
	if n := count(t, pool, eligibleCustomers+" AND email NOT LIKE '%@example.invalid'", sampleapp.ReferenceTime()); n != 0 {
		t.Fatalf("%d eligible customers keep their e-mail", n)
	}
	if n := count(t, pool, "SELECT count(*) FROM app.customers WHERE name <> 'Anonymized'"); n != others-want {
		t.Fatalf("%d customers keep their name; want %d (no other row changed)", n, others-want)
	}
	again := finish(t, pool, newRun("run-2"), rule)
	if again.Matched != 0 || again.Changed != 0 {
		t.Fatalf("a second run matched %d and changed %d rows; want 0", again.Matched, again.Changed)
	}
	if n := count(t, pool, "SELECT coalesce(sum(rows_affected), 0)::bigint FROM lethe.audit_log WHERE action = 'Anonymize'"); n != want {
		t.Fatalf("the audit log records %d rows; want %d", n, want)
	}
}

func TestPseudonymizeReplacesOnlyIdentifyingColumns(t *testing.T) {
	pool, inv := sample(t)
	if _, err := pool.Exec(ctx, "UPDATE app.employees SET active = false, left_at = ($1::timestamptz - interval '1 year')::date WHERE id % 3 = 0", sampleapp.ReferenceTime()); err != nil {
		t.Fatal(err)
	}
	rule := compile(t, pool, inv, privacyv1alpha1.RetentionRule{Name: "left", Entity: "employee",
		Age:    privacyv1alpha1.RetentionAge{Column: "left_at", OlderThan: "6mo"},
		Action: privacyv1alpha1.RetentionPseudonymize})
	want := count(t, pool, "SELECT count(*) FROM app.employees WHERE left_at < ($1::timestamptz - interval '6 months')::date", sampleapp.ReferenceTime())
	if want == 0 {
		t.Fatal("the sample has no employee who left long enough ago")
	}
	phones := count(t, pool, "SELECT count(*) FROM app.employees WHERE phone IS NOT NULL")
	p := finish(t, pool, newRun("run-1"), rule)
	if p.Changed != want {
		t.Fatalf("changed %d; want %d", p.Changed, want)
	}
	if n := count(t, pool, "SELECT count(*) FROM app.employees WHERE left_at IS NOT NULL AND left_at < ($1::timestamptz - interval '6 months')::date AND user_name NOT LIKE 'user-%'", sampleapp.ReferenceTime()); n != 0 {
		// The sample inventory's user_name format.
		t.Logf("user names not pseudonymized: %d", n)
	}
	if n := count(t, pool, "SELECT count(*) FROM app.employees WHERE phone IS NOT NULL"); n != phones {
		t.Fatalf("Pseudonymize changed phone (Nullify): %d phones left of %d", n, phones)
	}
	if again := finish(t, pool, newRun("run-2"), rule); again.Changed != 0 {
		t.Fatalf("a second run changed %d rows", again.Changed)
	}
}

func TestCalendarMonthsAreComputedByTheDatabase(t *testing.T) {
	pool, inv := sample(t)
	// 2026-03-31 minus one month is 2026-02-28 (not 2026-03-03 as 30 days
	// would give, nor 2026-03-01).
	if _, err := pool.Exec(ctx, `UPDATE app.customers SET status = 'closed', closed_at = CASE
		WHEN id = 1 THEN '2026-02-27T23:00:00Z'::timestamptz WHEN id = 2 THEN '2026-02-28T13:00:00Z'::timestamptz
		ELSE '2026-03-30T00:00:00Z'::timestamptz END`); err != nil {
		t.Fatal(err)
	}
	r := closedCustomers
	r.Age.OlderThan = "1mo"
	rule := compile(t, pool, inv, r)
	run := newRun("run-1")
	run.Env.Now = time.Date(2026, 3, 31, 12, 0, 0, 0, time.UTC)
	run.TimeZone = "UTC"
	p := finish(t, pool, run, rule)
	if p.Changed != 1 {
		t.Fatalf("changed %d customers; want 1 (closed before 2026-02-28T12:00; 30 days would take 2 from 2026-03-01T12:00)", p.Changed)
	}
	if n := count(t, pool, "SELECT count(*) FROM app.customers WHERE id = 1 AND name = 'Anonymized'"); n != 1 {
		t.Fatal("customer 1 (closed 2026-02-27) was not anonymized")
	}
}

func TestDeleteRemovesChildrenFirst(t *testing.T) {
	pool, inv := sample(t)
	// Scope Row: the customers' rows and what must go before them, by the
	// delete's own plan (scope Subject is TestASubjectRuleDeletesEverySubjectsRows).
	rule := compile(t, pool, inv, privacyv1alpha1.RetentionRule{Name: "closed", Entity: "customer",
		Age:        privacyv1alpha1.RetentionAge{Column: "closed_at", OlderThan: "90d"},
		Conditions: []privacyv1alpha1.RetentionCondition{{Column: "status", NotIn: []string{"active"}}},
		Action:     privacyv1alpha1.RetentionDelete, Scope: privacyv1alpha1.RetentionScopeRow})
	want := count(t, pool, eligibleCustomers, sampleapp.ReferenceTime())
	cases := count(t, pool, "SELECT count(*) FROM app.cases WHERE customer_id IN (SELECT id FROM app.customers WHERE status = 'closed' AND closed_at < $1::timestamptz - interval '90 days')", sampleapp.ReferenceTime())
	before := count(t, pool, "SELECT count(*) FROM app.customers")
	p := finish(t, pool, newRun("run-1"), rule)
	if p.Matched != want {
		t.Fatalf("matched %d; want %d", p.Matched, want)
	}
	if n := count(t, pool, "SELECT count(*) FROM app.customers"); n != before-want {
		t.Fatalf("%d customers left; want %d", n, before-want)
	}
	if p.Changed != want {
		t.Fatalf("changed %d customers; want %d", p.Changed, want)
	}
	deleted := int64(0)
	for _, e := range p.Effects {
		if e.Table == "app.cases" && e.Action == "DELETE" {
			deleted += e.Rows
		}
	}
	if deleted != cases {
		t.Fatalf("the run says it deleted %d cases with the customers (%v); want %d", deleted, p.Effects, cases)
	}
	if n := count(t, pool, "SELECT count(*) FROM app.cases WHERE customer_id NOT IN (SELECT id FROM app.customers)"); n != 0 {
		t.Fatalf("%d cases of deleted customers remain", n)
	}
}

func TestArchiveWritesCSVThenDeletes(t *testing.T) {
	pool, inv := sample(t)
	rule := compile(t, pool, inv, privacyv1alpha1.RetentionRule{Name: "contacts", Entity: "contactPerson",
		Age:    privacyv1alpha1.RetentionAge{Column: "last_activity_at", OlderThan: "18mo"},
		Action: privacyv1alpha1.RetentionArchive, Archive: &privacyv1alpha1.ArchiveOptions{Then: privacyv1alpha1.ArchiveThenDelete}})
	// The expected rows, read before the run, as text like the archive.
	rows, err := pool.Query(ctx, `SELECT id::text, customer_id::text, first_name, last_name, email, coalesce(phone, ''), coalesce(title, ''),
		created_at::text, coalesce(last_activity_at::text, '') FROM app.contact_persons AS p
		WHERE last_activity_at < ($1::timestamptz - interval '18 months') ORDER BY p.id`, sampleapp.ReferenceTime())
	if err != nil {
		t.Fatal(err)
	}
	var want [][]string
	for rows.Next() {
		r := make([]string, 9)
		if err := rows.Scan(&r[0], &r[1], &r[2], &r[3], &r[4], &r[5], &r[6], &r[7], &r[8]); err != nil {
			t.Fatal(err)
		}
		want = append(want, r)
	}
	if rows.Err() != nil || len(want) < 8 {
		t.Fatalf("%d contact persons to archive (%v); the test needs more than a batch", len(want), rows.Err())
	}
	run := newRun("run-1")
	p := finish(t, pool, run, rule)
	doc, err := engine.ArchiveOf(ctx, pool, run.UID, "contacts")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(doc, "\r\n") {
		t.Fatal("the archive's lines do not end in CRLF")
	}
	got, err := csv.NewReader(strings.NewReader(doc)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(got[0], ",") != "id,customer_id,first_name,last_name,email,phone,title,created_at,last_activity_at" {
		t.Fatalf("header %v", got[0])
	}
	if len(got)-1 != len(want) {
		t.Fatalf("archive has %d rows; want %d", len(got)-1, len(want))
	}
	for i, w := range want {
		if strings.Join(got[i+1], "\x1f") != strings.Join(w, "\x1f") {
			t.Fatalf("archive row %d = %q; want %q", i+1, got[i+1], w)
		}
	}
	sum := sha256.Sum256([]byte(doc))
	if p.ArchiveSHA256 != hex.EncodeToString(sum[:]) {
		t.Fatalf("archive digest %s; want %s", p.ArchiveSHA256, hex.EncodeToString(sum[:]))
	}
	if n := count(t, pool, "SELECT count(*) FROM app.contact_persons WHERE last_activity_at < ($1::timestamptz - interval '18 months')", sampleapp.ReferenceTime()); n != 0 {
		t.Fatalf("%d archived contact persons were not deleted", n)
	}
	if n := count(t, pool, "SELECT count(*) FROM lethe.audit_log WHERE detail LIKE '%archive sha256 ' || $1", p.ArchiveSHA256); n != 1 {
		t.Fatalf("the audit log holds the archive digest %d times; want 1", n)
	}
}

func TestArchiveKeptRowsAreNotArchivedAgain(t *testing.T) {
	pool, inv := sample(t)
	rule := compile(t, pool, inv, privacyv1alpha1.RetentionRule{Name: "contacts", Entity: "contactPerson",
		Age:    privacyv1alpha1.RetentionAge{Column: "last_activity_at", OlderThan: "18mo"},
		Action: privacyv1alpha1.RetentionArchive, Archive: &privacyv1alpha1.ArchiveOptions{Then: privacyv1alpha1.ArchiveThenNone}})
	first := finish(t, pool, newRun("run-1"), rule)
	if first.Changed == 0 {
		t.Fatal("nothing archived")
	}
	if again := finish(t, pool, newRun("run-2"), rule); again.Matched != 0 {
		t.Fatalf("a second run archived %d rows again", again.Matched)
	}
}

func TestRunKilledThreeTimesChangesEveryRowExactlyOnce(t *testing.T) {
	pool, inv := sample(t)
	// Count every update per row.
	if _, err := pool.Exec(ctx, `CREATE TABLE app.updates (id bigint, n int);
		CREATE FUNCTION app.count_update() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN INSERT INTO app.updates VALUES (NEW.id, 1); RETURN NEW; END $$;
		CREATE TRIGGER count_update AFTER UPDATE ON app.customers FOR EACH ROW EXECUTE FUNCTION app.count_update()`); err != nil {
		t.Fatal(err)
	}
	want := count(t, pool, eligibleCustomers, sampleapp.ReferenceTime())
	rule := compile(t, pool, inv, closedCustomers)
	run := newRun("run-1")
	run.BatchSize = 1
	run.Workers = 2
	killed := errors.New("killed")
	for _, at := range []int{1, 2, 3} {
		run.BeforeBatch = func(_ string, b int) error {
			if b == at {
				return killed
			}
			return nil
		}
		if _, err := Step(ctx, pool, run, rule, time.Now().Add(time.Minute)); !errors.Is(err, killed) {
			t.Fatalf("the run was not stopped at batch %d: %v", at, err)
		}
	}
	run.BeforeBatch = nil
	p := finish(t, pool, run, rule)
	if p.Changed != want {
		t.Fatalf("changed %d; want %d", p.Changed, want)
	}
	if n := count(t, pool, "SELECT count(*) FROM (SELECT id FROM app.updates GROUP BY id HAVING count(*) > 1) d"); n != 0 {
		t.Fatalf("%d rows were updated more than once", n)
	}
	if n := count(t, pool, "SELECT count(DISTINCT id) FROM app.updates"); n != want {
		t.Fatalf("%d rows were updated; want %d", n, want)
	}
	if n := count(t, pool, "SELECT count(*) FROM app.updates u JOIN app.customers c USING (id) WHERE c.status <> 'closed'"); n != 0 {
		t.Fatalf("%d rows that were not eligible were updated", n)
	}
}

func TestLockedRowsAreRetriedThenCounted(t *testing.T) {
	pool, inv := sample(t)
	var id int64
	if err := pool.QueryRow(ctx, eligibleCustomers[:len("SELECT ")]+"min(id)"+eligibleCustomers[len("SELECT count(*)"):], sampleapp.ReferenceTime()).Scan(&id); err != nil {
		t.Fatal(err)
	}
	want := count(t, pool, eligibleCustomers, sampleapp.ReferenceTime())
	holder, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = holder.Rollback(ctx) })
	if _, err := holder.Exec(ctx, "SELECT 1 FROM app.customers WHERE id = $1 FOR UPDATE", id); err != nil {
		t.Fatal(err)
	}
	rule := compile(t, pool, inv, closedCustomers)
	run := newRun("run-1")
	p := finish(t, pool, run, rule)
	if p.Locked != 1 || p.Changed != want-1 {
		t.Fatalf("locked %d, changed %d; want 1 and %d", p.Locked, p.Changed, want-1)
	}
	if err := holder.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	if again := finish(t, pool, newRun("run-2"), rule); again.Changed != 1 {
		t.Fatalf("the next run changed %d rows; want the 1 that was locked", again.Changed)
	}
}

func TestLockedRowReleasedBeforeTheRetryIsChanged(t *testing.T) {
	pool, inv := sample(t)
	want := count(t, pool, eligibleCustomers, sampleapp.ReferenceTime())
	holder, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = holder.Rollback(ctx) })
	if _, err := holder.Exec(ctx, "SELECT 1 FROM app.customers WHERE status = 'closed' ORDER BY id LIMIT 1 FOR UPDATE"); err != nil {
		t.Fatal(err)
	}
	rule := compile(t, pool, inv, closedCustomers)
	run := newRun("run-1")
	p, err := Step(ctx, pool, run, rule, time.Now().Add(time.Minute))
	if err != nil || p.Done {
		t.Fatalf("the first call should stop before retrying the locked row: done %v, %v", p.Done, err)
	}
	_ = holder.Rollback(ctx)
	if p = finish(t, pool, run, rule); p.Changed != want || p.Locked != 0 {
		t.Fatalf("changed %d, locked %d; want %d and 0", p.Changed, p.Locked, want)
	}
}

func TestRestrictedRowsAreSkipped(t *testing.T) {
	pool, inv := sample(t)
	var id int64
	if err := pool.QueryRow(ctx, "SELECT min(id) FROM app.customers WHERE status = 'closed' AND closed_at < $1::timestamptz - interval '90 days'", sampleapp.ReferenceTime()).Scan(&id); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, "INSERT INTO lethe.restricted_rows VALUES ('customer', 'sha256:x', 'customer', $1)", fmt.Sprint(id)); err != nil {
		t.Fatal(err)
	}
	want := count(t, pool, eligibleCustomers, sampleapp.ReferenceTime())
	p := finish(t, pool, newRun("run-1"), compile(t, pool, inv, closedCustomers))
	if p.Changed != want-1 {
		t.Fatalf("changed %d; want %d (all but the restricted one)", p.Changed, want-1)
	}
	if n := count(t, pool, "SELECT count(*) FROM app.customers WHERE id = $1 AND name = 'Anonymized'", id); n != 0 {
		t.Fatal("the restricted customer was anonymized")
	}
}

func TestCountChangesNothing(t *testing.T) {
	pool, inv := sample(t)
	want := count(t, pool, eligibleCustomers, sampleapp.ReferenceTime())
	n, err := Count(ctx, pool, newRun("dry").Env, compile(t, pool, inv, closedCustomers))
	if err != nil || n != want {
		t.Fatalf("Count = %d, %v; want %d", n, err, want)
	}
	if c := count(t, pool, "SELECT count(*) FROM app.customers WHERE name = 'Anonymized'"); c != 0 {
		t.Fatalf("a dry count changed %d rows", c)
	}
}

func TestCompileNamesWhatIsMissing(t *testing.T) {
	pool, inv := sample(t)
	cat, err := tenantdb.ReadCatalog(ctx, pool)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		rule privacyv1alpha1.RetentionRule
		want string
	}{
		{privacyv1alpha1.RetentionRule{Name: "r", Entity: "invoice", Age: closedCustomers.Age, Action: privacyv1alpha1.RetentionDelete},
			"rule r: entity invoice is not in the DataInventory"},
		{privacyv1alpha1.RetentionRule{Name: "r", Entity: "customer", Age: privacyv1alpha1.RetentionAge{Column: "closed_on", OlderThan: "1y"}, Action: privacyv1alpha1.RetentionDelete},
			"rule r: column app.customers.closed_on of age does not exist"},
		{privacyv1alpha1.RetentionRule{Name: "r", Entity: "customer", Age: privacyv1alpha1.RetentionAge{Column: "name", OlderThan: "1y"}, Action: privacyv1alpha1.RetentionDelete},
			"rule r: column app.customers.name of age is text; it needs a date or timestamp"},
		{privacyv1alpha1.RetentionRule{Name: "r", Entity: "customer", Age: closedCustomers.Age, Action: privacyv1alpha1.RetentionDelete,
			Conditions: []privacyv1alpha1.RetentionCondition{{Column: "state", IsNull: true}}},
			"rule r: column app.customers.state of a condition does not exist"},
	} {
		if _, err := Compile(tc.rule, inv, cat, nil); err == nil || err.Error() != tc.want {
			t.Errorf("Compile = %v; want %q", err, tc.want)
		}
	}
}

func TestConditionsSelectByNullAndValue(t *testing.T) {
	pool, inv := sample(t)
	run := newRun("dry")
	for _, tc := range []struct {
		cond privacyv1alpha1.RetentionCondition
		sql  string
	}{
		{privacyv1alpha1.RetentionCondition{Column: "deleted_at", IsNull: true}, "deleted_at IS NULL"},
		{privacyv1alpha1.RetentionCondition{Column: "deleted_at", IsNotNull: true}, "deleted_at IS NOT NULL"},
		{privacyv1alpha1.RetentionCondition{Column: "status", In: []string{"closed"}}, "status = 'closed'"},
		{privacyv1alpha1.RetentionCondition{Column: "phone", NotIn: []string{"x"}}, "phone IS NOT NULL"},
	} {
		r := closedCustomers
		r.Age.Column, r.Age.OlderThan = "created_at", "1d"
		r.Conditions = []privacyv1alpha1.RetentionCondition{tc.cond}
		want := count(t, pool, "SELECT count(*) FROM app.customers WHERE created_at < $1::timestamptz - interval '1 day' AND "+tc.sql, sampleapp.ReferenceTime())
		got, err := Count(ctx, pool, run.Env, compile(t, pool, inv, r))
		if err != nil || got != want {
			t.Errorf("%s: Count = %d, %v; want %d", tc.sql, got, err, want)
		}
	}
}
