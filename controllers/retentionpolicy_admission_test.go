package controllers

import (
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	privacyv1alpha1 "github.com/lethe-dev/lethe/api/v1alpha1"
)

// retentionPolicyWebhook is the RetentionPolicy webhook's name in
// config/webhook.
const retentionPolicyWebhook = "retentionpolicy.privacy.lethe.dev"

var _ = Describe("Admission of retention policies and ages", func() {
	It("refuses a schedule or a time zone the controller could not run, saying what to write", func() {
		ns := newNamespace()
		create := func(name, schedule string, timeZone *string) error {
			p := retentionPolicy(ns, name, anonymizeClosedCustomers)
			p.Spec.Schedule, p.Spec.TimeZone = schedule, timeZone
			return k8s.Create(ctx, p)
		}
		Expect(create("out-of-range", "61 25 * * *", nil)).To(MatchError(And(
			ContainSubstring(`admission webhook "`+retentionPolicyWebhook+`" denied the request`),
			ContainSubstring(`spec.schedule "61 25 * * *" has an invalid minute "61"`),
			ContainSubstring(`for example "30 2 * * *" (02:30 every day)`))))
		Expect(create("never", "0 0 30 2 *", nil)).To(MatchError(ContainSubstring("matches no date: day-of-month 30 never falls in month 2")))
		Expect(create("words", "every night", nil)).To(MatchError(ContainSubstring(`has 2 fields, not five`)))
		Expect(create("own-zone", "CRON_TZ=Europe/Berlin 30 2 * * *", nil)).To(MatchError(
			ContainSubstring(`set spec.timeZone: Europe/Berlin and spec.schedule: "30 2 * * *"`)))
		Expect(create("mars", "30 2 * * *", ptr.To("Mars/Olympus"))).To(MatchError(
			ContainSubstring(`spec.timeZone "Mars/Olympus" is not an IANA time zone (for example Europe/Stockholm`)))
		Expect(create("case", "30 2 * * *", ptr.To("europe/berlin"))).To(MatchError(ContainSubstring(`did you mean "Europe/Berlin"?`)))
		Expect(create("both", "61 25 * * *", ptr.To("Mars/Olympus"))).To(MatchError(And(
			ContainSubstring(`spec.timeZone "Mars/Olympus"`), ContainSubstring(`spec.schedule "61 25 * * *"`))))

		By("admitting a valid one, and refusing a change that breaks it")
		Expect(create("nightly", "30 2 * * *", ptr.To("Europe/Berlin"))).To(Succeed())
		Expect(create("weekly", "@weekly", nil)).To(Succeed())
		// The controller's status writes move the resourceVersion: read
		// again on a conflict.
		Eventually(func() error {
			p := getPolicy(ns, "nightly")
			p.Spec.Schedule = "30 2 * * 8"
			return k8s.Update(ctx, p)
		}).Should(MatchError(ContainSubstring(`has an invalid day-of-week "8"`)))
	})

	It("stalls a policy whose schedule or time zone got past admission, and heals when it is fixed", func() {
		ns := newNamespace()
		restore := withoutValidatingWebhook(retentionPolicyWebhook)
		p := retentionPolicy(ns, "legacy", anonymizeClosedCustomers)
		p.Annotations = nil
		p.Spec.Schedule = "61 25 * * *"
		Expect(k8s.Create(ctx, p)).To(Succeed())
		zone := retentionPolicy(ns, "legacy-zone", anonymizeClosedCustomers)
		zone.Annotations = nil
		zone.Spec.TimeZone = ptr.To("Mars/Olympus")
		Expect(k8s.Create(ctx, zone)).To(Succeed())
		restore()

		c := waitCondition(p, func() []metav1.Condition { return p.Status.Conditions },
			privacyv1alpha1.ConditionStalled, metav1.ConditionTrue, privacyv1alpha1.ReasonScheduleInvalid)
		Expect(c.Message).To(ContainSubstring(`spec.schedule "61 25 * * *" has an invalid minute "61"`))
		c = waitCondition(zone, func() []metav1.Condition { return zone.Status.Conditions },
			privacyv1alpha1.ConditionStalled, metav1.ConditionTrue, privacyv1alpha1.ReasonScheduleInvalid)
		Expect(c.Message).To(ContainSubstring(`spec.timeZone "Mars/Olympus" is not an IANA time zone`))

		By("admitting a change that leaves the schedule alone, and going on once it is fixed")
		Expect(updateAs(k8s, p, func(p *privacyv1alpha1.RetentionPolicy) { p.Spec.BatchSize = 10 })).To(Succeed())
		Expect(updateAs(k8s, p, func(p *privacyv1alpha1.RetentionPolicy) { p.Spec.Schedule = "30 2 * * *" })).To(Succeed())
		// Its targets do not exist in this namespace: it waits for them.
		waitCondition(p, func() []metav1.Condition { return p.Status.Conditions },
			privacyv1alpha1.ConditionReady, metav1.ConditionFalse, privacyv1alpha1.ReasonTargetNotFound)
	})

	It("shows valid periods when an age is not one", func() {
		ns := newNamespace()
		for olderThan, hint := range map[string]string{
			"18 months": "(for months write 18mo)",
			"18m":       "(for months write 18mo)",
			"90 days":   "(write 90d)",
			"2 Years":   "(write 2y)",
			"0d":        "write a number from 1 to 99999",
			"soon":      "for example 90d, 18mo or 1y",
		} {
			rule := anonymizeClosedCustomers
			rule.Age.OlderThan = olderThan
			Expect(k8s.Create(ctx, retentionPolicy(ns, "age", rule))).To(MatchError(And(
				ContainSubstring(`spec.rules[0].age.olderThan: Invalid value: "`+olderThan+`": "`+olderThan+`" is not a period: `+
					`write a number from 1 to 99999 and a unit with no space, d (days), w (weeks), mo (calendar months) or y (calendar years), `+
					`for example 90d, 18mo or 1y`),
				ContainSubstring(hint),
				Not(ContainSubstring("may not be more than")))), olderThan)
		}

		j := newJob(ns, "selector-age", "acme")
		j.Spec.Selector = &privacyv1alpha1.PseudonymizationSelector{Entity: "employee",
			Age: privacyv1alpha1.RetentionAge{Column: "left_at", OlderThan: "6 months"}}
		Expect(k8s.Create(ctx, j)).To(MatchError(ContainSubstring(
			`spec.selector.age.olderThan: Invalid value: "6 months": "6 months" is not a period: write a number from 1 to 99999`)))
		j.Spec.Selector.Age.OlderThan = "6mo"
		Expect(k8s.Create(ctx, j)).To(Succeed())
	})
})
