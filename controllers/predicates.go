package controllers

import (
	"sigs.k8s.io/controller-runtime/pkg/predicate"
)

// generationOrLabelsChanged ignores the controller's own status writes: a
// status patch must not trigger another reconciliation right away.
func generationOrLabelsChanged() predicate.Predicate {
	return predicate.Or(predicate.GenerationChangedPredicate{}, predicate.LabelChangedPredicate{})
}
