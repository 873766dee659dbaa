package controllers

import (
	"context"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	privacyv1alpha1 "github.com/lethe-dev/lethe/api/v1alpha1"
	"github.com/lethe-dev/lethe/internal/rbac"
)

// Labels the operator puts on the default roles it creates.
const (
	labelCatalog     = "privacy.lethe.dev/catalog"
	labelDefaultRole = "privacy.lethe.dev/default-role"
)

// PermissionCatalogReconciler checks a catalog beyond its CEL rules (unknown
// references, dependency cycles) and creates its default roles as Role
// objects. It creates a default role once and never rewrites it: renaming
// it, and giving it members and targets, is the users' business.
type PermissionCatalogReconciler struct {
	client.Client
	Recorder events.EventRecorder
}

// +kubebuilder:rbac:groups=privacy.lethe.dev,resources=permissioncatalogs,verbs=get;list;watch
// +kubebuilder:rbac:groups=privacy.lethe.dev,resources=permissioncatalogs/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=privacy.lethe.dev,resources=roles,verbs=get;list;watch;create

// Reconcile checks one catalog, creates its missing default roles and
// writes its status.
func (r *PermissionCatalogReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	var cat privacyv1alpha1.PermissionCatalog
	if err := r.Get(ctx, req.NamespacedName, &cat); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	before := cat.DeepCopy()
	st := &cat.Status
	st.Permissions = int32(len(cat.Spec.Permissions)) // #nosec G115 -- bounded by the CRD's MaxItems
	st.Areas = int32(len(cat.Spec.Areas))             // #nosec G115 -- bounded by the CRD's MaxItems

	c, problems := rbac.NewCatalog(&cat.Spec)
	var err error
	switch {
	case len(problems) > 0:
		setSummary(&st.Conditions, &st.ObservedGeneration, cat.Generation, verdictStalled, privacyv1alpha1.ReasonCatalogInvalid,
			"the catalog is inconsistent: "+listUpTo(problems, 20, "; "))
	default:
		st.MaxDependencyDepth = int32(c.MaxDepth) // #nosec G115 -- at most the number of permissions
		var conflicts []string
		st.DefaultRoles, conflicts, err = r.ensureDefaultRoles(ctx, &cat)
		switch {
		case err != nil:
			setSummary(&st.Conditions, &st.ObservedGeneration, cat.Generation, verdictWaiting, privacyv1alpha1.ReasonProgressing,
				"cannot create the default roles: "+err.Error())
		case len(conflicts) > 0:
			setSummary(&st.Conditions, &st.ObservedGeneration, cat.Generation, verdictStalled, privacyv1alpha1.ReasonDefaultRoleConflict,
				listUpTo(conflicts, 8, "; "))
		default:
			setSummary(&st.Conditions, &st.ObservedGeneration, cat.Generation, verdictReady, privacyv1alpha1.ReasonSucceeded,
				fmt.Sprintf("%d permissions in %d areas, %d licenses, %d default roles; the longest chain of required permissions is %d",
					len(cat.Spec.Permissions), len(cat.Spec.Areas), len(cat.Spec.Licenses), len(cat.Spec.DefaultRoles), c.MaxDepth))
		}
	}
	was := meta.FindStatusCondition(before.Status.Conditions, privacyv1alpha1.ConditionReady)
	now := meta.FindStatusCondition(st.Conditions, privacyv1alpha1.ConditionReady)
	if was == nil || was.Status != now.Status || was.Reason != now.Reason {
		typ := corev1.EventTypeNormal
		if now.Status != metav1.ConditionTrue {
			typ = corev1.EventTypeWarning
		}
		r.Recorder.Eventf(&cat, nil, typ, now.Reason, "Reconcile", "%s", now.Message)
	}
	if perr := r.Status().Patch(ctx, &cat, client.MergeFrom(before)); perr != nil {
		return ctrl.Result{}, client.IgnoreNotFound(perr)
	}
	return ctrl.Result{}, err
}

// defaultRoleName is the Role object of a catalog's default role.
func defaultRoleName(cat *privacyv1alpha1.PermissionCatalog, d *privacyv1alpha1.CatalogDefaultRole) string {
	return cat.Name + "-" + d.Name
}

// ensureDefaultRoles creates the default roles that do not exist yet, with
// one event naming them. A Role of the same name that is not the default
// role is a conflict.
func (r *PermissionCatalogReconciler) ensureDefaultRoles(ctx context.Context, cat *privacyv1alpha1.PermissionCatalog) (names, conflicts []string, err error) {
	var created []string
	defer func() {
		if len(created) > 0 {
			r.Recorder.Eventf(cat, nil, corev1.EventTypeNormal, privacyv1alpha1.ReasonDefaultRoleCreated, "Create",
				"created the default roles as Roles %s", strings.Join(created, ", "))
		}
	}()
	for i := range cat.Spec.DefaultRoles {
		d := &cat.Spec.DefaultRoles[i]
		name := defaultRoleName(cat, d)
		if msgs := validation.IsDNS1123Subdomain(name); len(msgs) > 0 {
			conflicts = append(conflicts, fmt.Sprintf("default role %s: %s is not a valid Role name: shorten the catalog's name", d.Name, name))
			continue
		}
		names = append(names, name)
		var existing privacyv1alpha1.Role
		err := r.Get(ctx, types.NamespacedName{Namespace: cat.Namespace, Name: name}, &existing)
		switch {
		case err == nil:
			if existing.Spec.Default != d.Name || existing.Spec.CatalogRef.Name != cat.Name {
				conflicts = append(conflicts, fmt.Sprintf(
					"Role %s exists but is not the default role %s of this catalog: rename or delete it so the default role can be created", name, d.Name))
			}
			continue
		case !apierrors.IsNotFound(err):
			return names, conflicts, err
		}
		role := defaultRole(cat, d, name)
		if err := r.Create(ctx, role); err != nil {
			if apierrors.IsAlreadyExists(err) {
				continue // created meanwhile; the next reconciliation checks it
			}
			return names, conflicts, fmt.Errorf("create Role %s: %w", name, err)
		}
		created = append(created, name)
	}
	return names, conflicts, nil
}

// defaultRole is the Role a default role starts as.
func defaultRole(cat *privacyv1alpha1.PermissionCatalog, d *privacyv1alpha1.CatalogDefaultRole, name string) *privacyv1alpha1.Role {
	targets := privacyv1alpha1.Targets{Selector: &metav1.LabelSelector{}}
	if cat.Spec.DefaultRoleTargets != nil {
		targets = *cat.Spec.DefaultRoleTargets.DeepCopy()
	}
	scope := d.DefaultScope
	if scope == "" {
		scope = privacyv1alpha1.ScopeSelf
	}
	return &privacyv1alpha1.Role{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: cat.Namespace,
			Name:      name,
			Labels:    map[string]string{labelCatalog: cat.Name, labelDefaultRole: d.Name},
		},
		Spec: privacyv1alpha1.RoleSpec{
			CatalogRef:  privacyv1alpha1.LocalObjectReference{Name: cat.Name},
			DisplayName: d.DisplayName,
			Default:     d.Name,
			Licenses:    d.Licenses,
			Permissions: rbac.DefaultRolePermissions(d),
			DataScope:   privacyv1alpha1.RoleDataScope{Default: scope},
			Targets:     targets,
		},
	}
}

// SetupWithManager registers the controller; a default role that goes
// brings its catalog back to recreate it.
func (r *PermissionCatalogReconciler) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).
		For(&privacyv1alpha1.PermissionCatalog{}, builder.WithPredicates(predicate.Or(predicate.GenerationChangedPredicate{}, statusWiped()))).
		Watches(&privacyv1alpha1.Role{}, handler.EnqueueRequestsFromMapFunc(catalogOfDefaultRole),
			builder.WithPredicates(predicate.Funcs{
				CreateFunc: func(event.CreateEvent) bool { return false },
				UpdateFunc: func(event.UpdateEvent) bool { return false },
			})).
		Named("permissioncatalog").
		Complete(r)
}

// catalogOfDefaultRole maps a default role to its catalog.
func catalogOfDefaultRole(_ context.Context, o client.Object) []reconcile.Request {
	name, ok := o.GetLabels()[labelCatalog]
	if !ok {
		return nil
	}
	return []reconcile.Request{{NamespacedName: types.NamespacedName{Namespace: o.GetNamespace(), Name: name}}}
}
