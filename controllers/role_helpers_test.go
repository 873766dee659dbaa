package controllers

import (
	"context"
	"sort"
	"time"

	"github.com/jackc/pgx/v5"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	privacyv1alpha1 "github.com/lethe-dev/lethe/api/v1alpha1"
	"github.com/lethe-dev/lethe/internal/testutil/pgtest"
)

// organizationTables are a tenant's users, teams and groups, created by the
// application user:
//
//	alice  red    north
//	bob    red    north, south
//	carol  blue   south
//	dave   blue   east
//	erin   green  -             (inactive)
//	frank  green  east
const organizationTables = `
CREATE SCHEMA app;
CREATE TABLE app.users (id text PRIMARY KEY, team text, active boolean NOT NULL DEFAULT true);
CREATE TABLE app.user_groups (user_id text NOT NULL REFERENCES app.users, group_name text NOT NULL, PRIMARY KEY (user_id, group_name));
INSERT INTO app.users VALUES ('alice', 'red', true), ('bob', 'red', true), ('carol', 'blue', true),
	('dave', 'blue', true), ('erin', 'green', false), ('frank', 'green', true);
INSERT INTO app.user_groups VALUES ('alice', 'north'), ('bob', 'north'), ('bob', 'south'), ('carol', 'south'),
	('dave', 'east'), ('frank', 'east');`

// peopleInventory maps app.users, with the organization of the tenant.
func peopleInventory(ns string) *privacyv1alpha1.DataInventory {
	return &privacyv1alpha1.DataInventory{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "people"},
		Spec: privacyv1alpha1.DataInventorySpec{
			Subjects: []privacyv1alpha1.SubjectType{{Name: "user", Identifiers: []string{"userId"}}},
			Entities: []privacyv1alpha1.Entity{{
				Name: "user", Table: "app.users", PrimaryKey: []string{"id"},
				Subject: &privacyv1alpha1.EntitySubject{Type: "user",
					Identifiers: []privacyv1alpha1.IdentifierColumn{{Name: "userId", Column: "id"}}},
				ReportingColumns: []string{"team", "active"},
			}},
			Organization: &privacyv1alpha1.Organization{
				Users: privacyv1alpha1.OrganizationUsers{Table: "app.users", IDColumn: "id", TeamColumn: "team", ActiveColumn: "active"},
				Groups: &privacyv1alpha1.OrganizationGroups{Table: "app.user_groups", UserColumn: "user_id",
					GroupColumn: "group_name"},
			},
		},
	}
}

// roleTenant creates a tenant database with the organization tables, the
// people inventory (once per namespace), a Secret and a TenantDatabase with
// the labels, and waits until it is Ready.
func roleTenant(ns, name string, labels map[string]string) pgtest.Database {
	GinkgoHelper()
	c, cancelLoad := context.WithTimeout(ctx, time.Minute)
	defer cancelLoad()
	db, err := pg.CreateDatabase(c, "")
	Expect(err).NotTo(HaveOccurred())
	conn, err := pg.AppConn(c, db)
	Expect(err).NotTo(HaveOccurred())
	_, err = conn.Exec(c, organizationTables)
	Expect(err).NotTo(HaveOccurred())
	Expect(conn.Close(c)).To(Succeed())

	if err := k8s.Create(ctx, peopleInventory(ns)); err != nil && !apierrors.IsAlreadyExists(err) {
		Expect(err).NotTo(HaveOccurred())
	}
	Expect(k8s.Create(ctx, secret(ns, name+"-db", db.SecretData()))).To(Succeed())
	tdb := tenantDatabase(ns, name, name+"-db", "people")
	tdb.Labels = labels
	Expect(k8s.Create(ctx, tdb)).To(Succeed())
	expectCondition(ns, name, privacyv1alpha1.ConditionReady, metav1.ConditionTrue, privacyv1alpha1.ReasonSucceeded)
	return db
}

func catalogPermission(name, area, license string, requires ...string) privacyv1alpha1.CatalogPermission {
	return privacyv1alpha1.CatalogPermission{Name: name, Area: area, Licenses: []string{license}, Requires: requires}
}

// testCatalog is a small QM catalog named qm: the dependencies, a
// Social area that ignores the default scope, a scoped permission, Data
// seats for dataSeats users and the two manager permissions.
func testCatalog(ns string, dataSeats int32) *privacyv1alpha1.PermissionCatalog {
	calibrations := catalogPermission("ManageCalibrations", "QA", "Data", "ViewEvaluations")
	calibrations.Scoped = true
	return &privacyv1alpha1.PermissionCatalog{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "qm"},
		Spec: privacyv1alpha1.PermissionCatalogSpec{
			Areas: []privacyv1alpha1.CatalogArea{
				{Name: "Feedback"}, {Name: "QA"}, {Name: "Admin"},
				{Name: "Social", IgnoresDefaultScope: true, DefaultScope: "Company",
					AllowedScopes: []privacyv1alpha1.DataScopeType{"Company", "OwnGroup", "OwnTeam", "SpecificGroups"}},
			},
			Licenses: []privacyv1alpha1.CatalogLicense{{Name: "Data", Seats: dataSeats}, {Name: "Usage", Seats: 100}, {Name: "Administration", Seats: 5}},
			Permissions: []privacyv1alpha1.CatalogPermission{
				catalogPermission("ViewContacts", "Feedback", "Data"),
				catalogPermission("ViewRecycleBin", "Feedback", "Data"),
				catalogPermission("DeleteContact", "Feedback", "Data", "ViewRecycleBin"),
				catalogPermission("ViewEvaluations", "QA", "Data"),
				catalogPermission("CreateEvaluationComment", "QA", "Data", "ViewEvaluations"),
				catalogPermission("EditEvaluationComment", "QA", "Data", "ViewContacts", "CreateEvaluationComment", "ViewEvaluations"),
				calibrations,
				catalogPermission("ViewFeed", "Social", "Usage"),
				catalogPermission("ManageRoles", "Admin", "Administration"),
				catalogPermission("ManageUsers", "Admin", "Administration", "ManageRoles"),
			},
			ManageRolesPermission: "ManageRoles",
			ManageUsersPermission: "ManageUsers",
		},
	}
}

// newRole is a Role of catalog qm synced into the named tenants.
func newRole(ns, name string, def privacyv1alpha1.DataScopeType, licenses, permissions, members []string, tenants ...string) *privacyv1alpha1.Role {
	return &privacyv1alpha1.Role{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: privacyv1alpha1.RoleSpec{
			CatalogRef:  privacyv1alpha1.LocalObjectReference{Name: "qm"},
			DisplayName: name,
			Licenses:    licenses,
			Permissions: permissions,
			DataScope:   privacyv1alpha1.RoleDataScope{Default: def},
			Members:     members,
			Targets:     privacyv1alpha1.Targets{Names: tenants},
		},
	}
}

func getRole(ns, name string) *privacyv1alpha1.Role {
	GinkgoHelper()
	var role privacyv1alpha1.Role
	Expect(k8s.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, &role)).To(Succeed())
	return &role
}

// expectRole waits until a Role's condition has the status and reason, for
// its current generation, and returns it.
func expectRole(ns, name, typ string, status metav1.ConditionStatus, reason string) metav1.Condition {
	GinkgoHelper()
	role := &privacyv1alpha1.Role{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
	return waitCondition(role, func() []metav1.Condition { return role.Status.Conditions }, typ, status, reason)
}

// updateRole changes a Role's spec, retrying on conflicts.
func updateRole(ns, name string, mutate func(*privacyv1alpha1.Role)) {
	GinkgoHelper()
	Eventually(func() error {
		role := getRole(ns, name)
		mutate(role)
		return k8s.Update(ctx, role)
	}, timeout, interval).Should(Succeed())
}

// tenantRows runs a query returning one text column in a tenant database,
// as the superuser, and sorts the result.
func tenantRows(db pgtest.Database, sql string, args ...any) []string {
	GinkgoHelper()
	conn, err := pgx.Connect(ctx, pg.AdminDSN(db.Name))
	Expect(err).NotTo(HaveOccurred())
	defer func() { _ = conn.Close(context.Background()) }()
	rows, err := conn.Query(ctx, sql, args...)
	Expect(err).NotTo(HaveOccurred())
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	Expect(err).NotTo(HaveOccurred())
	sort.Strings(out)
	return out
}
