package dsr

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	privacyv1alpha1 "github.com/lethe-dev/lethe/api/v1alpha1"
	"github.com/lethe-dev/lethe/internal/audit"
	"github.com/lethe-dev/lethe/internal/engine"
	"github.com/lethe-dev/lethe/internal/testutil/schemas"
)

// request is a request of type typ for a subject on one of the schemas.
func request(uid string, typ privacyv1alpha1.RequestType, spec *privacyv1alpha1.DataInventorySpec, subjectType string, ids map[string]string) *Input {
	return &Input{
		Run: engine.Run{UID: uid, Type: string(typ), SubjectType: subjectType, SubjectDigest: "sha256:" + uid,
			Actor: "tester", Object: audit.Object{Kind: "DataSubjectRequest", Namespace: "ns", Name: uid, UID: uid},
			Clock: func() time.Time { return time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC) }},
		Type: typ, Tenant: "t", Inventory: spec, Identifiers: ids, Method: privacyv1alpha1.ErasureDelete,
		Engine: engine.Options{BatchSize: 3},
	}
}

// tableCounts counts the rows of every user table.
func tableCounts(t *testing.T, pool *pgxpool.Pool) map[string]int64 {
	t.Helper()
	rows, err := pool.Query(context.Background(), `SELECT format('%I.%I', n.nspname, c.relname) FROM pg_catalog.pg_class c
		JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
		WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition AND n.nspname IN ('public', 'edge')`)
	if err != nil {
		t.Fatal(err)
	}
	var tables []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		tables = append(tables, s)
	}
	out := map[string]int64{}
	for _, tb := range tables {
		out[tb] = scalar[int64](t, pool, "SELECT count(*) FROM "+tb)
	}
	return out
}

// Access exports every row reachable from the subject, partitions and
// composite keys included, as many as direct SQL counts.
func TestAccessIsCompleteOnEverySchema(t *testing.T) {
	cases := []struct {
		schema, subject string
		ids             map[string]string
		want            map[string]string // entity -> SQL counting its rows of the subject
	}{
		{schema: schemas.Edge, subject: "member", ids: map[string]string{"email": schemas.MemberEmail(8)}, want: map[string]string{
			"member":       "SELECT count(*) FROM edge.members WHERE email = 'member8@example.org'",
			"account":      "SELECT count(*) FROM edge.accounts a JOIN edge.members m ON m.id = a.member_id WHERE m.email = 'member8@example.org'",
			"payment":      "SELECT count(*) FROM edge.payments p JOIN edge.accounts a ON a.code = p.account_code JOIN edge.members m ON m.id = a.member_id WHERE m.email = 'member8@example.org'",
			"refund":       "SELECT count(*) FROM edge.refunds r JOIN edge.payments p ON (p.paid_at, p.id) = (r.paid_at, r.payment_id) JOIN edge.accounts a ON a.code = p.account_code JOIN edge.members m ON m.id = a.member_id WHERE m.email = 'member8@example.org'",
			"device":       "SELECT count(*) FROM edge.devices d JOIN edge.members m ON m.id = d.member_id WHERE m.email = 'member8@example.org'",
			"subscription": "SELECT count(*) FROM edge.subscriptions WHERE member_email = 'member8@example.org'",
			"address":      "SELECT count(*) FROM edge.addresses a JOIN edge.members m ON m.id = a.profile_id WHERE m.email = 'member8@example.org'",
			"cartItem":     "SELECT count(*) FROM edge.cart_items i JOIN edge.carts c ON c.id = i.cart_id JOIN edge.members m ON m.id = c.member_id WHERE m.email = 'member8@example.org'",
		}},
		{schema: schemas.Chinook, subject: "customer", ids: map[string]string{"customerId": "12"}, want: map[string]string{
			"customer":    "SELECT count(*) FROM public.customer WHERE customer_id = 12",
			"invoice":     "SELECT count(*) FROM public.invoice WHERE customer_id = 12",
			"invoiceLine": "SELECT count(*) FROM public.invoice_line l JOIN public.invoice i USING (invoice_id) WHERE i.customer_id = 12",
		}},
		{schema: schemas.Northwind, subject: "customer", ids: map[string]string{"customerId": "ALFKI"}, want: map[string]string{
			"customer":    "SELECT count(*) FROM public.customers WHERE customer_id = 'ALFKI'",
			"order":       "SELECT count(*) FROM public.orders WHERE customer_id = 'ALFKI'",
			"orderDetail": "SELECT count(*) FROM public.order_details d JOIN public.orders o USING (order_id) WHERE o.customer_id = 'ALFKI'",
		}},
		{schema: schemas.Northwind, subject: "employee", ids: map[string]string{"employeeId": "5"}, want: map[string]string{
			"employee":          "SELECT count(*) FROM public.employees WHERE employee_id = 5",
			"employeeTerritory": "SELECT count(*) FROM public.employee_territories WHERE employee_id = 5",
		}},
	}
	for _, c := range cases {
		t.Run(c.schema+"/"+c.subject, func(t *testing.T) {
			pool, _, spec := schemas.Open(t, c.schema, schemas.Options{})
			out, err := Execute(context.Background(), pool, request("access-1", privacyv1alpha1.RequestAccess, spec, c.subject, c.ids))
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]int64{}
			for _, tb := range out.Export {
				got[tb.Entity] = int64(len(tb.Rows))
			}
			for entity, sql := range c.want {
				want := scalar[int64](t, pool, sql)
				if want == 0 {
					t.Fatalf("entity %s: the subject has no rows; choose another", entity)
				}
				if got[entity] != want {
					t.Errorf("entity %s: exported %d rows, SQL counts %d", entity, got[entity], want)
				}
			}
		})
	}
}

// Erasure by Delete removes the subject's rows children first and nothing
// else: every other table keeps its row count, except what the plan says
// (a CASCADE of an unmapped table, counted).
func TestDeleteErasureRemovesOnlyTheSubjectsRows(t *testing.T) {
	cases := []struct {
		schema, subject string
		ids             map[string]string
		gone            map[string]string // table -> SQL counting the subject's rows, before
	}{
		{schema: schemas.Edge, subject: "member", ids: map[string]string{"memberId": schemas.MemberID(8)}, gone: map[string]string{
			"edge.members":       "SELECT count(*) FROM edge.members WHERE email = 'member8@example.org'",
			"edge.accounts":      "SELECT count(*) FROM edge.accounts a JOIN edge.members m ON m.id = a.member_id WHERE m.email = 'member8@example.org'",
			"edge.payments":      "SELECT count(*) FROM edge.payments p JOIN edge.accounts a ON a.code = p.account_code JOIN edge.members m ON m.id = a.member_id WHERE m.email = 'member8@example.org'",
			"edge.refunds":       "SELECT count(*) FROM edge.refunds r JOIN edge.payments p ON (p.paid_at, p.id) = (r.paid_at, r.payment_id) JOIN edge.accounts a ON a.code = p.account_code JOIN edge.members m ON m.id = a.member_id WHERE m.email = 'member8@example.org'",
			"edge.devices":       "SELECT count(*) FROM edge.devices d JOIN edge.members m ON m.id = d.member_id WHERE m.email = 'member8@example.org'",
			"edge.subscriptions": "SELECT count(*) FROM edge.subscriptions WHERE member_email = 'member8@example.org'",
			"edge.profiles":      "SELECT count(*) FROM edge.profiles p JOIN edge.members m ON m.id = p.member_id WHERE m.email = 'member8@example.org'",
			"edge.addresses":     "SELECT count(*) FROM edge.addresses a JOIN edge.members m ON m.id = a.profile_id WHERE m.email = 'member8@example.org'",
			"edge.carts":         "SELECT count(*) FROM edge.carts c JOIN edge.members m ON m.id = c.member_id WHERE m.email = 'member8@example.org'",
			"edge.cart_items":    "SELECT count(*) FROM edge.cart_items i JOIN edge.carts c ON c.id = i.cart_id JOIN edge.members m ON m.id = c.member_id WHERE m.email = 'member8@example.org'",
			"edge.sessions":      "SELECT count(*) FROM edge.sessions s JOIN edge.members m ON m.id = s.member_id WHERE m.email = 'member8@example.org'",
		}},
		{schema: schemas.Chinook, subject: "customer", ids: map[string]string{"email": "luisg@embraer.com.br"}, gone: map[string]string{
			"public.customer":     "SELECT count(*) FROM public.customer WHERE customer_id = 1",
			"public.invoice":      "SELECT count(*) FROM public.invoice WHERE customer_id = 1",
			"public.invoice_line": "SELECT count(*) FROM public.invoice_line l JOIN public.invoice i USING (invoice_id) WHERE i.customer_id = 1",
		}},
		{schema: schemas.Northwind, subject: "customer", ids: map[string]string{"customerId": "ANTON"}, gone: map[string]string{
			"public.customers":     "SELECT count(*) FROM public.customers WHERE customer_id = 'ANTON'",
			"public.orders":        "SELECT count(*) FROM public.orders WHERE customer_id = 'ANTON'",
			"public.order_details": "SELECT count(*) FROM public.order_details d JOIN public.orders o USING (order_id) WHERE o.customer_id = 'ANTON'",
		}},
	}
	for _, c := range cases {
		t.Run(c.schema+"/"+c.subject, func(t *testing.T) {
			pool, _, spec := schemas.Open(t, c.schema, schemas.Options{})
			before := tableCounts(t, pool)
			gone := map[string]int64{}
			for table, sql := range c.gone {
				if gone[table] = scalar[int64](t, pool, sql); gone[table] == 0 {
					t.Fatalf("%s: the subject has no rows; choose another", table)
				}
			}
			out, err := Execute(context.Background(), pool, request("erase-1", privacyv1alpha1.RequestErasure, spec, c.subject, c.ids))
			if err != nil {
				t.Fatal(err)
			}
			after := tableCounts(t, pool)
			for table, n := range before {
				if after[table] != n-gone[table] {
					t.Errorf("%s: %d rows after, want %d (%d before, %d of the subject's)", table, after[table], n-gone[table], n, gone[table])
				}
			}
			var cascaded int64
			for _, e := range out.Entities {
				for _, fx := range e.Effects {
					if fx.Action == "CASCADE" {
						cascaded += fx.Rows
					}
				}
			}
			if want := gone["edge.sessions"]; cascaded != want {
				t.Errorf("the outcome counts %d rows deleted by CASCADE; want %d", cascaded, want)
			}
		})
	}
}

// A Delete that an unmapped NO ACTION reference would refuse changes
// nothing and names the constraint; once the table is mapped, the same
// request completes.
func TestDeleteBlockedByAnUnmappedTableChangesNothingUntilMapped(t *testing.T) {
	pool, _, spec := schemas.Open(t, schemas.Edge, schemas.Options{})
	ctx := context.Background()
	ids := map[string]string{"email": schemas.MemberEmail(10)}
	if !schemas.HasSupportNotes(10) {
		t.Fatal("member 10 has no support notes")
	}
	before := tableCounts(t, pool)
	_, err := Execute(ctx, pool, request("erase-2", privacyv1alpha1.RequestErasure, spec, "member", ids))
	var blocked *DeleteBlockedError
	if !errors.As(err, &blocked) {
		t.Fatalf("the erasure was not refused: %v", err)
	}
	for _, want := range []string{"edge.support_notes", "support_notes_member_id_fkey", "member_id", "map edge.support_notes"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the refusal does not name %q: %s", want, err)
		}
	}
	if after := tableCounts(t, pool); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Fatalf("rows changed: %v, were %v", after, before)
	}
	if n := scalar[int64](t, pool, "SELECT count(*) FROM lethe.runs WHERE uid = 'erase-2'"); n != 0 {
		t.Fatalf("the refused request recorded a plan")
	}
	mapped := spec.DeepCopy()
	mapped.Entities = append(mapped.Entities, privacyv1alpha1.Entity{Name: "supportNote", Table: "edge.support_notes",
		Relations: []privacyv1alpha1.EntityRelation{{Entity: "member", Direction: privacyv1alpha1.RelationChild}}})
	out, err := Execute(ctx, pool, request("erase-2", privacyv1alpha1.RequestErasure, mapped, "member", ids))
	if err != nil {
		t.Fatal(err)
	}
	notes := int64(0)
	for _, e := range out.Entities {
		if e.Entity == "supportNote" {
			notes = e.Changed
		}
	}
	if notes != 2 {
		t.Fatalf("deleted %d support notes; want 2", notes)
	}
	if n := scalar[int64](t, pool, "SELECT count(*) FROM edge.members WHERE email = $1", ids["email"]); n != 0 {
		t.Fatal("the member was not deleted")
	}
}
