package controllers

import (
	"encoding/json"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	privacyv1alpha1 "github.com/lethe-dev/lethe/api/v1alpha1"
	"github.com/lethe-dev/lethe/internal/dsr"
)

var _ = Describe("TenantDatabase restored from a backup", func() {
	It("erases again, without anyone asking, a subject erased after the backup was taken", func() {
		t := twoTenants()
		db := t.dbs["acme"]
		id := t.count("acme", "SELECT customer_id FROM app.cases GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1")
		email := t.query("acme", "SELECT email FROM app.customers WHERE id = $1", id).(string)
		comments := t.count("acme", "SELECT count(*) FROM app.case_comments c JOIN app.cases k ON k.id = c.case_id WHERE k.customer_id = $1", id)
		Expect(comments).To(BeNumerically(">", 0))
		expectCondition(t.ns, "acme", privacyv1alpha1.ConditionRestoreDetected, metav1.ConditionFalse, privacyv1alpha1.ReasonNoRestoreDetected)

		By("taking a backup before the erasure")
		backup, err := pg.Dump(ctx, db.Name, GinkgoT().TempDir())
		Expect(err).NotTo(HaveOccurred())

		By("erasing the customer")
		t.identifiersSecret("who", map[string]string{"email": email})
		req := t.request("erase", privacyv1alpha1.RequestErasure, "who")
		req.Spec.Approval = &privacyv1alpha1.Approval{Required: ptr.To(false)}
		Expect(k8s.Create(ctx, req)).To(Succeed())
		r := expectPhase(t.ns, "erase", privacyv1alpha1.PhaseCompleted)
		Expect(t.count("acme", "SELECT count(*) FROM app.customers WHERE email = $1", email)).To(BeZero())
		Expect(t.count("acme", "SELECT count(*) FROM lethe.erasure_tombstones WHERE request_uid = $1 AND entity = 'customer'", string(r.UID))).To(Equal(int64(1)))
		kept := getSecret(t.ns, "acme-tombstones")
		Expect(kept.OwnerReferences).To(ContainElement(HaveField("UID", getTenant(t.ns, "acme").UID)))
		Expect(kept.Data).To(HaveKey(string(r.UID)))
		var tomb dsr.Tombstone
		Expect(json.Unmarshal(kept.Data[string(r.UID)], &tomb)).To(Succeed())
		Expect(tomb.SubjectDigest).To(Equal(r.Status.SubjectDigest))
		Expect(tomb.Roots).To(ConsistOf(And(HaveField("Entity", "customer"), HaveField("Identifiers", []string{"email"}),
			HaveField("BlindIndexes", HaveLen(1)))))
		Expect(string(kept.Data[string(r.UID)])).NotTo(ContainSubstring(email))
		Expect(getSecret(t.ns, blindKeySecretName).Data[blindKeyKey]).To(HaveLen(32))
		last := t.count("acme", "SELECT max(id) FROM lethe.audit_log")
		Eventually(func() int64 { return getTenant(t.ns, "acme").Status.AuditHead.ID }, timeout, interval).Should(BeNumerically(">=", last))

		By("restoring the backup: the customer, the comments and an older audit log are back")
		Expect(pg.Restore(ctx, db.Name, backup)).To(Succeed())

		By("seeing the restore detected and the erasure applied again")
		Eventually(func() []string { return eventNotes(t.ns, "acme", privacyv1alpha1.ConditionRestoreDetected) }, timeout, interval).Should(
			ConsistOf(And(ContainSubstring("the database was restored from a backup or failed over to a stale replica"),
				MatchRegexp(`the audit log ends at record \d+, and the last record seen was record %d`, last))))
		c := expectCondition(t.ns, "acme", privacyv1alpha1.ConditionRestoreDetected, metav1.ConditionFalse, privacyv1alpha1.ReasonErasuresReapplied)
		Expect(c.Message).To(MatchRegexp(`^after the restore, 1 tombstoned erasures were applied again \(\d+ rows changed\)`))
		Expect(eventNotes(t.ns, "acme", privacyv1alpha1.ReasonErasuresReapplied)).To(ConsistOf(HavePrefix("after the restore, 1 tombstoned erasures were applied again")))
		expectCondition(t.ns, "acme", privacyv1alpha1.ConditionReady, metav1.ConditionTrue, privacyv1alpha1.ReasonSucceeded)
		expectCondition(t.ns, "acme", privacyv1alpha1.ConditionAuditChainIntact, metav1.ConditionTrue, privacyv1alpha1.ReasonAuditChainIntact)

		Expect(t.count("acme", "SELECT count(*) FROM app.customers WHERE lower(email) = lower($1)", email)).To(BeZero())
		Expect(t.query("acme", "SELECT name FROM app.customers WHERE id = $1", id)).To(Equal("Anonymized"))
		Expect(t.count("acme", "SELECT count(*) FROM app.case_comments c JOIN app.cases k ON k.id = c.case_id WHERE k.customer_id = $1", id)).To(BeZero())
		Expect(t.count("acme", "SELECT count(*) FROM lethe.erasure_tombstones WHERE request_uid = $1", string(r.UID))).To(Equal(int64(1)))
		Expect(t.count("acme", `SELECT count(*) FROM lethe.audit_log WHERE action = 'ReapplyErasure' AND object_kind = 'TenantDatabase'
			AND subject_digest = $1 AND detail LIKE 'request erase (uid ' || $2 || ')%'`, r.Status.SubjectDigest, string(r.UID))).To(Equal(int64(1)))
		Expect(t.count("acme", `SELECT count(*) FROM lethe.audit_log WHERE action = 'Delete' AND object_kind = 'TenantDatabase'
			AND entity = 'caseComment' AND rows_affected > 0`)).To(BeNumerically(">", 0))
		Expect(statusText(t.ns, "acme")).NotTo(ContainSubstring(email))
	})

	It("keeps the tombstones in the database and in its Secret: either one lost is written again from the other", func() {
		t := twoTenants()
		id := t.count("acme", "SELECT customer_id FROM app.cases GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1")
		email := t.query("acme", "SELECT email FROM app.customers WHERE id = $1", id).(string)
		t.identifiersSecret("who", map[string]string{"email": email})
		req := t.request("erase-twice", privacyv1alpha1.RequestErasure, "who")
		req.Spec.Approval = &privacyv1alpha1.Approval{Required: ptr.To(false)}
		Expect(k8s.Create(ctx, req)).To(Succeed())
		r := expectPhase(t.ns, "erase-twice", privacyv1alpha1.PhaseCompleted)
		uid := string(r.UID)

		By("deleting the Secret: the next check writes it again from the database")
		Expect(k8s.Delete(ctx, getSecret(t.ns, "acme-tombstones"))).To(Succeed())
		Eventually(func(g Gomega) {
			var s corev1.Secret
			g.Expect(k8s.Get(ctx, keyOf(t.ns, "acme-tombstones"), &s)).To(Succeed())
			g.Expect(s.Data).To(HaveKey(uid))
		}, timeout, interval).Should(Succeed())

		By("deleting the database's tombstone: the erasure is applied again, changing nothing, and the tombstone is back")
		t.exec("acme", "DELETE FROM lethe.erasure_tombstones")
		Eventually(func() []string { return eventNotes(t.ns, "acme", privacyv1alpha1.ConditionRestoreDetected) }, timeout, interval).Should(
			ConsistOf(HavePrefix("the database lost completed erasures, as after a restore from a backup: the database lacks 1 of the 1 erasure tombstones kept in secret acme-tombstones")))
		c := expectCondition(t.ns, "acme", privacyv1alpha1.ConditionRestoreDetected, metav1.ConditionFalse, privacyv1alpha1.ReasonErasuresReapplied)
		Expect(c.Message).To(HavePrefix("after the restore, 1 tombstoned erasures were applied again (0 rows changed)"))
		Expect(t.count("acme", "SELECT count(*) FROM lethe.erasure_tombstones WHERE request_uid = $1", uid)).To(Equal(int64(1)))
		Expect(t.count("acme", "SELECT count(*) FROM lethe.audit_log WHERE action = 'ReapplyErasure'")).To(Equal(int64(1)))
		expectCondition(t.ns, "acme", privacyv1alpha1.ConditionReady, metav1.ConditionTrue, privacyv1alpha1.ReasonSucceeded)
	})
})
