package controllers

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5/pgxpool"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"
	metav1ac "k8s.io/client-go/applyconfigurations/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	privacyv1alpha1 "github.com/lethe-dev/lethe/api/v1alpha1"
	"github.com/lethe-dev/lethe/internal/draft"
	"github.com/lethe-dev/lethe/internal/tenantdb"
)

// The annotation privacy.lethe.dev/draft-inventory: "true" on a
// TenantDatabase asks for a drafted DataInventory of its schema, written
// into a ConfigMap the TenantDatabase owns. An annotation rather than a
// spec field: it asks for a one-off aid to writing the inventory, not for
// a state of the tenant database Lethe keeps; it can be set with kubectl
// on an object a GitOps tool syncs (which leaves annotations it does not
// manage alone) without changing its spec or generation; and removing it
// removes the ConfigMap.

// draftFormat is stamped on a draft's ConfigMap with the schema digest, so
// a manager whose drafter writes differently drafts again.
const draftFormat = "v1"

// draftManager is the field manager of the draft ConfigMaps.
const draftManager = "lethe-tenantdatabase"

// draftWanted says whether the TenantDatabase asks for a draft.
func draftWanted(tdb *privacyv1alpha1.TenantDatabase) bool {
	return tdb.Annotations[privacyv1alpha1.AnnotationDraftInventory] == "true"
}

// draftName is the name of a TenantDatabase's draft ConfigMap.
func draftName(tdb *privacyv1alpha1.TenantDatabase) string {
	return tdb.Name + privacyv1alpha1.DraftConfigMapSuffix
}

// draftStamp identifies what a draft was made from: the drafter's format,
// the schema's digest, and whether the content was sampled (a draft made
// from names and types alone, for some tables or all, is made again once
// their content is sampled).
func draftStamp(c *classification) string {
	stamp := draftFormat + "-" + c.digest
	switch {
	case c.sampledAt.IsZero():
		stamp += "-unsampled"
	case c.samplingNote() != "":
		stamp += "-partly-sampled"
	}
	return stamp
}

// draftState is the draft ConfigMap as the cache (metadata only) has it.
type draftState struct {
	exists bool
	owned  bool
	stamp  string
}

// currentDraft reads the draft ConfigMap's metadata from the cache.
func (r *TenantDatabaseReconciler) currentDraft(ctx context.Context, tdb *privacyv1alpha1.TenantDatabase) (draftState, error) {
	cm := &metav1.PartialObjectMetadata{}
	cm.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("ConfigMap"))
	if err := r.Get(ctx, types.NamespacedName{Namespace: tdb.Namespace, Name: draftName(tdb)}, cm); err != nil {
		if apierrors.IsNotFound(err) {
			return draftState{}, nil
		}
		return draftState{}, err
	}
	return draftState{exists: true, owned: metav1.IsControlledBy(cm, tdb), stamp: cm.Annotations[privacyv1alpha1.AnnotationSchemaDigest]}, nil
}

// drafted is a draft made in a check, to write.
type drafted struct {
	yaml  []byte
	stamp string
	draft *draft.Draft
}

// makeDraft drafts the schema's DataInventory, named after the
// TenantDatabase's inventoryRef, when the ConfigMap holds none of this
// schema yet.
func makeDraft(ctx context.Context, pool *pgxpool.Pool, tdb *privacyv1alpha1.TenantDatabase, cat *tenantdb.Catalog,
	c *classification, current draftState) (*drafted, error) {
	stamp := draftStamp(c)
	if (current.exists && current.stamp == stamp) || c.draftFailed {
		return nil, nil
	}
	d, err := draft.New(ctx, pool, cat, c.res, draft.Options{Name: tdb.Spec.InventoryRef.Name,
		Source: fmt.Sprintf("TenantDatabase %s/%s", tdb.Namespace, tdb.Name)})
	var out []byte
	if err == nil {
		out, err = d.YAML()
	}
	if err != nil {
		// Reported once; drafted again when the schema changes.
		c.draftFailed = true
		return nil, err
	}
	return &drafted{yaml: out, stamp: stamp, draft: d}, nil
}

// syncDraft writes a new draft into the ConfigMap (server-side apply, owned
// by the TenantDatabase), or deletes the ConfigMap when the TenantDatabase
// no longer asks for one.
func (r *TenantDatabaseReconciler) syncDraft(ctx context.Context, tdb *privacyv1alpha1.TenantDatabase, current draftState, d *drafted) error {
	name := draftName(tdb)
	if !draftWanted(tdb) {
		if !current.exists || !current.owned {
			return nil
		}
		cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: tdb.Namespace, Name: name}}
		return client.IgnoreNotFound(r.Delete(ctx, cm))
	}
	if d == nil {
		return nil
	}
	if current.exists && !current.owned {
		r.Recorder.Eventf(tdb, nil, corev1.EventTypeWarning, privacyv1alpha1.ReasonDraftFailed, "DraftInventory",
			"ConfigMap %s exists and is not this TenantDatabase's: rename or delete it to get the draft", name)
		return nil
	}
	if errs := validation.IsDNS1123Subdomain(name); len(errs) > 0 {
		r.Recorder.Eventf(tdb, nil, corev1.EventTypeWarning, privacyv1alpha1.ReasonDraftFailed, "DraftInventory",
			"cannot name the draft's ConfigMap %s: %s", name, errs[0])
		return nil
	}
	gvk := privacyv1alpha1.GroupVersion.WithKind("TenantDatabase")
	cm := corev1ac.ConfigMap(name, tdb.Namespace).
		WithLabels(map[string]string{"app.kubernetes.io/managed-by": "lethe", "privacy.lethe.dev/tenantdatabase": tdb.Name}).
		WithAnnotations(map[string]string{privacyv1alpha1.AnnotationSchemaDigest: d.stamp}).
		WithOwnerReferences(metav1ac.OwnerReference().WithAPIVersion(gvk.GroupVersion().String()).WithKind(gvk.Kind).
			WithName(tdb.Name).WithUID(tdb.UID).WithController(true).WithBlockOwnerDeletion(true)).
		WithData(map[string]string{privacyv1alpha1.DraftConfigMapKey: string(d.yaml)})
	if err := r.Apply(ctx, cm, client.FieldOwner(draftManager), client.ForceOwnership); err != nil {
		return err
	}
	spec := &d.draft.Inventory.Spec
	r.Recorder.Eventf(tdb, nil, corev1.EventTypeNormal, privacyv1alpha1.ReasonInventoryDrafted, "DraftInventory",
		"drafted DataInventory %s into ConfigMap %s (key %s): %d subject types, %d entities, %d personal columns; review it, then apply it",
		d.draft.Inventory.Name, name, privacyv1alpha1.DraftConfigMapKey, len(spec.Subjects), len(spec.Entities), d.draft.PersonalColumns)
	return nil
}
