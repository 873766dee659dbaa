package rolesync

import (
	"context"
	"os"
	"slices"
	"sort"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	privacyv1alpha1 "github.com/lethe-dev/lethe/api/v1alpha1"
	"github.com/lethe-dev/lethe/internal/audit"
	"github.com/lethe-dev/lethe/internal/rbac"
	"github.com/lethe-dev/lethe/internal/testutil/pgtest"
	"github.com/lethe-dev/lethe/internal/testutil/testdb"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

var ctx = context.Background()

// organizationSQL is a tenant's users, teams and groups:
//
//	alice  red    north
//	bob    red    north, south
//	carol  blue   south
//	dave   blue   east
//	erin   green  -             (inactive)
//	frank  green  east
const organizationSQL = `
CREATE SCHEMA app;
CREATE TABLE app.users (id text PRIMARY KEY, team text, active boolean NOT NULL DEFAULT true);
CREATE TABLE app.user_groups (user_id text NOT NULL REFERENCES app.users, group_name text NOT NULL, PRIMARY KEY (user_id, group_name));
INSERT INTO app.users VALUES ('alice', 'red', true), ('bob', 'red', true), ('carol', 'blue', true),
	('dave', 'blue', true), ('erin', 'green', false), ('frank', 'green', true);
INSERT INTO app.user_groups VALUES ('alice', 'north'), ('bob', 'north'), ('bob', 'south'), ('carol', 'south'),
	('dave', 'east'), ('frank', 'east');`

var organization = &privacyv1alpha1.Organization{
	Users:  privacyv1alpha1.OrganizationUsers{Table: "app.users", IDColumn: "id", TeamColumn: "team", ActiveColumn: "active"},
	Groups: &privacyv1alpha1.OrganizationGroups{Table: "app.user_groups", UserColumn: "user_id", GroupColumn: "group_name"},
}

// newTenant creates a tenant database with the lethe schema migrated and
// the organization tables, and returns a pool to it.
func newTenant(t *testing.T) *pgxpool.Pool {
	t.Helper()
	pool, _ := testdb.New(t, 4)
	if _, err := pool.Exec(ctx, organizationSQL); err != nil {
		t.Fatal(err)
	}
	return pool
}

func perm(name, area, license string, requires ...string) privacyv1alpha1.CatalogPermission {
	return privacyv1alpha1.CatalogPermission{Name: name, Area: area, Licenses: []string{license}, Requires: requires}
}

// testCatalog has seats for four Data users, a Social area that ignores the
// default scope, a scoped permission and the two manager permissions.
func testCatalog(t *testing.T) *rbac.Catalog {
	t.Helper()
	calibrations := perm("ManageCalibrations", "QA", "Data", "ViewEvaluations")
	calibrations.Scoped = true
	c, problems := rbac.NewCatalog(&privacyv1alpha1.PermissionCatalogSpec{
		Areas: []privacyv1alpha1.CatalogArea{
			{Name: "Feedback"}, {Name: "QA"}, {Name: "Admin"},
			{Name: "Social", IgnoresDefaultScope: true, DefaultScope: "Company",
				AllowedScopes: []privacyv1alpha1.DataScopeType{"Company", "OwnGroup", "OwnTeam", "SpecificGroups"}},
		},
		Licenses: []privacyv1alpha1.CatalogLicense{{Name: "Data", Seats: 4}, {Name: "Usage", Seats: 100}, {Name: "Administration", Seats: 5}},
		Permissions: []privacyv1alpha1.CatalogPermission{
			perm("ViewContacts", "Feedback", "Data"),
			perm("DeleteContact", "Feedback", "Data", "ViewContacts"),
			perm("ViewEvaluations", "QA", "Data"),
			calibrations,
			perm("ViewFeed", "Social", "Usage"),
			perm("ManageRoles", "Admin", "Administration"),
			perm("ManageUsers", "Admin", "Administration", "ManageRoles"),
		},
		ManageRolesPermission: "ManageRoles",
		ManageUsersPermission: "ManageUsers",
	})
	if len(problems) > 0 {
		t.Fatal(problems)
	}
	return c
}

// roleSpec is a role of the test catalog.
func roleSpec(def privacyv1alpha1.DataScopeType, licenses, permissions, members []string) *privacyv1alpha1.RoleSpec {
	return &privacyv1alpha1.RoleSpec{
		CatalogRef:  privacyv1alpha1.LocalObjectReference{Name: "qm"},
		DisplayName: "Role",
		Licenses:    licenses,
		Permissions: permissions,
		DataScope:   privacyv1alpha1.RoleDataScope{Default: def},
		Members:     members,
	}
}

// request resolves a role spec and makes the sync request for it.
func request(t *testing.T, c *rbac.Catalog, name string, spec *privacyv1alpha1.RoleSpec) Request {
	t.Helper()
	res := rbac.Resolve(c, spec)
	if len(res.Problems) > 0 {
		t.Fatalf("role %s: %+v", name, res.Problems)
	}
	return Request{
		Role:   Build("ns/"+name, "uid-"+name, spec, c, &res),
		Object: audit.Object{Kind: "Role", Namespace: "ns", Name: name, UID: "uid-" + name},
		Actor:  "tester",
		Guards: GuardsOf(c),
	}
}

func mustSync(t *testing.T, pool *pgxpool.Pool, req Request, want Outcome) Result {
	t.Helper()
	res, err := Sync(ctx, pool, req)
	if err != nil {
		t.Fatal(err)
	}
	if res.Outcome != want {
		t.Fatalf("outcome %d (refusal %+v), want %d", res.Outcome, res.Refusal, want)
	}
	return res
}

// strs runs a query returning one text column and sorts the result.
func strs(t *testing.T, pool *pgxpool.Pool, sql string, args ...any) []string {
	t.Helper()
	rows, err := pool.Query(ctx, sql, args...)
	if err != nil {
		t.Fatal(err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(out)
	return out
}

func expectStrings(t *testing.T, what string, got []string, want ...string) {
	t.Helper()
	sort.Strings(want)
	if !slices.Equal(got, want) {
		t.Errorf("%s = %v, want %v", what, got, want)
	}
}

// auditEntries lists action and entity of the audit records after id.
func auditEntries(t *testing.T, pool *pgxpool.Pool, after int64) []string {
	t.Helper()
	rows, err := pool.Query(ctx, "SELECT action || ' ' || actor || ' ' || entity || ' ' || detail FROM lethe.audit_log WHERE id > $1 ORDER BY id", after)
	if err != nil {
		t.Fatal(err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func auditHead(t *testing.T, pool *pgxpool.Pool) int64 {
	t.Helper()
	var id int64
	if err := pool.QueryRow(ctx, "SELECT COALESCE(max(id), 0) FROM lethe.audit_log").Scan(&id); err != nil {
		t.Fatal(err)
	}
	return id
}
