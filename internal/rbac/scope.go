package rbac

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	privacyv1alpha1 "github.com/lethe-dev/lethe/api/v1alpha1"
)

// Where an effective scope comes from.
const (
	// SourceRole: the role sets it and the default scope does not cap it.
	SourceRole = "Role"
	// SourceDefault: the role sets none for the area; its default applies.
	SourceDefault = "Default"
	// SourceCappedByDefault: the role sets a wider scope than its default,
	// which caps it.
	SourceCappedByDefault = "CappedByDefault"
	// SourceArea: a scoped permission the role sets no scope for follows its
	// area.
	SourceArea = "Area"
	// SourceCatalog: an area that ignores the default scope takes its own
	// default from the catalog.
	SourceCatalog = "Catalog"
)

// rank orders the scopes from the narrowest to the widest. SpecificGroups
// sits below Company and above OwnGroup.
var rank = map[privacyv1alpha1.DataScopeType]int{
	privacyv1alpha1.ScopeSelf:           0,
	privacyv1alpha1.ScopeOwnTeam:        1,
	privacyv1alpha1.ScopeOwnGroup:       2,
	privacyv1alpha1.ScopeSpecificGroups: 3,
	privacyv1alpha1.ScopeCompany:        4,
}

// Scope is the effective scope of a role in an area or for a scoped
// permission.
type Scope struct {
	// Name of the area or permission.
	Name   string
	Scope  privacyv1alpha1.DataScopeType
	Groups []string
	Source string
	// Area is the area of a scoped permission (empty for an area).
	Area string
}

// Problem is something about a role that only a change of its spec (or its
// catalog) can fix. Reason is a condition reason.
type Problem struct {
	Reason  string
	Message string
}

// Resolution is a role resolved against its catalog.
type Resolution struct {
	// Effective permissions: the closure of the chosen ones, sorted.
	Effective []string
	// Added are the permissions the closure added.
	Added []Added
	// Areas are the effective scopes of the areas in which the role holds a
	// permission, sorted by area.
	Areas []Scope
	// Features are the effective scopes of the scoped permissions the role
	// holds, sorted by permission.
	Features []Scope
	// Problems, when not empty, mean the role must not be applied.
	Problems []Problem
}

// Resolve resolves a role against its catalog: the closure of its
// permissions, its effective scopes, and every problem that keeps it from
// being applied.
func Resolve(c *Catalog, spec *privacyv1alpha1.RoleSpec) Resolution {
	var res Resolution
	problem := func(reason, format string, args ...any) {
		res.Problems = append(res.Problems, Problem{Reason: reason, Message: fmt.Sprintf(format, args...)})
	}

	var required []string
	if spec.Default != "" {
		d, ok := c.DefaultRole(spec.Default)
		if !ok {
			problem(privacyv1alpha1.ReasonUnknownDefaultRole, "spec.default: catalog has no default role %s", spec.Default)
		} else {
			required = d.RequiredPermissions
		}
	}
	for _, p := range spec.Permissions {
		if _, ok := c.Permission(p); !ok {
			problem(privacyv1alpha1.ReasonUnknownPermission, "spec.permissions: catalog has no permission %s", p)
		}
	}
	for _, l := range spec.Licenses {
		if _, ok := c.Seats(l); !ok {
			problem(privacyv1alpha1.ReasonUnknownLicense, "spec.licenses: catalog has no license %s", l)
		}
	}
	for _, a := range spec.DataScope.Areas {
		if _, ok := c.Area(a.Area); !ok {
			problem(privacyv1alpha1.ReasonUnknownArea, "spec.dataScope.areas: catalog has no area %s", a.Area)
		}
	}

	res.Effective, res.Added = c.Closure(spec.Permissions)
	for _, f := range spec.DataScope.Features {
		p, ok := c.Permission(f.Permission)
		switch {
		case !ok:
			problem(privacyv1alpha1.ReasonUnknownPermission, "spec.dataScope.features: catalog has no permission %s", f.Permission)
		case !p.Scoped:
			problem(privacyv1alpha1.ReasonFeatureNotScoped,
				"spec.dataScope.features: permission %s carries no scope of its own; set the scope of its area %s instead", f.Permission, p.Area)
		case !slices.Contains(res.Effective, f.Permission):
			problem(privacyv1alpha1.ReasonFeatureNotScoped,
				"spec.dataScope.features: the role does not hold permission %s; add it to spec.permissions or remove its scope", f.Permission)
		}
	}
	var missing []string
	for _, p := range required {
		if !slices.Contains(res.Effective, p) {
			missing = append(missing, p)
		}
	}
	if len(missing) > 0 {
		problem(privacyv1alpha1.ReasonRequiredPermissionRemoved,
			"default role %s must keep the permissions %s: add them back to spec.permissions", spec.Default, strings.Join(missing, ", "))
	}
	for _, p := range res.Effective {
		if !c.grantedBy(p, spec.Licenses) {
			via := ""
			if by := requiredBy(res.Added, p); len(by) > 0 {
				via = fmt.Sprintf(" (required by %s)", strings.Join(by, ", "))
			}
			problem(privacyv1alpha1.ReasonLicenseMissingForPermission,
				"permission %s%s needs one of the licenses %s: add one to spec.licenses or remove the permission",
				p, via, strings.Join(c.permissions[p].Licenses, ", "))
		}
	}
	res.Areas, res.Features = c.scopes(spec, res.Effective, problem)
	return res
}

func requiredBy(added []Added, p string) []string {
	for _, a := range added {
		if a.Permission == p {
			return a.RequiredBy
		}
	}
	return nil
}

// scopes resolves the effective scope of every area the role holds a
// permission in, then of every scoped permission it holds.
func (c *Catalog) scopes(spec *privacyv1alpha1.RoleSpec, effective []string,
	problem func(reason, format string, args ...any)) (areas, features []Scope) {
	ds := &spec.DataScope
	def := Scope{Scope: ds.Default, Groups: sorted(ds.SpecificGroups)}

	held := map[string]bool{}
	for _, p := range effective {
		held[c.permissions[p].Area] = true
	}
	byArea := map[string]Scope{}
	for _, a := range c.Spec.Areas {
		if !held[a.Name] {
			continue
		}
		s := Scope{Name: a.Name}
		set := findArea(ds.Areas, a.Name)
		switch {
		case set != nil && a.IgnoresDefaultScope:
			s.Scope, s.Groups, s.Source = set.Scope, sorted(set.SpecificGroups), SourceRole
		case set != nil:
			s.Scope, s.Groups, s.Source = capScope(set.Scope, sorted(set.SpecificGroups), def)
		case a.IgnoresDefaultScope:
			s.Scope, s.Source = a.DefaultScope, SourceCatalog
		default:
			s.Scope, s.Groups, s.Source = def.Scope, def.Groups, SourceDefault
		}
		checkScope(&a, s, "area "+a.Name, problem)
		byArea[a.Name] = s
		areas = append(areas, s)
	}

	for _, name := range effective {
		p := c.permissions[name]
		if !p.Scoped {
			continue
		}
		area := c.areas[p.Area]
		s := Scope{Name: name, Area: p.Area}
		set := findFeature(ds.Features, name)
		switch {
		case set != nil && area.IgnoresDefaultScope:
			s.Scope, s.Groups, s.Source = set.Scope, sorted(set.SpecificGroups), SourceRole
		case set != nil:
			s.Scope, s.Groups, s.Source = capScope(set.Scope, sorted(set.SpecificGroups), def)
		default:
			a := byArea[p.Area]
			s.Scope, s.Groups, s.Source = a.Scope, a.Groups, SourceArea
		}
		if set != nil {
			checkScope(area, s, "permission "+name, problem)
		}
		features = append(features, s)
	}
	return areas, features
}

// capScope caps a scope a role sets by its default scope: the narrower of
// the two wins; two SpecificGroups scopes keep the groups they share.
func capScope(scope privacyv1alpha1.DataScopeType, groups []string, def Scope) (privacyv1alpha1.DataScopeType, []string, string) {
	if scope == privacyv1alpha1.ScopeSpecificGroups && def.Scope == privacyv1alpha1.ScopeSpecificGroups {
		var shared []string
		for _, g := range groups {
			if slices.Contains(def.Groups, g) {
				shared = append(shared, g)
			}
		}
		if len(shared) == len(groups) {
			return scope, groups, SourceRole
		}
		return scope, shared, SourceCappedByDefault
	}
	if rank[scope] <= rank[def.Scope] {
		return scope, groups, SourceRole
	}
	return def.Scope, def.Groups, SourceCappedByDefault
}

// checkScope reports a scope the area does not allow, and a SpecificGroups
// scope left without groups.
func checkScope(area *privacyv1alpha1.CatalogArea, s Scope, what string, problem func(reason, format string, args ...any)) {
	if s.Scope == privacyv1alpha1.ScopeSpecificGroups && len(s.Groups) == 0 {
		problem(privacyv1alpha1.ReasonSpecificGroupsEmpty,
			"%s: scope SpecificGroups is left with no group: its groups share none with spec.dataScope.specificGroups, which caps them", what)
	}
	if len(area.AllowedScopes) == 0 || slices.Contains(area.AllowedScopes, s.Scope) {
		return
	}
	allowed := make([]string, len(area.AllowedScopes))
	for i, a := range area.AllowedScopes {
		allowed[i] = string(a)
	}
	why := ""
	if s.Source == SourceDefault || s.Source == SourceCappedByDefault {
		why = " (from spec.dataScope.default)"
	}
	if s.Scope == privacyv1alpha1.ScopeSelf {
		problem(privacyv1alpha1.ReasonSocialScopeSelf, "%s can never be Self%s: set its scope in spec.dataScope to one of %s",
			what, why, strings.Join(allowed, ", "))
		return
	}
	problem(privacyv1alpha1.ReasonScopeNotAllowed, "%s does not allow scope %s%s: set its scope in spec.dataScope to one of %s",
		what, s.Scope, why, strings.Join(allowed, ", "))
}

func findArea(list []privacyv1alpha1.AreaScope, name string) *privacyv1alpha1.AreaScope {
	for i := range list {
		if list[i].Area == name {
			return &list[i]
		}
	}
	return nil
}

func findFeature(list []privacyv1alpha1.FeatureScope, name string) *privacyv1alpha1.FeatureScope {
	for i := range list {
		if list[i].Permission == name {
			return &list[i]
		}
	}
	return nil
}

func sorted(ss []string) []string {
	if len(ss) == 0 {
		return nil
	}
	out := slices.Clone(ss)
	sort.Strings(out)
	return slices.Compact(out)
}
