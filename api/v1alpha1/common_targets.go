package v1alpha1

import (
	"slices"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
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

// Selects says whether the targets select a TenantDatabase: by name, or by
// its labels. A selector that cannot be parsed selects nothing.
func (t Targets) Selects(tdb *TenantDatabase) bool {
	if slices.Contains(t.Names, tdb.Name) {
		return true
	}
	if t.Selector == nil {
		return false
	}
	sel, err := metav1.LabelSelectorAsSelector(t.Selector)
	return err == nil && sel.Matches(labels.Set(tdb.Labels))
}
