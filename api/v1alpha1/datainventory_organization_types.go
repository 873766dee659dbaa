package v1alpha1

// Organization says where an application keeps its users' teams and groups,
// so Roles' data scopes (OwnTeam, OwnGroup, SpecificGroups) can be evaluated
// in the database by lethe.visible_users and lethe.can, and which entities'
// rows belong to a user, so the scopes are enforced by row-level security.
type Organization struct {
	// users is the table of the application's users.
	// +required
	Users OrganizationUsers `json:"users"`

	// groups is the table of group memberships, one row per user and group.
	// Without it OwnGroup and SpecificGroups see the user's own data only.
	// +optional
	Groups *OrganizationGroups `json:"groups,omitempty"`

	// scopedEntities are the inventory's entities whose rows belong to a
	// user: for each, in every tenant database, Lethe keeps row-level
	// security policies that let a session see and write only the rows its
	// user's roles' data scope allows in the entity's area (see
	// TenantDatabase spec.rowSecurity). Removing an entity from the list
	// removes its policies.
	// +optional
	// +listType=map
	// +listMapKey=entity
	// +kubebuilder:validation:MaxItems=48
	ScopedEntities []ScopedEntity `json:"scopedEntities,omitempty"`
}

// ScopedEntity says whose rows an entity's are and which product area they
// belong to.
type ScopedEntity struct {
	// entity names an entity of spec.entities.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z][a-zA-Z0-9]*$`
	Entity string `json:"entity"`

	// owner is the column that holds the user id (as organization.users'
	// idColumn holds it) of the user a row belongs to.
	// +required
	Owner EntityOwner `json:"owner"`

	// area is the product area of the PermissionCatalog the rows belong
	// to: a user sees them as their roles' effective scope in that area
	// allows (an area that ignores the default scope, as Social does, is
	// evaluated so).
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[A-Za-z][A-Za-z0-9]*$`
	Area string `json:"area"`

	// permission, when set, names the catalog permission that governs the
	// rows instead of the whole area: only roles holding it give access,
	// with the permission's own scope where the catalog marks it scoped,
	// otherwise its area's.
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[A-Za-z][A-Za-z0-9]*$`
	Permission string `json:"permission,omitempty"`
}

// EntityOwner is the column that holds a row's owner: on the entity's own
// table, or on the table one of its foreign keys references.
type EntityOwner struct {
	// column holds the owner's user id: a column of the entity's table, or,
	// with through, of the table the foreign key references.
	// +required
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:XValidation:rule=`self.matches('^[^\\x00-\\x1f\\x7f]+$') && size(bytes(self)) <= 63`,message=`a column is named as PostgreSQL stores it, without quotes (customer_id, Order Id, Prämie): 1 to 63 bytes, no control characters`
	Column string `json:"column"`

	// through lists the columns of a foreign key of the entity's table
	// (for example [case_id]): the row belongs to the owner of the row it
	// references.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=8
	// +kubebuilder:validation:items:MaxLength=63
	Through []string `json:"through,omitempty"`
}

// OrganizationUsers maps the application's user table.
type OrganizationUsers struct {
	// table is the schema-qualified table, `schema.table`, each part plain
	// or double-quoted (`public."User Groups"`).
	// +required
	// +kubebuilder:validation:MaxLength=259
	// +kubebuilder:validation:XValidation:rule=`self.matches('^([A-Za-z_][A-Za-z0-9_$]*|"([^"\\x00-\\x1f\\x7f]|"")+")\\.([A-Za-z_][A-Za-z0-9_$]*|"([^"\\x00-\\x1f\\x7f]|"")+")$')`,message=`table is schema.table, each part a plain identifier or double-quoted where it holds capitals, spaces, dots or other letters: app.customers, public."Order Items"`
	// +kubebuilder:validation:XValidation:rule=`!self.matches('^([A-Za-z_][A-Za-z0-9_$]*|"([^"\\x00-\\x1f\\x7f]|"")+")\\.([A-Za-z_][A-Za-z0-9_$]*|"([^"\\x00-\\x1f\\x7f]|"")+")$') || [self.find('^([A-Za-z_][A-Za-z0-9_$]*|"([^"\\x00-\\x1f\\x7f]|"")+")'), self.substring(size(self.find('^([A-Za-z_][A-Za-z0-9_$]*|"([^"\\x00-\\x1f\\x7f]|"")+")')) + 1)].all(p, size(bytes(p.startsWith('\"') ? p.substring(1, size(p) - 1).replace('\"\"', '\"') : p)) <= 63)`,message=`each part of table holds at most 63 bytes (PostgreSQL's limit), not counting its quotes`
	Table string `json:"table"`

	// idColumn holds the user id Roles list as members.
	// +required
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:XValidation:rule=`self.matches('^[^\\x00-\\x1f\\x7f]+$') && size(bytes(self)) <= 63`,message=`a column is named as PostgreSQL stores it, without quotes (customer_id, Order Id, Prämie): 1 to 63 bytes, no control characters`
	IDColumn string `json:"idColumn"`

	// teamColumn holds the user's team. Without it OwnTeam sees the user's
	// own data only.
	// +optional
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:XValidation:rule=`self.matches('^[^\\x00-\\x1f\\x7f]+$') && size(bytes(self)) <= 63`,message=`a column is named as PostgreSQL stores it, without quotes (customer_id, Order Id, Prämie): 1 to 63 bytes, no control characters`
	TeamColumn string `json:"teamColumn,omitempty"`

	// activeColumn is a boolean column, true for active users. Inactive users
	// take no license seat, count for no role manager and can do nothing.
	// Without it every user is active.
	// +optional
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:XValidation:rule=`self.matches('^[^\\x00-\\x1f\\x7f]+$') && size(bytes(self)) <= 63`,message=`a column is named as PostgreSQL stores it, without quotes (customer_id, Order Id, Prämie): 1 to 63 bytes, no control characters`
	ActiveColumn string `json:"activeColumn,omitempty"`
}

// OrganizationGroups maps the application's group-membership table.
type OrganizationGroups struct {
	// table is the schema-qualified table, `schema.table`, each part plain
	// or double-quoted (`public."User Groups"`).
	// +required
	// +kubebuilder:validation:MaxLength=259
	// +kubebuilder:validation:XValidation:rule=`self.matches('^([A-Za-z_][A-Za-z0-9_$]*|"([^"\\x00-\\x1f\\x7f]|"")+")\\.([A-Za-z_][A-Za-z0-9_$]*|"([^"\\x00-\\x1f\\x7f]|"")+")$')`,message=`table is schema.table, each part a plain identifier or double-quoted where it holds capitals, spaces, dots or other letters: app.customers, public."Order Items"`
	// +kubebuilder:validation:XValidation:rule=`!self.matches('^([A-Za-z_][A-Za-z0-9_$]*|"([^"\\x00-\\x1f\\x7f]|"")+")\\.([A-Za-z_][A-Za-z0-9_$]*|"([^"\\x00-\\x1f\\x7f]|"")+")$') || [self.find('^([A-Za-z_][A-Za-z0-9_$]*|"([^"\\x00-\\x1f\\x7f]|"")+")'), self.substring(size(self.find('^([A-Za-z_][A-Za-z0-9_$]*|"([^"\\x00-\\x1f\\x7f]|"")+")')) + 1)].all(p, size(bytes(p.startsWith('\"') ? p.substring(1, size(p) - 1).replace('\"\"', '\"') : p)) <= 63)`,message=`each part of table holds at most 63 bytes (PostgreSQL's limit), not counting its quotes`
	Table string `json:"table"`

	// userColumn holds the user id.
	// +required
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:XValidation:rule=`self.matches('^[^\\x00-\\x1f\\x7f]+$') && size(bytes(self)) <= 63`,message=`a column is named as PostgreSQL stores it, without quotes (customer_id, Order Id, Prämie): 1 to 63 bytes, no control characters`
	UserColumn string `json:"userColumn"`

	// groupColumn holds the group's name, as Roles list it in
	// specificGroups.
	// +required
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:XValidation:rule=`self.matches('^[^\\x00-\\x1f\\x7f]+$') && size(bytes(self)) <= 63`,message=`a column is named as PostgreSQL stores it, without quotes (customer_id, Order Id, Prämie): 1 to 63 bytes, no control characters`
	GroupColumn string `json:"groupColumn"`
}
