package controllers

import (
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	privacyv1alpha1 "github.com/lethe-dev/lethe/api/v1alpha1"
)

// archiveOf finds one archive in a policy's status.
func archiveOf(p *privacyv1alpha1.RetentionPolicy, run, rule string) *privacyv1alpha1.ArchiveStatus {
	for i, a := range p.Status.Archives {
		if a.Run == run && a.Rule == rule {
			return &p.Status.Archives[i]
		}
	}
	return nil
}

var archiveInactiveContacts = privacyv1alpha1.RetentionRule{Name: "inactive-contacts", Entity: "contactPerson",
	Age:    privacyv1alpha1.RetentionAge{Column: "last_activity_at", OlderThan: "18mo"},
	Action: privacyv1alpha1.RetentionArchive, Archive: &privacyv1alpha1.ArchiveOptions{Then: privacyv1alpha1.ArchiveThenDelete}}

var _ = Describe("Archives", func() {
	BeforeEach(func() { retentionClock.SetTime(time.Now()) })

	It("are listed in the policy's status, expire after archive.retainFor and are deleted when spec.archive.delete names them, audited", func() {
		t := twoTenants()
		contacts := *archiveInactiveContacts.DeepCopy()
		contacts.Archive.Then, contacts.Archive.RetainFor = privacyv1alpha1.ArchiveThenNone, "5y"
		p := retentionPolicy(t.ns, "archives", contacts, privacyv1alpha1.RetentionRule{Name: "old-logins", Entity: "loginLog",
			Age:    privacyv1alpha1.RetentionAge{Column: "logged_in_at", OlderThan: "3mo"},
			Action: privacyv1alpha1.RetentionArchive, Archive: &privacyv1alpha1.ArchiveOptions{Then: privacyv1alpha1.ArchiveThenNone}})
		p.Spec.Targets.Names, p.Spec.BatchSize = []string{"acme"}, 100
		Expect(k8s.Create(ctx, p)).To(Succeed())
		p = completedRun(t.ns, "archives", "1")
		run := p.Status.Run.ID
		for _, rule := range []string{"inactive-contacts", "old-logins"} {
			a, st := archiveOf(p, run, rule), ruleStatus(p, "acme", rule)
			Expect(a).NotTo(BeNil(), "status.archives %+v", p.Status.Archives)
			Expect(a.Tenant).To(Equal("acme"))
			Expect(a.State).To(Equal(privacyv1alpha1.ArchiveActive))
			Expect(a.Rows).To(Equal(st.Changed))
			Expect(a.Rows).To(BeNumerically(">", 0))
			Expect(a.SHA256).To(Equal(st.ArchiveSHA256))
		}

		By("expiring the contacts' archive five years on; the logins' archive waits for a second person's approval")
		retentionClock.SetTime(time.Now().AddDate(5, 0, 1))
		Expect(updateAs(k8s, getPolicy(t.ns, "archives"), func(p *privacyv1alpha1.RetentionPolicy) {
			p.Spec.Suspend = true
			p.Spec.Archive = &privacyv1alpha1.ArchiveAdministration{Delete: []privacyv1alpha1.ArchiveReference{{Run: run, Rule: "old-logins"}},
				Approved: true}
		})).To(Succeed())
		Eventually(func(g Gomega) {
			g.Expect(archiveOf(getPolicy(t.ns, "archives"), run, "inactive-contacts")).To(HaveField("State", privacyv1alpha1.ArchiveExpired))
		}).WithTimeout(time.Minute).Should(Succeed())
		Eventually(func() string { return eventsOf(t.ns, "archives") }).WithTimeout(time.Minute).Should(
			ContainSubstring("who listed them; another user must approve them"))
		Expect(eventsOf(t.ns, "archives")).To(ContainSubstring(privacyv1alpha1.ReasonArchiveDeletionUnapproved))
		Expect(archiveOf(getPolicy(t.ns, "archives"), run, "old-logins")).To(HaveField("State", privacyv1alpha1.ArchiveActive))
		Expect(t.count("acme", "SELECT count(*) FROM lethe.retention_archives WHERE run_id = $1 AND rule = 'old-logins'", run)).To(BeNumerically(">", 0))

		By("deleting the logins' archive once another user approves")
		other := userClient("archive-approver", editorRole)
		for _, approved := range []bool{false, true} {
			Expect(updateAs(other, getPolicy(t.ns, "archives"), func(p *privacyv1alpha1.RetentionPolicy) { p.Spec.Archive.Approved = approved })).To(Succeed())
		}
		Eventually(func(g Gomega) {
			p := getPolicy(t.ns, "archives")
			g.Expect(archiveOf(p, run, "old-logins")).To(HaveField("State", privacyv1alpha1.ArchiveDeleted))
			g.Expect(archiveOf(p, run, "old-logins").EndedAt).NotTo(BeNil())
		}).WithTimeout(time.Minute).Should(Succeed())
		Expect(t.count("acme", "SELECT count(*) FROM lethe.audit_log WHERE action = 'ExpireArchive' AND detail = $1", "rule inactive-contacts, run "+run)).To(BeEquivalentTo(1))
		Expect(t.count("acme", "SELECT count(*) FROM lethe.audit_log WHERE action = 'DeleteArchive' AND detail = $1", "rule old-logins, run "+run)).To(BeEquivalentTo(1))
		Expect(t.count("acme", "SELECT count(*) FROM lethe.retention_archives WHERE run_id = $1", run)).To(BeZero())
		Expect(t.count("acme", "SELECT count(*) FROM lethe.archived_rows WHERE run_id = $1", run)).To(BeZero())
		events := eventsOf(t.ns, "archives")
		Expect(events).To(ContainSubstring(privacyv1alpha1.ReasonArchiveExpired))
		Expect(events).To(ContainSubstring(privacyv1alpha1.ReasonArchiveDeleted))
	})

	It("hold a subject's rows that an access request exports and an erasure removes, and verification names an archive still holding an identifier", func() {
		t := twoTenants()
		email := t.query("acme", `SELECT email FROM app.contact_persons WHERE last_activity_at < now() - interval '18 months' ORDER BY id LIMIT 1`).(string)
		p := retentionPolicy(t.ns, "archive", archiveInactiveContacts)
		p.Spec.Targets.Names, p.Spec.BatchSize = []string{"acme"}, 100
		Expect(k8s.Create(ctx, p)).To(Succeed())
		run := completedRun(t.ns, "archive", "1").Status.Run.ID
		Expect(t.count("acme", "SELECT count(*) FROM app.contact_persons WHERE email = $1", email)).To(BeZero())

		t.identifiersSecret("who", map[string]string{"email": email})
		access := t.request("access", privacyv1alpha1.RequestAccess, "who")
		access.Spec.Subject.Type = "contactPerson"
		Expect(k8s.Create(ctx, access)).To(Succeed())
		r := expectPhase(t.ns, "access", privacyv1alpha1.PhaseCompleted)
		files := unzip(getSecret(t.ns, r.Status.Export.SecretRef.Name).Data[privacyv1alpha1.ExportSecretKey])
		Expect(string(files["csv/acme/archives_contactPerson.csv"])).To(ContainSubstring(email))
		Expect(requestText(r)).NotTo(ContainSubstring(email))

		erase := t.request("erase", privacyv1alpha1.RequestErasure, "who")
		erase.Spec.Subject.Type = "contactPerson"
		erase.Spec.Approval = &privacyv1alpha1.Approval{Required: ptr.To(false)}
		Expect(k8s.Create(ctx, erase)).To(Succeed())
		expectRequestCondition(t.ns, "erase", privacyv1alpha1.ConditionVerified, metav1.ConditionTrue, privacyv1alpha1.ReasonVerified)
		Expect(t.count("acme", "SELECT count(*) FROM lethe.retention_archives WHERE strpos(csv, $1) > 0", email)).To(BeZero())
		Expect(t.count("acme", "SELECT count(*) FROM lethe.audit_log WHERE action = 'EraseArchived' AND rows_affected = 1")).To(BeEquivalentTo(1))

		By("naming the archive that still holds another person's e-mail, written in there by hand")
		other := t.query("acme", `SELECT email FROM app.contact_persons ORDER BY id LIMIT 1`).(string)
		t.exec("acme", "INSERT INTO lethe.retention_archives (run_id, rule, batch, rows, csv) VALUES ('"+run+"', 'inactive-contacts', 9999, 1, 'x,"+other+"\r\n')")
		t.identifiersSecret("other", map[string]string{"email": other})
		unverified := t.request("unverified", privacyv1alpha1.RequestErasure, "other")
		unverified.Spec.Subject.Type = "contactPerson"
		unverified.Spec.Approval = &privacyv1alpha1.Approval{Required: ptr.To(false)}
		Expect(k8s.Create(ctx, unverified)).To(Succeed())
		c := expectRequestCondition(t.ns, "unverified", privacyv1alpha1.ConditionVerified, metav1.ConditionFalse, privacyv1alpha1.ReasonIdentifiersRemain)
		Expect(c.Message).To(ContainSubstring("acme: lethe.retention_archives rule inactive-contacts run " + run))
		Expect(c.Message).NotTo(ContainSubstring(other))
	})
})
