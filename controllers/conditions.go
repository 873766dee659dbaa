package controllers

import (
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

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
