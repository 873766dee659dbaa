package dsr_test

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	privacyv1alpha1 "github.com/lethe-dev/lethe/api/v1alpha1"
	"github.com/lethe-dev/lethe/internal/audit"
	"github.com/lethe-dev/lethe/internal/dsr"
	"github.com/lethe-dev/lethe/internal/engine"
	"github.com/lethe-dev/lethe/internal/retention"
	"github.com/lethe-dev/lethe/internal/tenantdb"
	"github.com/lethe-dev/lethe/internal/testutil/sampleapp"
	"github.com/lethe-dev/lethe/internal/testutil/sampledb"
	"github.com/lethe-dev/lethe/internal/testutil/schemas"
)

// The archive tests run a retention rule, and retention plans its subjects'
// graphs with this package: they are tests from outside it, with helpers of
// their own (those of dsr_test.go and shapes_test.go).

func sample(t *testing.T) (*pgxpool.Pool, *privacyv1alpha1.DataInventorySpec) {
	t.Helper()
	return sampledb.Open(t, sampleapp.Options{Tenant: "acme", Seed: 7, Customers: 20})
}

func scalar[T any](t *testing.T, pool *pgxpool.Pool, sql string, args ...any) T {
	t.Helper()
	var v T
	if err := pool.QueryRow(context.Background(), sql, args...).Scan(&v); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return v
}

func request(uid string, typ privacyv1alpha1.RequestType, spec *privacyv1alpha1.DataInventorySpec, subjectType string, ids map[string]string) *dsr.Input {
	return &dsr.Input{
		Run: engine.Run{UID: uid, Type: string(typ), SubjectType: subjectType, SubjectDigest: "sha256:" + uid,
			Actor: "tester", Object: audit.Object{Kind: "DataSubjectRequest", Namespace: "ns", Name: uid, UID: uid},
			Clock: func() time.Time { return time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC) }},
		Type: typ, Tenant: "t", Inventory: spec, Identifiers: ids, Method: privacyv1alpha1.ErasureDelete,
		Engine: engine.Options{BatchSize: 3},
	}
}

var testSalt = []byte("namespace salt")

// archive runs a retention rule that archives and keeps rows (run runID,
// rule r), as a policy of the namespace whose salt the requests share.
func archive(t *testing.T, pool *pgxpool.Pool, spec *privacyv1alpha1.DataInventorySpec, runID string, r privacyv1alpha1.RetentionRule) {
	t.Helper()
	ctx := context.Background()
	cat, err := tenantdb.ReadCatalog(ctx, pool)
	if err != nil {
		t.Fatal(err)
	}
	r.Action = privacyv1alpha1.RetentionArchive
	if r.Archive == nil {
		r.Archive = &privacyv1alpha1.ArchiveOptions{Then: privacyv1alpha1.ArchiveThenNone}
	}
	rule, err := retention.Compile(r, spec, cat, nil)
	if err != nil {
		t.Fatal(err)
	}
	run := engine.Run{UID: runID, Kind: engine.KindPolicy, Type: "Retention", Actor: "tester",
		Object: audit.Object{Kind: "RetentionPolicy", Namespace: "ns", Name: "p", UID: "policy-1"}}
	env := retention.Env{PolicyUID: "policy-1", Now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), Salt: testSalt}
	for range 100 {
		p, err := engine.Advance(ctx, pool, &run, rule.Step(env), engine.Options{BatchSize: 3}, time.Now().Add(time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		if p.Done {
			if p.Changed == 0 {
				t.Fatalf("rule %s archived nothing", r.Name)
			}
			return
		}
	}
	t.Fatalf("rule %s never finished", r.Name)
}

func archiveCSV(t *testing.T, pool *pgxpool.Pool, runID, rule string) string {
	t.Helper()
	doc, err := engine.ArchiveOf(context.Background(), pool, runID, rule)
	if err != nil {
		t.Fatal(err)
	}
	return doc
}

// On the public Chinook schema, a customer's invoices archived by
// retention (they reach the customer through their foreign key)
// are exported by an access request under archives/<entity>, named by
// verification while they hold the e-mail, and removed by an erasure, with
// an audit record, from the archive's rows and from its CSV, which then
// reads as if they had never been archived; the other customer's rows stay.
func TestArchivedRowsAreExportedErasedAndVerifiedOnChinook(t *testing.T) {
	pool, _, spec := schemas.Open(t, schemas.Chinook, schemas.Options{})
	ctx := context.Background()
	email := scalar[string](t, pool, "SELECT email FROM public.customer WHERE customer_id = 12")
	other := scalar[string](t, pool, "SELECT email FROM public.customer WHERE customer_id = 13")
	invoices := scalar[int64](t, pool, "SELECT count(*) FROM public.invoice WHERE customer_id = 12")
	only := []privacyv1alpha1.RetentionCondition{{Column: "customer_id", In: []string{"12", "13"}}}
	// The e-mail planted in capitals in one of the customer's invoices.
	if _, err := pool.Exec(ctx, "UPDATE public.invoice SET billing_address = upper($1) WHERE invoice_id = (SELECT min(invoice_id) FROM public.invoice WHERE customer_id = 12)", email); err != nil {
		t.Fatal(err)
	}
	archive(t, pool, spec, "run-1", privacyv1alpha1.RetentionRule{Name: "invoices", Entity: "invoice",
		Age: privacyv1alpha1.RetentionAge{Column: "invoice_date", OlderThan: "1d"}, Conditions: only})

	// Each archived invoice carries its customer's digest over every
	// identifier the root maps, and a blind index entry per identifier,
	// computed by the database as Digest computes them.
	digest := dsr.Digest(testSalt, "customer", map[string]string{"email": email, "customerId": "12"})
	if n := scalar[int64](t, pool, `SELECT count(*) FROM lethe.archived_rows WHERE subject_type = 'customer' AND subject_digest = $1
		AND subject_index @> $2::text[] AND cardinality(subject_index) = 2`,
		digest, []string{dsr.Digest(testSalt, "customer", map[string]string{"email": email}), dsr.Digest(testSalt, "customer", map[string]string{"customerId": "12"})}); n != invoices {
		t.Fatalf("%d archived invoices carry customer 12's digest and blind index; want %d", n, invoices)
	}
	in := request("access-1", privacyv1alpha1.RequestAccess, spec, "customer", map[string]string{"email": email})
	in.Salt = testSalt
	out, err := dsr.Execute(ctx, pool, in)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string][]json.RawMessage{}
	for _, tb := range out.Export {
		got[tb.Entity] = tb.Rows
	}
	if int64(len(got["archives/invoice"])) != invoices {
		t.Fatalf("the access export holds %d archived invoices; want %d", len(got["archives/invoice"]), invoices)
	}
	var row map[string]string
	if err := json.Unmarshal(got["archives/invoice"][0], &row); err != nil || row["customer_id"] != "12" || row["archiveRule"] != "invoices" || row["archiveRun"] != "run-1" {
		t.Fatalf("the archived invoice is exported as %v (%v)", row, err)
	}
	if n := scalar[int64](t, pool, "SELECT count(*) FROM lethe.audit_log WHERE action = 'ExportArchived' AND rows_affected = $1", invoices); n != 1 {
		t.Fatalf("%d audit records of the archived rows exported; want 1", n)
	}

	ids := map[string]string{"email": email}
	remaining, err := dsr.Verify(ctx, pool, spec, ids)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(remaining, dsr.ArchiveName("run-1", "invoices")) {
		t.Fatalf("before the erasure, verification names %v; want the invoices archive among them", remaining)
	}

	erase := request("erase-1", privacyv1alpha1.RequestErasure, spec, "customer", ids)
	erase.Salt = testSalt
	erase.Method = privacyv1alpha1.ErasureAnonymize
	res, err := dsr.Execute(ctx, pool, erase)
	if err != nil {
		t.Fatal(err)
	}
	if res.Archived != invoices {
		t.Fatalf("the erasure removed %d archived rows; want %d", res.Archived, invoices)
	}
	if remaining, err := dsr.Verify(ctx, pool, spec, ids); err != nil || len(remaining) != 0 {
		t.Fatalf("after the erasure, verification names %v (%v)", remaining, err)
	}
	if n := scalar[int64](t, pool, "SELECT count(*) FROM lethe.audit_log WHERE action = 'EraseArchived' AND rows_affected = $1", invoices); n != 1 {
		t.Fatalf("%d audit records of the archived rows erased; want 1", n)
	}
	// The archive reads as an archive of customer 13's invoices alone,
	// made by a run of the same rule on a table holding only those.
	doc := archiveCSV(t, pool, "run-1", "invoices")
	if strings.Contains(strings.ToLower(doc), strings.ToLower(email)) {
		t.Fatalf("the archive still holds the e-mail:\n%s", doc)
	}
	if _, err := pool.Exec(ctx, `ALTER TABLE public.invoice_line DROP CONSTRAINT invoice_line_invoice_id_fkey;
		DELETE FROM public.invoice WHERE customer_id <> 13`); err != nil {
		t.Fatal(err)
	}
	archive(t, pool, spec, "run-2", privacyv1alpha1.RetentionRule{Name: "invoices-again", Entity: "invoice",
		Age: privacyv1alpha1.RetentionAge{Column: "invoice_date", OlderThan: "1d"}, Conditions: only})
	if want := archiveCSV(t, pool, "run-2", "invoices-again"); doc != want {
		t.Fatalf("archive after the erasure:\n%s\nwant:\n%s", doc, want)
	}
	if n := scalar[int64](t, pool, "SELECT sum(rows) FROM lethe.retention_archives"); n != scalar[int64](t, pool, "SELECT count(*) FROM lethe.archived_rows") {
		t.Fatalf("the archives count %d rows; %d remain", n, scalar[int64](t, pool, "SELECT count(*) FROM lethe.archived_rows"))
	}

	// The other customer's rows are still exported.
	in = request("access-2", privacyv1alpha1.RequestAccess, spec, "customer", map[string]string{"email": other})
	in.Salt = testSalt
	if out, err = dsr.Execute(ctx, pool, in); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, tb := range out.Export {
		found = found || (tb.Entity == "archives/invoice" && len(tb.Rows) > 0)
	}
	if !found {
		t.Fatal("the other customer's archived row is no longer exported")
	}
}

// On the sample application, a contact person archived and deleted by
// retention is still theirs: an access request for their e-mail exports
// the archived row, and an erasure removes it (the contact person is no
// longer in the application at all).
func TestArchivedAndDeletedContactPersonIsExportedThenErased(t *testing.T) {
	pool, spec := sample(t)
	ctx := context.Background()
	email := scalar[string](t, pool, `SELECT email FROM app.contact_persons
		WHERE last_activity_at < timestamptz '2026-01-01' - interval '18 months' ORDER BY id LIMIT 1`)
	archive(t, pool, spec, "run-1", privacyv1alpha1.RetentionRule{Name: "contacts", Entity: "contactPerson",
		Age:     privacyv1alpha1.RetentionAge{Column: "last_activity_at", OlderThan: "18mo"},
		Archive: &privacyv1alpha1.ArchiveOptions{Then: privacyv1alpha1.ArchiveThenDelete}})
	if n := scalar[int64](t, pool, "SELECT count(*) FROM app.contact_persons WHERE email = $1", email); n != 0 {
		t.Fatal("the archived contact person was not deleted")
	}
	ids := map[string]string{"email": email}
	in := request("access-1", privacyv1alpha1.RequestAccess, spec, "contactPerson", ids)
	in.Salt = testSalt
	out, err := dsr.Execute(ctx, pool, in)
	if err != nil {
		t.Fatal(err)
	}
	var rows []json.RawMessage
	for _, tb := range out.Export {
		if tb.Entity == "archives/contactPerson" {
			rows = tb.Rows
		}
	}
	if len(rows) != 1 || !strings.Contains(string(rows[0]), email) {
		t.Fatalf("the access export holds %d archived contact persons; want theirs", len(rows))
	}
	if remaining, err := dsr.Verify(ctx, pool, spec, ids); err != nil || !slices.Contains(remaining, dsr.ArchiveName("run-1", "contacts")) {
		t.Fatalf("verification names %v (%v); want the archive", remaining, err)
	}
	erase := request("erase-1", privacyv1alpha1.RequestErasure, spec, "contactPerson", ids)
	erase.Salt = testSalt
	res, err := dsr.Execute(ctx, pool, erase)
	if err != nil {
		t.Fatal(err)
	}
	if res.Archived != 1 {
		t.Fatalf("the erasure removed %d archived rows; want 1", res.Archived)
	}
	if remaining, err := dsr.Verify(ctx, pool, spec, ids); err != nil || len(remaining) != 0 {
		t.Fatalf("after the erasure, verification names %v (%v)", remaining, err)
	}
	if strings.Contains(archiveCSV(t, pool, "run-1", "contacts"), email) {
		t.Fatal("the archive's CSV still holds the contact person")
	}
}
