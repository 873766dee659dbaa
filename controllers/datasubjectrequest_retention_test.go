package controllers

import (
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/utils/ptr"

	privacyv1alpha1 "github.com/lethe-dev/lethe/api/v1alpha1"
)

// Request records are kept as long as the law asks, and no longer; the
// identifiers a request used go when it completes, if asked.
var _ = Describe("DataSubjectRequest records", func() {
	var t tenants
	var email string

	BeforeEach(func() {
		t = twoTenants()
		email = t.query("acme", "SELECT email FROM app.customers ORDER BY id LIMIT 1").(string)
		t.identifiersSecret("who", map[string]string{"email": email})
	})

	It("deletes a completed request after spec.retainFor, leaving its audit records", func() {
		short := t.request("short", privacyv1alpha1.RequestDiscovery, "who")
		short.Spec.RetainFor = ptr.To("2d")
		ccpa := t.request("ccpa", privacyv1alpha1.RequestDiscovery, "who")
		ccpa.Spec.Regulation = privacyv1alpha1.RegulationCCPA
		gdpr := t.request("gdpr", privacyv1alpha1.RequestDiscovery, "who")
		for _, r := range []*privacyv1alpha1.DataSubjectRequest{short, ccpa, gdpr} {
			Expect(k8s.Create(ctx, r)).To(Succeed())
		}
		deleteAt := func(name string) time.Time {
			var at time.Time
			Eventually(func(g Gomega) {
				r := getRequest(t.ns, name)
				g.Expect(r.Status.Phase).To(Equal(privacyv1alpha1.PhaseCompleted))
				g.Expect(r.Status.DeleteAt).NotTo(BeNil())
				at = r.Status.DeleteAt.Time
			}, timeout, interval).Should(Succeed())
			return at
		}
		for name, period := range map[string][3]int{"short": {0, 0, 2}, "ccpa": {0, 24, 0}, "gdpr": {3, 0, 0}} {
			// CCPA keeps request records 24 months; GDPR the manager's
			// --gdpr-request-retention.
			at := deleteAt(name)
			completed := getRequest(t.ns, name).Status.CompletionTime
			Expect(at).To(BeTemporally("==", completed.AddDate(period[0], period[1], period[2])), name)
		}

		uid := string(getRequest(t.ns, "short").UID)
		audited := t.count("acme", "SELECT count(*) FROM lethe.audit_log WHERE object_uid = $1", uid)
		Expect(audited).To(BeNumerically(">", 0))

		By("deleting it once the period has passed")
		requestClock.Step(49 * time.Hour)
		touch(t.ns, "short")
		Eventually(func() bool {
			return apierrors.IsNotFound(k8s.Get(ctx, keyOf(t.ns, "short"), &privacyv1alpha1.DataSubjectRequest{}))
		}, timeout, interval).Should(BeTrue())
		Expect(eventNotes(t.ns, "short", privacyv1alpha1.ReasonRequestExpired)).To(ConsistOf(MatchRegexp(
			`^the Discovery request, completed at .*, is deleted after its retention period of 2d; its audit records stay in the tenant databases$`)))
		Expect(t.count("acme", "SELECT count(*) FROM lethe.audit_log WHERE object_uid = $1", uid)).To(Equal(audited))
		touch(t.ns, "ccpa")
		touch(t.ns, "gdpr")
		Consistently(func() error { return k8s.Get(ctx, keyOf(t.ns, "ccpa"), &privacyv1alpha1.DataSubjectRequest{}) }, "2s", interval).Should(Succeed())
		Expect(k8s.Get(ctx, keyOf(t.ns, "gdpr"), &privacyv1alpha1.DataSubjectRequest{})).To(Succeed())
		Expect(leakSurface(t.ns)).NotTo(ContainSubstring(email))
	})

	It("deletes the identifiers Secret on completion once no unfinished request names it", func() {
		erase := t.request("erase", privacyv1alpha1.RequestErasure, "who")
		Expect(k8s.Create(ctx, erase)).To(Succeed())
		expectPhase(t.ns, "erase", privacyv1alpha1.PhaseAwaitingApproval)

		find := t.request("find", privacyv1alpha1.RequestDiscovery, "who")
		find.Spec.Subject.DeleteIdentifiersOnCompletion = true
		Expect(k8s.Create(ctx, find)).To(Succeed())
		r := expectPhase(t.ns, "find", privacyv1alpha1.PhaseCompleted)
		Expect(r.Status.IdentifiersDeletedAt).To(BeNil())
		Expect(getSecret(t.ns, "who")).NotTo(BeNil(), "the erasure still needs it")
		Eventually(func() []string { return eventNotes(t.ns, "find", privacyv1alpha1.ReasonIdentifiersKept) }, timeout, interval).Should(ConsistOf(
			"identifiers secret who is kept while requests that have not completed name it (erase); it is deleted when they have"))

		By("deleting it once the erasure that also names it has completed")
		approve(t.ns, "erase")
		expectPhase(t.ns, "erase", privacyv1alpha1.PhaseCompleted)
		Eventually(func(g Gomega) {
			g.Expect(getRequest(t.ns, "find").Status.IdentifiersDeletedAt).NotTo(BeNil())
		}, timeout, interval).Should(Succeed())
		Expect(apierrors.IsNotFound(k8s.Get(ctx, keyOf(t.ns, "who"), &corev1.Secret{}))).To(BeTrue())
		Eventually(func() []string { return eventNotes(t.ns, "find", privacyv1alpha1.ReasonIdentifiersDeleted) }, timeout, interval).Should(ConsistOf(
			"identifiers secret who deleted on completion"))
		Expect(getRequest(t.ns, "erase").Status.IdentifiersDeletedAt).To(BeNil(), "the erasure did not ask")
	})

	It("refuses deleteIdentifiersOnCompletion without a Secret, and a changed retainFor", func() {
		inline := t.request("inline", privacyv1alpha1.RequestDiscovery, "who")
		inline.Spec.Subject.IdentifiersSecretRef = nil
		inline.Spec.Subject.Identifiers = map[string]string{"email": email}
		inline.Spec.Subject.DeleteIdentifiersOnCompletion = true
		Expect(k8s.Create(ctx, inline)).To(MatchError(ContainSubstring(
			"subject.deleteIdentifiersOnCompletion deletes the Secret of identifiersSecretRef: set identifiersSecretRef, or leave the flag out")))
		bad := t.request("bad", privacyv1alpha1.RequestDiscovery, "who")
		bad.Spec.RetainFor = ptr.To("24 months")
		Expect(k8s.Create(ctx, bad)).To(MatchError(ContainSubstring("retainFor is a number and a unit")))

		kept := t.request("kept", privacyv1alpha1.RequestDiscovery, "who")
		kept.Spec.RetainFor = ptr.To("1y")
		Expect(k8s.Create(ctx, kept)).To(Succeed())
		Expect(updateRequest(t.ns, "kept", func(r *privacyv1alpha1.DataSubjectRequest) { r.Spec.RetainFor = ptr.To("1d") })).To(
			MatchError(ContainSubstring("spec.retainFor is immutable")))
	})
})
