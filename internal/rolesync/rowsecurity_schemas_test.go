package rolesync

import (
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	privacyv1alpha1 "github.com/lethe-dev/lethe/api/v1alpha1"
	"github.com/lethe-dev/lethe/internal/audit"
	"github.com/lethe-dev/lethe/internal/testutil/pgtest"
	"github.com/lethe-dev/lethe/internal/testutil/sampleapp"
	"github.com/lethe-dev/lethe/internal/testutil/sampledb"
	"github.com/lethe-dev/lethe/internal/testutil/schemas"
)

// countAs counts a query's rows in a transaction as user.
func countAs(t *testing.T, conn *pgx.Conn, user, sql string) int64 {
	t.Helper()
	var n int64
	err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT set_config('lethe.user_id', $1, true)", user); err != nil {
			return err
		}
		return tx.QueryRow(ctx, "SELECT count(*) FROM ("+sql+") q").Scan(&n)
	})
	if err != nil {
		t.Fatalf("%s as %q: %v", sql, user, err)
	}
	return n
}

func count(t *testing.T, pool *pgxpool.Pool, sql string) int64 {
	t.Helper()
	var n int64
	if err := pool.QueryRow(ctx, "SELECT count(*) FROM ("+sql+") q").Scan(&n); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return n
}

// syncScopeRoles maps the organization, syncs one role per member with the
// given default scope, and creates the policies.
func syncScopeRoles(t *testing.T, pool *pgxpool.Pool, inv *privacyv1alpha1.DataInventorySpec, roles map[string]privacyv1alpha1.DataScopeType) {
	t.Helper()
	if _, err := EnsureOrganization(ctx, pool, inv.Organization, audit.Object{Kind: "TenantDatabase"}, "tester"); err != nil {
		t.Fatal(err)
	}
	c := testCatalog(t)
	for member, scope := range roles {
		mustSync(t, pool, request(t, c, "r"+member, roleSpec(scope, []string{"Data"}, []string{"ViewContacts"}, []string{member})), Applied)
	}
	if _, err := ensureRowSecurity(t, pool, inv, nil); err != nil {
		t.Fatal(err)
	}
}

// TestRowSecurityChinook scopes Chinook's customers by their support
// representative (an integer employee id) and its invoices through the
// customer, with teams as the employees' manager.
func TestRowSecurityChinook(t *testing.T) {
	pool, db, inv := schemas.Open(t, "chinook", schemas.Options{})
	inv.Organization = &privacyv1alpha1.Organization{
		Users: privacyv1alpha1.OrganizationUsers{Table: "public.employee", IDColumn: "employee_id", TeamColumn: "reports_to"},
		ScopedEntities: []privacyv1alpha1.ScopedEntity{
			{Entity: "customer", Owner: privacyv1alpha1.EntityOwner{Column: "support_rep_id"}, Area: "Feedback"},
			{Entity: "invoice", Owner: privacyv1alpha1.EntityOwner{Column: "support_rep_id", Through: []string{"customer_id"}}, Area: "Feedback"},
		},
	}
	syncScopeRoles(t, pool, inv, map[string]privacyv1alpha1.DataScopeType{"3": "Self", "4": "OwnTeam", "1": "Company"})
	dsn, err := pgtest.Shared().ApplicationRole(ctx, db, "app_chinook_"+db.Name, "public")
	if err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = conn.Close(ctx) }()

	team := "SELECT e.employee_id FROM public.employee e JOIN public.employee me ON me.reports_to = e.reports_to WHERE me.employee_id = 4"
	for _, tt := range []struct {
		name, user, sql, want string
	}{
		{"Self: their own customers", "3", "SELECT * FROM public.customer", "SELECT * FROM public.customer WHERE support_rep_id = 3"},
		{"OwnTeam: the customers of their manager's reports", "4", "SELECT * FROM public.customer",
			"SELECT * FROM public.customer WHERE support_rep_id IN (" + team + ")"},
		{"Company: every customer", "1", "SELECT * FROM public.customer", "SELECT * FROM public.customer"},
		{"Self, through the customer: their customers' invoices", "3", "SELECT * FROM public.invoice",
			"SELECT i.* FROM public.invoice i JOIN public.customer c USING (customer_id) WHERE c.support_rep_id = 3"},
		{"OwnTeam, through the customer", "4", "SELECT * FROM public.invoice",
			"SELECT i.* FROM public.invoice i JOIN public.customer c USING (customer_id) WHERE c.support_rep_id IN (" + team + ")"},
		{"a representative without a role: their own customers", "5", "SELECT * FROM public.customer", "SELECT * FROM public.customer WHERE support_rep_id = 5"},
		{"no user: nothing", "", "SELECT * FROM public.invoice", "SELECT 1 WHERE false"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, want := countAs(t, conn, tt.user, tt.sql), count(t, pool, tt.want)
			if got != want || (want == 0 && tt.user != "") {
				t.Errorf("%d rows, want %d", got, want)
			}
		})
	}
	if _, err := conn.Exec(ctx, "SELECT set_config('lethe.user_id', '3', false)"); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, "UPDATE public.customer SET support_rep_id = 4 WHERE support_rep_id = 3"); err == nil {
		t.Error("a Self representative handed their customers to another: want a row-level security violation")
	}
}

// TestRowSecuritySampleApplication scopes the sample application's cases by
// their assigned employee (a bigint id) and the case comments through the
// case, with the employees' teams.
func TestRowSecuritySampleApplication(t *testing.T) {
	pool, inv := sampledb.Open(t, sampleapp.Options{})
	inv.Organization = &privacyv1alpha1.Organization{
		Users: privacyv1alpha1.OrganizationUsers{Table: "app.employees", IDColumn: "id", TeamColumn: "team", ActiveColumn: "active"},
		ScopedEntities: []privacyv1alpha1.ScopedEntity{
			{Entity: "case", Owner: privacyv1alpha1.EntityOwner{Column: "assigned_employee_id"}, Area: "Feedback"},
			{Entity: "caseComment", Owner: privacyv1alpha1.EntityOwner{Column: "assigned_employee_id", Through: []string{"case_id"}}, Area: "Feedback"},
		},
	}
	var lead, agent string
	if err := pool.QueryRow(ctx, `SELECT min(id)::text, max(id)::text FROM app.employees
		WHERE active AND team = (SELECT team FROM app.employees WHERE active GROUP BY team ORDER BY count(*) DESC, team LIMIT 1)`).
		Scan(&lead, &agent); err != nil {
		t.Fatal(err)
	}
	syncScopeRoles(t, pool, inv, map[string]privacyv1alpha1.DataScopeType{lead: "OwnTeam", agent: "Self"})
	var dbName string
	if err := pool.QueryRow(ctx, "SELECT current_database()").Scan(&dbName); err != nil {
		t.Fatal(err)
	}
	dsn, err := pgtest.Shared().ApplicationRole(ctx, pgtest.Database{Name: dbName}, "app_sample_"+dbName, "app")
	if err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = conn.Close(ctx) }()

	team := "SELECT e.id FROM app.employees e JOIN app.employees me ON me.team = e.team WHERE me.id = " + lead
	for _, tt := range []struct {
		name, user, sql, want string
	}{
		{"OwnTeam: the team's cases", lead, "SELECT * FROM app.cases", "SELECT * FROM app.cases WHERE assigned_employee_id IN (" + team + ")"},
		{"Self: their own cases", agent, "SELECT * FROM app.cases", "SELECT * FROM app.cases WHERE assigned_employee_id = " + agent},
		{"OwnTeam, through the case: the comments on the team's cases", lead, "SELECT * FROM app.case_comments",
			"SELECT cc.* FROM app.case_comments cc JOIN app.cases c ON c.id = cc.case_id WHERE c.assigned_employee_id IN (" + team + ")"},
		{"no user: nothing", "", "SELECT * FROM app.cases", "SELECT 1 WHERE false"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, want := countAs(t, conn, tt.user, tt.sql), count(t, pool, tt.want)
			if got != want || (want == 0 && tt.user != "") {
				t.Errorf("%d rows, want %d", got, want)
			}
		})
	}
}
