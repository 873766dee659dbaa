package controllers

import (
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	privacyv1alpha1 "github.com/lethe-dev/lethe/api/v1alpha1"
	"github.com/lethe-dev/lethe/internal/identity"
)

// Four eyes hold where the webhooks do not run: the controller reads who
// requested and who approved from spec fields the API server keeps
// immutable, and refuses to run a request whose identities are missing or
// the same.
var _ = Describe("Four eyes without the webhooks", func() {
	var t tenants

	BeforeEach(func() {
		t = twoTenants()
		email := t.query("acme", "SELECT email FROM app.customers ORDER BY id LIMIT 1").(string)
		t.identifiersSecret("who", map[string]string{"email": email})
	})

	// changes counts the rows the request's runs changed in acme.
	changes := func(name string) int64 {
		return t.count("acme", "SELECT count(*) FROM lethe.audit_log WHERE object_uid = $1 AND action IN ('Mask', 'Delete')",
			string(getRequest(t.ns, name).UID))
	}
	It("refuses an approval without stamped identities, whatever the annotations claim", func() {
		withoutRequestWebhooks(t.request("probe", privacyv1alpha1.RequestErasure, "who"))
		req := t.request("erase", privacyv1alpha1.RequestErasure, "who")
		// Annotations written by hand, as the webhook would have.
		req.Annotations = map[string]string{privacyv1alpha1.AnnotationRequestedBy: identity.New("rita", "uid-rita", nil, requestClock.Now()).Encode()}
		Expect(k8s.Create(ctx, req)).To(Succeed())
		Expect(getRequest(t.ns, "erase").Spec.RequestedBy).To(BeNil(), "no webhook stamped the request")
		expectPhase(t.ns, "erase", privacyv1alpha1.PhaseAwaitingApproval)

		Expect(updateRequest(t.ns, "erase", func(r *privacyv1alpha1.DataSubjectRequest) {
			r.Spec.Approval = &privacyv1alpha1.Approval{Approved: true}
		})).To(Succeed())
		c := expectRequestCondition(t.ns, "erase", privacyv1alpha1.ConditionApproved, metav1.ConditionFalse, privacyv1alpha1.ReasonApprovalUnverified)
		Expect(c.Message).To(ContainSubstring("spec.requestedBy and spec.approval.approvedBy, where Lethe's admission webhook stamps who requested and who approved, are missing"))
		Expect(getRequest(t.ns, "erase").Status.Phase).To(Equal(privacyv1alpha1.PhaseAwaitingApproval))
		Expect(changes("erase")).To(BeZero())

		By("refusing a waived approval nobody was stamped for")
		waived := t.request("waived", privacyv1alpha1.RequestErasure, "who")
		waived.Spec.Approval = &privacyv1alpha1.Approval{Required: ptr.To(false)}
		Expect(k8s.Create(ctx, waived)).To(Succeed())
		c = expectRequestCondition(t.ns, "waived", privacyv1alpha1.ConditionApproved, metav1.ConditionFalse, privacyv1alpha1.ReasonApprovalUnverified)
		Expect(c.Message).To(ContainSubstring("spec.approval.approvedBy, where Lethe's admission webhook stamps who waived it, is missing"))
		Expect(changes("waived")).To(BeZero())
	})

	It("refuses identities set by hand to the same user, and one of them missing", func() {
		withoutRequestWebhooks(t.request("probe", privacyv1alpha1.RequestErasure, "who"))
		same := t.request("same", privacyv1alpha1.RequestErasure, "who")
		same.Spec.RequestedBy = stampOf("rita")
		same.Spec.Approval = &privacyv1alpha1.Approval{Approved: true, ApprovedBy: stampOf("rita")}
		Expect(k8s.Create(ctx, same)).To(Succeed())
		c := expectRequestCondition(t.ns, "same", privacyv1alpha1.ConditionApproved, metav1.ConditionFalse, privacyv1alpha1.ReasonApprovedByRequester)
		Expect(c.Message).To(Equal("the request was approved by rita, who requested it; another user must approve it"))
		Expect(getRequest(t.ns, "same").Status.Phase).To(Equal(privacyv1alpha1.PhaseAwaitingApproval))

		noRequester := t.request("no-requester", privacyv1alpha1.RequestErasure, "who")
		noRequester.Spec.Approval = &privacyv1alpha1.Approval{Approved: true, ApprovedBy: stampOf("dpo")}
		Expect(k8s.Create(ctx, noRequester)).To(Succeed())
		c = expectRequestCondition(t.ns, "no-requester", privacyv1alpha1.ConditionApproved, metav1.ConditionFalse, privacyv1alpha1.ReasonApprovalUnverified)
		Expect(c.Message).To(ContainSubstring("spec.requestedBy, where Lethe's admission webhook stamps who requested and who approved, is missing"))
		Expect(changes("same") + changes("no-requester")).To(BeZero())
	})

	It("keeps the stamped identities from being changed after the fact, with or without the webhooks", func() {
		rita := userClient("rita", editorRole)
		Expect(rita.Create(ctx, t.request("erase", privacyv1alpha1.RequestErasure, "who"))).To(Succeed())
		approve(t.ns, "erase")
		r := expectPhase(t.ns, "erase", privacyv1alpha1.PhaseCompleted)
		Expect(r.Spec.RequestedBy.Username).To(Equal("rita"))
		Expect(r.Spec.Approval.ApprovedBy.Username).To(Equal("dpo-approver"))

		By("the webhook refusing a stamp set by hand")
		forged := t.request("forged", privacyv1alpha1.RequestErasure, "who")
		forged.Spec.RequestedBy = stampOf("someone-else")
		Expect(rita.Create(ctx, forged)).To(MatchError(ContainSubstring(
			"spec.requestedBy is written by Lethe from the identity the API server authenticated and cannot be set or changed by hand")))
		Expect(updateRequest(t.ns, "erase", func(r *privacyv1alpha1.DataSubjectRequest) {
			r.Spec.Approval.ApprovedBy = stampOf("rita")
		})).To(MatchError(ContainSubstring("spec.approval.approvedBy is written by Lethe")))

		By("the API server refusing it when the webhooks do not run")
		withoutRequestWebhooks(t.request("probe", privacyv1alpha1.RequestErasure, "who"))
		requestedBy := "spec.requestedBy is stamped by Lethe's admission webhook when the request is created and cannot be added, changed or removed afterwards"
		approvedBy := "spec.approval.approvedBy is stamped by Lethe's admission webhook when the request is approved and cannot be changed or removed afterwards"
		for _, tc := range []struct {
			refusal string
			change  func(*privacyv1alpha1.DataSubjectRequest)
		}{
			{requestedBy, func(r *privacyv1alpha1.DataSubjectRequest) { r.Spec.RequestedBy = stampOf("dpo-approver") }},
			{requestedBy, func(r *privacyv1alpha1.DataSubjectRequest) { r.Spec.RequestedBy = nil }},
			{approvedBy, func(r *privacyv1alpha1.DataSubjectRequest) { r.Spec.Approval.ApprovedBy = stampOf("rita") }},
			{approvedBy, func(r *privacyv1alpha1.DataSubjectRequest) { r.Spec.Approval.ApprovedBy = nil }},
		} {
			Expect(updateRequest(t.ns, "erase", tc.change)).To(MatchError(ContainSubstring(tc.refusal)))
		}
		r = getRequest(t.ns, "erase")
		Expect(r.Spec.RequestedBy.Username).To(Equal("rita"))
		Expect(r.Spec.Approval.ApprovedBy.Username).To(Equal("dpo-approver"))
	})
})

func stampOf(user string) *privacyv1alpha1.StampedIdentity {
	return &privacyv1alpha1.StampedIdentity{Username: user, UID: "uid-" + user, At: metav1.Now()}
}

// withoutRequestWebhooks takes the identity webhook and the
// DataSubjectRequest webhook out, as in a cluster where the manager runs
// without its webhooks, and waits until the API server admits what they
// would refuse (a request created approved, with identities set by hand);
// at the end of the spec it puts them back and waits until they refuse it
// again.
func withoutRequestWebhooks(probe *privacyv1alpha1.DataSubjectRequest) {
	GinkgoHelper()
	probe.Spec.RequestedBy = stampOf("probe")
	probe.Spec.Approval = &privacyv1alpha1.Approval{Approved: true, ApprovedBy: stampOf("probe")}
	admitted := func() error { return k8s.Create(ctx, probe.DeepCopy(), client.DryRunAll) }
	DeferCleanup(func() { Eventually(admitted, timeout, interval).ShouldNot(Succeed()) })
	withoutIdentityWebhook()
	withoutValidatingWebhook("datasubjectrequest.privacy.lethe.dev")
	Eventually(admitted, timeout, interval).Should(Succeed())
}
