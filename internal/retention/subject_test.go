package retention

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	privacyv1alpha1 "github.com/lethe-dev/lethe/api/v1alpha1"
	"github.com/lethe-dev/lethe/internal/audit"
	"github.com/lethe-dev/lethe/internal/dsr"
	"github.com/lethe-dev/lethe/internal/engine"
	"github.com/lethe-dev/lethe/internal/tenantdb"
	"github.com/lethe-dev/lethe/internal/testutil/sampleapp"
	"github.com/lethe-dev/lethe/internal/testutil/schemas"
)

// identity is what an erasure request would name a customer by.
type identity struct {
	id                    int64
	email, customerNumber string
}

// eligible lists the customers closedCustomers selects, with their
// identifiers as they are before any rule runs.
func eligible(t *testing.T, pool *pgxpool.Pool) []identity {
	t.Helper()
	rows, err := pool.Query(ctx, `SELECT id, email, customer_number FROM app.customers
		WHERE status = 'closed' AND closed_at < $1::timestamptz - interval '90 days' ORDER BY id`, sampleapp.ReferenceTime())
	if err != nil {
		t.Fatal(err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (identity, error) {
		var i identity
		err := r.Scan(&i.id, &i.email, &i.customerNumber)
		return i, err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// countUpdates records every update of a work order, a contact person and
// a link between a customer and a contact person (which two customers'
// graphs share when the contact person is another customer's), so a value
// masked twice shows.
func countUpdates(t *testing.T, pool *pgxpool.Pool) {
	t.Helper()
	if _, err := pool.Exec(ctx, `CREATE TABLE app.updates (tbl text, id bigint);
		CREATE FUNCTION app.count_update() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN INSERT INTO app.updates VALUES (TG_TABLE_NAME, NEW.id); RETURN NEW; END $$;
		CREATE TRIGGER count_update AFTER UPDATE ON app.work_orders FOR EACH ROW EXECUTE FUNCTION app.count_update();
		CREATE TRIGGER count_update AFTER UPDATE ON app.contact_persons FOR EACH ROW EXECUTE FUNCTION app.count_update();
		CREATE TRIGGER count_update AFTER UPDATE ON app.customer_contacts FOR EACH ROW EXECUTE FUNCTION app.count_update()`); err != nil {
		t.Fatal(err)
	}
}

const ofEligible = `customer_id IN (SELECT id FROM app.customers WHERE status = 'closed' AND closed_at < $1::timestamptz - interval '90 days')`

// A rule on the customers (a subject's root) anonymizes, with each batch
// of customers, every row an erasure by Anonymize would: their work orders'
// notes and site addresses, their cases' descriptions, their contact
// persons, the customer numbers of their links; deletes their case
// comments (onErasure DeleteRow); and leaves every other customer's rows
// as they are. A run of two workers killed between batches, then killed
// inside a batch after the children were masked, resumes and masks every
// row exactly once, rows two customers share included.
// An erasure request for one of them afterwards finds nothing and
// verifies.
func TestASubjectRuleAnonymizesEverySubjectsRowsExactlyOnce(t *testing.T) {
	pool, inv := sample(t)
	countUpdates(t, pool)
	ids := eligible(t, pool)
	ref := sampleapp.ReferenceTime()
	workOrders := count(t, pool, "SELECT count(*) FROM app.work_orders WHERE "+ofEligible, ref)
	notes := count(t, pool, "SELECT count(*) FROM app.work_orders WHERE notes <> '' AND "+ofEligible, ref)
	comments := count(t, pool, "SELECT count(*) FROM app.case_comments WHERE case_id IN (SELECT id FROM app.cases WHERE "+ofEligible+")", ref)
	contacts := count(t, pool, "SELECT count(*) FROM app.contact_persons WHERE "+ofEligible, ref)
	others := count(t, pool, "SELECT count(*) FROM app.work_orders WHERE site_address <> 'Anonymized' AND NOT "+ofEligible, ref)
	otherComments := count(t, pool, "SELECT count(*) FROM app.case_comments") - comments
	if len(ids) < 10 || notes == 0 || comments == 0 || contacts == 0 {
		t.Fatalf("the sample has %d eligible customers, %d work orders with notes, %d case comments, %d contact persons; the test needs more", len(ids), notes, comments, contacts)
	}
	// A kill inside the last customer's batch: its customers' update fails
	// after their children were masked in the same transaction.
	if _, err := pool.Exec(ctx, fmt.Sprintf(`CREATE SEQUENCE app.kill;
		CREATE FUNCTION app.kill() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN IF nextval('app.kill') = 10 THEN RAISE EXCEPTION 'killed'; END IF; RETURN NEW; END $$;
		CREATE TRIGGER kill BEFORE UPDATE ON app.customers FOR EACH ROW WHEN (OLD.id IN (%d)) EXECUTE FUNCTION app.kill()`,
		ids[len(ids)-1].id)); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, "SELECT setval('app.kill', 9)"); err != nil {
		t.Fatal(err)
	}

	rule := compile(t, pool, inv, closedCustomers)
	run := newRun("run-1")
	run.Workers, run.BatchSize = 2, 3
	stop := errors.New("stopped")
	run.BeforeBatch = func(_ string, batch int) error {
		if batch == 1 {
			return stop
		}
		return nil
	}
	if _, err := Step(ctx, pool, run, rule, time.Now().Add(time.Minute)); !errors.Is(err, stop) {
		t.Fatalf("the first attempt: %v, want the stop before a second batch", err)
	}
	run.BeforeBatch = nil
	if _, err := Step(ctx, pool, run, rule, time.Now().Add(time.Minute)); err == nil || !strings.Contains(err.Error(), "killed") {
		t.Fatalf("the second attempt: %v, want the kill inside a batch", err)
	}
	p := finish(t, pool, run, rule)

	if p.Changed != int64(len(ids)) {
		t.Fatalf("the rule changed %d customers; want %d", p.Changed, len(ids))
	}
	checks := []struct {
		what string
		sql  string
		want int64
	}{
		{"work orders of the customers keeping their site address", "SELECT count(*) FROM app.work_orders WHERE site_address <> 'Anonymized' AND " + ofEligible, 0},
		{"work orders of the customers keeping their notes", "SELECT count(*) FROM app.work_orders WHERE notes <> '' AND " + ofEligible, 0},
		{"cases of the customers keeping their description", "SELECT count(*) FROM app.cases WHERE description <> '' AND " + ofEligible, 0},
		{"case comments of the customers left", "SELECT count(*) FROM app.case_comments WHERE case_id IN (SELECT id FROM app.cases WHERE " + ofEligible + ")", 0},
		{"contact persons of the customers keeping their e-mail", "SELECT count(*) FROM app.contact_persons WHERE email NOT LIKE '%@example.invalid' AND " + ofEligible, 0},
		{"links of the customers keeping the customer number", "SELECT count(*) FROM app.customer_contacts WHERE customer_number <> '0' AND " + ofEligible, 0},
		{"other customers' work orders changed", "SELECT count(*) FROM app.work_orders WHERE site_address <> 'Anonymized' AND NOT " + ofEligible, others},
		{"other customers' case comments deleted", "SELECT count(*) FROM app.case_comments", otherComments},
		{"rows updated more than once", "SELECT count(*) FROM (SELECT tbl, id FROM app.updates GROUP BY tbl, id HAVING count(*) > 1) AS twice", 0},
		{"work orders updated", "SELECT count(DISTINCT id) FROM app.updates WHERE tbl = 'work_orders'", workOrders},
		{"keys in the ledger more than once", `SELECT count(*) FROM (SELECT table_name, k FROM lethe.run_batches, unnest(keys) AS k
			WHERE run_uid = 'run-1' GROUP BY table_name, k HAVING count(*) > 1) AS twice`, 0},
	}
	for _, c := range checks {
		var args []any
		if strings.Contains(c.sql, "$1") {
			args = append(args, ref)
		}
		if got := count(t, pool, c.sql, args...); got != c.want {
			t.Errorf("%s: %d; want %d", c.what, got, c.want)
		}
	}
	graph := map[string]engine.StepResult{}
	for _, g := range p.Graph {
		graph[g.Entity] = g
	}
	if g := graph["workOrder"]; g.Changed != workOrders || g.Action != "Mask" {
		t.Errorf("the run reports %+v for the work orders; want %d masked", g, workOrders)
	}
	if g := graph["caseComment"]; g.Changed != comments || g.Action != "Delete" {
		t.Errorf("the run reports %+v for the case comments; want %d deleted", g, comments)
	}
	if n := count(t, pool, `SELECT count(*) FROM lethe.erased_rows WHERE table_name = 'app.work_orders'`); n != workOrders {
		t.Errorf("lethe.erased_rows lists %d work orders; want %d", n, workOrders)
	}
	if n := count(t, pool, `SELECT coalesce(sum(rows_affected), 0)::bigint FROM lethe.audit_log WHERE action = 'Mask' AND entity = 'workOrder'`); n != workOrders {
		t.Errorf("the audit log records %d work orders masked; want %d", n, workOrders)
	}
	if again := finish(t, pool, newRun("run-2"), rule); again.Changed != 0 || len(again.Graph) != 0 {
		t.Errorf("a second run changed %d customers and %v; want nothing", again.Changed, again.Graph)
	}

	for _, who := range ids {
		erase(t, pool, inv, who)
	}
}

// erase runs an erasure request for a customer by its identifiers as they
// were before any rule ran, and fails the test unless it finds nothing and
// no identifier remains.
func erase(t *testing.T, pool *pgxpool.Pool, inv *privacyv1alpha1.DataInventorySpec, who identity) {
	t.Helper()
	identifiers := map[string]string{"email": who.email, "customerNumber": who.customerNumber}
	uid := fmt.Sprintf("req-%d", who.id)
	in := &dsr.Input{
		Run: engine.Run{UID: uid, Type: "Erasure", SubjectType: "customer", SubjectDigest: "sha256:" + uid, Actor: "tester",
			Object: audit.Object{Kind: "DataSubjectRequest", Namespace: "ns", Name: uid, UID: uid}, Clock: sampleapp.ReferenceTime},
		Type: privacyv1alpha1.RequestErasure, Tenant: "acme", Inventory: inv, Salt: []byte("salt"),
		Identifiers: identifiers, Method: privacyv1alpha1.ErasureAnonymize, Engine: engine.Options{BatchSize: 4},
	}
	out, err := dsr.Execute(ctx, pool, in)
	if err != nil {
		t.Fatalf("erasure of customer %d: %v", who.id, err)
	}
	for _, e := range out.Entities {
		if e.Found > 0 {
			t.Errorf("the erasure of customer %d found %d rows of %s", who.id, e.Found, e.Entity)
		}
	}
	remaining, err := dsr.Verify(ctx, pool, inv, identifiers)
	if err != nil {
		t.Fatal(err)
	}
	if len(remaining) > 0 {
		t.Errorf("customer %d: an identifier remains in %v", who.id, remaining)
	}
}

// A rule of scope Row keeps to the rule's entity: the customers are
// anonymized, and their work orders, cases and contact persons keep their
// values.
func TestAScopeRowRuleChangesTheRootOnly(t *testing.T) {
	pool, inv := sample(t)
	ref := sampleapp.ReferenceTime()
	notes := count(t, pool, "SELECT count(*) FROM app.work_orders WHERE notes <> '' AND "+ofEligible, ref)
	contacts := count(t, pool, "SELECT count(*) FROM app.contact_persons WHERE email NOT LIKE '%@example.invalid' AND "+ofEligible, ref)
	r := closedCustomers
	r.Scope = privacyv1alpha1.RetentionScopeRow
	p := finish(t, pool, newRun("run-1"), compile(t, pool, inv, r))
	if want := int64(len(eligible(t, pool))); p.Changed != want || want == 0 {
		t.Fatalf("the rule changed %d customers; want %d", p.Changed, want)
	}
	if len(p.Graph) != 0 {
		t.Errorf("a rule of scope Row changed other entities: %v", p.Graph)
	}
	if n := count(t, pool, "SELECT count(*) FROM app.work_orders WHERE notes <> '' AND "+ofEligible, ref); n != notes {
		t.Errorf("%d work orders keep their notes; want %d (scope Row leaves them)", n, notes)
	}
	if n := count(t, pool, "SELECT count(*) FROM app.contact_persons WHERE email NOT LIKE '%@example.invalid' AND "+ofEligible, ref); n != contacts {
		t.Errorf("%d contact persons keep their e-mail; want %d (scope Row leaves them)", n, contacts)
	}
}

// A Delete rule on the customers deletes, with each batch of customers,
// what an erasure by Delete would: their work orders, cases (and their
// comments and conversations), contact persons and links before them, and
// the addresses no other customer refers to after them; shared addresses
// stay.
func TestASubjectRuleDeletesEverySubjectsRows(t *testing.T) {
	pool, inv := sample(t)
	ref := sampleapp.ReferenceTime()
	ids := eligible(t, pool)
	const doomed = "SELECT id FROM app.customers WHERE status = 'closed' AND closed_at < $1::timestamptz - interval '90 days'"
	ownAddresses := count(t, pool, `SELECT count(*) FROM app.addresses a WHERE EXISTS (SELECT 1 FROM app.customers c WHERE c.address_id = a.id)
		AND NOT EXISTS (SELECT 1 FROM app.customers c WHERE c.address_id = a.id AND c.id NOT IN (`+doomed+`))`, ref)
	addresses := count(t, pool, "SELECT count(*) FROM app.addresses")
	workOrders := count(t, pool, "SELECT count(*) FROM app.work_orders")
	theirs := count(t, pool, "SELECT count(*) FROM app.work_orders WHERE "+ofEligible, ref)
	if ownAddresses == 0 || theirs == 0 {
		t.Fatalf("the eligible customers have %d addresses of their own and %d work orders; the test needs some", ownAddresses, theirs)
	}
	r := closedCustomers
	r.Action = privacyv1alpha1.RetentionDelete
	p := finish(t, pool, newRun("run-1"), compile(t, pool, inv, r))
	if p.Changed != int64(len(ids)) {
		t.Fatalf("the rule deleted %d customers; want %d", p.Changed, len(ids))
	}
	for _, c := range []struct {
		what string
		sql  string
		want int64
	}{
		{"customers left of those selected", "SELECT count(*) FROM app.customers WHERE id = ANY($1::bigint[])", 0},
		{"work orders left", "SELECT count(*) FROM app.work_orders", workOrders - theirs},
		{"contact persons of deleted customers", "SELECT count(*) FROM app.contact_persons WHERE customer_id NOT IN (SELECT id FROM app.customers)", 0},
		{"addresses left", "SELECT count(*) FROM app.addresses", addresses - ownAddresses},
	} {
		var args []any
		if strings.Contains(c.sql, "$1") {
			keys := make([]int64, len(ids))
			for i, who := range ids {
				keys[i] = who.id
			}
			args = append(args, keys)
		}
		if got := count(t, pool, c.sql, args...); got != c.want {
			t.Errorf("%s: %d; want %d", c.what, got, c.want)
		}
	}
	deleted := map[string]int64{}
	for _, g := range p.Graph {
		if g.Action == "Delete" {
			deleted[g.Entity] = g.Changed
		}
	}
	if deleted["address"] != ownAddresses || deleted["workOrder"] != theirs {
		t.Errorf("the run reports %v deleted; want %d addresses and %d work orders", deleted, ownAddresses, theirs)
	}
}

// On the public Chinook schema (a store the operator did not write), a rule
// on the customers anonymizes their invoices' billing addresses with them,
// exactly once across a run stopped between batches, and leaves the other
// customers' invoices; an erasure request for one of them afterwards finds
// nothing and verifies. Chinook records no closing date: the store adds
// one, as a shop that closes accounts would.
func TestASubjectRuleAnonymizesChinookInvoices(t *testing.T) {
	pool, _, inv := schemas.Open(t, schemas.Chinook, schemas.Options{})
	if _, err := pool.Exec(ctx, `ALTER TABLE public.customer ADD COLUMN closed_at timestamptz;
		UPDATE public.customer SET closed_at = '2024-01-01T00:00:00Z' WHERE customer_id % 3 = 0`); err != nil {
		t.Fatal(err)
	}
	closed := "customer_id IN (SELECT customer_id FROM public.customer WHERE closed_at IS NOT NULL)"
	var email string
	if err := pool.QueryRow(ctx, "SELECT email FROM public.customer WHERE customer_id = 3").Scan(&email); err != nil {
		t.Fatal(err)
	}
	invoices := count(t, pool, "SELECT count(*) FROM public.invoice WHERE "+closed)
	others := count(t, pool, "SELECT count(*) FROM public.invoice WHERE billing_address IS NOT NULL AND NOT "+closed)
	if invoices < 20 {
		t.Fatalf("the closed customers have %d invoices; the test needs more than a few batches", invoices)
	}
	cat, err := tenantdb.ReadCatalog(ctx, pool)
	if err != nil {
		t.Fatal(err)
	}
	rule, err := Compile(privacyv1alpha1.RetentionRule{Name: "closed-customers", Entity: "customer",
		Age: privacyv1alpha1.RetentionAge{Column: "closed_at", OlderThan: "90d"}, Action: privacyv1alpha1.RetentionAnonymize}, inv, cat, nil)
	if err != nil {
		t.Fatal(err)
	}
	run := newRun("run-1")
	run.BatchSize = 4
	stop := errors.New("stopped")
	run.BeforeBatch = func(_ string, batch int) error {
		if batch == 2 {
			return stop
		}
		return nil
	}
	if _, err := Step(ctx, pool, run, rule, time.Now().Add(time.Minute)); !errors.Is(err, stop) {
		t.Fatalf("the first attempt: %v, want the stop before its third batch", err)
	}
	run.BeforeBatch = nil
	p := finish(t, pool, run, rule)
	if want := count(t, pool, "SELECT count(*) FROM public.customer WHERE closed_at IS NOT NULL"); p.Changed != want {
		t.Fatalf("the rule changed %d customers; want %d", p.Changed, want)
	}
	if n := count(t, pool, "SELECT count(*) FROM public.invoice WHERE (billing_address IS NOT NULL OR billing_city IS NOT NULL) AND "+closed); n != 0 {
		t.Errorf("%d invoices of the closed customers keep their billing address", n)
	}
	if n := count(t, pool, "SELECT count(*) FROM public.invoice WHERE billing_address IS NOT NULL AND NOT "+closed); n != others {
		t.Errorf("%d other invoices keep their billing address; want %d", n, others)
	}
	if n := count(t, pool, `SELECT count(*) FROM (SELECT k FROM lethe.run_batches, unnest(keys) AS k
		WHERE run_uid = 'run-1' AND table_name = 'public.invoice' GROUP BY k HAVING count(*) > 1) AS twice`); n != 0 {
		t.Errorf("%d invoices were masked more than once", n)
	}
	if n := count(t, pool, "SELECT count(*) FROM lethe.erased_rows WHERE table_name = 'public.invoice'"); n != invoices {
		t.Errorf("lethe.erased_rows lists %d invoices; want %d", n, invoices)
	}
	in := &dsr.Input{
		Run: engine.Run{UID: "req-3", Type: "Erasure", SubjectType: "customer", SubjectDigest: "sha256:req-3", Actor: "tester",
			Object: audit.Object{Kind: "DataSubjectRequest", Namespace: "ns", Name: "r", UID: "req-3"}, Clock: sampleapp.ReferenceTime},
		Type: privacyv1alpha1.RequestErasure, Tenant: "chinook", Inventory: inv, Salt: []byte("salt"),
		Identifiers: map[string]string{"email": email}, Method: privacyv1alpha1.ErasureAnonymize,
	}
	out, err := dsr.Execute(ctx, pool, in)
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Entities) != 0 {
		t.Errorf("the erasure afterwards found %+v; want nothing", out.Entities)
	}
	if remaining, err := dsr.Verify(ctx, pool, inv, in.Identifiers); err != nil || len(remaining) != 0 {
		t.Errorf("the erasure afterwards does not verify: %v %v", remaining, err)
	}
}

// A row a restricted subject shares with one a rule anonymizes (a link
// between customer B and a contact person of restricted customer A) stays
// as it is: retention skips a restricted subject's rows.
func TestASubjectRuleLeavesARestrictedSubjectsSharedRow(t *testing.T) {
	pool, inv := sample(t)
	var link, a, b int64
	var email string
	if err := pool.QueryRow(ctx, `SELECT l.id, p.customer_id, l.customer_id, c.email FROM app.customer_contacts l
		JOIN app.contact_persons p ON p.id = l.contact_person_id JOIN app.customers c ON c.id = p.customer_id
		WHERE p.customer_id <> l.customer_id ORDER BY l.id LIMIT 1`).Scan(&link, &a, &b, &email); err != nil {
		t.Fatalf("the sample links no customer to another's contact person: %v", err)
	}
	if _, err := pool.Exec(ctx, `UPDATE app.customers SET status = CASE WHEN id = $1 THEN 'closed' ELSE 'active' END,
		closed_at = CASE WHEN id = $1 THEN $2::timestamptz - interval '1 year' END`, b, sampleapp.ReferenceTime()); err != nil {
		t.Fatal(err)
	}
	in := &dsr.Input{
		Run: engine.Run{UID: "req-a", Type: "Restriction", SubjectType: "customer", SubjectDigest: "sha256:a", Actor: "tester",
			Object: audit.Object{Kind: "DataSubjectRequest", Namespace: "ns", Name: "a", UID: "req-a"}, Clock: sampleapp.ReferenceTime},
		Type: privacyv1alpha1.RequestRestriction, Tenant: "acme", Inventory: inv, Identifiers: map[string]string{"email": email},
	}
	if _, err := dsr.Execute(ctx, pool, in); err != nil {
		t.Fatal(err)
	}
	const number = "SELECT customer_number FROM app.customer_contacts WHERE id = $1"
	var before, after string
	if err := pool.QueryRow(ctx, number, link).Scan(&before); err != nil {
		t.Fatal(err)
	}
	p := finish(t, pool, newRun("run-1"), compile(t, pool, inv, closedCustomers))
	if p.Changed != 1 {
		t.Fatalf("the rule changed %d customers; want customer %d alone", p.Changed, b)
	}
	if err := pool.QueryRow(ctx, number, link).Scan(&after); err != nil {
		t.Fatal(err)
	}
	if after != before {
		t.Errorf("the link %d restricted customer %d shares was masked", link, a)
	}
	if n := count(t, pool, "SELECT count(*) FROM app.customer_contacts WHERE customer_id = $1 AND id <> $2 AND customer_number <> '0'", b, link); n != 0 {
		t.Errorf("%d other links of customer %d keep the customer number", n, b)
	}
}

// A root nothing in the inventory relates to (Chinook's employees) is its
// subjects' whole graph: a rule on it runs as a rule of scope Row does, one
// statement a batch, with no graph to plan.
func TestARootWithNothingRelatedRunsAsRows(t *testing.T) {
	pool, _, inv := schemas.Open(t, schemas.Chinook, schemas.Options{})
	cat, err := tenantdb.ReadCatalog(ctx, pool)
	if err != nil {
		t.Fatal(err)
	}
	rule, err := Compile(privacyv1alpha1.RetentionRule{Name: "hired-long-ago", Entity: "employee",
		Age: privacyv1alpha1.RetentionAge{Column: "hire_date", OlderThan: "1y"}, Action: privacyv1alpha1.RetentionAnonymize}, inv, cat, nil)
	if err != nil {
		t.Fatal(err)
	}
	if rule.Step(Env{Now: sampleapp.ReferenceTime()}).Graph != nil {
		t.Error("a rule on a root nothing relates to plans a graph")
	}
}
