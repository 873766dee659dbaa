package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/yaml"

	privacyv1alpha1 "github.com/lethe-dev/lethe/api/v1alpha1"
	"github.com/lethe-dev/lethe/internal/draft"
	"github.com/lethe-dev/lethe/internal/tenantdb"
)

// sampleInventoryPath is the hand-written inventory the draft is compared
// with.
const sampleInventoryPath = "config/samples/privacy_v1alpha1_datainventory.yaml"

// runDraft asks tenant acme for a drafted DataInventory (annotation
// privacy.lethe.dev/draft-inventory) and prints it next to the hand-written
// one of config/samples, table by table, and how they differ.
func (d *demo) runDraft(ctx context.Context) error {
	heading("Drafting a DataInventory from tenant acme's schema (annotation privacy.lethe.dev/draft-inventory)")
	if err := d.kubectlRun(ctx, "annotate", "tdb", "acme", "-n", namespace, privacyv1alpha1.AnnotationDraftInventory+"=true", "--overwrite"); err != nil {
		return err
	}
	name := "acme" + privacyv1alpha1.DraftConfigMapSuffix
	var cm corev1.ConfigMap
	deadline := time.Now().Add(2 * time.Minute)
	for {
		err := d.env.Client.Get(ctx, types.NamespacedName{Namespace: namespace, Name: name}, &cm)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("ConfigMap %s did not appear: %w", name, err)
		}
		if err := sleep(ctx, 200*time.Millisecond); err != nil {
			return err
		}
	}
	text := cm.Data[privacyv1alpha1.DraftConfigMapKey]
	var drafted, written privacyv1alpha1.DataInventory
	if err := yaml.UnmarshalStrict([]byte(text), &drafted); err != nil {
		return fmt.Errorf("ConfigMap %s: %w", name, err)
	}
	raw, err := os.ReadFile(filepath.Join(d.env.RepoRoot, sampleInventoryPath))
	if err != nil {
		return err
	}
	if err := yaml.UnmarshalStrict(raw, &written); err != nil {
		return fmt.Errorf("%s: %w", sampleInventoryPath, err)
	}
	fmt.Printf("ConfigMap %s, key %s: %d lines; print it with\n  kubectl get configmap %s -n %s -o jsonpath='{.data.datainventory\\.yaml}'\n",
		name, privacyv1alpha1.DraftConfigMapKey, strings.Count(text, "\n"), name, namespace)
	for _, line := range strings.Split(text, "\n") {
		if !strings.HasPrefix(line, "#") {
			break
		}
		fmt.Println(line)
	}

	heading("The drafted inventory next to " + sampleInventoryPath)
	if err := printSideBySide(&drafted.Spec, &written.Spec); err != nil {
		return err
	}
	fmt.Println()
	for _, line := range draft.Compare(&drafted.Spec, &written.Spec).Summary("draft", "config/samples") {
		fmt.Println(line)
	}
	return nil
}

// printSideBySide prints, per table, each inventory's entity, its
// relations and its personal columns with their strategies, marking with *
// the columns whose strategies differ.
func printSideBySide(a, b *privacyv1alpha1.DataInventorySpec) error {
	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	_, _ = fmt.Fprintln(w, "TABLE\tDRAFT\tCONFIG/SAMPLES")
	ea, eb := entitiesByTable(a), entitiesByTable(b)
	var tables []string
	for _, e := range a.Entities {
		tables = append(tables, tenantdb.CanonicalTableName(e.Table))
	}
	for _, e := range b.Entities {
		if _, ok := ea[tenantdb.CanonicalTableName(e.Table)]; !ok {
			tables = append(tables, tenantdb.CanonicalTableName(e.Table))
		}
	}
	for _, t := range tables {
		_, _ = fmt.Fprintf(w, "%s\t%s\t%s\n", t, entityLine(ea[t]), entityLine(eb[t]))
		pa, pb := personalOf(ea[t]), personalOf(eb[t])
		seen := map[string]bool{}
		for _, e := range []*privacyv1alpha1.Entity{ea[t], eb[t]} {
			if e == nil {
				continue
			}
			for _, pc := range e.PersonalColumns {
				if seen[pc.Column] {
					continue
				}
				seen[pc.Column] = true
				mark := " "
				if pa[pc.Column] != pb[pc.Column] {
					mark = "*"
				}
				_, _ = fmt.Fprintf(w, "%s %s\t%s\t%s\n", mark, pc.Column, dash(pa[pc.Column]), dash(pb[pc.Column]))
			}
		}
	}
	return w.Flush()
}

func entitiesByTable(spec *privacyv1alpha1.DataInventorySpec) map[string]*privacyv1alpha1.Entity {
	out := map[string]*privacyv1alpha1.Entity{}
	for i := range spec.Entities {
		out[tenantdb.CanonicalTableName(spec.Entities[i].Table)] = &spec.Entities[i]
	}
	return out
}

// entityLine says what an entity is: its name, and its subject type or
// relations.
func entityLine(e *privacyv1alpha1.Entity) string {
	if e == nil {
		return "-"
	}
	var parts []string
	if e.Subject != nil {
		parts = append(parts, "subject "+e.Subject.Type)
	}
	for _, r := range e.Relations {
		rel := fmt.Sprintf("%s of %s", r.Direction, r.Entity)
		if r.Exclusive != nil && !*r.Exclusive {
			rel += " (shared)"
		}
		parts = append(parts, rel)
	}
	return e.Name + ": " + strings.Join(parts, ", ")
}

// personalOf renders an entity's personal columns' strategies.
func personalOf(e *privacyv1alpha1.Entity) map[string]string {
	out := map[string]string{}
	if e == nil {
		return out
	}
	for _, pc := range e.PersonalColumns {
		out[pc.Column] = draft.Describe(pc.Strategy)
	}
	return out
}
