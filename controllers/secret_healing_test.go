package controllers

import (
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	privacyv1alpha1 "github.com/lethe-dev/lethe/api/v1alpha1"
	"github.com/lethe-dev/lethe/internal/testutil/sampleapp"
)

// A Secret an object waits for is watched by metadata: its appearance, or a
// fix to its content, moves the object on. A stalled object is never tried
// again on a timer, so each step below that heals a stalled object shows the
// watch at work.
var _ = Describe("Healing when a Secret appears or is fixed", func() {
	var t tenants
	BeforeEach(func() {
		retentionClock.SetTime(time.Now())
		jobClock.SetTime(sampleapp.ReferenceTime())
		t = twoTenants()
	})
	key := map[string][]byte{"key": []byte("0123456789abcdef0123456789abcdef")}
	addKey := func(data map[string][]byte) { data["key"] = key["key"] }

	It("starts a job when its key Secret appears, and resumes one stalled on a Secret without its key once the key is added", func() {
		j := newJob(t.ns, "key-later", "acme")
		j.Spec.Pseudonym.KeySecretRef.Name = "key-later"
		j.Spec.Subject = &privacyv1alpha1.PseudonymizationSubject{Identifier: "E10002"}
		Expect(k8s.Create(ctx, j)).To(Succeed())
		c := expectJob(t.ns, "key-later", privacyv1alpha1.ConditionReconciling, metav1.ConditionTrue, privacyv1alpha1.ReasonKeySecretNotFound)
		Expect(c.Status.Phase).To(Equal(privacyv1alpha1.JobPending))
		Expect(k8s.Create(ctx, secret(t.ns, "key-later", key))).To(Succeed())
		expectJob(t.ns, "key-later", privacyv1alpha1.ConditionReady, metav1.ConditionTrue, privacyv1alpha1.ReasonJobSucceeded)

		Expect(k8s.Create(ctx, secret(t.ns, "keyless", map[string][]byte{"other": key["key"]}))).To(Succeed())
		j = newJob(t.ns, "keyless", "acme")
		j.Spec.Pseudonym.KeySecretRef.Name = "keyless"
		j.Spec.Subject = &privacyv1alpha1.PseudonymizationSubject{Identifier: "E10003"}
		Expect(k8s.Create(ctx, j)).To(Succeed())
		expectJob(t.ns, "keyless", privacyv1alpha1.ConditionStalled, metav1.ConditionTrue, privacyv1alpha1.ReasonKeySecretNotFound)
		updateSecret(t.ns, "keyless", addKey)
		expectJob(t.ns, "keyless", privacyv1alpha1.ConditionReady, metav1.ConditionTrue, privacyv1alpha1.ReasonJobSucceeded)
	})

	It("goes on with a request stalled on a Secret once it is fixed, whether the request or its inventory names it", func() {
		email := t.query("acme", "SELECT email FROM app.customers ORDER BY id LIMIT 1").(string)
		Expect(k8s.Create(ctx, secret(t.ns, "who", map[string][]byte{"email": nil}))).To(Succeed())
		Expect(k8s.Create(ctx, t.request("access", privacyv1alpha1.RequestAccess, "who"))).To(Succeed())
		expectRequestCondition(t.ns, "access", privacyv1alpha1.ConditionStalled, metav1.ConditionTrue, privacyv1alpha1.ReasonIdentifierKeyMissing)
		updateSecret(t.ns, "who", func(data map[string][]byte) { data["email"] = []byte(email) })
		expectPhase(t.ns, "access", privacyv1alpha1.PhaseCompleted)

		By("hashing phone numbers with a key the Secret lacks at first")
		var inv privacyv1alpha1.DataInventory
		Expect(k8s.Get(ctx, types.NamespacedName{Namespace: t.ns, Name: "customer-service"}, &inv)).To(Succeed())
		for i, pc := range inv.Spec.Entities[0].PersonalColumns {
			if pc.Column == "phone" {
				inv.Spec.Entities[0].PersonalColumns[i].Strategy = privacyv1alpha1.MaskingStrategy{Type: privacyv1alpha1.StrategyHash,
					KeySecretRef: &privacyv1alpha1.SecretKeyReference{Name: "phone-key", Key: "key"}}
			}
		}
		Expect(k8s.Update(ctx, &inv)).To(Succeed())
		Expect(k8s.Create(ctx, secret(t.ns, "phone-key", map[string][]byte{"other": key["key"]}))).To(Succeed())
		Expect(k8s.Create(ctx, t.request("access-again", privacyv1alpha1.RequestAccess, "who"))).To(Succeed())
		c := expectRequestCondition(t.ns, "access-again", privacyv1alpha1.ConditionStalled, metav1.ConditionTrue, privacyv1alpha1.ReasonHashKeyMissing)
		Expect(c.Message).To(ContainSubstring(`hash key secret phone-key has no key "key"`))
		updateSecret(t.ns, "phone-key", addKey)
		expectPhase(t.ns, "access-again", privacyv1alpha1.PhaseCompleted)
	})

	It("runs a policy stalled on a Hash key once the key is added", func() {
		rule := anonymizeClosedCustomers
		rule.Fields = []privacyv1alpha1.FieldOverride{{Column: "phone", Strategy: privacyv1alpha1.MaskingStrategy{Type: privacyv1alpha1.StrategyHash,
			KeySecretRef: &privacyv1alpha1.SecretKeyReference{Name: "policy-key", Key: "key"}}}}
		Expect(k8s.Create(ctx, secret(t.ns, "policy-key", map[string][]byte{"other": key["key"]}))).To(Succeed())
		p := retentionPolicy(t.ns, "hashing", rule)
		Expect(k8s.Create(ctx, p)).To(Succeed())
		waitCondition(p, func() []metav1.Condition { return p.Status.Conditions },
			privacyv1alpha1.ConditionStalled, metav1.ConditionTrue, privacyv1alpha1.ReasonHashKeyMissing)
		updateSecret(t.ns, "policy-key", addKey)
		p = completedRun(t.ns, "hashing", "1")
		Expect(ruleStatus(p, "acme", "closed-customers").Changed).To(BeNumerically(">", 0))
		Expect(t.count("acme", "SELECT count(*) FROM app.customers WHERE name = 'Anonymized' AND phone !~ '^[0-9a-f]{64}$'")).
			To(BeZero(), "every phone number hashed with the key")
	})
})
