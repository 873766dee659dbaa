package controllers

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	privacyv1alpha1 "github.com/lethe-dev/lethe/api/v1alpha1"
)

// +kubebuilder:rbac:groups=privacy.lethe.dev,resources=pseudonymizationjobs,verbs=get;list;watch;create

// pseudonymize carries out a Pseudonymization request through a
// PseudonymizationJob of the request's name that the request owns: it
// creates the job once, and says whether the job succeeded, copying its
// per-target counts. A stalled job stalls the request with its message.
func (r *DataSubjectRequestReconciler) pseudonymize(ctx context.Context, obj *privacyv1alpha1.DataSubjectRequest,
	targets []privacyv1alpha1.TenantDatabase, ids map[string]string, ev events.EventRecorder) (bool, error) {
	st := &obj.Status
	var job privacyv1alpha1.PseudonymizationJob
	err := r.Get(ctx, types.NamespacedName{Namespace: obj.Namespace, Name: obj.Name}, &job)
	switch {
	case apierrors.IsNotFound(err):
		subject, err := r.jobSubject(ctx, obj, targets, ids)
		if err != nil {
			return false, err
		}
		opts := obj.Spec.Pseudonymization
		job = privacyv1alpha1.PseudonymizationJob{
			ObjectMeta: metav1.ObjectMeta{Namespace: obj.Namespace, Name: obj.Name,
				Labels: map[string]string{"app.kubernetes.io/managed-by": "lethe"}},
			Spec: privacyv1alpha1.PseudonymizationJobSpec{Targets: obj.Spec.Targets, Subject: subject,
				Pseudonym: *opts.Pseudonym.DeepCopy(), Deactivate: opts.Deactivate},
		}
		if err := controllerutil.SetControllerReference(obj, &job, r.Scheme()); err != nil {
			return false, err
		}
		if err := r.Create(ctx, &job); err != nil {
			return false, err
		}
		st.JobName = job.Name
		ev.Eventf(obj, nil, corev1.EventTypeNormal, privacyv1alpha1.ReasonStarted, "Start",
			"created PseudonymizationJob %s for the subject", job.Name)
		return false, nil
	case err != nil:
		return false, err
	case !metav1.IsControlledBy(&job, obj):
		return false, stalled(privacyv1alpha1.ReasonRuleInvalid, "a PseudonymizationJob %s exists and does not belong to this request; rename the request", job.Name)
	}
	st.JobName = job.Name
	if c := meta.FindStatusCondition(job.Status.Conditions, privacyv1alpha1.ConditionStalled); c != nil && c.Status == metav1.ConditionTrue {
		return false, stalled(c.Reason, "PseudonymizationJob %s: %s", job.Name, c.Message)
	}
	if c := meta.FindStatusCondition(job.Status.Conditions, privacyv1alpha1.ConditionReconciling); c != nil && c.Status == metav1.ConditionTrue &&
		c.Reason != privacyv1alpha1.ReasonProgressing && job.Status.Phase != privacyv1alpha1.JobSucceeded {
		return false, waiting(c.Reason, "PseudonymizationJob %s: %s", job.Name, c.Message)
	}
	if job.Status.Phase != privacyv1alpha1.JobSucceeded {
		if job.Status.Progress != nil {
			st.Progress = job.Status.Progress.Summary
		}
		return false, nil
	}
	for _, t := range job.Status.Targets {
		res := targetResult(obj, t.Name)
		res.Phase = privacyv1alpha1.PhaseCompleted
		res.Entities = nil
		for _, e := range t.Entities {
			res.Entities = append(res.Entities, privacyv1alpha1.EntityResult{Entity: e.Entity, Found: e.Found, Changed: e.Changed})
		}
	}
	st.Progress = fmt.Sprintf("%d/%d", len(job.Status.Targets), len(targets))
	return true, nil
}

// jobSubject names the request's subject to its job by the identifier the
// targets' inventories map to an entity's pseudonymization.matchColumn: by
// the request's Secret and that key, or inline when the request's
// identifiers are inline.
func (r *DataSubjectRequestReconciler) jobSubject(ctx context.Context, obj *privacyv1alpha1.DataSubjectRequest,
	targets []privacyv1alpha1.TenantDatabase, ids map[string]string) (*privacyv1alpha1.PseudonymizationSubject, error) {
	for _, tdb := range targets {
		var inv privacyv1alpha1.DataInventory
		if err := r.Get(ctx, types.NamespacedName{Namespace: obj.Namespace, Name: tdb.Spec.InventoryRef.Name}, &inv); err != nil {
			if apierrors.IsNotFound(err) {
				continue
			}
			return nil, err
		}
		for _, e := range inv.Spec.Entities {
			if e.Subject == nil || e.Subject.Type != obj.Spec.Subject.Type || e.Pseudonymization == nil {
				continue
			}
			for _, id := range e.Subject.Identifiers {
				if id.Column != e.Pseudonymization.MatchColumn || ids[id.Name] == "" {
					continue
				}
				if ref := obj.Spec.Subject.IdentifiersSecretRef; ref != nil {
					return &privacyv1alpha1.PseudonymizationSubject{IdentifierSecretRef: &privacyv1alpha1.SecretKeyReference{Name: ref.Name, Key: id.Name}}, nil
				}
				return &privacyv1alpha1.PseudonymizationSubject{Identifier: ids[id.Name]}, nil
			}
		}
	}
	return nil, stalled(privacyv1alpha1.ReasonRuleInvalid,
		"no target's DataInventory maps an identifier of subject type %s that the request gives to an entity's pseudonymization.matchColumn",
		obj.Spec.Subject.Type)
}
