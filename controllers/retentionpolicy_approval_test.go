package controllers

import (
	"fmt"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	privacyv1alpha1 "github.com/lethe-dev/lethe/api/v1alpha1"
)

// A policy that requires approval counts what a change would destroy and
// waits for a second user before it changes anything.
var _ = Describe("RetentionPolicy approval", func() {
	BeforeEach(func() { retentionClock.SetTime(time.Now()) })

	It("dry-runs a widened rule, holds runs until another user approves its counts, then runs", func() {
		t := twoTenants()
		rita := userClient("rita", editorRole)
		p := retentionPolicy(t.ns, "gated", anonymizeClosedCustomers)
		p.Spec.Approval = &privacyv1alpha1.PolicyApproval{Required: true}
		Expect(rita.Create(ctx, p)).To(Succeed())
		// runNow asks for a run, retrying on conflicts with the
		// controller's writes.
		runNow := func(ns, name, value string) {
			Expect(updateAs(k8s, getPolicy(ns, name), func(p *privacyv1alpha1.RetentionPolicy) {
				p.Annotations[privacyv1alpha1.AnnotationRunNow] = value
			})).To(Succeed())
		}
		anonymized := func(tenant string) int64 {
			return t.count(tenant, "SELECT count(*) FROM app.customers WHERE name = 'Anonymized'")
		}

		By("counting in a dry run, changing nothing")
		p = completedRun(t.ns, "gated", "1")
		Expect(p.Spec.Approval.ChangedBy).NotTo(BeNil())
		Expect(p.Spec.Approval.ChangedBy.Username).To(Equal("rita"))
		Expect(p.Status.Run.DryRun).To(BeTrue())
		for _, tenant := range []string{"acme", "globex"} {
			Expect(ruleStatus(p, tenant, "closed-customers").Matched).To(BeNumerically(">", 0))
			Expect(ruleStatus(p, tenant, "closed-customers").Changed).To(BeZero())
			Expect(anonymized(tenant)).To(BeZero())
		}
		c := waitCondition(p, func() []metav1.Condition { return p.Status.Conditions },
			privacyv1alpha1.ConditionApproved, metav1.ConditionFalse, privacyv1alpha1.ReasonAwaitingApproval)
		pending := getPolicy(t.ns, "gated").Status.Approval.PendingGeneration
		Expect(pending).To(Equal(p.Generation))
		Expect(c.Message).To(ContainSubstring("set spec.approval.approvedGeneration: %d", pending))
		waitCondition(p, func() []metav1.Condition { return p.Status.Conditions },
			privacyv1alpha1.ConditionReady, metav1.ConditionFalse, privacyv1alpha1.ReasonAwaitingApproval)

		By("holding the next run")
		runNow(t.ns, "gated", "2")
		Eventually(func() string { return getPolicy(t.ns, "gated").Status.LastRunNow }, timeout, interval).Should(Equal("2"))
		held := getPolicy(t.ns, "gated")
		Expect(held.Status.Run.ID).To(Equal(p.Status.Run.ID), "no run started")
		Expect(anonymized("acme")).To(BeZero())

		By("refusing the approval of the user who changed the rules")
		Expect(updateAs(rita, getPolicy(t.ns, "gated"), func(p *privacyv1alpha1.RetentionPolicy) {
			p.Spec.Approval.ApprovedGeneration = pending
		})).To(Succeed())
		c = waitCondition(p, func() []metav1.Condition { return p.Status.Conditions },
			privacyv1alpha1.ConditionApproved, metav1.ConditionFalse, privacyv1alpha1.ReasonApprovedByRequester)
		Expect(c.Message).To(Equal("the change was approved by rita, who made it; another user must approve it"))
		Expect(anonymized("acme")).To(BeZero())

		By("refusing a stamp set by hand")
		Expect(updateAs(rita, getPolicy(t.ns, "gated"), func(p *privacyv1alpha1.RetentionPolicy) {
			p.Spec.Approval.ApprovedBy = stampOf("dpo-approver")
		})).To(MatchError(ContainSubstring("spec.approval.approvedBy is written by Lethe")))

		By("running at once when a second user approves")
		Expect(updateAs(approver(), getPolicy(t.ns, "gated"), func(p *privacyv1alpha1.RetentionPolicy) {
			// Approving again stamps the approver.
			p.Spec.Approval.ApprovedGeneration = 0
		})).To(Succeed())
		Expect(updateAs(approver(), getPolicy(t.ns, "gated"), func(p *privacyv1alpha1.RetentionPolicy) {
			p.Spec.Approval.ApprovedGeneration = pending
		})).To(Succeed())
		c = waitCondition(p, func() []metav1.Condition { return p.Status.Conditions },
			privacyv1alpha1.ConditionApproved, metav1.ConditionTrue, privacyv1alpha1.ReasonApproved)
		Expect(c.Message).To(Equal(fmt.Sprintf("generation %d was approved by dpo-approver", pending)))
		Eventually(func(g Gomega) {
			p := getPolicy(t.ns, "gated")
			g.Expect(p.Status.Run.DryRun).To(BeFalse())
			g.Expect(p.Status.Run.Completed).To(BeTrue())
		}, time.Minute, interval).Should(Succeed())
		p = getPolicy(t.ns, "gated")
		for _, tenant := range []string{"acme", "globex"} {
			Expect(anonymized(tenant)).To(Equal(ruleStatus(p, tenant, "closed-customers").Changed))
			Expect(anonymized(tenant)).To(BeNumerically(">", 0))
		}

		By("running a narrowed rule without approval")
		Expect(updateAs(rita, getPolicy(t.ns, "gated"), func(p *privacyv1alpha1.RetentionPolicy) {
			p.Spec.Rules[0].Age.OlderThan = "180d"
		})).To(Succeed())
		runNow(t.ns, "gated", "3")
		p = completedRun(t.ns, "gated", "3")
		Expect(p.Status.Run.DryRun).To(BeFalse())
		waitCondition(p, func() []metav1.Condition { return p.Status.Conditions },
			privacyv1alpha1.ConditionApproved, metav1.ConditionTrue, privacyv1alpha1.ReasonApprovalNotRequired)

		By("dry-running a shorter period, and a new Delete rule")
		Expect(updateAs(rita, getPolicy(t.ns, "gated"), func(p *privacyv1alpha1.RetentionPolicy) {
			p.Spec.Rules[0].Age.OlderThan = "30d"
			p.Spec.Rules = append(p.Spec.Rules, deleteOldLogins)
		})).To(Succeed())
		logins := t.count("acme", "SELECT count(*) FROM app.login_logs")
		runNow(t.ns, "gated", "4")
		p = completedRun(t.ns, "gated", "4")
		Expect(p.Status.Run.DryRun).To(BeTrue())
		Expect(p.Status.Approval.Widened).To(ConsistOf("closed-customers", "old-logins"))
		Expect(ruleStatus(p, "acme", "old-logins").Matched).To(BeNumerically(">", 0))
		Expect(t.count("acme", "SELECT count(*) FROM app.login_logs")).To(Equal(logins))
	})
})
