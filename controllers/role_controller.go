package controllers

import (
	"context"
	"errors"
	"slices"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	privacyv1alpha1 "github.com/lethe-dev/lethe/api/v1alpha1"
	"github.com/lethe-dev/lethe/internal/rbac"
	"github.com/lethe-dev/lethe/internal/tenantdb"
)

// roleFinalizer keeps a Role until it is removed from every tenant it was
// synced into (and keeps a default role for good).
const roleFinalizer = "privacy.lethe.dev/role"

// indexCatalogRef maps PermissionCatalogs to the Roles that use them.
const indexCatalogRef = ".spec.catalogRef.name"

// RoleReconciler resolves each Role against its PermissionCatalog and syncs
// it into its target tenant databases, diff-based, repairing drift on every
// resync; it removes the role from tenants it no longer targets and, behind
// a finalizer, from every tenant when the Role is deleted.
type RoleReconciler struct {
	client.Client
	// APIReader reads connection Secrets uncached.
	APIReader client.Reader
	Recorder  events.EventRecorder
	Pools     *tenantdb.Pools
	Clock     clock.PassiveClock
	// ResyncInterval is how often a synced role is compared with its
	// tenants again, repairing rows changed by hand.
	ResyncInterval time.Duration
	// RetryInterval is how soon a role waiting on a tenant is tried again.
	RetryInterval time.Duration
	// MaxConcurrentReconciles bounds how many Roles are reconciled at once.
	MaxConcurrentReconciles int
	// TenantConcurrency bounds how many tenants one Role is synced into at
	// once (default 4).
	TenantConcurrency int

	// orgs holds an orgMapping per tenant pool key.
	orgs sync.Map
	// conns holds a connEntry per TenantDatabase (namespace/name).
	conns sync.Map
	// seats caches the seats used per tenant and catalog.
	seats seatCache
}

// +kubebuilder:rbac:groups=privacy.lethe.dev,resources=roles,verbs=get;list;watch;create;update;patch
// +kubebuilder:rbac:groups=privacy.lethe.dev,resources=roles/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=privacy.lethe.dev,resources=roles/finalizers,verbs=update
// +kubebuilder:rbac:groups=privacy.lethe.dev,resources=permissioncatalogs,verbs=get;list;watch
// +kubebuilder:rbac:groups=privacy.lethe.dev,resources=tenantdatabases,verbs=get;list;watch
// +kubebuilder:rbac:groups=privacy.lethe.dev,resources=datainventories,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;list;watch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// Reconcile resolves one Role, syncs it into its tenants and writes its
// status.
func (r *RoleReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	var role privacyv1alpha1.Role
	if err := r.Get(ctx, req.NamespacedName, &role); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	deleting := !role.DeletionTimestamp.IsZero()
	if deleting && !controllerutil.ContainsFinalizer(&role, roleFinalizer) {
		return ctrl.Result{}, nil
	}
	if !deleting && !controllerutil.ContainsFinalizer(&role, roleFinalizer) {
		patch := client.MergeFrom(role.DeepCopy())
		controllerutil.AddFinalizer(&role, roleFinalizer)
		if err := r.Patch(ctx, &role, patch); err != nil {
			return ctrl.Result{}, client.IgnoreNotFound(err)
		}
	}

	before := role.DeepCopy()
	obs := r.observe(ctx, &role)
	v := applyRoleStatus(&role, obs, metav1.NewTime(r.Clock.Now()))
	r.recordRoleEvents(before, &role, obs)
	if err := r.Status().Patch(ctx, &role, client.MergeFrom(before)); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if obs.removedEverywhere {
		patch := client.MergeFrom(role.DeepCopy())
		controllerutil.RemoveFinalizer(&role, roleFinalizer)
		if err := r.Patch(ctx, &role, patch); err != nil {
			return ctrl.Result{}, client.IgnoreNotFound(err)
		}
		return ctrl.Result{}, nil
	}
	if obs.err != nil {
		return ctrl.Result{}, obs.err
	}
	ready := meta.FindStatusCondition(role.Status.Conditions, privacyv1alpha1.ConditionReady)
	logf.FromContext(ctx).V(1).Info("reconciled role", "ready", ready.Status, "reason", ready.Reason, "synced", role.Status.Synced)
	if v == verdictWaiting {
		return ctrl.Result{RequeueAfter: r.RetryInterval}, nil
	}
	return ctrl.Result{RequeueAfter: r.ResyncInterval}, nil
}

// observe resolves the role and brings every target to it (or removes it),
// returning what happened.
func (r *RoleReconciler) observe(ctx context.Context, role *privacyv1alpha1.Role) *roleObservation {
	o := &roleObservation{deleting: !role.DeletionTimestamp.IsZero()}

	var cat privacyv1alpha1.PermissionCatalog
	err := r.Get(ctx, types.NamespacedName{Namespace: role.Namespace, Name: role.Spec.CatalogRef.Name}, &cat)
	switch {
	case apierrors.IsNotFound(err):
		o.catalogMissing = true
	case err != nil:
		o.err = err
		return o
	default:
		o.catalogGeneration = cat.Generation
		o.catalog, o.catalogProblems = rbac.NewCatalog(&cat.Spec)
	}
	if o.catalog != nil {
		res := rbac.Resolve(o.catalog, &role.Spec)
		o.resolution = &res
	}

	if o.deleting {
		// A default role stays while its catalog lists it, valid or not.
		o.deletionRefused = !o.catalogMissing && role.Spec.Default != "" &&
			slices.ContainsFunc(cat.Spec.DefaultRoles, func(d privacyv1alpha1.CatalogDefaultRole) bool { return d.Name == role.Spec.Default })
		if !o.deletionRefused {
			r.removeEverywhere(ctx, role, o)
			return o
		}
	}
	if o.catalog == nil || len(o.resolution.Problems) > 0 {
		return o
	}

	targets, missing, err := r.selectRoleTargets(ctx, role)
	var selErr *selectorError
	if errors.As(err, &selErr) {
		o.selectorInvalid = selErr.Error()
		return o
	}
	if err != nil {
		o.err = err
		return o
	}
	if len(targets)+len(missing) > maxRoleTargets {
		o.tooManyTargets = len(targets) + len(missing)
		return o
	}
	o.targets = append(o.targets, missing...)
	work := make([]func() targetObservation, 0, len(targets))
	for i := range targets {
		tdb := &targets[i]
		work = append(work, func() targetObservation { return r.syncTarget(ctx, role, tdb, o) })
	}
	for _, name := range droppedTargets(role, targets, missing) {
		work = append(work, func() targetObservation { return r.removeFromTarget(ctx, role, name, o.guards()) })
	}
	o.targets = append(o.targets, r.runBounded(work)...)
	return o
}

// removeEverywhere removes a deleted role from every tenant it was synced
// into, or targets now.
func (r *RoleReconciler) removeEverywhere(ctx context.Context, role *privacyv1alpha1.Role, o *roleObservation) {
	names := map[string]bool{}
	for _, t := range role.Status.Targets {
		names[t.Name] = true
	}
	if targets, _, err := r.selectRoleTargets(ctx, role); err == nil {
		for _, t := range targets {
			names[t.Name] = true
		}
	}
	work := make([]func() targetObservation, 0, len(names))
	for name := range names {
		work = append(work, func() targetObservation { return r.removeFromTarget(ctx, role, name, o.guards()) })
	}
	o.targets = r.runBounded(work)
	o.removedEverywhere = true
	for _, t := range o.targets {
		if t.state != targetRemoved {
			o.removedEverywhere = false
		}
	}
}

// runBounded runs the work, TenantConcurrency at a time, and returns the
// results in order.
func (r *RoleReconciler) runBounded(work []func() targetObservation) []targetObservation {
	n := r.TenantConcurrency
	if n < 1 {
		n = 4
	}
	out := make([]targetObservation, len(work))
	sem := make(chan struct{}, n)
	done := make(chan struct{})
	for i, w := range work {
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; done <- struct{}{} }()
			out[i] = w()
		}()
	}
	for range work {
		<-done
	}
	return out
}

// maxRoleTargets is the bound of status.targets.
const maxRoleTargets = 256

// selectRoleTargets resolves spec.targets: the TenantDatabases found, and a
// waiting observation for each name that does not exist.
func (r *RoleReconciler) selectRoleTargets(ctx context.Context, role *privacyv1alpha1.Role) ([]privacyv1alpha1.TenantDatabase, []targetObservation, error) {
	t := role.Spec.Targets
	byName := map[string]privacyv1alpha1.TenantDatabase{}
	var missing []targetObservation
	for _, n := range t.Names {
		var tdb privacyv1alpha1.TenantDatabase
		err := r.Get(ctx, types.NamespacedName{Namespace: role.Namespace, Name: n}, &tdb)
		switch {
		case apierrors.IsNotFound(err):
			missing = append(missing, targetObservation{name: n, state: targetWaiting,
				reason: privacyv1alpha1.ReasonTenantDatabaseNotFound, message: "TenantDatabase " + n + " not found in namespace " + role.Namespace})
		case err != nil:
			return nil, nil, err
		default:
			byName[n] = tdb
		}
	}
	if t.Selector != nil {
		sel, err := metav1.LabelSelectorAsSelector(t.Selector)
		if err != nil {
			return nil, nil, &selectorError{err: err}
		}
		var list privacyv1alpha1.TenantDatabaseList
		if err := r.List(ctx, &list, client.InNamespace(role.Namespace), client.MatchingLabelsSelector{Selector: sel}); err != nil {
			return nil, nil, err
		}
		for _, tdb := range list.Items {
			byName[tdb.Name] = tdb
		}
	}
	out := make([]privacyv1alpha1.TenantDatabase, 0, len(byName))
	for _, tdb := range byName {
		out = append(out, tdb)
	}
	slices.SortFunc(out, func(a, b privacyv1alpha1.TenantDatabase) int {
		if a.Name < b.Name {
			return -1
		}
		if a.Name > b.Name {
			return 1
		}
		return 0
	})
	return out, missing, nil
}

// selectorError says spec.targets.selector cannot be used.
type selectorError struct{ err error }

func (e *selectorError) Error() string { return "spec.targets.selector is invalid: " + e.err.Error() }

// droppedTargets are the tenants the status says hold the role but the
// targets no longer select.
func droppedTargets(role *privacyv1alpha1.Role, targets []privacyv1alpha1.TenantDatabase, missing []targetObservation) []string {
	current := map[string]bool{}
	for _, t := range targets {
		current[t.Name] = true
	}
	for _, m := range missing {
		current[m.name] = true
	}
	var out []string
	for _, t := range role.Status.Targets {
		if !current[t.Name] {
			out = append(out, t.Name)
		}
	}
	return out
}

// SetupWithManager registers the controller, its index and its watches on
// PermissionCatalogs, TenantDatabases and DataInventories.
func (r *RoleReconciler) SetupWithManager(ctx context.Context, mgr ctrl.Manager) error {
	if err := mgr.GetFieldIndexer().IndexField(ctx, &privacyv1alpha1.Role{}, indexCatalogRef, func(o client.Object) []string {
		return []string{o.(*privacyv1alpha1.Role).Spec.CatalogRef.Name}
	}); err != nil {
		return err
	}
	return ctrl.NewControllerManagedBy(mgr).
		For(&privacyv1alpha1.Role{}, builder.WithPredicates(predicate.Or(generationOrLabelsChanged(), deletionStarted(), statusWiped()))).
		Watches(&privacyv1alpha1.PermissionCatalog{}, handler.EnqueueRequestsFromMapFunc(r.rolesOfCatalog),
			builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Watches(&privacyv1alpha1.TenantDatabase{}, handler.EnqueueRequestsFromMapFunc(r.rolesInNamespace),
			builder.WithPredicates(tenantReachabilityChanged())).
		Watches(&privacyv1alpha1.DataInventory{}, handler.EnqueueRequestsFromMapFunc(r.rolesInNamespace),
			builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		WithOptions(controller.Options{MaxConcurrentReconciles: r.MaxConcurrentReconciles}).
		Named("role").
		Complete(r)
}

// deletionStarted passes the update that sets a deletion timestamp.
func deletionStarted() predicate.Predicate {
	return predicate.Funcs{
		CreateFunc:  func(event.CreateEvent) bool { return false },
		DeleteFunc:  func(event.DeleteEvent) bool { return false },
		GenericFunc: func(event.GenericEvent) bool { return false },
		UpdateFunc: func(e event.UpdateEvent) bool {
			return e.ObjectOld.GetDeletionTimestamp().IsZero() && !e.ObjectNew.GetDeletionTimestamp().IsZero()
		},
	}
}

// tenantReachabilityChanged passes TenantDatabase events that can change
// whether roles can be synced into it: creation, deletion, labels, the
// Connected condition and the schema version.
func tenantReachabilityChanged() predicate.Predicate {
	return predicate.Or(predicate.LabelChangedPredicate{}, predicate.Funcs{
		UpdateFunc: func(e event.UpdateEvent) bool {
			was, okOld := e.ObjectOld.(*privacyv1alpha1.TenantDatabase)
			now, okNew := e.ObjectNew.(*privacyv1alpha1.TenantDatabase)
			if !okOld || !okNew {
				return false
			}
			return tenantSyncable(was) != tenantSyncable(now) || was.Spec.InventoryRef != now.Spec.InventoryRef
		},
	})
}

// rolesOfCatalog maps a PermissionCatalog to the Roles that use it.
func (r *RoleReconciler) rolesOfCatalog(ctx context.Context, o client.Object) []reconcile.Request {
	var list privacyv1alpha1.RoleList
	if err := r.List(ctx, &list, client.InNamespace(o.GetNamespace()), client.MatchingFields{indexCatalogRef: o.GetName()}); err != nil {
		logf.FromContext(ctx).Error(err, "cannot list roles of a catalog")
		return nil
	}
	return roleRequests(list.Items)
}

// rolesInNamespace maps a TenantDatabase or DataInventory to every Role of
// its namespace: any of them may target it.
func (r *RoleReconciler) rolesInNamespace(ctx context.Context, o client.Object) []reconcile.Request {
	var list privacyv1alpha1.RoleList
	if err := r.List(ctx, &list, client.InNamespace(o.GetNamespace())); err != nil {
		logf.FromContext(ctx).Error(err, "cannot list roles")
		return nil
	}
	return roleRequests(list.Items)
}

func roleRequests(roles []privacyv1alpha1.Role) []reconcile.Request {
	reqs := make([]reconcile.Request, 0, len(roles))
	for _, role := range roles {
		reqs = append(reqs, reconcile.Request{NamespacedName: types.NamespacedName{Namespace: role.Namespace, Name: role.Name}})
	}
	return reqs
}
