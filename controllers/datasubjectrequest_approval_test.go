package controllers

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	privacyv1alpha1 "github.com/lethe-dev/lethe/api/v1alpha1"
	"github.com/lethe-dev/lethe/internal/identity"
)

// The controller trusts an approval only when the identities the webhook
// stamps in the spec say a second person gave it, whatever the annotations
// claim.
func TestApprovalDoubtRefusesMissingAndSelfApprovals(t *testing.T) {
	stamp := func(name, uid string) *privacyv1alpha1.StampedIdentity {
		return &privacyv1alpha1.StampedIdentity{Username: name, UID: uid, At: metav1.Now()}
	}
	annotation := func(name, uid string) string { return identity.New(name, uid, nil, time.Now()).Encode() }
	for _, tc := range []struct {
		name                string
		requested, approved *privacyv1alpha1.StampedIdentity
		want                string
	}{
		{"a second person", stamp("rita", "u1"), stamp("dpo", "u2"), ""},
		{"no identities", nil, nil, privacyv1alpha1.ReasonApprovalUnverified},
		{"no approver", stamp("rita", "u1"), nil, privacyv1alpha1.ReasonApprovalUnverified},
		{"no requester", nil, stamp("dpo", "u2"), privacyv1alpha1.ReasonApprovalUnverified},
		{"the requester", stamp("rita", "u1"), stamp("rita", "u1"), privacyv1alpha1.ReasonApprovedByRequester},
		{"the requester under another name", stamp("rita", "u1"), stamp("rita@corp", "u1"), privacyv1alpha1.ReasonApprovedByRequester},
	} {
		obj := &privacyv1alpha1.DataSubjectRequest{
			// Annotations that claim two people change nothing.
			ObjectMeta: metav1.ObjectMeta{Annotations: map[string]string{
				privacyv1alpha1.AnnotationRequestedBy: annotation("someone", "u8"),
				privacyv1alpha1.AnnotationChangedBy:   annotation("else", "u9"),
			}},
			Spec: privacyv1alpha1.DataSubjectRequestSpec{Type: privacyv1alpha1.RequestErasure, RequestedBy: tc.requested,
				Approval: &privacyv1alpha1.Approval{Approved: true, ApprovedBy: tc.approved}},
		}
		if got, msg := approvalDoubt(obj); got != tc.want {
			t.Errorf("%s: reason %q (%s), want %q", tc.name, got, msg, tc.want)
		}
	}
}
