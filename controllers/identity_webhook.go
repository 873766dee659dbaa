package controllers

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"

	admissionv1 "k8s.io/api/admission/v1"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	privacyv1alpha1 "github.com/lethe-dev/lethe/api/v1alpha1"
	"github.com/lethe-dev/lethe/internal/identity"
)

// The identity webhook is generic: it reads objects as plain JSON, so a new
// kind only needs its resource name added to the resources list of this
// marker; `make manifests` carries it into config/webhook and the chart.
// +kubebuilder:webhook:path=/mutate-identity,mutating=true,failurePolicy=fail,sideEffects=None,groups=privacy.lethe.dev,resources=tenantdatabases;datainventories;permissioncatalogs;roles;datasubjectrequests;retentionpolicies;pseudonymizationjobs,verbs=create;update,versions=v1alpha1,name=identity.privacy.lethe.dev,admissionReviewVersions=v1,timeoutSeconds=10

// protectedAnnotations are the annotations only the identity webhook
// writes.
var protectedAnnotations = []string{
	privacyv1alpha1.AnnotationRequestedBy,
	privacyv1alpha1.AnnotationChangedBy,
	privacyv1alpha1.AnnotationApprovedBy,
	privacyv1alpha1.AnnotationArchiveDeleteRequestedBy,
}

// IdentityWebhook records who asked: on create the requesting user in
// privacy.lethe.dev/requested-by, on every spec change in
// privacy.lethe.dev/changed-by, on the approval of a DataSubjectRequest or
// of a RetentionPolicy's archive deletions in privacy.lethe.dev/approved-by,
// and on a change of a RetentionPolicy's spec.archive.delete in
// privacy.lethe.dev/archive-delete-requested-by. It refuses requests
// that set or change these annotations by hand.
type IdentityWebhook struct {
	Clock clock.PassiveClock
}

// Handle admits one create or update.
func (w *IdentityWebhook) Handle(_ context.Context, req admission.Request) admission.Response {
	if req.Operation != admissionv1.Create && req.Operation != admissionv1.Update {
		return admission.Allowed("")
	}
	var obj, old map[string]any
	if err := decodeJSON(req.Object.Raw, &obj); err != nil {
		return admission.Errored(http.StatusBadRequest, err)
	}
	if req.Operation == admissionv1.Update {
		if err := decodeJSON(req.OldObject.Raw, &old); err != nil {
			return admission.Errored(http.StatusBadRequest, err)
		}
	}
	given, stored := annotationsOf(obj), annotationsOf(old)
	for _, key := range protectedAnnotations {
		v, set := given[key]
		if sv, had := stored[key]; set && (!had || v != sv) {
			return admission.Denied(fmt.Sprintf("metadata.annotations[%s] is written by Lethe from the identity the API server "+
				"authenticated and cannot be set or changed by hand: remove it from the request", key))
		}
	}

	who := identity.New(req.UserInfo.Username, req.UserInfo.UID, req.UserInfo.Groups, w.Clock.Now()).Encode()
	stamp := map[string]string{}
	for _, key := range protectedAnnotations {
		// A server-side apply from a manifest without the annotation drops
		// it: keep what was recorded.
		if v, ok := stored[key]; ok {
			stamp[key] = v
		}
	}
	switch req.Operation {
	case admissionv1.Create:
		stamp[privacyv1alpha1.AnnotationRequestedBy] = who
		if req.Resource.Resource == "retentionpolicies" {
			if archiveIn(obj)["delete"] != nil {
				stamp[privacyv1alpha1.AnnotationArchiveDeleteRequestedBy] = who
			}
			if approved, _ := archiveIn(obj)["approved"].(bool); approved {
				stamp[privacyv1alpha1.AnnotationApprovedBy] = who
			}
		}
	case admissionv1.Update:
		if !reflect.DeepEqual(obj["spec"], old["spec"]) {
			stamp[privacyv1alpha1.AnnotationChangedBy] = who
		}
		if req.Resource.Resource == "datasubjectrequests" && !approvedIn(old) && approvedIn(obj) {
			stamp[privacyv1alpha1.AnnotationApprovedBy] = who
		}
		if req.Resource.Resource == "retentionpolicies" {
			if !reflect.DeepEqual(archiveIn(old)["delete"], archiveIn(obj)["delete"]) {
				stamp[privacyv1alpha1.AnnotationArchiveDeleteRequestedBy] = who
			}
			if approved, _ := archiveIn(obj)["approved"].(bool); approved {
				if was, _ := archiveIn(old)["approved"].(bool); !was {
					stamp[privacyv1alpha1.AnnotationApprovedBy] = who
				}
			}
		}
	}

	meta, _ := obj["metadata"].(map[string]any)
	if meta == nil {
		meta = map[string]any{}
		obj["metadata"] = meta
	}
	annotations, _ := meta["annotations"].(map[string]any)
	if annotations == nil {
		annotations = map[string]any{}
	}
	for k, v := range stamp {
		annotations[k] = v
	}
	meta["annotations"] = annotations
	patched, err := json.Marshal(obj)
	if err != nil {
		return admission.Errored(http.StatusInternalServerError, err)
	}
	return admission.PatchResponseFromRaw(req.Object.Raw, patched)
}

// decodeJSON decodes an object keeping numbers as written, so the patch
// never rewrites one.
func decodeJSON(raw []byte, into *map[string]any) error {
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	return d.Decode(into)
}

// annotationsOf returns an object's annotations; nil for a nil object.
func annotationsOf(obj map[string]any) map[string]string {
	out := map[string]string{}
	meta, _ := obj["metadata"].(map[string]any)
	annotations, _ := meta["annotations"].(map[string]any)
	for k, v := range annotations {
		if s, ok := v.(string); ok {
			out[k] = s
		}
	}
	return out
}

// approvedIn says whether a DataSubjectRequest, as JSON, has
// spec.approval.approved true.
func approvedIn(obj map[string]any) bool {
	spec, _ := obj["spec"].(map[string]any)
	approval, _ := spec["approval"].(map[string]any)
	approved, _ := approval["approved"].(bool)
	return approved
}

// archiveIn returns a RetentionPolicy's spec.archive, as JSON.
func archiveIn(obj map[string]any) map[string]any {
	spec, _ := obj["spec"].(map[string]any)
	archive, _ := spec["archive"].(map[string]any)
	return archive
}
