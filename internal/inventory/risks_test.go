package inventory_test

import (
	"context"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	privacyv1alpha1 "github.com/lethe-dev/lethe/api/v1alpha1"
	"github.com/lethe-dev/lethe/internal/inventory"
	"github.com/lethe-dev/lethe/internal/tenantdb"
	"github.com/lethe-dev/lethe/internal/testutil/pgtest"
	"github.com/lethe-dev/lethe/internal/testutil/schemas"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

func readCatalog(t *testing.T, pool *pgxpool.Pool) *tenantdb.Catalog {
	t.Helper()
	cat, err := tenantdb.ReadCatalog(context.Background(), pool)
	if err != nil {
		t.Fatal(err)
	}
	return cat
}

func exec(t *testing.T, pool *pgxpool.Pool, sql string) {
	t.Helper()
	if _, err := pool.Exec(context.Background(), sql); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

// without returns a copy of spec without the named entities.
func without(spec *privacyv1alpha1.DataInventorySpec, names ...string) *privacyv1alpha1.DataInventorySpec {
	out := spec.DeepCopy()
	out.Entities = slices.DeleteFunc(out.Entities, func(e privacyv1alpha1.Entity) bool { return slices.Contains(names, e.Name) })
	return out
}

func refNames(refs []inventory.UnmappedReference) []string {
	var out []string
	for _, r := range refs {
		out = append(out, r.String())
	}
	return out
}

// Edge leaves support notes (NO ACTION) and sessions (CASCADE) out of its
// map: both are named, with their action, and only the NO ACTION one blocks
// a Delete.
func TestUnmappedReferencesOnEdge(t *testing.T) {
	pool, _, spec := schemas.Open(t, schemas.Edge, schemas.Options{Members: 20})
	cat := readCatalog(t, pool)

	got := inventory.UnmappedReferences(spec, cat)
	want := []string{
		"edge.sessions(member_id) → member (sessions_member_id_fkey, ON DELETE CASCADE)",
		"edge.support_notes(member_id) → member (support_notes_member_id_fkey, ON DELETE NO ACTION)",
	}
	if !slices.Equal(refNames(got), want) {
		t.Fatalf("got  %v\nwant %v", refNames(got), want)
	}
	if got[0].Blocks() || !got[1].Blocks() {
		t.Errorf("only the NO ACTION reference blocks a Delete: %+v", got)
	}
	if got[1].Table != "edge.support_notes" || got[1].RefTable != "edge.members" || !slices.Equal(got[1].RefColumns, []string{"id"}) {
		t.Errorf("support notes: %+v", got[1])
	}

	// Leaving the quoted table and a two-column child out names them too,
	// under their canonical names; references among unmapped tables do not
	// count.
	got = inventory.UnmappedReferences(without(spec, "loyaltyCard", "refund"), cat)
	want = []string{
		`edge."Loyalty Cards"(member_id) → member ("Loyalty Cards_member_id_fkey", ON DELETE CASCADE)`,
		"edge.refunds(paid_at, payment_id) → payment (refunds_paid_at_payment_id_fkey, ON DELETE NO ACTION)",
		"edge.sessions(member_id) → member (sessions_member_id_fkey, ON DELETE CASCADE)",
		"edge.support_notes(member_id) → member (support_notes_member_id_fkey, ON DELETE NO ACTION)",
	}
	if !slices.Equal(refNames(got), want) {
		t.Fatalf("got  %v\nwant %v", refNames(got), want)
	}
}

// On the public schemas, the hand-written inventories leave out the tables
// the people's rows point to, never a table that points to them; leaving a
// child out names it.
func TestUnmappedReferencesOnPublicSchemas(t *testing.T) {
	cases := []struct {
		schema, leaveOut, want string
	}{
		{schemas.Chinook, "invoiceLine", "public.invoice_line(invoice_id) → invoice (invoice_line_invoice_id_fkey, ON DELETE NO ACTION)"},
		{schemas.Northwind, "orderDetail", "public.order_details(order_id) → order (fk_order_details_orders, ON DELETE NO ACTION)"},
	}
	for _, tc := range cases {
		t.Run(tc.schema, func(t *testing.T) {
			pool, _, spec := schemas.Open(t, tc.schema, schemas.Options{})
			cat := readCatalog(t, pool)
			if got := inventory.UnmappedReferences(spec, cat); len(got) != 0 {
				t.Errorf("the hand-written inventory leaves out a referencing table: %v", refNames(got))
			}
			got := refNames(inventory.UnmappedReferences(without(spec, tc.leaveOut), cat))
			if !slices.Contains(got, tc.want) {
				t.Errorf("got %v, want it to hold %s", got, tc.want)
			}
		})
	}
}

func lookups(ms []inventory.MissingIndex) []string {
	var out []string
	for _, m := range ms {
		out = append(out, m.String())
	}
	return out
}

// Edge indexes every lookup its graph makes; dropping a one-column and a
// two-column index names each lookup once, with the table's rows, and a
// lookup an index leads (a unique index whose first column is the key) is
// not named.
func TestUnindexedLookupsOnEdge(t *testing.T) {
	pool, _, spec := schemas.Open(t, schemas.Edge, schemas.Options{Members: 20})
	if got := inventory.UnindexedLookups(spec, readCatalog(t, pool), 0); len(got) != 0 {
		t.Fatalf("Edge is indexed, got %v", lookups(got))
	}
	exec(t, pool, `DROP INDEX edge.accounts_member_id; DROP INDEX edge.refunds_payment; DROP INDEX edge."Loyalty Cards member_id"; ANALYZE`)
	cat := readCatalog(t, pool)
	got := inventory.UnindexedLookups(spec, cat, 0)
	want := []string{`edge."Loyalty Cards"(member_id)`, "edge.accounts(member_id)", "edge.refunds(paid_at, payment_id)"}
	if !slices.Equal(lookups(got), want) {
		t.Fatalf("got  %v\nwant %v", lookups(got), want)
	}
	if got[1].Rows != cat.Tables["edge.accounts"].Rows || got[1].Rows == 0 {
		t.Errorf("rows of edge.accounts: %d, catalog %d", got[1].Rows, cat.Tables["edge.accounts"].Rows)
	}
	if s := got[0].CreateIndex(); s != `CREATE INDEX ON edge."Loyalty Cards" (member_id)` {
		t.Errorf("create index: %s", s)
	}
	if got := inventory.UnindexedLookups(spec, cat, 1_000_000); len(got) != 0 {
		t.Errorf("no table is that large: %v", lookups(got))
	}
	if got := inventory.MissingIndexes(spec, cat, "member", 0); len(got) != 3 || !strings.HasPrefix(got[2], "edge.refunds.paid_at, edge.refunds.payment_id (about ") ||
		!strings.HasSuffix(got[2], "rows): CREATE INDEX ON edge.refunds (paid_at, payment_id)") {
		t.Errorf("MissingIndexes: %v", got)
	}
}

// Northwind, loaded unchanged, has no index on orders.customer_id, which a
// customer's orders are found by.
func TestUnindexedLookupsOnNorthwind(t *testing.T) {
	pool, _, spec := schemas.Open(t, schemas.Northwind, schemas.Options{})
	got := lookups(inventory.UnindexedLookups(spec, readCatalog(t, pool), 0))
	if !slices.Contains(got, "public.orders(customer_id)") {
		t.Errorf("got %v", got)
	}
	for _, g := range got {
		if g == "public.order_details(order_id)" {
			t.Errorf("order_details' primary key leads with order_id: %v", got)
		}
	}
}

// A view is refused as an entity's table, and a table may be written in
// any case or quoting that PostgreSQL reads as the same name.
func TestValidateNamesTablesAsPostgreSQLDoes(t *testing.T) {
	pool, _, spec := schemas.Open(t, schemas.Edge, schemas.Options{Members: 10})
	exec(t, pool, "CREATE VIEW edge.member_names AS SELECT id, full_name FROM edge.members")
	cat := readCatalog(t, pool)

	s := spec.DeepCopy()
	s.Entities[0].Table = "EDGE.Members"
	s.Entities[len(s.Entities)-1].Table = `"edge"."Loyalty Cards"`
	if problems := inventory.Validate(s, cat); len(problems) != 0 {
		t.Fatalf("the same tables, written otherwise: %v", problems)
	}
	s.Entities[1].Table = "edge.member_names"
	s.Entities[2].Table = "edge.MEMBERS"
	got := strings.Join(inventory.Validate(s, cat), "\n")
	for _, want := range []string{
		"entity account: edge.member_names is a view; map the table it reads from",
		"entities member and payment both map table edge.members",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("want %q in\n%s", want, got)
		}
	}
	s = spec.DeepCopy()
	s.Entities[len(s.Entities)-1].PersonalColumns[1].Column = "Pramie"
	if got := strings.Join(inventory.Validate(s, cat), "\n"); !strings.Contains(got, `personal column edge."Loyalty Cards"."Pramie" does not exist`) {
		t.Errorf("got %s", got)
	}
}

// The columns a CHECK constraint or a domain constrains are tried, on one
// row and rolled back: what the constraint refuses is named with the
// constraint, what it takes is not, nothing changes, and an empty table is
// not tried.
func TestTrialMaskingOnEdge(t *testing.T) {
	ctx := context.Background()
	pool, _, spec := schemas.Open(t, schemas.Edge, schemas.Options{Members: 20})
	if got, err := inventory.TrialMasking(ctx, pool, spec, readCatalog(t, pool)); err != nil || len(got) != 0 {
		t.Fatalf("nothing constrained yet: %v, %v", got, err)
	}
	exec(t, pool, `ALTER TABLE edge."Loyalty Cards" ADD CONSTRAINT "holder is not anonymous" CHECK ("Holder Name" <> 'Anonymized');
		ALTER TABLE edge."Loyalty Cards" ADD CONSTRAINT "Prämie known" CHECK ("Prämie" IN ('Gold', 'Silver') OR "Prämie" IS NULL);
		CREATE DOMAIN edge.short_name AS text CHECK (length(VALUE) <= 8);
		ALTER TABLE edge.members ALTER COLUMN full_name TYPE edge.short_name USING left(full_name, 8)`)
	cat := readCatalog(t, pool)
	if c, _ := cat.Tables["edge.members"].Column("full_name"); !c.Constrained {
		t.Fatal("a domain column is not read as constrained")
	}
	got, err := inventory.TrialMasking(ctx, pool, spec, cat)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		`entity loyaltyCard: column edge."Loyalty Cards"."Holder Name" (text) cannot take strategy Replace: constraint "holder is not anonymous" refuses the masked value (SQLSTATE 23514; tried on one row, rolled back)`,
		"entity member: column edge.members.full_name (edge.short_name) cannot take strategy Replace: constraint short_name_check refuses the masked value (SQLSTATE 23514; tried on one row, rolled back)",
	}
	if !slices.Equal(got, want) {
		t.Fatalf("got  %q\nwant %q", got, want)
	}
	var anonymized int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM edge."Loyalty Cards" WHERE "Holder Name" = 'Anonymized'`).Scan(&anonymized); err != nil || anonymized != 0 {
		t.Fatalf("a trial changed rows: %d, %v", anonymized, err)
	}

	exec(t, pool, `DELETE FROM edge."Loyalty Cards"`)
	got, err = inventory.TrialMasking(ctx, pool, spec, readCatalog(t, pool))
	if err != nil || len(got) != 1 || !strings.HasPrefix(got[0], "entity member:") {
		t.Fatalf("an empty table is not tried: %v, %v", got, err)
	}
}
