package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sort"
	"sync"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	privacyv1alpha1 "github.com/lethe-dev/lethe/api/v1alpha1"
	"github.com/lethe-dev/lethe/hack/localenv"
	"github.com/lethe-dev/lethe/internal/testutil/pgtest"
)

// The fixtures of the roles scenario: the tenants' organization, the
// catalog, the Roles and the inventory.

// organizationSQL creates the users of a tenant (u00000, u00001, ...) in
// teams, every user in two groups; one in 50 is inactive.
const organizationSQL = `
CREATE SCHEMA app;
CREATE TABLE app.users (id text PRIMARY KEY, team text NOT NULL, active boolean NOT NULL);
CREATE TABLE app.user_groups (user_id text NOT NULL REFERENCES app.users, group_name text NOT NULL,
	PRIMARY KEY (user_id, group_name))`

const usersSQL = `INSERT INTO app.users SELECT 'u' || lpad(n::text, 5, '0'), 'team-' || n % $2, n % 50 <> 49
	FROM generate_series(0, $1::int - 1) AS n`

const groupsSQL = `INSERT INTO app.user_groups SELECT 'u' || lpad(n::text, 5, '0'), 'group-' || g
	FROM generate_series(0, $1::int - 1) AS n, LATERAL (VALUES (n % $2), ((n % $2 + 1 + n % 13) % $2)) AS gs (g)`

// createOrganizationTenant creates a tenant database with its users, and
// its connection Secret.
func createOrganizationTenant(ctx context.Context, env *localenv.Env, name string, users int) (pgtest.Database, error) {
	db, err := env.Postgres.CreateDatabase(ctx, name)
	if err != nil {
		return db, err
	}
	conn, err := env.Postgres.AppConn(ctx, db)
	if err != nil {
		return db, err
	}
	defer func() { _ = conn.Close(context.Background()) }()
	for _, s := range []struct {
		sql  string
		args []any
	}{
		{organizationSQL, nil}, {usersSQL, []any{users, benchTeams}}, {groupsSQL, []any{users, benchGroups}},
		{"ANALYZE app.users, app.user_groups", nil},
	} {
		if _, err := conn.Exec(ctx, s.sql, s.args...); err != nil {
			return db, fmt.Errorf("load the organization of %s: %w", name, err)
		}
	}
	secret := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: rolesNamespace, Name: name + "-db"},
		Type:       corev1.SecretTypeOpaque,
		Data:       db.SecretData(),
	}
	if err := env.Client.Create(ctx, secret); err != nil {
		return db, fmt.Errorf("create Secret %s: %w", secret.Name, err)
	}
	return db, nil
}

// createBenchRoles creates the Roles, eight at a time.
func createBenchRoles(ctx context.Context, c client.Client, rc *rolesConfig) error {
	sem := make(chan struct{}, 8)
	errs := make([]error, rc.roles)
	var wg sync.WaitGroup
	for i := 0; i < rc.roles; i++ {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			errs[i] = c.Create(ctx, benchRole(i, rc))
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// benchRole is role i: P000, nine more permissions outside Admin (role 0
// manages users and roles), a default scope that cycles through the five,
// and members/roles users of its own.
func benchRole(i int, rc *rolesConfig) *privacyv1alpha1.Role {
	rng := rand.New(rand.NewPCG(uint64(i), 11)) // #nosec G115 G404 -- a role index seeding benchmark inputs, not secrets
	perms := map[string]bool{"P000": true}
	for len(perms) < 10 {
		n := rng.IntN(rc.permissions)
		if n%len(benchAreas) != 3 { // not Admin
			perms[fmt.Sprintf("P%03d", n)] = true
		}
	}
	if i == 0 {
		perms["P008"] = true // ManageUsers, which requires ManageRoles (P003)
	}
	names := make([]string, 0, len(perms))
	for p := range perms {
		names = append(names, p)
	}
	sort.Strings(names)
	per := rc.members / rc.roles
	members := make([]string, per)
	for m := range members {
		members[m] = fmt.Sprintf("u%05d", i*per+m)
	}
	scopes := []privacyv1alpha1.DataScopeType{"Company", "OwnGroup", "OwnTeam", "Self", "SpecificGroups"}
	ds := privacyv1alpha1.RoleDataScope{Default: scopes[i%len(scopes)]}
	if ds.Default == privacyv1alpha1.ScopeSpecificGroups {
		ds.SpecificGroups = []string{fmt.Sprintf("group-%d", i%benchGroups), fmt.Sprintf("group-%d", (i+1)%benchGroups)}
	}
	if i%3 == 0 {
		ds.Areas = []privacyv1alpha1.AreaScope{{Area: "QA", Scope: "OwnTeam"}}
	}
	return &privacyv1alpha1.Role{
		ObjectMeta: metav1.ObjectMeta{Namespace: rolesNamespace, Name: fmt.Sprintf("role-%03d", i)},
		Spec: privacyv1alpha1.RoleSpec{
			CatalogRef:  privacyv1alpha1.LocalObjectReference{Name: "bench"},
			DisplayName: fmt.Sprintf("Role %d", i),
			Licenses:    []string{"Administration", "Coaching", "Data", "Usage"},
			Permissions: names,
			DataScope:   ds,
			Members:     members,
			Targets:     privacyv1alpha1.Targets{Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"bench": "roles"}}},
		},
	}
}

// benchCatalog has n permissions P000..P<n-1>, area by index modulo five;
// each requires the one five before it in chains of up to four (depth 3);
// five are scoped; P003 manages roles and P008 users.
func benchCatalog(n int) *privacyv1alpha1.PermissionCatalog {
	licenseOf := map[string]string{"Feedback": "Data", "QA": "Data", "Coaching": "Coaching", "Admin": "Administration", "Social": "Usage"}
	cat := &privacyv1alpha1.PermissionCatalog{
		ObjectMeta: metav1.ObjectMeta{Namespace: rolesNamespace, Name: "bench"},
		Spec: privacyv1alpha1.PermissionCatalogSpec{
			Licenses: []privacyv1alpha1.CatalogLicense{{Name: "Data", Seats: 1000000}, {Name: "Usage", Seats: 1000000},
				{Name: "Coaching", Seats: 1000000}, {Name: "Administration", Seats: 1000000}},
			ManageRolesPermission: "P003",
			ManageUsersPermission: "P008",
		},
	}
	for _, a := range benchAreas {
		area := privacyv1alpha1.CatalogArea{Name: a}
		if a == "Social" {
			area.IgnoresDefaultScope, area.DefaultScope = true, privacyv1alpha1.ScopeCompany
			area.AllowedScopes = []privacyv1alpha1.DataScopeType{"Company", "OwnGroup", "OwnTeam", "SpecificGroups"}
		}
		cat.Spec.Areas = append(cat.Spec.Areas, area)
	}
	for i := 0; i < n; i++ {
		area := benchAreas[i%len(benchAreas)]
		p := privacyv1alpha1.CatalogPermission{Name: fmt.Sprintf("P%03d", i), Area: area, Licenses: []string{licenseOf[area]},
			Description: fmt.Sprintf("permission %d of %s", i, area)}
		if i >= len(benchAreas) && (i/len(benchAreas))%4 != 0 {
			p.Requires = []string{fmt.Sprintf("P%03d", i-len(benchAreas))}
		}
		p.Scoped = area == "QA" && i%30 == 1
		cat.Spec.Permissions = append(cat.Spec.Permissions, p)
	}
	return cat
}

// benchInventory maps app.users and the organization.
func benchInventory() *privacyv1alpha1.DataInventory {
	return &privacyv1alpha1.DataInventory{
		ObjectMeta: metav1.ObjectMeta{Namespace: rolesNamespace, Name: "people"},
		Spec: privacyv1alpha1.DataInventorySpec{
			Subjects: []privacyv1alpha1.SubjectType{{Name: "user", Identifiers: []string{"userId"}}},
			Entities: []privacyv1alpha1.Entity{{
				Name: "user", Table: "app.users", PrimaryKey: []string{"id"},
				Subject: &privacyv1alpha1.EntitySubject{Type: "user",
					Identifiers: []privacyv1alpha1.IdentifierColumn{{Name: "userId", Column: "id"}}},
				ReportingColumns: []string{"team", "active"},
			}},
			Organization: &privacyv1alpha1.Organization{
				Users:  privacyv1alpha1.OrganizationUsers{Table: "app.users", IDColumn: "id", TeamColumn: "team", ActiveColumn: "active"},
				Groups: &privacyv1alpha1.OrganizationGroups{Table: "app.user_groups", UserColumn: "user_id", GroupColumn: "group_name"},
			},
		},
	}
}
