package controllers

import (
	"fmt"
	"sort"
	"strings"

	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	privacyv1alpha1 "github.com/lethe-dev/lethe/api/v1alpha1"
)

// statusStrings lists every string in the status of every Lethe object of
// the namespace, of every kind the API has, each with where it is
// (`Kind/name .path`).
func statusStrings(ns string) map[string]string {
	out := map[string]string{}
	var kinds []string
	for gvk := range k8s.Scheme().AllKnownTypes() {
		if gvk.GroupVersion() == privacyv1alpha1.GroupVersion && strings.HasSuffix(gvk.Kind, "List") {
			kinds = append(kinds, gvk.Kind)
		}
	}
	sort.Strings(kinds)
	Expect(kinds).To(ContainElements("DataSubjectRequestList", "TenantDatabaseList", "PseudonymizationJobList"))
	for _, kind := range kinds {
		list := &unstructured.UnstructuredList{}
		list.SetGroupVersionKind(privacyv1alpha1.GroupVersion.WithKind(kind))
		Expect(k8s.List(ctx, list, client.InNamespace(ns))).To(Succeed())
		for _, item := range list.Items {
			walkStrings(item.Object["status"], fmt.Sprintf("%s/%s ", strings.TrimSuffix(kind, "List"), item.GetName()), out)
		}
	}
	return out
}

func walkStrings(v any, path string, out map[string]string) {
	switch v := v.(type) {
	case string:
		out[path] = v
	case map[string]any:
		for k, e := range v {
			walkStrings(e, path+"."+k, out)
		}
	case []any:
		for i, e := range v {
			walkStrings(e, fmt.Sprintf("%s[%d]", path, i), out)
		}
	}
}
