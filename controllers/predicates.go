package controllers

import (
	"reflect"

	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
)

// generationOrLabelsChanged ignores the controller's own status writes: a
// status patch must not trigger another reconciliation right away.
func generationOrLabelsChanged() predicate.Predicate {
	return predicate.Or(predicate.GenerationChangedPredicate{}, predicate.LabelChangedPredicate{})
}

// annotationChanged passes updates that change one annotation (one a user
// sets to ask for something), and no other update.
func annotationChanged(key string) predicate.Predicate {
	return predicate.Funcs{
		CreateFunc:  func(event.CreateEvent) bool { return false },
		DeleteFunc:  func(event.DeleteEvent) bool { return false },
		GenericFunc: func(event.GenericEvent) bool { return false },
		UpdateFunc: func(e event.UpdateEvent) bool {
			if e.ObjectOld == nil || e.ObjectNew == nil {
				return false
			}
			return e.ObjectOld.GetAnnotations()[key] != e.ObjectNew.GetAnnotations()[key]
		},
	}
}

// statusWiped passes updates that empty an object's status: its
// observedGeneration back to 0 after the controller had set it (a status
// wiped by hand or by a tool, or restored from an old backup of etcd), so
// the status is rebuilt from the tenant databases at once.
func statusWiped() predicate.Predicate {
	return predicate.Funcs{
		CreateFunc:  func(event.CreateEvent) bool { return false },
		DeleteFunc:  func(event.DeleteEvent) bool { return false },
		GenericFunc: func(event.GenericEvent) bool { return false },
		UpdateFunc: func(e event.UpdateEvent) bool {
			return observedGeneration(e.ObjectOld) > 0 && observedGeneration(e.ObjectNew) == 0
		},
	}
}

// observedGeneration is status.observedGeneration of a Lethe object, which
// every kind has; 0 for anything else.
func observedGeneration(o client.Object) int64 {
	v := reflect.ValueOf(o)
	if v.Kind() != reflect.Pointer || v.IsNil() {
		return 0
	}
	f := v.Elem().FieldByName("Status")
	if !f.IsValid() || f.Kind() != reflect.Struct {
		return 0
	}
	g := f.FieldByName("ObservedGeneration")
	if !g.IsValid() || g.Kind() != reflect.Int64 {
		return 0
	}
	return g.Int()
}
