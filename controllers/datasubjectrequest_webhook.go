package controllers

import (
	"context"
	"fmt"
	"net/http"

	admissionv1 "k8s.io/api/admission/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	privacyv1alpha1 "github.com/lethe-dev/lethe/api/v1alpha1"
)

// +kubebuilder:webhook:path=/validate-datasubjectrequest,mutating=false,failurePolicy=fail,sideEffects=None,groups=privacy.lethe.dev,resources=datasubjectrequests,verbs=create;update,versions=v1alpha1,name=datasubjectrequest.privacy.lethe.dev,admissionReviewVersions=v1,timeoutSeconds=10
// +kubebuilder:rbac:groups=authorization.k8s.io,resources=subjectaccessreviews,verbs=create

// VerbApprove is the RBAC verb on datasubjectrequests that lets a user
// approve a request (or waive the approval of an Erasure or Rectification),
// granted by a Role or ClusterRole rule such as
// {apiGroups: [privacy.lethe.dev], resources: [datasubjectrequests], verbs: [approve]}.
const VerbApprove = "approve"

// DataSubjectRequestWebhook enforces four eyes on approval: a request is
// released (approved, or its approval waived) only by a user who may
// approve datasubjectrequests, as a SubjectAccessReview tells, and approved
// only by someone other than its requester.
type DataSubjectRequestWebhook struct {
	// Client creates SubjectAccessReviews.
	Client  client.Client
	Decoder admission.Decoder
}

// Handle admits one create or update.
func (w *DataSubjectRequestWebhook) Handle(ctx context.Context, req admission.Request) admission.Response {
	var obj privacyv1alpha1.DataSubjectRequest
	if err := w.Decoder.Decode(req, &obj); err != nil {
		return admission.Errored(http.StatusBadRequest, err)
	}
	if _, err := requestLocation(&obj); err != nil {
		return admission.Denied(err.Error())
	}
	waived := obj.Spec.Type.ChangesData() && !obj.Spec.ApprovalRequired()

	if req.Operation == admissionv1.Create {
		if obj.Spec.ApprovalRequired() && obj.Spec.Approved() {
			return admission.Denied("a request cannot be approved by its requester: create it without spec.approval.approved " +
				"and let another user who may approve datasubjectrequests set it")
		}
		if waived {
			return w.mayApprove(ctx, req, &obj, "create an "+string(obj.Spec.Type)+" request with spec.approval.required: false")
		}
		return admission.Allowed("")
	}

	var old privacyv1alpha1.DataSubjectRequest
	if err := w.Decoder.DecodeRaw(req.OldObject, &old); err != nil {
		return admission.Errored(http.StatusBadRequest, err)
	}
	if old.Status.Phase == privacyv1alpha1.PhaseCompleted || old.Status.Phase == privacyv1alpha1.PhaseFailed {
		if old.Spec.Extension == nil && obj.Spec.Extension != nil {
			return admission.Denied(fmt.Sprintf("the request is %s: there is no deadline left to extend; create a new request instead",
				old.Status.Phase))
		}
	}
	wasReleased := !old.Spec.ApprovalRequired() || old.Spec.Approved()
	released := !obj.Spec.ApprovalRequired() || obj.Spec.Approved()
	if wasReleased || !released {
		return admission.Allowed("")
	}
	requester := old.Spec.RequestedBy
	if requester != nil && requester.Username == req.UserInfo.Username {
		return admission.Denied(fmt.Sprintf("%s created this request and cannot release it: four eyes are required, "+
			"another user who may approve datasubjectrequests must set spec.approval.approved", req.UserInfo.Username))
	}
	action := "approve DataSubjectRequest " + obj.Name
	if !obj.Spec.Approved() {
		action = "waive the approval of DataSubjectRequest " + obj.Name
	}
	resp := w.mayApprove(ctx, req, &obj, action)
	if resp.Allowed && requester == nil {
		return resp.WithWarnings("the request has no spec.requestedBy (it was created while the admission webhooks did not run), " +
			"so four eyes cannot be checked and the controller will not run it: create it again")
	}
	return resp
}

// mayApprove asks the API server whether the requesting user may approve
// the request.
func (w *DataSubjectRequestWebhook) mayApprove(ctx context.Context, req admission.Request, obj *privacyv1alpha1.DataSubjectRequest,
	action string) admission.Response {
	extra := map[string]authorizationv1.ExtraValue{}
	for k, v := range req.UserInfo.Extra {
		extra[k] = authorizationv1.ExtraValue(v)
	}
	sar := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
		User: req.UserInfo.Username, UID: req.UserInfo.UID, Groups: req.UserInfo.Groups, Extra: extra,
		ResourceAttributes: &authorizationv1.ResourceAttributes{
			Namespace: obj.Namespace, Verb: VerbApprove, Group: privacyv1alpha1.GroupVersion.Group,
			Resource: "datasubjectrequests", Name: obj.Name,
		},
	}}
	if err := w.Client.Create(ctx, sar); err != nil {
		return admission.Errored(http.StatusInternalServerError, fmt.Errorf("cannot check whether %s may approve: %w", req.UserInfo.Username, err))
	}
	if !sar.Status.Allowed {
		return admission.Denied(fmt.Sprintf("%s may not %s: it needs the verb %q on datasubjectrequests.%s in namespace %s",
			req.UserInfo.Username, action, VerbApprove, privacyv1alpha1.GroupVersion.Group, obj.Namespace))
	}
	return admission.Allowed("")
}
