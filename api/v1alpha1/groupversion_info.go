// Package v1alpha1 holds the Lethe API: group privacy.lethe.dev, version v1alpha1.
//
// The scheme is built with apimachinery alone (no controller-runtime import), so
// the internal engines may take these types as plain Go values without pulling
// in the controller machinery.
//
// +kubebuilder:object:generate=true
// +groupName=privacy.lethe.dev
package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

var (
	// GroupVersion is the group and version of every Lethe kind.
	GroupVersion = schema.GroupVersion{Group: "privacy.lethe.dev", Version: "v1alpha1"}

	// SchemeBuilder registers the Lethe kinds in a scheme.
	SchemeBuilder = runtime.NewSchemeBuilder(addKnownTypes)

	// AddToScheme adds the Lethe kinds to a scheme.
	AddToScheme = SchemeBuilder.AddToScheme

	knownTypes []runtime.Object
)

// register is called from each kind's init to add its object and list types.
func register(objs ...runtime.Object) {
	knownTypes = append(knownTypes, objs...)
}

func addKnownTypes(s *runtime.Scheme) error {
	s.AddKnownTypes(GroupVersion, knownTypes...)
	metav1.AddToGroupVersion(s, GroupVersion)
	return nil
}
