package controllers

import (
	"context"
	"fmt"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	privacyv1alpha1 "github.com/lethe-dev/lethe/api/v1alpha1"
	"github.com/lethe-dev/lethe/internal/calendar"
	"github.com/lethe-dev/lethe/internal/dsr"
)

// How long a completed request is kept when spec.retainFor is not set.
const (
	// CCPARequestRetention: CCPA regulations §7101 keep records of
	// consumer requests 24 months.
	CCPARequestRetention = "24mo"
	// DefaultGDPRRequestRetention is the manager's --gdpr-request-retention
	// default: the GDPR sets no period, and three years covers the usual
	// limitation period of a claim that a request was mishandled.
	DefaultGDPRRequestRetention = "3y"
)

// +kubebuilder:rbac:groups=privacy.lethe.dev,resources=datasubjectrequests,verbs=delete
// +kubebuilder:rbac:groups="",resources=secrets,verbs=delete

// afterCompletion does what follows a request's completion: the
// identifiers Secret deleted (spec.subject.deleteIdentifiersOnCompletion),
// the export expired (spec.export.ttl), and the request itself deleted once
// spec.retainFor has passed. It requeues for the earliest of what is left.
// justCompleted says the request completed in this reconcile.
func (r *DataSubjectRequestReconciler) afterCompletion(ctx context.Context, obj *privacyv1alpha1.DataSubjectRequest, now time.Time,
	ev events.EventRecorder, justCompleted bool) (ctrl.Result, error) {
	ids, err := r.deleteIdentifiers(ctx, obj, now, ev, justCompleted)
	if err != nil {
		return ctrl.Result{}, err
	}
	export, err := r.expireExport(ctx, obj, now, ev)
	if err != nil {
		return ctrl.Result{}, err
	}
	record, err := r.expireRequest(ctx, obj, now)
	if err != nil {
		return ctrl.Result{}, err
	}
	var wait time.Duration
	for _, w := range []time.Duration{ids, export.RequeueAfter, record} {
		if w > 0 && (wait == 0 || w < wait) {
			wait = w
		}
	}
	return ctrl.Result{RequeueAfter: wait}, nil
}

// requestRetention is how long a completed request is kept: spec.retainFor,
// else 24 months for CCPA and the manager's --gdpr-request-retention for
// GDPR. keep is false when the request is kept until deleted by hand.
func (r *DataSubjectRequestReconciler) requestRetention(obj *privacyv1alpha1.DataSubjectRequest) (p calendar.Period, keep bool, err error) {
	field, period := "spec.retainFor", ""
	switch {
	case obj.Spec.RetainFor != nil:
		period = *obj.Spec.RetainFor
	case regulationOf(obj) == dsr.CCPA:
		period = CCPARequestRetention
	default:
		field, period = "--gdpr-request-retention", r.GDPRRequestRetention
	}
	if period == "" {
		return calendar.Period{}, false, nil
	}
	p, err = calendar.ParsePeriod(field, period)
	return p, err == nil, err
}

// expireRequest sets status.deleteAt and deletes the request once it has
// passed, leaving its audit records in the tenant databases. It returns how
// long until then.
func (r *DataSubjectRequestReconciler) expireRequest(ctx context.Context, obj *privacyv1alpha1.DataSubjectRequest, now time.Time) (time.Duration, error) {
	st := &obj.Status
	p, keep, err := r.requestRetention(obj)
	if err != nil || !keep || st.CompletionTime == nil {
		st.DeleteAt = nil
		return 0, err
	}
	loc, err := requestLocation(obj)
	if err != nil {
		loc = time.UTC
	}
	at := metav1.NewTime(p.After(st.CompletionTime.In(loc)).UTC())
	st.DeleteAt = &at
	if wait := at.Sub(now); wait > 0 {
		return wait, nil
	}
	// The request is gone after this: its event is sent now, not with the
	// status that will not be written.
	r.Recorder.Eventf(obj, nil, corev1.EventTypeNormal, privacyv1alpha1.ReasonRequestExpired, "Delete",
		"the %s request, completed at %s, is deleted after its retention period of %s; its audit records stay in the tenant databases",
		obj.Spec.Type, st.CompletionTime.UTC().Format(time.RFC3339), fmt.Sprintf("%d%s", p.N, p.Unit))
	logf.FromContext(ctx).Info("deleting a completed request after its retention period", "type", obj.Spec.Type,
		"completedAt", st.CompletionTime.UTC().Format(time.RFC3339), "retainFor", fmt.Sprintf("%d%s", p.N, p.Unit), "subjectDigest", st.SubjectDigest)
	uid := obj.UID
	if err := r.Delete(ctx, obj, client.Preconditions{UID: &uid}); err != nil && !apierrors.IsNotFound(err) {
		return 0, err
	}
	return 0, nil
}

// deleteIdentifiers deletes the request's identifiers Secret on completion
// when spec.subject.deleteIdentifiersOnCompletion asks, unless another
// request that has not completed names it (then it looks again after the
// retry interval) or
// verification found identifiers left (an erasure to repeat needs them).
// It returns when to look again.
func (r *DataSubjectRequestReconciler) deleteIdentifiers(ctx context.Context, obj *privacyv1alpha1.DataSubjectRequest, now time.Time,
	ev events.EventRecorder, justCompleted bool) (time.Duration, error) {
	st := &obj.Status
	ref := obj.Spec.Subject.IdentifiersSecretRef
	if !obj.Spec.Subject.DeleteIdentifiersOnCompletion || ref == nil || st.IdentifiersDeletedAt != nil {
		return 0, nil
	}
	if v := meta.FindStatusCondition(st.Conditions, privacyv1alpha1.ConditionVerified); v != nil && v.Status == metav1.ConditionFalse {
		if justCompleted {
			ev.Eventf(obj, nil, corev1.EventTypeNormal, privacyv1alpha1.ReasonIdentifiersKept, "Delete",
				"identifiers secret %s is kept: verification found the subject's identifiers left, and erasing again needs them", ref.Name)
		}
		return 0, nil
	}
	// Read from the API server: a request created a moment ago must not
	// lose the Secret it is about to read.
	var list privacyv1alpha1.DataSubjectRequestList
	if err := r.APIReader.List(ctx, &list, client.InNamespace(obj.Namespace)); err != nil {
		return 0, err
	}
	var others []string
	for i := range list.Items {
		o := &list.Items[i]
		if o.UID != obj.UID && o.Status.Phase != privacyv1alpha1.PhaseCompleted && o.DeletionTimestamp.IsZero() && slices.Contains(secretNames(o), ref.Name) {
			others = append(others, o.Name)
		}
	}
	if len(others) > 0 {
		if justCompleted {
			ev.Eventf(obj, nil, corev1.EventTypeNormal, privacyv1alpha1.ReasonIdentifiersKept, "Delete",
				"identifiers secret %s is kept while requests that have not completed name it (%s); it is deleted when they have",
				ref.Name, listUpTo(others, 5, ", "))
		}
		return r.RetryInterval, nil
	}
	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: obj.Namespace, Name: ref.Name}}
	if err := r.Delete(ctx, s); err != nil && !apierrors.IsNotFound(err) {
		return 0, err
	}
	t := metav1.NewTime(now)
	st.IdentifiersDeletedAt = &t
	ev.Eventf(obj, nil, corev1.EventTypeNormal, privacyv1alpha1.ReasonIdentifiersDeleted, "Delete",
		"identifiers secret %s deleted on completion", ref.Name)
	return 0, nil
}
