package controllers

import (
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	privacyv1alpha1 "github.com/lethe-dev/lethe/api/v1alpha1"
)

// ofClosedCustomers are the rows of the customers anonymizeClosedCustomers
// selects at $1.
const ofClosedCustomers = ` customer_id IN (SELECT id FROM app.customers WHERE status = 'closed' AND closed_at < $1::timestamptz - interval '90 days')`

var _ = Describe("RetentionPolicy of scope Subject", func() {
	BeforeEach(func() { retentionClock.SetTime(time.Now()) })

	It("anonymizes every row of the subjects a rule on their root selects, and says so per entity", func() {
		t := twoTenants()
		at := time.Now()
		workOrders := map[string]int64{}
		for _, tenant := range []string{"acme", "globex"} {
			workOrders[tenant] = t.count(tenant, "SELECT count(*) FROM app.work_orders WHERE"+ofClosedCustomers, at)
			Expect(t.count(tenant, "SELECT count(*) FROM app.work_orders WHERE notes <> '' AND"+ofClosedCustomers, at)).To(BeNumerically(">", 0))
		}
		Expect(k8s.Create(ctx, retentionPolicy(t.ns, "subjects", anonymizeClosedCustomers))).To(Succeed())
		p := completedRun(t.ns, "subjects", "1")
		at = p.Status.Run.ScheduledTime.Time
		for _, tenant := range []string{"acme", "globex"} {
			closed := ruleStatus(p, tenant, "closed-customers")
			Expect(closed.Changed).To(BeNumerically(">", 0))
			Expect(t.count(tenant, "SELECT count(*) FROM app.work_orders WHERE (notes <> '' OR site_address <> 'Anonymized') AND"+ofClosedCustomers, at)).To(BeZero())
			Expect(t.count(tenant, "SELECT count(*) FROM app.cases WHERE description <> '' AND"+ofClosedCustomers, at)).To(BeZero())
			Expect(t.count(tenant, "SELECT count(*) FROM app.customer_contacts WHERE customer_number <> '0' AND"+ofClosedCustomers, at)).To(BeZero())
			Expect(t.count(tenant, "SELECT count(*) FROM app.case_comments WHERE case_id IN (SELECT id FROM app.cases WHERE"+ofClosedCustomers+")", at)).To(BeZero())
			Expect(closed.SubjectRows).To(ContainElement(privacyv1alpha1.RetentionEntityRows{Entity: "workOrder", Action: "Mask", Rows: workOrders[tenant]}))
			Expect(t.count(tenant, "SELECT coalesce(sum(rows_affected), 0)::bigint FROM lethe.audit_log WHERE object_kind = 'RetentionPolicy' AND action = 'Mask' AND entity = 'workOrder'")).
				To(Equal(workOrders[tenant]))
		}
		waitCondition(p, func() []metav1.Condition { return getPolicy(t.ns, "subjects").Status.Conditions },
			privacyv1alpha1.ConditionReady, metav1.ConditionTrue, privacyv1alpha1.ReasonSucceeded)

		By("refusing scope Subject where it cannot apply")
		archive := anonymizeClosedCustomers
		archive.Name, archive.Action, archive.Scope = "archive", privacyv1alpha1.RetentionArchive, privacyv1alpha1.RetentionScopeSubject
		Expect(k8s.Create(ctx, retentionPolicy(t.ns, "archive-subjects", archive))).To(MatchError(
			ContainSubstring("scope Subject applies to actions Anonymize and Delete")))
		logins := deleteOldLogins
		logins.Scope = privacyv1alpha1.RetentionScopeSubject
		Expect(k8s.Create(ctx, retentionPolicy(t.ns, "login-subjects", logins))).To(Succeed())
		bad := getPolicy(t.ns, "login-subjects")
		c := waitCondition(bad, func() []metav1.Condition { return getPolicy(t.ns, "login-subjects").Status.Conditions },
			privacyv1alpha1.ConditionStalled, metav1.ConditionTrue, privacyv1alpha1.ReasonRuleInvalid)
		Expect(c.Message).To(ContainSubstring("scope Subject needs a subject's root entity, and entity loginLog is none"))
	})
})
