package controllers

import (
	"context"
	"fmt"
	"net/http"
	"reflect"
	"slices"
	"strings"

	admissionv1 "k8s.io/api/admission/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	privacyv1alpha1 "github.com/lethe-dev/lethe/api/v1alpha1"
)

// +kubebuilder:webhook:path=/validate-datainventory,mutating=false,failurePolicy=fail,sideEffects=None,groups=privacy.lethe.dev,resources=datainventories,verbs=update;delete,versions=v1alpha1,name=datainventory.privacy.lethe.dev,admissionReviewVersions=v1,timeoutSeconds=10
// +kubebuilder:webhook:path=/validate-tenantdatabase,mutating=false,failurePolicy=fail,sideEffects=None,groups=privacy.lethe.dev,resources=tenantdatabases,verbs=update,versions=v1alpha1,name=tenantdatabase.privacy.lethe.dev,admissionReviewVersions=v1,timeoutSeconds=10

// InventoryWebhook guards the tenant databases that use a DataInventory and
// the requests running on them:
//   - deleting a DataInventory a TenantDatabase uses is refused;
//   - removing a subject type an unfinished DataSubjectRequest on one of its
//     tenants asks about is refused;
//   - any other change to an inventory in use is admitted with a warning
//     naming the TenantDatabases that check it against their schemas again,
//     and the entities whose personal data is no longer covered;
//   - changing a TenantDatabase's spec.inventoryRef while a request runs on
//     it is refused.
type InventoryWebhook struct {
	// Reader reads from the API server, uncached.
	Reader  client.Reader
	Decoder admission.Decoder
}

// Handle admits one update or delete of a DataInventory or TenantDatabase.
func (w *InventoryWebhook) Handle(ctx context.Context, req admission.Request) admission.Response {
	if req.Resource.Resource == "tenantdatabases" {
		return w.handleTenant(ctx, req)
	}
	var old privacyv1alpha1.DataInventory
	if err := w.Decoder.DecodeRaw(req.OldObject, &old); err != nil {
		return admission.Errored(http.StatusBadRequest, err)
	}
	var tenants privacyv1alpha1.TenantDatabaseList
	if err := w.Reader.List(ctx, &tenants, client.InNamespace(old.Namespace)); err != nil {
		return admission.Errored(http.StatusInternalServerError, err)
	}
	var users []privacyv1alpha1.TenantDatabase
	for _, tdb := range tenants.Items {
		if tdb.Spec.InventoryRef.Name == old.Name && tdb.DeletionTimestamp.IsZero() {
			users = append(users, tdb)
		}
	}
	if len(users) == 0 {
		return admission.Allowed("")
	}
	if req.Operation == admissionv1.Delete {
		return admission.Denied(fmt.Sprintf("DataInventory %s is used by TenantDatabase %s: point them at another inventory "+
			"(spec.inventoryRef) or delete them first", old.Name, tenantNames(users)))
	}
	var updated privacyv1alpha1.DataInventory
	if err := w.Decoder.Decode(req, &updated); err != nil {
		return admission.Errored(http.StatusBadRequest, err)
	}
	if reflect.DeepEqual(old.Spec, updated.Spec) {
		return admission.Allowed("")
	}

	removed := removedNames(subjectNames(old.Spec.Subjects), subjectNames(updated.Spec.Subjects))
	if len(removed) > 0 {
		running, err := w.unfinishedRequests(ctx, old.Namespace, users, func(r *privacyv1alpha1.DataSubjectRequest) bool {
			return slices.Contains(removed, r.Spec.Subject.Type)
		})
		if err != nil {
			return admission.Errored(http.StatusInternalServerError, err)
		}
		if len(running) > 0 {
			return admission.Denied(fmt.Sprintf("removing subject type %s would break DataSubjectRequest %s, not yet completed on "+
				"TenantDatabase %s: wait for the requests to complete, or keep the subject type",
				strings.Join(removed, ", "), strings.Join(running, ", "), tenantNames(users)))
		}
	}
	warnings := []string{fmt.Sprintf("DataInventory %s is used by TenantDatabase %s: each checks it against its schema again "+
		"and is not Ready while it does not fit", old.Name, tenantNames(users))}
	if gone := removedNames(entityNames(old.Spec.Entities), entityNames(updated.Spec.Entities)); len(gone) > 0 {
		warnings = append(warnings, fmt.Sprintf("entity %s is removed: its personal data is no longer found, exported or erased "+
			"by data subject requests", strings.Join(gone, ", ")))
	}
	return admission.Allowed("").WithWarnings(warnings...)
}

// handleTenant refuses repointing a TenantDatabase at another inventory
// while a request runs on it: the request's plan was made from the old one.
func (w *InventoryWebhook) handleTenant(ctx context.Context, req admission.Request) admission.Response {
	var old, updated privacyv1alpha1.TenantDatabase
	if err := w.Decoder.DecodeRaw(req.OldObject, &old); err != nil {
		return admission.Errored(http.StatusBadRequest, err)
	}
	if err := w.Decoder.Decode(req, &updated); err != nil {
		return admission.Errored(http.StatusBadRequest, err)
	}
	if old.Spec.InventoryRef == updated.Spec.InventoryRef {
		return admission.Allowed("")
	}
	running, err := w.unfinishedRequests(ctx, old.Namespace, []privacyv1alpha1.TenantDatabase{old},
		func(*privacyv1alpha1.DataSubjectRequest) bool { return true })
	if err != nil {
		return admission.Errored(http.StatusInternalServerError, err)
	}
	if len(running) > 0 {
		return admission.Denied(fmt.Sprintf("spec.inventoryRef cannot change while DataSubjectRequest %s has not completed on "+
			"TenantDatabase %s: wait for it to complete, then change the inventory", strings.Join(running, ", "), old.Name))
	}
	return admission.Allowed("")
}

// unfinishedRequests names the requests, matching match, that target one of
// the tenants and have not completed or failed.
func (w *InventoryWebhook) unfinishedRequests(ctx context.Context, ns string, tenants []privacyv1alpha1.TenantDatabase,
	match func(*privacyv1alpha1.DataSubjectRequest) bool) ([]string, error) {
	var requests privacyv1alpha1.DataSubjectRequestList
	if err := w.Reader.List(ctx, &requests, client.InNamespace(ns)); err != nil {
		return nil, err
	}
	var out []string
	for i := range requests.Items {
		r := &requests.Items[i]
		if r.Status.Phase == privacyv1alpha1.PhaseCompleted || r.Status.Phase == privacyv1alpha1.PhaseFailed || !match(r) {
			continue
		}
		if slices.ContainsFunc(tenants, func(tdb privacyv1alpha1.TenantDatabase) bool { return r.Spec.Targets.Selects(&tdb) }) {
			out = append(out, r.Name)
		}
	}
	slices.Sort(out)
	return out, nil
}

func tenantNames(tenants []privacyv1alpha1.TenantDatabase) string {
	names := make([]string, 0, len(tenants))
	for _, t := range tenants {
		names = append(names, t.Name)
	}
	slices.Sort(names)
	return listUpTo(names, 10, ", ")
}

func subjectNames(subjects []privacyv1alpha1.SubjectType) []string {
	out := make([]string, 0, len(subjects))
	for _, s := range subjects {
		out = append(out, s.Name)
	}
	return out
}

func entityNames(entities []privacyv1alpha1.Entity) []string {
	out := make([]string, 0, len(entities))
	for _, e := range entities {
		out = append(out, e.Name)
	}
	return out
}

// removedNames lists, sorted, the names of before missing from after.
func removedNames(before, after []string) []string {
	var out []string
	for _, n := range before {
		if !slices.Contains(after, n) {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return out
}
