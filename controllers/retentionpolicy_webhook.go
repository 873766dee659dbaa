package controllers

import (
	"context"
	"net/http"
	"strings"

	admissionv1 "k8s.io/api/admission/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	privacyv1alpha1 "github.com/lethe-dev/lethe/api/v1alpha1"
	"github.com/lethe-dev/lethe/internal/calendar"
)

// +kubebuilder:webhook:path=/validate-retentionpolicy,mutating=false,failurePolicy=fail,sideEffects=None,groups=privacy.lethe.dev,resources=retentionpolicies,verbs=create;update,versions=v1alpha1,name=retentionpolicy.privacy.lethe.dev,admissionReviewVersions=v1,timeoutSeconds=10

// RetentionPolicyWebhook refuses a schedule or time zone the controller
// could not run, saying what to write instead: a cron field out of range,
// a schedule that never comes, an unknown time zone. CEL cannot parse
// either. The controller checks again (with the same functions,
// internal/calendar) and stalls a policy that got past admission.
type RetentionPolicyWebhook struct {
	Decoder admission.Decoder
}

// Handle admits one create or update. An update that leaves the schedule
// and time zone as they were is admitted, so a policy created before the
// webhook ran can still be suspended, annotated or labelled.
func (w *RetentionPolicyWebhook) Handle(_ context.Context, req admission.Request) admission.Response {
	var obj privacyv1alpha1.RetentionPolicy
	if err := w.Decoder.Decode(req, &obj); err != nil {
		return admission.Errored(http.StatusBadRequest, err)
	}
	if req.Operation == admissionv1.Update {
		var old privacyv1alpha1.RetentionPolicy
		if err := w.Decoder.DecodeRaw(req.OldObject, &old); err != nil {
			return admission.Errored(http.StatusBadRequest, err)
		}
		if old.Spec.Schedule == obj.Spec.Schedule && ptr.Equal(old.Spec.TimeZone, obj.Spec.TimeZone) {
			return admission.Allowed("")
		}
	}
	var problems []string
	if _, err := calendar.Zone(ptr.Deref(obj.Spec.TimeZone, "")); err != nil {
		problems = append(problems, err.Error())
	}
	if _, err := calendar.Schedule(obj.Spec.Schedule); err != nil {
		problems = append(problems, err.Error())
	}
	if len(problems) > 0 {
		return admission.Denied(strings.Join(problems, "; and "))
	}
	return admission.Allowed("")
}
