package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// RoleSpec is a named set of permissions with licenses, data scopes and
// members, resolved against a PermissionCatalog and synced into the target
// tenant databases.
// +kubebuilder:validation:XValidation:rule="has(self.default) == has(oldSelf.default) && (!has(self.default) || self.default == oldSelf.default)",message="spec.default is immutable: a default role stays the default role it was created as"
// +kubebuilder:validation:XValidation:rule="self.catalogRef == oldSelf.catalogRef",message="spec.catalogRef is immutable: create a new Role for another catalog"
type RoleSpec struct {
	// catalogRef names the PermissionCatalog, in the same namespace, that
	// defines the permissions, licenses and areas this role uses. Immutable.
	// +required
	CatalogRef LocalObjectReference `json:"catalogRef"`

	// displayName is the role's name as the application shows it. Default
	// roles may be renamed here.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=128
	DisplayName string `json:"displayName"`

	// default names the catalog's default role this Role is (for example
	// `administrator`). A default role cannot be deleted and keeps its
	// required permissions. Set by the operator when it creates the default
	// roles; immutable.
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	Default string `json:"default,omitempty"`

	// licenses are the license types the role is tied to. Every permission
	// of the role must be granted by at least one of them, and each member
	// takes a seat of each.
	// +required
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=16
	// +kubebuilder:validation:items:MaxLength=63
	// +listType=set
	Licenses []string `json:"licenses"`

	// permissions chosen for the role. Permissions they require are added
	// (status.addedByDependency says which and why).
	// +optional
	// +kubebuilder:validation:MaxItems=300
	// +kubebuilder:validation:items:MaxLength=63
	// +listType=set
	Permissions []string `json:"permissions,omitempty"`

	// dataScope says whose data the role's members see.
	// +required
	DataScope RoleDataScope `json:"dataScope"`

	// members are the user ids, as the tenant's application knows them, of
	// the users who hold the role. Use the application's opaque ids, not
	// e-mail addresses: ids are written into the tenant database only.
	// +optional
	// +kubebuilder:validation:MaxItems=5000
	// +kubebuilder:validation:items:MinLength=1
	// +kubebuilder:validation:items:MaxLength=64
	// +kubebuilder:validation:items:Pattern=`^[A-Za-z0-9][-._:A-Za-z0-9]*$`
	// +listType=set
	Members []string `json:"members,omitempty"`

	// targets are the TenantDatabases the role is synced into.
	// +required
	Targets Targets `json:"targets"`
}

// RoleDataScope is a role's default scope and its narrowing per product area
// and per scoped permission.
// +kubebuilder:validation:XValidation:rule="self.default == 'SpecificGroups' ? has(self.specificGroups) : !has(self.specificGroups)",message="dataScope.specificGroups is required when dataScope.default is SpecificGroups, and allowed only then"
type RoleDataScope struct {
	// default is the widest the role can see (`Company`, `OwnGroup`,
	// `OwnTeam`, `Self` or `SpecificGroups`); it caps every area's scope,
	// except in areas that ignore it (Social). A user always sees their own
	// data.
	// +required
	Default DataScopeType `json:"default"`

	// specificGroups are the groups the role sees when default is
	// SpecificGroups.
	// +optional
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:items:MinLength=1
	// +kubebuilder:validation:items:MaxLength=128
	// +listType=set
	SpecificGroups []string `json:"specificGroups,omitempty"`

	// areas set the scope per product area; an area not listed gets the
	// default scope (or, for an area that ignores it, the area's own
	// default).
	// +optional
	// +kubebuilder:validation:MaxItems=16
	// +listType=map
	// +listMapKey=area
	Areas []AreaScope `json:"areas,omitempty"`

	// features set the scope of scoped permissions (for example
	// ManageCalibrations), overriding their area's.
	// +optional
	// +kubebuilder:validation:MaxItems=32
	// +listType=map
	// +listMapKey=permission
	Features []FeatureScope `json:"features,omitempty"`
}

// AreaScope is a role's scope in one product area.
// +kubebuilder:validation:XValidation:rule="self.scope == 'SpecificGroups' ? has(self.specificGroups) : !has(self.specificGroups)",message="specificGroups is required when scope is SpecificGroups, and allowed only then"
type AreaScope struct {
	// area is a product area of the catalog.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	Area string `json:"area"`

	// scope in the area.
	// +required
	Scope DataScopeType `json:"scope"`

	// specificGroups are the groups seen when scope is SpecificGroups.
	// +optional
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:items:MinLength=1
	// +kubebuilder:validation:items:MaxLength=128
	// +listType=set
	SpecificGroups []string `json:"specificGroups,omitempty"`
}

// FeatureScope is a role's scope for one scoped permission.
// +kubebuilder:validation:XValidation:rule="self.scope == 'SpecificGroups' ? has(self.specificGroups) : !has(self.specificGroups)",message="specificGroups is required when scope is SpecificGroups, and allowed only then"
type FeatureScope struct {
	// permission is a scoped permission of the catalog.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	Permission string `json:"permission"`

	// scope for the permission.
	// +required
	Scope DataScopeType `json:"scope"`

	// specificGroups are the groups seen when scope is SpecificGroups.
	// +optional
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:items:MinLength=1
	// +kubebuilder:validation:items:MaxLength=128
	// +listType=set
	SpecificGroups []string `json:"specificGroups,omitempty"`
}

// RoleStatus is the resolved role and its state in each target.
type RoleStatus struct {
	// observedGeneration is the generation the status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// conditions: Ready, Reconciling, Stalled and DeletionRefused.
	// +optional
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=8
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// catalogGeneration is the generation of the PermissionCatalog the role
	// was last resolved against.
	// +optional
	CatalogGeneration int64 `json:"catalogGeneration,omitempty"`

	// effectivePermissions are the chosen permissions and every permission
	// they require, directly or not.
	// +optional
	// +kubebuilder:validation:MaxItems=300
	// +kubebuilder:validation:items:MaxLength=63
	EffectivePermissions []string `json:"effectivePermissions,omitempty"`

	// permissionCount is the number of effective permissions.
	// +optional
	PermissionCount int32 `json:"permissionCount,omitempty"`

	// addedByDependency are the permissions the closure added, each with the
	// effective permissions that require it.
	// +optional
	// +kubebuilder:validation:MaxItems=300
	AddedByDependency []AddedPermission `json:"addedByDependency,omitempty"`

	// areaScopes are the effective scopes per product area in which the role
	// holds a permission, after the default scope and the area's rules.
	// +optional
	// +kubebuilder:validation:MaxItems=16
	AreaScopes []EffectiveScope `json:"areaScopes,omitempty"`

	// featureScopes are the effective scopes of the scoped permissions the
	// role holds.
	// +optional
	// +kubebuilder:validation:MaxItems=300
	FeatureScopes []EffectiveScope `json:"featureScopes,omitempty"`

	// memberCount is the number of members.
	// +optional
	MemberCount int32 `json:"memberCount,omitempty"`

	// synced is targets in sync over targets, for example "3/3".
	// +optional
	// +kubebuilder:validation:MaxLength=32
	Synced string `json:"synced,omitempty"`

	// targets are the role's state in each TenantDatabase it is synced
	// into, or was and is being removed from.
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=256
	Targets []RoleTargetStatus `json:"targets,omitempty"`
}

// AddedPermission is a permission the closure added.
type AddedPermission struct {
	// permission added.
	// +required
	// +kubebuilder:validation:MaxLength=63
	Permission string `json:"permission"`

	// requiredBy are the effective permissions that require it directly.
	// +required
	// +kubebuilder:validation:MaxItems=300
	// +kubebuilder:validation:items:MaxLength=63
	RequiredBy []string `json:"requiredBy"`
}

// EffectiveScope is the scope a role ends up with in an area or for a scoped
// permission.
type EffectiveScope struct {
	// name of the area or scoped permission.
	// +required
	// +kubebuilder:validation:MaxLength=63
	Name string `json:"name"`

	// scope in effect.
	// +required
	Scope DataScopeType `json:"scope"`

	// specificGroups seen, when scope is SpecificGroups.
	// +optional
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:items:MaxLength=128
	SpecificGroups []string `json:"specificGroups,omitempty"`

	// source says where the scope comes from: `Role` (set for it),
	// `Default` (the role's default scope), `CappedByDefault` (set wider than
	// the default, which caps it), `Area` (a scoped permission the role sets
	// no scope for follows its area) or `Catalog` (the area's own default).
	// +required
	// +kubebuilder:validation:MaxLength=32
	Source string `json:"source"`
}

// RoleTargetStatus is a role's state in one TenantDatabase.
type RoleTargetStatus struct {
	// name of the TenantDatabase.
	// +required
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`

	// tenant is the TenantDatabase's spec.tenant.
	// +optional
	// +kubebuilder:validation:MaxLength=63
	Tenant string `json:"tenant,omitempty"`

	// synced is true when the tenant's lethe schema holds the role as
	// resolved for status.catalogGeneration and the role's generation.
	// +required
	Synced bool `json:"synced"`

	// removing is true when the role is being removed from the tenant (the
	// target was dropped, or the Role is being deleted).
	// +optional
	Removing bool `json:"removing,omitempty"`

	// reason, when not synced, is why: a condition reason.
	// +optional
	// +kubebuilder:validation:MaxLength=64
	Reason string `json:"reason,omitempty"`

	// message, when not synced, says what to do.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	Message string `json:"message,omitempty"`

	// seats of each of the role's licenses in the tenant, counted over the
	// active members of every role with the license.
	// +optional
	// +kubebuilder:validation:MaxItems=16
	Seats []LicenseSeats `json:"seats,omitempty"`

	// lastSyncTime is when the role was last compared with the tenant's rows.
	// +optional
	LastSyncTime *metav1.Time `json:"lastSyncTime,omitempty"`
}

// LicenseSeats counts the seats of one license in one tenant.
type LicenseSeats struct {
	// license type.
	// +required
	// +kubebuilder:validation:MaxLength=63
	License string `json:"license"`

	// used is the number of active users holding a role with the license.
	// +required
	Used int32 `json:"used"`

	// available is the number of seats left (negative when the catalog's
	// seats were lowered below the seats used).
	// +required
	Available int32 `json:"available"`
}

// Role is a named set of permissions with licenses, data scopes and members,
// resolved against a PermissionCatalog and synced into the selected tenant
// databases. Its kind shares the name of Kubernetes RBAC's Role: address it
// as `prole`, `roles.privacy.lethe.dev` or `role.v1alpha1.privacy.lethe.dev`
// with kubectl.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=prole,categories=privacy
// +kubebuilder:printcolumn:name="Display name",type=string,JSONPath=`.spec.displayName`
// +kubebuilder:printcolumn:name="Default",type=string,JSONPath=`.spec.default`
// +kubebuilder:printcolumn:name="Permissions",type=integer,JSONPath=`.status.permissionCount`
// +kubebuilder:printcolumn:name="Members",type=integer,JSONPath=`.status.memberCount`
// +kubebuilder:printcolumn:name="Synced",type=string,JSONPath=`.status.synced`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`,priority=1
// +kubebuilder:printcolumn:name="Catalog",type=string,JSONPath=`.spec.catalogRef.name`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type Role struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is the role.
	// +required
	Spec RoleSpec `json:"spec"`

	// status is the resolved role and its state in each target.
	// +optional
	Status RoleStatus `json:"status,omitempty"`
}

// RoleList is a list of Roles.
// +kubebuilder:object:root=true
type RoleList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Role `json:"items"`
}

func init() {
	register(&Role{}, &RoleList{})
}
