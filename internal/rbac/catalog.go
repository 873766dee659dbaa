// Package rbac resolves Roles against a PermissionCatalog: it checks the
// catalog (unknown references, dependency cycles, duplicates), computes the
// closure of a role's permissions over their requirements, resolves the
// effective data scope per product area and per scoped permission, and
// decides the license-seat and last-manager guards. Every function is pure:
// it takes the API types as plain values and touches nothing else.
package rbac

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	privacyv1alpha1 "github.com/lethe-dev/lethe/api/v1alpha1"
)

// Catalog is a checked PermissionCatalog, indexed by name.
type Catalog struct {
	Spec *privacyv1alpha1.PermissionCatalogSpec

	permissions map[string]*privacyv1alpha1.CatalogPermission
	areas       map[string]*privacyv1alpha1.CatalogArea
	licenses    map[string]*privacyv1alpha1.CatalogLicense
	defaults    map[string]*privacyv1alpha1.CatalogDefaultRole

	// MaxDepth is the longest chain of required permissions (a permission
	// requiring nothing has depth 0).
	MaxDepth int
}

// NewCatalog indexes a catalog and checks what its CEL rules cannot: that
// every reference names a declared permission, area or license, that the
// required permissions form no cycle, and that each default role is valid on
// its own. It returns the catalog, or the problems found, each naming the
// culprits.
func NewCatalog(spec *privacyv1alpha1.PermissionCatalogSpec) (*Catalog, []string) {
	c := &Catalog{
		Spec:        spec,
		permissions: map[string]*privacyv1alpha1.CatalogPermission{},
		areas:       map[string]*privacyv1alpha1.CatalogArea{},
		licenses:    map[string]*privacyv1alpha1.CatalogLicense{},
		defaults:    map[string]*privacyv1alpha1.CatalogDefaultRole{},
	}
	var problems []string
	add := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }

	for i := range spec.Areas {
		a := &spec.Areas[i]
		if _, dup := c.areas[a.Name]; dup {
			add("area %s is declared twice", a.Name)
		}
		c.areas[a.Name] = a
	}
	for i := range spec.Licenses {
		l := &spec.Licenses[i]
		if _, dup := c.licenses[l.Name]; dup {
			add("license %s is declared twice", l.Name)
		}
		c.licenses[l.Name] = l
	}
	for i := range spec.Permissions {
		p := &spec.Permissions[i]
		if _, dup := c.permissions[p.Name]; dup {
			add("permission %s is declared twice", p.Name)
		}
		c.permissions[p.Name] = p
	}
	for i := range spec.Permissions {
		p := &spec.Permissions[i]
		if _, ok := c.areas[p.Area]; !ok {
			add("permission %s: unknown area %s", p.Name, p.Area)
		}
		for _, l := range p.Licenses {
			if _, ok := c.licenses[l]; !ok {
				add("permission %s: unknown license %s", p.Name, l)
			}
		}
		for _, r := range p.Requires {
			switch {
			case r == p.Name:
				add("permission %s requires itself", p.Name)
			case c.permissions[r] == nil:
				add("permission %s requires unknown permission %s", p.Name, r)
			}
		}
	}
	for _, pair := range []struct{ field, name string }{
		{"manageRolesPermission", spec.ManageRolesPermission},
		{"manageUsersPermission", spec.ManageUsersPermission},
	} {
		if pair.name != "" && c.permissions[pair.name] == nil {
			add("%s names unknown permission %s", pair.field, pair.name)
		}
	}
	cycles, depth := c.walkRequirements()
	problems = append(problems, cycles...)
	c.MaxDepth = depth
	if len(problems) > 0 {
		return nil, problems
	}
	for i := range spec.DefaultRoles {
		d := &spec.DefaultRoles[i]
		if _, dup := c.defaults[d.Name]; dup {
			add("default role %s is declared twice", d.Name)
		}
		c.defaults[d.Name] = d
		problems = append(problems, c.checkDefaultRole(d)...)
	}
	if len(problems) > 0 {
		return nil, problems
	}
	return c, nil
}

// checkDefaultRole checks that a default role, as the operator creates it,
// resolves: its permissions exist and its licenses grant every one of them.
func (c *Catalog) checkDefaultRole(d *privacyv1alpha1.CatalogDefaultRole) []string {
	var problems []string
	for _, l := range d.Licenses {
		if c.licenses[l] == nil {
			problems = append(problems, fmt.Sprintf("default role %s: unknown license %s", d.Name, l))
		}
	}
	for _, p := range slices.Concat(d.Permissions, d.RequiredPermissions) {
		if c.permissions[p] == nil {
			problems = append(problems, fmt.Sprintf("default role %s: unknown permission %s", d.Name, p))
		}
	}
	if len(problems) > 0 {
		return problems
	}
	effective, _ := c.Closure(DefaultRolePermissions(d))
	for _, p := range effective {
		if !c.grantedBy(p, d.Licenses) {
			problems = append(problems, fmt.Sprintf("default role %s: permission %s needs one of the licenses %s",
				d.Name, p, strings.Join(c.permissions[p].Licenses, ", ")))
		}
	}
	return problems
}

// DefaultRolePermissions is the permissions a default role is created with:
// its permissions and its required permissions, sorted, without repeats.
func DefaultRolePermissions(d *privacyv1alpha1.CatalogDefaultRole) []string {
	out := slices.Concat(d.Permissions, d.RequiredPermissions)
	sort.Strings(out)
	return slices.Compact(out)
}

// walkRequirements finds every cycle of required permissions (each named by
// its path, reported once) and the longest chain of requirements.
func (c *Catalog) walkRequirements() (cycles []string, maxDepth int) {
	const (
		unvisited = iota
		visiting
		done
	)
	state := map[string]int{}
	depth := map[string]int{}
	seen := map[string]bool{}
	var walk func(name string, path []string)
	walk = func(name string, path []string) {
		switch state[name] {
		case done:
			return
		case visiting:
			start := slices.Index(path, name)
			cycle := append(slices.Clone(path[start:]), name)
			if key := cycleKey(cycle); !seen[key] {
				seen[key] = true
				cycles = append(cycles, "required permissions form a cycle: "+strings.Join(cycle, " → "))
			}
			return
		}
		state[name] = visiting
		p := c.permissions[name]
		d := 0
		for _, r := range p.Requires {
			if c.permissions[r] == nil || r == name {
				continue
			}
			walk(r, append(path, name))
			d = max(d, depth[r]+1)
		}
		depth[name] = d
		maxDepth = max(maxDepth, d)
		state[name] = done
	}
	for i := range c.Spec.Permissions {
		walk(c.Spec.Permissions[i].Name, nil)
	}
	return cycles, maxDepth
}

// cycleKey identifies a cycle whatever permission it is entered by.
func cycleKey(cycle []string) string {
	members := slices.Clone(cycle[:len(cycle)-1])
	sort.Strings(members)
	return strings.Join(members, ",")
}

// Permission returns a permission of the catalog.
func (c *Catalog) Permission(name string) (*privacyv1alpha1.CatalogPermission, bool) {
	p, ok := c.permissions[name]
	return p, ok
}

// Area returns a product area of the catalog.
func (c *Catalog) Area(name string) (*privacyv1alpha1.CatalogArea, bool) {
	a, ok := c.areas[name]
	return a, ok
}

// Seats returns the seats of a license, and whether the catalog has it.
func (c *Catalog) Seats(license string) (int32, bool) {
	l, ok := c.licenses[license]
	if !ok {
		return 0, false
	}
	return l.Seats, true
}

// DefaultRole returns a default role of the catalog.
func (c *Catalog) DefaultRole(name string) (*privacyv1alpha1.CatalogDefaultRole, bool) {
	d, ok := c.defaults[name]
	return d, ok
}

// grantedBy says whether one of the licenses grants the permission.
func (c *Catalog) grantedBy(permission string, licenses []string) bool {
	p := c.permissions[permission]
	for _, l := range p.Licenses {
		if slices.Contains(licenses, l) {
			return true
		}
	}
	return false
}
