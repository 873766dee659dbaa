package controllers

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	privacyv1alpha1 "github.com/lethe-dev/lethe/api/v1alpha1"
	"github.com/lethe-dev/lethe/internal/identity"
)

// The controller trusts an approval only when the identities the webhook
// records say a second person gave it, whatever the annotations claim.
func TestApprovalDoubtRefusesMissingAndSelfApprovals(t *testing.T) {
	stamp := func(name, uid string) string { return identity.New(name, uid, nil, time.Now()).Encode() }
	for _, tc := range []struct {
		name                string
		requested, approved string
		want                string
	}{
		{"a second person", stamp("rita", "u1"), stamp("dpo", "u2"), ""},
		{"no identities", "", "", privacyv1alpha1.ReasonApprovalUnverified},
		{"no approver", stamp("rita", "u1"), "", privacyv1alpha1.ReasonApprovalUnverified},
		{"an unreadable approver", stamp("rita", "u1"), "dpo", privacyv1alpha1.ReasonApprovalUnverified},
		{"the requester", stamp("rita", "u1"), stamp("rita", "u1"), privacyv1alpha1.ReasonApprovedByRequester},
		{"the requester under another name", stamp("rita", "u1"), stamp("rita@corp", "u1"), privacyv1alpha1.ReasonApprovedByRequester},
	} {
		obj := &privacyv1alpha1.DataSubjectRequest{ObjectMeta: metav1.ObjectMeta{Annotations: map[string]string{}}}
		if tc.requested != "" {
			obj.Annotations[privacyv1alpha1.AnnotationRequestedBy] = tc.requested
		}
		if tc.approved != "" {
			obj.Annotations[privacyv1alpha1.AnnotationApprovedBy] = tc.approved
		}
		if got, msg := approvalDoubt(obj); got != tc.want {
			t.Errorf("%s: reason %q (%s), want %q", tc.name, got, msg, tc.want)
		}
	}
}
