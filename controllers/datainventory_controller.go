package controllers

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	privacyv1alpha1 "github.com/lethe-dev/lethe/api/v1alpha1"
	"github.com/lethe-dev/lethe/internal/inventory"
)

// DataInventoryReconciler checks what an inventory can check on its own,
// beyond its CEL rules (relations reach a root, no cycles), and publishes its
// delete order. Each TenantDatabase checks it against its live schema.
type DataInventoryReconciler struct {
	client.Client
	Recorder events.EventRecorder
}

// +kubebuilder:rbac:groups=privacy.lethe.dev,resources=datainventories/status,verbs=get;update;patch

// Reconcile checks one inventory and writes its status.
func (r *DataInventoryReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	var inv privacyv1alpha1.DataInventory
	if err := r.Get(ctx, req.NamespacedName, &inv); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	before := inv.DeepCopy()
	applyInventoryStatus(&inv)
	recordReadyTransition(r.Recorder, before.Status.Conditions, &inv)
	if err := r.Status().Patch(ctx, &inv, client.MergeFrom(before)); err != nil && !apierrors.IsNotFound(err) {
		return ctrl.Result{}, err
	}
	return ctrl.Result{}, nil
}

// applyInventoryStatus computes an inventory's status from its spec.
func applyInventoryStatus(inv *privacyv1alpha1.DataInventory) {
	st := &inv.Status
	st.Subjects = int32(len(inv.Spec.Subjects)) // #nosec G115 -- bounded by the CRD's MaxItems
	st.Entities = int32(len(inv.Spec.Entities)) // #nosec G115 -- bounded by the CRD's MaxItems
	graph, problems := inventory.CheckGraph(&inv.Spec)
	if len(problems) > 0 {
		st.DeleteOrder = nil
		setSummary(&st.Conditions, &st.ObservedGeneration, inv.Generation, verdictStalled, privacyv1alpha1.ReasonInventoryInvalid,
			"the inventory is inconsistent: "+listUpTo(problems, 20, "; "))
		return
	}
	st.DeleteOrder = graph.DeleteOrderOfSpec
	setSummary(&st.Conditions, &st.ObservedGeneration, inv.Generation, verdictReady, privacyv1alpha1.ReasonSucceeded,
		fmt.Sprintf("%d subject types and %d entities; every entity reaches a root", len(inv.Spec.Subjects), len(inv.Spec.Entities)))
}

// SetupWithManager registers the controller.
func (r *DataInventoryReconciler) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).
		For(&privacyv1alpha1.DataInventory{}, builder.WithPredicates(predicate.Or(predicate.GenerationChangedPredicate{}, statusWiped()))).
		Named("datainventory").
		Complete(r)
}
