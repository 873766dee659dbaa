package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Targets selects TenantDatabases in the object's namespace: by name, by
// label, or both (the union).
// +kubebuilder:validation:XValidation:rule="(has(self.names) && size(self.names) > 0) || has(self.selector)",message="targets needs names or a selector"
type Targets struct {
	// names of TenantDatabases in the same namespace.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=256
	// +kubebuilder:validation:items:MaxLength=253
	Names []string `json:"names,omitempty"`

	// selector selects TenantDatabases by label.
	// +optional
	Selector *metav1.LabelSelector `json:"selector,omitempty"`
}
