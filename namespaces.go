package main

import (
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/controller-runtime/pkg/cache"
)

// watchedNamespaces parses --watch-namespaces: a comma-separated list of
// namespaces whose objects, Secrets included, the manager's cache holds.
// Empty means every namespace (a nil map: the cache watches the cluster).
func watchedNamespaces(flagValue string) (map[string]cache.Config, error) {
	if strings.TrimSpace(flagValue) == "" {
		return nil, nil
	}
	out := map[string]cache.Config{}
	for _, ns := range strings.Split(flagValue, ",") {
		ns = strings.TrimSpace(ns)
		if ns == "" {
			continue
		}
		if errs := validation.IsDNS1123Label(ns); len(errs) > 0 {
			return nil, fmt.Errorf("--watch-namespaces: %q is not a namespace name (%s); give names separated by commas, for example tenants-a,tenants-b",
				ns, strings.Join(errs, "; "))
		}
		out[ns] = cache.Config{}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("--watch-namespaces %q names no namespace; leave it out to watch every namespace", flagValue)
	}
	return out, nil
}
