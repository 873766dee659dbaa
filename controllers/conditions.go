package controllers

import (
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"

	privacyv1alpha1 "github.com/lethe-dev/lethe/api/v1alpha1"
)

// verdict is the kstatus summary of one reconciliation.
type verdict int

const (
	// verdictReady: everything checked out.
	verdictReady verdict = iota
	// verdictWaiting: waiting for something that may appear on its own (a
	// Secret not created yet, a server not up yet): Reconciling=True.
	verdictWaiting
	// verdictStalled: only a change by a user can fix it: Stalled=True.
	verdictStalled
)

// setCondition sets one condition for the object's current generation.
func setCondition(conds *[]metav1.Condition, generation int64, typ string, status metav1.ConditionStatus, reason, message string) {
	meta.SetStatusCondition(conds, metav1.Condition{
		Type: typ, Status: status, Reason: reason, Message: truncate(message), ObservedGeneration: generation,
	})
}

// setSummary sets Ready, Reconciling and Stalled from a verdict, and
// advances observedGeneration when the generation got a final answer (Ready
// or Stalled), so kstatus reports Current or Failed, and InProgress while
// waiting.
func setSummary(conds *[]metav1.Condition, observed *int64, generation int64, v verdict, reason, message string) {
	switch v {
	case verdictReady:
		setCondition(conds, generation, privacyv1alpha1.ConditionReady, metav1.ConditionTrue, reason, message)
		meta.RemoveStatusCondition(conds, privacyv1alpha1.ConditionReconciling)
		meta.RemoveStatusCondition(conds, privacyv1alpha1.ConditionStalled)
		*observed = generation
	case verdictWaiting:
		setCondition(conds, generation, privacyv1alpha1.ConditionReady, metav1.ConditionFalse, reason, message)
		setCondition(conds, generation, privacyv1alpha1.ConditionReconciling, metav1.ConditionTrue, reason, message)
		meta.RemoveStatusCondition(conds, privacyv1alpha1.ConditionStalled)
	case verdictStalled:
		setCondition(conds, generation, privacyv1alpha1.ConditionReady, metav1.ConditionFalse, reason, message)
		setCondition(conds, generation, privacyv1alpha1.ConditionStalled, metav1.ConditionTrue, reason, message)
		meta.RemoveStatusCondition(conds, privacyv1alpha1.ConditionReconciling)
		*observed = generation
	}
}

// observe records that the current generation got the object's standing
// answer: observedGeneration, and each condition's, move to it.
func observe(conds *[]metav1.Condition, observed *int64, generation int64) {
	*observed = generation
	for i := range *conds {
		(*conds)[i].ObservedGeneration = generation
	}
}

// maxMessage keeps condition messages readable (the API allows 32768).
const maxMessage = 2048

func truncate(s string) string {
	if len(s) <= maxMessage {
		return s
	}
	return s[:maxMessage-3] + "..."
}

// listUpTo joins up to n items with sep and says how many more there are.
func listUpTo(items []string, n int, sep string) string {
	if len(items) <= n {
		return strings.Join(items, sep)
	}
	return fmt.Sprintf("%s%sand %d more", strings.Join(items[:n], sep), sep, len(items)-n)
}

// reportRequestError writes a preparation error of a long-running object
// (a policy, a job) into its conditions: a stalled one, with a Warning event
// the first time its message is seen, until the spec changes; a waiting one
// retried after retry. Any other error is returned, for controller-runtime
// to retry with backoff.
func reportRequestError(rec events.EventRecorder, obj runtime.Object, conds *[]metav1.Condition, observed *int64, generation int64,
	err error, retry time.Duration) (ctrl.Result, error) {
	re := asRequestError(err)
	if re == nil {
		return ctrl.Result{}, err
	}
	if re.stalled {
		if c := meta.FindStatusCondition(*conds, privacyv1alpha1.ConditionStalled); c == nil || c.Message != truncate(re.message) {
			rec.Eventf(obj, nil, corev1.EventTypeWarning, re.reason, "Check", "%s", re.message)
		}
		setSummary(conds, observed, generation, verdictStalled, re.reason, re.message)
		return ctrl.Result{}, nil
	}
	setSummary(conds, observed, generation, verdictWaiting, re.reason, re.message)
	return ctrl.Result{RequeueAfter: retry}, nil
}

// entryOf returns the element of list that match picks, appending fresh
// when there is none: the per-target and per-rule entries of a status.
func entryOf[T any](list *[]T, match func(*T) bool, fresh T) *T {
	for i := range *list {
		if match(&(*list)[i]) {
			return &(*list)[i]
		}
	}
	*list = append(*list, fresh)
	return &(*list)[len(*list)-1]
}
