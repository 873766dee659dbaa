package rbac

import (
	"reflect"
	"slices"
	"strings"
	"testing"

	privacyv1alpha1 "github.com/lethe-dev/lethe/api/v1alpha1"
)

// perm is a catalog permission in one line.
func perm(name, area string, licenses []string, requires ...string) privacyv1alpha1.CatalogPermission {
	return privacyv1alpha1.CatalogPermission{Name: name, Area: area, Licenses: licenses, Requires: requires}
}

func scoped(p privacyv1alpha1.CatalogPermission) privacyv1alpha1.CatalogPermission {
	p.Scoped = true
	return p
}

var (
	data  = []string{"Data"}
	admin = []string{"Administration"}
	usage = []string{"Usage"}
)

// qmCatalog is a small QM product: the dependencies of the examples,
// five areas with Social ignoring the default scope, and scoped permissions.
func qmCatalog() *privacyv1alpha1.PermissionCatalogSpec {
	return &privacyv1alpha1.PermissionCatalogSpec{
		Areas: []privacyv1alpha1.CatalogArea{
			{Name: "Feedback"},
			{Name: "QA"},
			{Name: "Coaching", AllowedScopes: []privacyv1alpha1.DataScopeType{"Company", "OwnGroup", "OwnTeam", "Self"}},
			{Name: "Admin"},
			{Name: "Social", IgnoresDefaultScope: true, DefaultScope: "Company",
				AllowedScopes: []privacyv1alpha1.DataScopeType{"Company", "OwnGroup", "OwnTeam", "SpecificGroups"}},
		},
		Licenses: []privacyv1alpha1.CatalogLicense{{Name: "Data", Seats: 10}, {Name: "Administration", Seats: 2}, {Name: "Usage", Seats: 100}},
		Permissions: []privacyv1alpha1.CatalogPermission{
			perm("ViewContacts", "Feedback", data),
			perm("ViewRecycleBin", "Admin", data),
			perm("DeleteContact", "Feedback", data, "ViewRecycleBin"),
			perm("ViewCustomMetadata", "Feedback", data),
			perm("EditCustomMetadata", "Feedback", data, "ViewContacts", "ViewCustomMetadata"),
			perm("ViewEvaluations", "QA", data),
			perm("CreateEvaluationComment", "QA", data, "ViewEvaluations"),
			perm("EditEvaluationComment", "QA", data, "ViewContacts", "CreateEvaluationComment", "ViewEvaluations"),
			scoped(perm("ManageCalibrations", "QA", data, "ViewEvaluations")),
			scoped(perm("SubmitAppeals", "QA", data, "ViewEvaluations")),
			scoped(perm("ResolveAppeals", "QA", data, "SubmitAppeals")),
			perm("ViewCoaching", "Coaching", data),
			perm("ManageRoles", "Admin", admin),
			perm("ManageUsers", "Admin", admin, "ManageRoles"),
			perm("ViewFeed", "Social", usage),
			perm("PostFeed", "Social", usage, "ViewFeed"),
		},
		DefaultRoles: []privacyv1alpha1.CatalogDefaultRole{
			{Name: "administrator", DisplayName: "Administrator", Licenses: []string{"Administration", "Data"},
				Permissions: []string{"ViewContacts"}, RequiredPermissions: []string{"ManageUsers"}, DefaultScope: "Company"},
			{Name: "agent", DisplayName: "Agent", Licenses: []string{"Data"}, Permissions: []string{"ViewEvaluations"}},
		},
		ManageRolesPermission: "ManageRoles",
		ManageUsersPermission: "ManageUsers",
	}
}

func mustCatalog(t *testing.T, spec *privacyv1alpha1.PermissionCatalogSpec) *Catalog {
	t.Helper()
	c, problems := NewCatalog(spec)
	if len(problems) > 0 {
		t.Fatalf("catalog problems: %v", problems)
	}
	return c
}

func TestNewCatalogAcceptsTheQMCatalog(t *testing.T) {
	c := mustCatalog(t, qmCatalog())
	// ResolveAppeals → SubmitAppeals → ViewEvaluations.
	if c.MaxDepth != 2 {
		t.Errorf("MaxDepth = %d, want 2", c.MaxDepth)
	}
	if seats, ok := c.Seats("Administration"); !ok || seats != 2 {
		t.Errorf("Seats(Administration) = %d %v", seats, ok)
	}
	if got := DefaultRolePermissions(&c.Spec.DefaultRoles[0]); !reflect.DeepEqual(got, []string{"ManageUsers", "ViewContacts"}) {
		t.Errorf("DefaultRolePermissions = %v", got)
	}
}

func TestNewCatalogNamesEveryProblem(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*privacyv1alpha1.PermissionCatalogSpec)
		want   []string
	}{
		{"unknown area", func(s *privacyv1alpha1.PermissionCatalogSpec) { s.Permissions[0].Area = "Billing" },
			[]string{"permission ViewContacts: unknown area Billing"}},
		{"unknown license", func(s *privacyv1alpha1.PermissionCatalogSpec) { s.Permissions[0].Licenses = []string{"Gold"} },
			[]string{"permission ViewContacts: unknown license Gold"}},
		{"unknown required permission", func(s *privacyv1alpha1.PermissionCatalogSpec) {
			s.Permissions[2].Requires = []string{"ViewTrash"}
		}, []string{"permission DeleteContact requires unknown permission ViewTrash"}},
		{"permission requiring itself", func(s *privacyv1alpha1.PermissionCatalogSpec) {
			s.Permissions[0].Requires = []string{"ViewContacts"}
		}, []string{"permission ViewContacts requires itself"}},
		{"cycle of three, named once", func(s *privacyv1alpha1.PermissionCatalogSpec) {
			// ViewEvaluations → ResolveAppeals → SubmitAppeals → ViewEvaluations
			s.Permissions[5].Requires = []string{"ResolveAppeals"}
		}, []string{"required permissions form a cycle: ViewEvaluations → ResolveAppeals → SubmitAppeals → ViewEvaluations"}},
		{"duplicate permission", func(s *privacyv1alpha1.PermissionCatalogSpec) {
			s.Permissions = append(s.Permissions, s.Permissions[0])
		}, []string{"permission ViewContacts is declared twice"}},
		{"duplicate area and license", func(s *privacyv1alpha1.PermissionCatalogSpec) {
			s.Areas = append(s.Areas, s.Areas[0])
			s.Licenses = append(s.Licenses, s.Licenses[0])
		}, []string{"area Feedback is declared twice", "license Data is declared twice"}},
		{"unknown manage-roles permission", func(s *privacyv1alpha1.PermissionCatalogSpec) { s.ManageRolesPermission = "Manage" },
			[]string{"manageRolesPermission names unknown permission Manage"}},
		{"default role with an unknown permission", func(s *privacyv1alpha1.PermissionCatalogSpec) {
			s.DefaultRoles[1].RequiredPermissions = []string{"Impersonate"}
		}, []string{"default role agent: unknown permission Impersonate"}},
		{"default role without the license of a required permission", func(s *privacyv1alpha1.PermissionCatalogSpec) {
			s.DefaultRoles[1].RequiredPermissions = []string{"ManageRoles"}
		}, []string{"default role agent: permission ManageRoles needs one of the licenses Administration"}},
		{"duplicate default role", func(s *privacyv1alpha1.PermissionCatalogSpec) {
			s.DefaultRoles = append(s.DefaultRoles, s.DefaultRoles[1])
		}, []string{"default role agent is declared twice"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec := qmCatalog()
			tt.mutate(spec)
			c, problems := NewCatalog(spec)
			if c != nil {
				t.Fatal("an invalid catalog must not be returned")
			}
			if !reflect.DeepEqual(problems, tt.want) {
				t.Errorf("problems:\n got %q\nwant %q", problems, tt.want)
			}
		})
	}
}

func TestClosure(t *testing.T) {
	c := mustCatalog(t, qmCatalog())
	tests := []struct {
		name      string
		chosen    []string
		effective string
		added     []Added
	}{
		{"nothing", nil, "", nil},
		{"no requirements", []string{"ViewContacts"}, "ViewContacts", nil},
		{"one requirement", []string{"DeleteContact"}, "DeleteContact ViewRecycleBin",
			[]Added{{"ViewRecycleBin", []string{"DeleteContact"}}}},
		{"two requirements", []string{"EditCustomMetadata"}, "EditCustomMetadata ViewContacts ViewCustomMetadata",
			[]Added{{"ViewContacts", []string{"EditCustomMetadata"}}, {"ViewCustomMetadata", []string{"EditCustomMetadata"}}}},
		{"multi-level, an added permission required twice", []string{"EditEvaluationComment"},
			"CreateEvaluationComment EditEvaluationComment ViewContacts ViewEvaluations",
			[]Added{
				{"CreateEvaluationComment", []string{"EditEvaluationComment"}},
				{"ViewContacts", []string{"EditEvaluationComment"}},
				{"ViewEvaluations", []string{"CreateEvaluationComment", "EditEvaluationComment"}},
			}},
		{"two levels through an unchosen permission", []string{"ResolveAppeals"}, "ResolveAppeals SubmitAppeals ViewEvaluations",
			[]Added{{"SubmitAppeals", []string{"ResolveAppeals"}}, {"ViewEvaluations", []string{"SubmitAppeals"}}}},
		{"chosen requirement is not added", []string{"DeleteContact", "ViewRecycleBin"}, "DeleteContact ViewRecycleBin", nil},
		{"unknown names are left out", []string{"Teleport", "ViewContacts"}, "ViewContacts", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			effective, added := c.Closure(tt.chosen)
			if got := strings.Join(effective, " "); got != tt.effective {
				t.Errorf("effective = %q, want %q", got, tt.effective)
			}
			if !reflect.DeepEqual(added, tt.added) {
				t.Errorf("added = %+v, want %+v", added, tt.added)
			}
			if !slices.IsSorted(effective) {
				t.Error("effective must be sorted")
			}
		})
	}
}

func TestSeatsExceeded(t *testing.T) {
	tests := []struct {
		name   string
		counts []SeatCount
		want   []string
	}{
		{"within seats", []SeatCount{{"Data", 3, 10, 10}}, nil},
		{"one over", []SeatCount{{"Data", 10, 11, 10}, {"Usage", 0, 1, 5}}, []string{"license Data would use 11 of 10 seats"}},
		{"already over, shrinking", []SeatCount{{"Data", 12, 11, 10}}, nil},
		{"already over, unchanged", []SeatCount{{"Data", 12, 12, 10}}, nil},
		{"already over, growing", []SeatCount{{"Data", 12, 13, 10}}, []string{"license Data would use 13 of 10 seats"}},
		{"no seats at all", []SeatCount{{"Administration", 0, 1, 0}}, []string{"license Administration would use 1 of 0 seats"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := SeatsExceeded(tt.counts); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
	if a := (SeatCount{Seats: 10, After: 12}).Available(); a != -2 {
		t.Errorf("Available = %d, want -2", a)
	}
}

func TestLastManagerLost(t *testing.T) {
	tests := []struct {
		name   string
		counts []ManagerCount
		want   []string
	}{
		{"still held", []ManagerCount{{"ManageRoles", 2, 1}}, nil},
		{"last one goes", []ManagerCount{{"ManageUsers", 1, 0}, {"ManageRoles", 1, 0}}, []string{"ManageRoles", "ManageUsers"}},
		{"never held: a tenant being set up", []ManagerCount{{"ManageRoles", 0, 0}}, nil},
		{"gained", []ManagerCount{{"ManageRoles", 0, 3}}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := LastManagerLost(tt.counts); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestHolders(t *testing.T) {
	grants := []Grant{
		{Permissions: []string{"ManageRoles", "ManageUsers"}, Members: []string{"alice", "bob"}},
		{Permissions: []string{"ManageRoles"}, Members: []string{"bob", "carol"}},
		{Permissions: []string{"ViewContacts"}, Members: []string{"dave"}},
	}
	got := Holders(grants, []string{"ManageRoles", "ManageUsers", "ManageTeams"})
	want := map[string]int64{"ManageRoles": 3, "ManageUsers": 2, "ManageTeams": 0}
	for p, n := range want {
		if got[p] != n {
			t.Errorf("Holders()[%s] = %d, want %d", p, got[p], n)
		}
	}
}
