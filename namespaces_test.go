package main

import (
	"strings"
	"testing"
)

func TestWatchedNamespaces(t *testing.T) {
	got, err := watchedNamespaces("")
	if err != nil || got != nil {
		t.Fatalf("empty: want every namespace (nil), got %v, %v", got, err)
	}
	got, err = watchedNamespaces(" tenants-a, tenants-b ,tenants-a")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 {
		t.Fatalf("want tenants-a and tenants-b, got %v", got)
	}
	for _, ns := range []string{"tenants-a", "tenants-b"} {
		if _, ok := got[ns]; !ok {
			t.Errorf("%s is not watched: %v", ns, got)
		}
	}
	for value, problem := range map[string]string{
		"Tenants_A": `"Tenants_A" is not a namespace name`,
		",":         "names no namespace",
	} {
		if _, err := watchedNamespaces(value); err == nil || !strings.Contains(err.Error(), problem) {
			t.Errorf("%q: want an error with %q, got %v", value, problem, err)
		}
	}
}
