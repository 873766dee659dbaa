package rolesync

import (
	"errors"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	privacyv1alpha1 "github.com/lethe-dev/lethe/api/v1alpha1"
	"github.com/lethe-dev/lethe/internal/audit"
)

var everyone = []string{"alice", "bob", "carol", "dave", "erin", "frank"}

// TestScopeFunctions checks every scope rule through the SQL functions an
// application calls, on roles resolved by internal/rbac. Each viewer holds
// one role, so each case sees one scope.
func TestScopeFunctions(t *testing.T) {
	pool := newTenant(t)
	if _, err := EnsureOrganization(ctx, pool, organization, audit.Object{Kind: "TenantDatabase"}, "tester"); err != nil {
		t.Fatal(err)
	}
	c := testCatalog(t)
	c.Spec.Licenses[0].Seats = 10 // Data, for the five active users
	feedback := []string{"ViewContacts"}
	data := []string{"Data"}

	self := roleSpec("Self", []string{"Data", "Usage"}, []string{"ViewContacts", "ViewFeed"}, []string{"alice"})
	ownGroup := roleSpec("OwnGroup", data, feedback, []string{"bob"})
	ownTeam := roleSpec("OwnTeam", data, feedback, []string{"carol"})
	specific := roleSpec("SpecificGroups", data, feedback, []string{"dave"})
	specific.DataScope.SpecificGroups = []string{"north"}
	company := roleSpec("Company", []string{"Data", "Usage"}, []string{"ManageCalibrations", "ViewContacts", "ViewFeed"}, []string{"frank", "erin"})
	company.DataScope.Areas = []privacyv1alpha1.AreaScope{{Area: "QA", Scope: "OwnTeam"}, {Area: "Social", Scope: "OwnGroup"}}
	company.DataScope.Features = []privacyv1alpha1.FeatureScope{{Permission: "ManageCalibrations", Scope: "Company"}}
	for name, spec := range map[string]*privacyv1alpha1.RoleSpec{
		"self": self, "own-group": ownGroup, "own-team": ownTeam, "specific": specific, "company": company,
	} {
		mustSync(t, pool, request(t, c, name, spec), Applied)
	}

	tests := []struct {
		name, sql, user, arg string
		want                 []string
	}{
		{"Self sees only their own data", "visible_users", "alice", "Feedback", []string{"alice"}},
		{"Social ignores a Self default: the catalog's Company", "visible_users", "alice", "Social", everyone},
		{"an area the role holds no permission in shows only their own data", "visible_users", "alice", "QA", []string{"alice"}},
		{"OwnGroup: every group of the user (north, south)", "visible_users", "bob", "Feedback", []string{"alice", "bob", "carol"}},
		{"OwnTeam: the user's team (blue)", "visible_users", "carol", "Feedback", []string{"carol", "dave"}},
		{"SpecificGroups: the listed groups, and always their own data", "visible_users", "dave", "Feedback", []string{"alice", "bob", "dave"}},
		{"Company: every user", "visible_users", "frank", "Feedback", everyone},
		{"an area narrower than Company", "visible_users", "frank", "QA", []string{"erin", "frank"}},
		{"Social set below a Company default", "visible_users", "frank", "Social", []string{"dave", "frank"}},
		{"a feature scope overrides its area", "visible_users_for_permission", "frank", "ManageCalibrations", everyone},
		{"a permission without its own scope follows its area", "visible_users_for_permission", "frank", "ViewEvaluations", []string{"erin", "frank"}},
		{"a permission not held shows only their own data", "visible_users_for_permission", "carol", "ManageCalibrations", []string{"carol"}},
		{"an inactive user sees only their own data", "visible_users", "erin", "Feedback", []string{"erin"}},
		{"a user without a role sees their own data", "visible_users", "zoe", "Feedback", []string{"zoe"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			expectStrings(t, "lethe."+tt.sql, strs(t, pool, "SELECT lethe."+tt.sql+"($1, $2)", tt.user, tt.arg), tt.want...)
		})
	}

	for _, tt := range []struct {
		user, permission string
		want             bool
	}{
		{"frank", "ManageCalibrations", true},
		{"frank", "ViewEvaluations", true}, // required by ManageCalibrations
		{"alice", "ViewEvaluations", false},
		{"erin", "ViewContacts", false}, // inactive
		{"zoe", "ViewContacts", false},
	} {
		if got := canDo(t, pool, tt.user, tt.permission); got != tt.want {
			t.Errorf("lethe.can(%s, %s) = %v, want %v", tt.user, tt.permission, got, tt.want)
		}
	}
}

func TestEnsureOrganization(t *testing.T) {
	pool := newTenant(t)
	obj := audit.Object{Kind: "Role", Name: "r"}

	bad := *organization
	bad.Users.TeamColumn = "squad"
	bad.Users.ActiveColumn = "team"
	bad.Groups = &privacyv1alpha1.OrganizationGroups{Table: "app.memberships", UserColumn: "user_id", GroupColumn: "group_name"}
	_, err := EnsureOrganization(ctx, pool, &bad, obj, "tester")
	var oe *OrganizationError
	if !errors.As(err, &oe) {
		t.Fatalf("err = %v, want an OrganizationError", err)
	}
	for _, want := range []string{
		"organization teamColumn: column app.users.squad does not exist",
		"organization.users.activeColumn app.users.team is text, not boolean",
		"organization table app.memberships does not exist",
	} {
		if !strings.Contains(oe.Error(), want) {
			t.Errorf("%q lacks %q", oe.Error(), want)
		}
	}

	changed, err := EnsureOrganization(ctx, pool, organization, obj, "tester")
	if err != nil || !changed {
		t.Fatalf("first mapping: changed %v, %v", changed, err)
	}
	expectStrings(t, "org_users", strs(t, pool, "SELECT user_id || ':' || team || ':' || active FROM lethe.org_users WHERE user_id IN ('alice', 'erin')"),
		"alice:red:true", "erin:green:false")
	head := auditHead(t, pool)
	if changed, err := EnsureOrganization(ctx, pool, organization, obj, "tester"); err != nil || changed {
		t.Fatalf("same mapping again: changed %v, %v", changed, err)
	}
	if got := auditEntries(t, pool, head); len(got) != 0 {
		t.Errorf("no change, yet audit records %v", got)
	}

	if changed, err := EnsureOrganization(ctx, pool, nil, obj, "tester"); err != nil || !changed {
		t.Fatalf("unmapping: changed %v, %v", changed, err)
	}
	if got := strs(t, pool, "SELECT user_id FROM lethe.org_users UNION ALL SELECT user_id FROM lethe.org_groups"); len(got) != 0 {
		t.Errorf("views not emptied: %v", got)
	}
	got := auditEntries(t, pool, head)
	if len(got) != 1 || !strings.HasPrefix(got[0], "MapOrganization tester lethe.org_users, lethe.org_groups users app.users id=id team=team active=active; groups") ||
		!strings.HasSuffix(got[0], "-> absent") {
		t.Errorf("audit records: %v", got)
	}
	countViews(t, pool)
}

// countViews checks the views are still the operator's (replaced, not
// dropped): the functions that read them keep working.
func countViews(t *testing.T, pool *pgxpool.Pool) {
	t.Helper()
	if got := strs(t, pool, "SELECT lethe.visible_users('alice', 'Feedback')"); len(got) != 1 {
		t.Errorf("visible_users after unmapping: %v", got)
	}
}
