package rbac

import (
	"reflect"
	"strings"
	"testing"

	privacyv1alpha1 "github.com/lethe-dev/lethe/api/v1alpha1"
)

// role is a role of the QM catalog with every license, so that scope tests
// see no license problem.
func role(def privacyv1alpha1.DataScopeType, permissions ...string) *privacyv1alpha1.RoleSpec {
	return &privacyv1alpha1.RoleSpec{
		DisplayName: "Test",
		Licenses:    []string{"Administration", "Data", "Usage"},
		Permissions: permissions,
		DataScope:   privacyv1alpha1.RoleDataScope{Default: def},
	}
}

func areaScope(area string, s privacyv1alpha1.DataScopeType, groups ...string) privacyv1alpha1.AreaScope {
	return privacyv1alpha1.AreaScope{Area: area, Scope: s, SpecificGroups: groups}
}

func featureScope(p string, s privacyv1alpha1.DataScopeType, groups ...string) privacyv1alpha1.FeatureScope {
	return privacyv1alpha1.FeatureScope{Permission: p, Scope: s, SpecificGroups: groups}
}

// describe renders scopes as "name=Scope[groups](source)" for compact
// expectations.
func describe(scopes []Scope) string {
	parts := make([]string, len(scopes))
	for i, s := range scopes {
		g := ""
		if len(s.Groups) > 0 {
			g = "[" + strings.Join(s.Groups, ",") + "]"
		}
		parts[i] = s.Name + "=" + string(s.Scope) + g + "(" + s.Source + ")"
	}
	return strings.Join(parts, " ")
}

func TestResolveScopes(t *testing.T) {
	c := mustCatalog(t, qmCatalog())
	tests := []struct {
		name     string
		spec     *privacyv1alpha1.RoleSpec
		areas    string
		features string
	}{
		{"only areas with a permission get a scope, from the default",
			role("Company", "ViewContacts", "ViewFeed"),
			"Feedback=Company(Default) Social=Company(Catalog)", ""},
		{"an area narrower than the default keeps its scope",
			func() *privacyv1alpha1.RoleSpec {
				r := role("Company", "ViewContacts", "ViewEvaluations")
				r.DataScope.Areas = []privacyv1alpha1.AreaScope{areaScope("QA", "OwnTeam")}
				return r
			}(),
			"Feedback=Company(Default) QA=OwnTeam(Role)", ""},
		{"the default caps a wider area",
			func() *privacyv1alpha1.RoleSpec {
				r := role("OwnTeam", "ViewEvaluations")
				r.DataScope.Areas = []privacyv1alpha1.AreaScope{areaScope("QA", "Company")}
				return r
			}(),
			"QA=OwnTeam(CappedByDefault)", ""},
		{"Self default: a user sees only their own data",
			role("Self", "ViewContacts"), "Feedback=Self(Default)", ""},
		{"Social ignores the default scope: not inherited",
			role("Self", "ViewFeed"), "Social=Company(Catalog)", ""},
		{"Social ignores the default scope: not capped",
			func() *privacyv1alpha1.RoleSpec {
				r := role("Self", "ViewFeed")
				r.DataScope.Areas = []privacyv1alpha1.AreaScope{areaScope("Social", "OwnGroup")}
				return r
			}(),
			"Social=OwnGroup(Role)", ""},
		{"SpecificGroups default is inherited with its groups",
			func() *privacyv1alpha1.RoleSpec {
				r := role("SpecificGroups", "ViewContacts")
				r.DataScope.SpecificGroups = []string{"North", "East"}
				return r
			}(),
			"Feedback=SpecificGroups[East,North](Default)", ""},
		{"SpecificGroups under a SpecificGroups default keeps the shared groups",
			func() *privacyv1alpha1.RoleSpec {
				r := role("SpecificGroups", "ViewEvaluations")
				r.DataScope.SpecificGroups = []string{"North", "East"}
				r.DataScope.Areas = []privacyv1alpha1.AreaScope{areaScope("QA", "SpecificGroups", "North", "West")}
				return r
			}(),
			"QA=SpecificGroups[North](CappedByDefault)", ""},
		{"Company under a SpecificGroups default becomes those groups",
			func() *privacyv1alpha1.RoleSpec {
				r := role("SpecificGroups", "ViewEvaluations")
				r.DataScope.SpecificGroups = []string{"North"}
				r.DataScope.Areas = []privacyv1alpha1.AreaScope{areaScope("QA", "Company")}
				return r
			}(),
			"QA=SpecificGroups[North](CappedByDefault)", ""},
		{"a scoped permission follows its area unless set",
			func() *privacyv1alpha1.RoleSpec {
				r := role("Company", "ManageCalibrations", "ResolveAppeals")
				r.DataScope.Areas = []privacyv1alpha1.AreaScope{areaScope("QA", "OwnTeam")}
				r.DataScope.Features = []privacyv1alpha1.FeatureScope{featureScope("ResolveAppeals", "Company")}
				return r
			}(),
			"QA=OwnTeam(Role)",
			"ManageCalibrations=OwnTeam(Area) ResolveAppeals=Company(Role) SubmitAppeals=OwnTeam(Area)"},
		{"a feature scope overrides its area but the default caps it",
			func() *privacyv1alpha1.RoleSpec {
				r := role("OwnGroup", "SubmitAppeals")
				r.DataScope.Areas = []privacyv1alpha1.AreaScope{areaScope("QA", "Self")}
				r.DataScope.Features = []privacyv1alpha1.FeatureScope{featureScope("SubmitAppeals", "Company")}
				return r
			}(),
			"QA=Self(Role)", "SubmitAppeals=OwnGroup(CappedByDefault)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := Resolve(c, tt.spec)
			if len(res.Problems) > 0 {
				t.Fatalf("problems: %+v", res.Problems)
			}
			if got := describe(res.Areas); got != tt.areas {
				t.Errorf("areas:\n got %s\nwant %s", got, tt.areas)
			}
			if got := describe(res.Features); got != tt.features {
				t.Errorf("features:\n got %s\nwant %s", got, tt.features)
			}
		})
	}
}

func TestResolveProblems(t *testing.T) {
	c := mustCatalog(t, qmCatalog())
	tests := []struct {
		name    string
		spec    *privacyv1alpha1.RoleSpec
		reason  string
		message string
	}{
		{"unknown permission", role("Company", "ViewContacts", "Teleport"),
			privacyv1alpha1.ReasonUnknownPermission, "spec.permissions: catalog has no permission Teleport"},
		{"unknown license", func() *privacyv1alpha1.RoleSpec {
			r := role("Company", "ViewContacts")
			r.Licenses = append(r.Licenses, "Gold")
			return r
		}(), privacyv1alpha1.ReasonUnknownLicense, "spec.licenses: catalog has no license Gold"},
		{"unknown area", func() *privacyv1alpha1.RoleSpec {
			r := role("Company", "ViewContacts")
			r.DataScope.Areas = []privacyv1alpha1.AreaScope{areaScope("Billing", "Self")}
			return r
		}(), privacyv1alpha1.ReasonUnknownArea, "spec.dataScope.areas: catalog has no area Billing"},
		{"unknown default role", func() *privacyv1alpha1.RoleSpec {
			r := role("Company", "ViewContacts")
			r.Default = "auditor"
			return r
		}(), privacyv1alpha1.ReasonUnknownDefaultRole, "spec.default: catalog has no default role auditor"},
		{"license missing for a chosen permission", func() *privacyv1alpha1.RoleSpec {
			r := role("Company", "ManageRoles")
			r.Licenses = []string{"Data"}
			return r
		}(), privacyv1alpha1.ReasonLicenseMissingForPermission,
			"permission ManageRoles needs one of the licenses Administration: add one to spec.licenses or remove the permission"},
		{"license missing for a permission added by dependency", func() *privacyv1alpha1.RoleSpec {
			r := role("Company", "PostFeed")
			r.Licenses = []string{"Data"}
			return r
		}(), privacyv1alpha1.ReasonLicenseMissingForPermission, "permission ViewFeed (required by PostFeed) needs one of the licenses Usage"},
		{"Social set to Self", func() *privacyv1alpha1.RoleSpec {
			r := role("Company", "ViewFeed")
			r.DataScope.Areas = []privacyv1alpha1.AreaScope{areaScope("Social", "Self")}
			return r
		}(), privacyv1alpha1.ReasonSocialScopeSelf, "area Social can never be Self: set its scope in spec.dataScope to one of Company, OwnGroup, OwnTeam, SpecificGroups"},
		{"an area not allowing a scope", func() *privacyv1alpha1.RoleSpec {
			r := role("Company", "ViewCoaching")
			r.DataScope.Areas = []privacyv1alpha1.AreaScope{areaScope("Coaching", "SpecificGroups", "North")}
			return r
		}(), privacyv1alpha1.ReasonScopeNotAllowed, "area Coaching does not allow scope SpecificGroups"},
		{"an inherited default the area does not allow", func() *privacyv1alpha1.RoleSpec {
			r := role("SpecificGroups", "ViewCoaching")
			r.DataScope.SpecificGroups = []string{"North"}
			return r
		}(), privacyv1alpha1.ReasonScopeNotAllowed, "area Coaching does not allow scope SpecificGroups (from spec.dataScope.default)"},
		{"SpecificGroups left without a group", func() *privacyv1alpha1.RoleSpec {
			r := role("SpecificGroups", "ViewEvaluations")
			r.DataScope.SpecificGroups = []string{"North"}
			r.DataScope.Areas = []privacyv1alpha1.AreaScope{areaScope("QA", "SpecificGroups", "South")}
			return r
		}(), privacyv1alpha1.ReasonSpecificGroupsEmpty, "area QA: scope SpecificGroups is left with no group"},
		{"feature scope on a permission without its own scope", func() *privacyv1alpha1.RoleSpec {
			r := role("Company", "ViewEvaluations")
			r.DataScope.Features = []privacyv1alpha1.FeatureScope{featureScope("ViewEvaluations", "Self")}
			return r
		}(), privacyv1alpha1.ReasonFeatureNotScoped, "permission ViewEvaluations carries no scope of its own; set the scope of its area QA instead"},
		{"feature scope on a permission the role does not hold", func() *privacyv1alpha1.RoleSpec {
			r := role("Company", "ViewEvaluations")
			r.DataScope.Features = []privacyv1alpha1.FeatureScope{featureScope("ManageCalibrations", "Self")}
			return r
		}(), privacyv1alpha1.ReasonFeatureNotScoped, "the role does not hold permission ManageCalibrations"},
		{"default role without a required permission", func() *privacyv1alpha1.RoleSpec {
			r := role("Company", "ViewContacts", "ManageRoles")
			r.Default = "administrator"
			return r
		}(), privacyv1alpha1.ReasonRequiredPermissionRemoved, "default role administrator must keep the permissions ManageUsers"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := Resolve(c, tt.spec)
			if len(res.Problems) == 0 {
				t.Fatal("no problem reported")
			}
			for _, p := range res.Problems {
				if p.Reason == tt.reason && strings.Contains(p.Message, tt.message) {
					return
				}
			}
			t.Errorf("got %+v, want %s containing %q", res.Problems, tt.reason, tt.message)
		})
	}
}

func TestResolveKeepsARequiredPermissionHeldThroughADependency(t *testing.T) {
	c := mustCatalog(t, qmCatalog())
	r := role("Company", "ManageUsers")
	r.Default = "administrator"
	res := Resolve(c, r)
	if len(res.Problems) > 0 {
		t.Fatalf("problems: %+v", res.Problems)
	}
	if !reflect.DeepEqual(res.Effective, []string{"ManageRoles", "ManageUsers"}) {
		t.Errorf("effective = %v", res.Effective)
	}
}
