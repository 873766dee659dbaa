package controllers

import (
	"context"
	"fmt"
	"net/http"
	"reflect"
	"slices"
	"sort"
	"strings"

	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	privacyv1alpha1 "github.com/lethe-dev/lethe/api/v1alpha1"
	"github.com/lethe-dev/lethe/internal/rbac"
	"github.com/lethe-dev/lethe/internal/rolesync"
)

// +kubebuilder:webhook:path=/validate-role,mutating=false,failurePolicy=fail,sideEffects=None,groups=privacy.lethe.dev,resources=roles,verbs=update;delete,versions=v1alpha1,name=role.privacy.lethe.dev,admissionReviewVersions=v1,timeoutSeconds=10
// +kubebuilder:rbac:groups="",resources=namespaces,verbs=get

// RoleWebhook refuses, at admission, deleting a default role and a change
// that would leave a tenant without a user who may manage roles or users.
// It counts every member as active; the Role controller, which reads who
// is active from the tenant database, keeps its own guard as the second
// line.
type RoleWebhook struct {
	// Reader reads Roles, catalogs, TenantDatabases and Namespaces from the
	// API server, uncached: a decision must see the change admitted just
	// before.
	Reader  client.Reader
	Decoder admission.Decoder
}

// Handle admits one update or delete.
func (w *RoleWebhook) Handle(ctx context.Context, req admission.Request) admission.Response {
	var old privacyv1alpha1.Role
	if err := w.Decoder.DecodeRaw(req.OldObject, &old); err != nil {
		return admission.Errored(http.StatusBadRequest, err)
	}
	if !old.DeletionTimestamp.IsZero() {
		// Finalizer bookkeeping of a role already on its way out.
		return admission.Allowed("")
	}
	var updated *privacyv1alpha1.Role
	if req.Operation == admissionv1.Update {
		updated = &privacyv1alpha1.Role{}
		if err := w.Decoder.Decode(req, updated); err != nil {
			return admission.Errored(http.StatusBadRequest, err)
		}
		if reflect.DeepEqual(old.Spec, updated.Spec) {
			return admission.Allowed("")
		}
	}

	var cat privacyv1alpha1.PermissionCatalog
	err := w.Reader.Get(ctx, types.NamespacedName{Namespace: old.Namespace, Name: old.Spec.CatalogRef.Name}, &cat)
	if apierrors.IsNotFound(err) {
		// Without its catalog the role grants nothing in any tenant.
		return admission.Allowed("")
	}
	if err != nil {
		return admission.Errored(http.StatusInternalServerError, err)
	}
	if req.Operation == admissionv1.Delete {
		if resp, refused := w.refuseDefaultDeletion(ctx, &old, &cat); refused {
			return resp
		}
	}
	lost, err := w.managersLost(ctx, &old, updated, &cat)
	if err != nil {
		return admission.Errored(http.StatusInternalServerError, err)
	}
	if len(lost) > 0 {
		change := "this change"
		if updated == nil {
			change = "deleting Role " + old.Name
		}
		return admission.Denied(fmt.Sprintf("%s would leave %s; give the permission to another member first",
			change, strings.Join(lost, "; ")))
	}
	return admission.Allowed("")
}

// refuseDefaultDeletion refuses deleting a role its catalog lists as a
// default role, unless the namespace itself is being deleted.
func (w *RoleWebhook) refuseDefaultDeletion(ctx context.Context, role *privacyv1alpha1.Role, cat *privacyv1alpha1.PermissionCatalog) (admission.Response, bool) {
	if role.Spec.Default == "" || !slices.ContainsFunc(cat.Spec.DefaultRoles, func(d privacyv1alpha1.CatalogDefaultRole) bool {
		return d.Name == role.Spec.Default
	}) {
		return admission.Response{}, false
	}
	var ns corev1.Namespace
	if err := w.Reader.Get(ctx, types.NamespacedName{Name: role.Namespace}, &ns); err == nil && !ns.DeletionTimestamp.IsZero() {
		return admission.Response{}, false
	}
	return admission.Denied(fmt.Sprintf("Role %s is the default role %s of PermissionCatalog %s and cannot be deleted: "+
		"rename it with spec.displayName, or remove %s from the catalog's spec.defaultRoles first",
		role.Name, role.Spec.Default, cat.Name, role.Spec.Default)), true
}

// managersLost names each tenant the change (updated nil: the deletion)
// would leave with no member holding a guarded permission of the catalog.
func (w *RoleWebhook) managersLost(ctx context.Context, old, updated *privacyv1alpha1.Role, cat *privacyv1alpha1.PermissionCatalog) ([]string, error) {
	catalog, problems := rbac.NewCatalog(&cat.Spec)
	if len(problems) > 0 {
		return nil, nil
	}
	guarded := rolesync.GuardsOf(catalog).ManagerPermissions
	if len(guarded) == 0 {
		return nil, nil
	}
	var roles privacyv1alpha1.RoleList
	if err := w.Reader.List(ctx, &roles, client.InNamespace(old.Namespace)); err != nil {
		return nil, err
	}
	var tenants privacyv1alpha1.TenantDatabaseList
	if err := w.Reader.List(ctx, &tenants, client.InNamespace(old.Namespace)); err != nil {
		return nil, err
	}
	catalogs := map[string]*rbac.Catalog{cat.Name: catalog}
	grant := func(role *privacyv1alpha1.Role) (rbac.Grant, error) {
		c, ok := catalogs[role.Spec.CatalogRef.Name]
		if !ok {
			var other privacyv1alpha1.PermissionCatalog
			err := w.Reader.Get(ctx, types.NamespacedName{Namespace: role.Namespace, Name: role.Spec.CatalogRef.Name}, &other)
			if err != nil && !apierrors.IsNotFound(err) {
				return rbac.Grant{}, err
			}
			if err == nil {
				if c, problems = rbac.NewCatalog(&other.Spec); len(problems) > 0 {
					c = nil
				}
			}
			catalogs[role.Spec.CatalogRef.Name] = c
		}
		if c == nil {
			return rbac.Grant{}, nil
		}
		res := rbac.Resolve(c, &role.Spec)
		if len(res.Problems) > 0 {
			// The controller does not sync a role with problems.
			return rbac.Grant{}, nil
		}
		return rbac.Grant{Permissions: res.Effective, Members: role.Spec.Members}, nil
	}

	var lost []string
	for i := range tenants.Items {
		tdb := &tenants.Items[i]
		if !old.Spec.Targets.Selects(tdb) && (updated == nil || !updated.Spec.Targets.Selects(tdb)) {
			continue
		}
		var before, after []rbac.Grant
		for j := range roles.Items {
			role := &roles.Items[j]
			if !role.DeletionTimestamp.IsZero() || role.Name == old.Name {
				continue
			}
			if role.Spec.Targets.Selects(tdb) {
				g, err := grant(role)
				if err != nil {
					return nil, err
				}
				before, after = append(before, g), append(after, g)
			}
		}
		if old.Spec.Targets.Selects(tdb) {
			g, err := grant(old)
			if err != nil {
				return nil, err
			}
			before = append(before, g)
		}
		if updated != nil && updated.Spec.Targets.Selects(tdb) {
			g, err := grant(updated)
			if err != nil {
				return nil, err
			}
			after = append(after, g)
		}
		b, a := rbac.Holders(before, guarded), rbac.Holders(after, guarded)
		counts := make([]rbac.ManagerCount, 0, len(guarded))
		for _, p := range guarded {
			counts = append(counts, rbac.ManagerCount{Permission: p, Before: b[p], After: a[p]})
		}
		if perms := rbac.LastManagerLost(counts); len(perms) > 0 {
			lost = append(lost, fmt.Sprintf("tenant %s (TenantDatabase %s) with no member holding %s",
				tdb.Spec.Tenant, tdb.Name, strings.Join(perms, " and ")))
		}
	}
	sort.Strings(lost)
	return lost, nil
}
