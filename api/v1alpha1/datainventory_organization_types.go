package v1alpha1

// Organization says where an application keeps its users' teams and groups,
// so Roles' data scopes (OwnTeam, OwnGroup, SpecificGroups) can be evaluated
// in the database by lethe.visible_users and lethe.can.
type Organization struct {
	// users is the table of the application's users.
	// +required
	Users OrganizationUsers `json:"users"`

	// groups is the table of group memberships, one row per user and group.
	// Without it OwnGroup and SpecificGroups see the user's own data only.
	// +optional
	Groups *OrganizationGroups `json:"groups,omitempty"`
}

// OrganizationUsers maps the application's user table.
type OrganizationUsers struct {
	// table is the schema-qualified table, `schema.table`.
	// +required
	// +kubebuilder:validation:MaxLength=127
	// +kubebuilder:validation:Pattern=`^[a-z_][a-z0-9_$]*\.[a-z_][a-z0-9_$]*$`
	Table string `json:"table"`

	// idColumn holds the user id Roles list as members.
	// +required
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z_][a-z0-9_$]*$`
	IDColumn string `json:"idColumn"`

	// teamColumn holds the user's team. Without it OwnTeam sees the user's
	// own data only.
	// +optional
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z_][a-z0-9_$]*$`
	TeamColumn string `json:"teamColumn,omitempty"`

	// activeColumn is a boolean column, true for active users. Inactive users
	// take no license seat, count for no role manager and can do nothing.
	// Without it every user is active.
	// +optional
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z_][a-z0-9_$]*$`
	ActiveColumn string `json:"activeColumn,omitempty"`
}

// OrganizationGroups maps the application's group-membership table.
type OrganizationGroups struct {
	// table is the schema-qualified table, `schema.table`.
	// +required
	// +kubebuilder:validation:MaxLength=127
	// +kubebuilder:validation:Pattern=`^[a-z_][a-z0-9_$]*\.[a-z_][a-z0-9_$]*$`
	Table string `json:"table"`

	// userColumn holds the user id.
	// +required
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z_][a-z0-9_$]*$`
	UserColumn string `json:"userColumn"`

	// groupColumn holds the group's name, as Roles list it in
	// specificGroups.
	// +required
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z_][a-z0-9_$]*$`
	GroupColumn string `json:"groupColumn"`
}
