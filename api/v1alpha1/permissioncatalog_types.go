package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// DataScopeType is how much of the organization's data a role sees.
// +kubebuilder:validation:Enum=Company;OwnGroup;OwnTeam;Self;SpecificGroups
type DataScopeType string

// The data scopes, from the widest to the narrowest. SpecificGroups sees the
// groups it lists.
const (
	// ScopeCompany sees every user of the tenant.
	ScopeCompany DataScopeType = "Company"
	// ScopeOwnGroup sees the users who share a group with the user.
	ScopeOwnGroup DataScopeType = "OwnGroup"
	// ScopeOwnTeam sees the users of the user's team.
	ScopeOwnTeam DataScopeType = "OwnTeam"
	// ScopeSelf sees the user's own data only.
	ScopeSelf DataScopeType = "Self"
	// ScopeSpecificGroups sees the users of the groups listed with it.
	ScopeSpecificGroups DataScopeType = "SpecificGroups"
)

// PermissionCatalogSpec is what an application knows about permissions: its
// product areas and their scope rules, its license types and seats, each
// permission with its area, licenses and required permissions, and its
// default roles.
//
// +kubebuilder:validation:XValidation:rule="self.permissions.all(p, self.areas.exists(a, a.name == p.area))",message="spec.permissions[].area must name an area declared in spec.areas"
// +kubebuilder:validation:XValidation:rule="self.permissions.all(p, p.licenses.all(l, self.licenses.exists(x, x.name == l)))",message="spec.permissions[].licenses must name licenses declared in spec.licenses"
// +kubebuilder:validation:XValidation:rule="!has(self.manageRolesPermission) || self.permissions.exists(p, p.name == self.manageRolesPermission)",message="spec.manageRolesPermission must name a permission declared in spec.permissions"
// +kubebuilder:validation:XValidation:rule="!has(self.manageUsersPermission) || self.permissions.exists(p, p.name == self.manageUsersPermission)",message="spec.manageUsersPermission must name a permission declared in spec.permissions"
// +kubebuilder:validation:XValidation:rule="!has(self.defaultRoles) || self.defaultRoles.all(r, r.licenses.all(l, self.licenses.exists(x, x.name == l)))",message="spec.defaultRoles[].licenses must name licenses declared in spec.licenses"
type PermissionCatalogSpec struct {
	// areas are the product areas (for example Feedback, QA, Coaching &
	// Performance, Company Settings & Admin Tools, Social), each with its
	// scope rules.
	// +required
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=16
	// +listType=map
	// +listMapKey=name
	Areas []CatalogArea `json:"areas"`

	// licenses are the license types (for example Data, Access,
	// Administration, Usage) and their seats.
	// +required
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=16
	// +listType=map
	// +listMapKey=name
	Licenses []CatalogLicense `json:"licenses"`

	// permissions are every permission the application knows. A permission
	// that requires others brings them into every role that holds it; the
	// requirements must not form a cycle and must name permissions of this
	// list (the controller checks both and names the culprits).
	// +required
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=300
	// +listType=map
	// +listMapKey=name
	Permissions []CatalogPermission `json:"permissions"`

	// defaultRoles are created as Role objects (named
	// `<catalog>-<defaultRole>`) when the catalog is applied. They cannot be
	// deleted, but can be renamed (spec.displayName), and the permissions
	// each lists in requiredPermissions cannot be removed from it.
	// +optional
	// +kubebuilder:validation:MaxItems=8
	// +listType=map
	// +listMapKey=name
	DefaultRoles []CatalogDefaultRole `json:"defaultRoles,omitempty"`

	// defaultRoleTargets are the targets the default roles are created with.
	// The default is every TenantDatabase of the namespace.
	// +optional
	DefaultRoleTargets *Targets `json:"defaultRoleTargets,omitempty"`

	// manageRolesPermission is the permission to manage roles. A change that
	// would leave a tenant with no active user holding it is not applied.
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	ManageRolesPermission string `json:"manageRolesPermission,omitempty"`

	// manageUsersPermission is the permission to manage users. A change that
	// would leave a tenant with no active user holding it is not applied.
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	ManageUsersPermission string `json:"manageUsersPermission,omitempty"`
}

// CatalogArea is a product area and the scopes a role may have in it.
// +kubebuilder:validation:XValidation:rule="!has(self.ignoresDefaultScope) || !self.ignoresDefaultScope || has(self.defaultScope)",message="an area that ignores the role's default scope needs defaultScope: the scope of roles that set none for it"
// +kubebuilder:validation:XValidation:rule="!has(self.defaultScope) || !has(self.allowedScopes) || self.defaultScope in self.allowedScopes",message="defaultScope must be one of allowedScopes"
// +kubebuilder:validation:XValidation:rule="!has(self.defaultScope) || self.defaultScope != 'SpecificGroups'",message="defaultScope cannot be SpecificGroups: the catalog knows no tenant's groups"
type CatalogArea struct {
	// name of the area, as roles and permissions refer to it (for example
	// `QA`, `CoachingPerformance`).
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[A-Za-z][A-Za-z0-9]*$`
	Name string `json:"name"`

	// displayName is the area's name as the product shows it (for example
	// "Coaching & Performance").
	// +optional
	// +kubebuilder:validation:MaxLength=128
	DisplayName string `json:"displayName,omitempty"`

	// ignoresDefaultScope makes the area's scope independent of the role's
	// default scope (as Social is): the default neither caps it nor is
	// inherited by it.
	// +optional
	IgnoresDefaultScope bool `json:"ignoresDefaultScope,omitempty"`

	// allowedScopes are the scopes a role may have in this area; the default
	// is all five. Social, for example, allows every scope but Self.
	// +optional
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=5
	// +listType=set
	AllowedScopes []DataScopeType `json:"allowedScopes,omitempty"`

	// defaultScope is the area's scope in a role that sets none for it,
	// required when ignoresDefaultScope is true. Otherwise such a role gets
	// its default scope.
	// +optional
	DefaultScope DataScopeType `json:"defaultScope,omitempty"`
}

// CatalogLicense is a license type and its seats in each tenant.
type CatalogLicense struct {
	// name of the license type (for example `Data`, `Administration`).
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[A-Za-z][A-Za-z0-9]*$`
	Name string `json:"name"`

	// seats is how many active users of one tenant may hold a role with this
	// license. A user counts once however many such roles they hold.
	// +required
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=10000000
	Seats int32 `json:"seats"`
}

// CatalogPermission is one permission.
type CatalogPermission struct {
	// name of the permission, as roles list it (for example `DeleteContact`).
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[A-Za-z][A-Za-z0-9]*$`
	Name string `json:"name"`

	// description says what the permission allows, as the product shows it.
	// +optional
	// +kubebuilder:validation:MaxLength=256
	Description string `json:"description,omitempty"`

	// area is the product area the permission belongs to.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	Area string `json:"area"`

	// licenses are the license types that grant the permission: a role
	// holding it needs at least one of them.
	// +required
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=8
	// +kubebuilder:validation:items:MaxLength=63
	// +listType=set
	Licenses []string `json:"licenses"`

	// requires lists the permissions this one needs: choosing it selects
	// them too, and theirs in turn.
	// +optional
	// +kubebuilder:validation:MaxItems=16
	// +kubebuilder:validation:items:MaxLength=63
	// +listType=set
	Requires []string `json:"requires,omitempty"`

	// scoped says the permission carries its own data scope, which overrides
	// its area's (as Manage Calibrations, Submit Appeals and Resolve Appeals
	// do). A role sets it in spec.dataScope.features.
	// +optional
	Scoped bool `json:"scoped,omitempty"`
}

// CatalogDefaultRole is a role every tenant starts with.
type CatalogDefaultRole struct {
	// name of the default role; the Role object is `<catalog>-<name>`.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	Name string `json:"name"`

	// displayName is the role's initial display name.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=128
	DisplayName string `json:"displayName"`

	// licenses are the role's initial license types.
	// +required
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=16
	// +kubebuilder:validation:items:MaxLength=63
	// +listType=set
	Licenses []string `json:"licenses"`

	// permissions are the role's initial permissions; requiredPermissions are
	// added to them.
	// +optional
	// +kubebuilder:validation:MaxItems=300
	// +kubebuilder:validation:items:MaxLength=63
	// +listType=set
	Permissions []string `json:"permissions,omitempty"`

	// requiredPermissions cannot be removed from the role: a Role of this
	// default role without one of them is not applied.
	// +optional
	// +kubebuilder:validation:MaxItems=300
	// +kubebuilder:validation:items:MaxLength=63
	// +listType=set
	RequiredPermissions []string `json:"requiredPermissions,omitempty"`

	// defaultScope is the role's initial default data scope.
	// +optional
	// +kubebuilder:default=Self
	// +kubebuilder:validation:XValidation:rule="self != 'SpecificGroups'",message="defaultRoles[].defaultScope cannot be SpecificGroups: the catalog knows no tenant's groups"
	DefaultScope DataScopeType `json:"defaultScope,omitempty"`
}

// PermissionCatalogStatus reports the catalog's consistency and its default
// roles.
type PermissionCatalogStatus struct {
	// observedGeneration is the generation the status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// conditions: Ready, Stalled.
	// +optional
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=8
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// permissions is the number of permissions.
	// +optional
	Permissions int32 `json:"permissions,omitempty"`

	// areas is the number of product areas.
	// +optional
	Areas int32 `json:"areas,omitempty"`

	// maxDependencyDepth is the longest chain of required permissions.
	// +optional
	MaxDependencyDepth int32 `json:"maxDependencyDepth,omitempty"`

	// defaultRoles are the names of the Role objects of the default roles.
	// +optional
	// +kubebuilder:validation:MaxItems=8
	// +kubebuilder:validation:items:MaxLength=253
	DefaultRoles []string `json:"defaultRoles,omitempty"`
}

// PermissionCatalog is the permissions an application knows: product areas
// and their scope rules, license types and seats, each permission's area,
// licenses and required permissions, and the default roles with their
// required permissions.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=pcat,categories=privacy
// +kubebuilder:printcolumn:name="Areas",type=integer,JSONPath=`.status.areas`
// +kubebuilder:printcolumn:name="Permissions",type=integer,JSONPath=`.status.permissions`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`,priority=1
// +kubebuilder:printcolumn:name="Default roles",type=string,JSONPath=`.status.defaultRoles`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type PermissionCatalog struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is the catalog.
	// +required
	Spec PermissionCatalogSpec `json:"spec"`

	// status reports its consistency.
	// +optional
	Status PermissionCatalogStatus `json:"status,omitempty"`
}

// PermissionCatalogList is a list of PermissionCatalogs.
// +kubebuilder:object:root=true
type PermissionCatalogList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []PermissionCatalog `json:"items"`
}

func init() {
	register(&PermissionCatalog{}, &PermissionCatalogList{})
}
