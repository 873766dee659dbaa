package rolesync

import (
	privacyv1alpha1 "github.com/lethe-dev/lethe/api/v1alpha1"
	"github.com/lethe-dev/lethe/internal/rbac"
)

// Build turns a role resolved against its catalog into the rows a tenant
// stores. key identifies the role in the tenant (namespace/name).
func Build(key, uid string, spec *privacyv1alpha1.RoleSpec, c *rbac.Catalog, res *rbac.Resolution) Role {
	r := Role{
		Key:           key,
		UID:           uid,
		Catalog:       spec.CatalogRef.Name,
		DisplayName:   spec.DisplayName,
		DefaultRole:   spec.Default,
		DefaultScope:  string(spec.DataScope.Default),
		DefaultGroups: spec.DataScope.SpecificGroups,
		Licenses:      spec.Licenses,
		Members:       spec.Members,
	}
	for _, name := range res.Effective {
		p, _ := c.Permission(name)
		r.Permissions = append(r.Permissions, Permission{Name: name, Area: p.Area})
	}
	for _, s := range res.Areas {
		r.Scopes = append(r.Scopes, Scope{Kind: KindArea, Name: s.Name, Scope: string(s.Scope), Groups: s.Groups})
	}
	for _, s := range res.Features {
		r.Scopes = append(r.Scopes, Scope{Kind: KindPermission, Name: s.Name, Scope: string(s.Scope), Groups: s.Groups})
	}
	return r
}

// GuardsOf returns the guards a catalog sets: its seats and its permissions
// to manage roles and users.
func GuardsOf(c *rbac.Catalog) Guards {
	g := Guards{Seats: map[string]int32{}}
	for _, l := range c.Spec.Licenses {
		g.Seats[l.Name] = l.Seats
	}
	for _, p := range []string{c.Spec.ManageRolesPermission, c.Spec.ManageUsersPermission} {
		if p != "" {
			g.ManagerPermissions = append(g.ManagerPermissions, p)
		}
	}
	return g
}
