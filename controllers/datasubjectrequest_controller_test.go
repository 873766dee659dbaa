package controllers

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"

	privacyv1alpha1 "github.com/lethe-dev/lethe/api/v1alpha1"
	"github.com/lethe-dev/lethe/internal/dsr"
	"github.com/lethe-dev/lethe/internal/export"
)

var _ = Describe("DataSubjectRequest", func() {
	var t tenants
	var email string // a customer of acme only (its e-mail carries acme's domain)
	var id int64     // its key: the customer with the most cases

	BeforeEach(func() {
		t = twoTenants()
		id = t.count("acme", "SELECT customer_id FROM app.cases GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1")
		email = t.query("acme", "SELECT email FROM app.customers WHERE id = $1", id).(string)
	})

	It("discovers where a subject's data is, in one tenant only, with counts and no values", func() {
		t.identifiersSecret("who", map[string]string{"email": email})
		Expect(k8s.Create(ctx, t.request("find", privacyv1alpha1.RequestDiscovery, "who"))).To(Succeed())
		r := expectPhase(t.ns, "find", privacyv1alpha1.PhaseCompleted)
		acme, globex := targetOf(r, "acme"), targetOf(r, "globex")
		Expect(entityOf(acme, "customer").Columns).To(ContainElement(privacyv1alpha1.ColumnCount{Column: "email", Rows: 1}))
		cases := entityOf(acme, "case").Found
		Expect(cases).To(BeNumerically(">", 0))
		Expect(globex.Phase).To(Equal(privacyv1alpha1.PhaseCompleted), "globex was searched")
		Expect(globex.Entities).To(BeEmpty())
		// Where the rows are (table and key) is in the export, not in status.
		Expect(r.Status.Export).NotTo(BeNil())
		found := exportedRows(getSecret(t.ns, r.Status.Export.SecretRef.Name).Data[privacyv1alpha1.ExportSecretKey], "acme")
		Expect(found["customer"]).To(Equal([]string{fmt.Sprintf(`{"key":"%d","root":true,"shared":false,"table":"app.customers"}`, id)}))
		Expect(found["case"]).To(HaveLen(int(cases)))
		Expect(exportedRows(getSecret(t.ns, r.Status.Export.SecretRef.Name).Data[privacyv1alpha1.ExportSecretKey], "globex")).To(BeEmpty())
		Expect(r.Status.Progress).To(Equal("2/2"))
		Expect(r.Status.SubjectDigest).To(HavePrefix("sha256:"))
		Expect(requestText(r)).NotTo(ContainSubstring(email))
		Expect(t.count("acme", "SELECT count(*) FROM lethe.audit_log WHERE action = 'Discover' AND object_uid = $1", string(r.UID))).To(Equal(int64(1)))
	})

	It("exports everything about a subject into a Secret the request owns, with a manifest", func() {
		t.identifiersSecret("who", map[string]string{"email": email})
		req := t.request("access", privacyv1alpha1.RequestAccess, "who")
		req.Spec.Export = &privacyv1alpha1.ExportOptions{TTL: &metav1.Duration{Duration: time.Hour}}
		Expect(k8s.Create(ctx, req)).To(Succeed())
		r := expectPhase(t.ns, "access", privacyv1alpha1.PhaseCompleted)
		expectRequestCondition(t.ns, "access", privacyv1alpha1.ConditionReady, metav1.ConditionTrue, privacyv1alpha1.ReasonCompleted)
		Expect(r.Status.Export).NotTo(BeNil())
		Expect(r.Status.Export.ExpiresAt).NotTo(BeNil())
		s := getSecret(t.ns, r.Status.Export.SecretRef.Name)
		Expect(s.OwnerReferences).To(ContainElement(HaveField("UID", r.UID)))
		files := unzip(s.Data["export.zip"])
		var m export.Manifest
		Expect(json.Unmarshal(files["manifest.json"], &m)).To(Succeed())
		Expect(m.Tenants).To(Equal([]string{"acme"}))
		Expect(m.Entities).To(ContainElement(export.EntityCount{Tenant: "acme", Entity: "customer", Rows: 1}))
		Expect(string(files["export.json"])).To(ContainSubstring(email))
		Expect(files).To(HaveKey("csv/acme/customer.csv"))
		Expect(string(files["csv/acme/case.csv"])).To(HavePrefix("id,customer_id"))
		Expect(requestText(r)).NotTo(ContainSubstring(email))

		By("deleting the export once its ttl has passed")
		requestClock.Step(2 * time.Hour)
		touch(t.ns, "access")
		Eventually(func() bool { return getRequest(t.ns, "access").Status.Export.Expired }, timeout, interval).Should(BeTrue())
		var gone corev1.Secret
		Expect(k8s.Get(ctx, keyOf(t.ns, r.Status.Export.SecretRef.Name), &gone)).NotTo(Succeed())
	})

	It("leaves alone, at the export's expiry, a Secret of the export's name that the request does not own", func() {
		t.identifiersSecret("who", map[string]string{"email": email})
		req := t.request("access-foreign", privacyv1alpha1.RequestAccess, "who")
		req.Spec.Export = &privacyv1alpha1.ExportOptions{TTL: &metav1.Duration{Duration: time.Hour}}
		Expect(k8s.Create(ctx, req)).To(Succeed())
		r := expectPhase(t.ns, "access-foreign", privacyv1alpha1.PhaseCompleted)
		name := r.Status.Export.SecretRef.Name
		Expect(k8s.Delete(ctx, getSecret(t.ns, name))).To(Succeed())
		Eventually(func() error { var s corev1.Secret; return k8s.Get(ctx, keyOf(t.ns, name), &s) }, timeout, interval).ShouldNot(Succeed())
		Expect(k8s.Create(ctx, secret(t.ns, name, map[string][]byte{"other": []byte("someone else's")}))).To(Succeed())

		requestClock.Step(2 * time.Hour)
		touch(t.ns, "access-foreign")
		Eventually(func() bool { return getRequest(t.ns, "access-foreign").Status.Export.Expired }, timeout, interval).Should(BeTrue())
		Expect(getSecret(t.ns, name).Data).To(HaveKey("other"))
		Expect(eventsOf(t.ns, "access-foreign")).To(ContainSubstring("does not belong to this request: left alone"))
	})

	It("completes with zero rows for a subject found nowhere", func() {
		t.identifiersSecret("who", map[string]string{"email": "nobody@nowhere.example"})
		Expect(k8s.Create(ctx, t.request("none", privacyv1alpha1.RequestAccess, "who"))).To(Succeed())
		r := expectPhase(t.ns, "none", privacyv1alpha1.PhaseCompleted)
		for _, name := range []string{"acme", "globex"} {
			Expect(targetOf(r, name).Phase).To(Equal(privacyv1alpha1.PhaseCompleted), "%s was searched", name)
			Expect(targetOf(r, name).Entities).To(BeEmpty())
		}
		Expect(r.Status.Export.Size).To(BeNumerically(">", 0))
	})

	It("waits for approval, then erases in every tenant, verifies and audits", func() {
		t.identifiersSecret("who", map[string]string{"email": email})
		before := t.count("acme", "SELECT count(*) FROM app.case_comments c JOIN app.cases k ON k.id = c.case_id WHERE k.customer_id = $1", id)
		Expect(before).To(BeNumerically(">", 0))
		Expect(k8s.Create(ctx, t.request("erase", privacyv1alpha1.RequestErasure, "who"))).To(Succeed())
		expectPhase(t.ns, "erase", privacyv1alpha1.PhaseAwaitingApproval)
		expectRequestCondition(t.ns, "erase", privacyv1alpha1.ConditionApproved, metav1.ConditionFalse, privacyv1alpha1.ReasonAwaitingApproval)
		Consistently(func() string { return t.query("acme", "SELECT email FROM app.customers WHERE id = $1", id).(string) }, "1s", "200ms").Should(Equal(email))

		approve(t.ns, "erase")
		r := expectPhase(t.ns, "erase", privacyv1alpha1.PhaseCompleted)
		expectRequestCondition(t.ns, "erase", privacyv1alpha1.ConditionVerified, metav1.ConditionTrue, privacyv1alpha1.ReasonVerified)
		expectRequestCondition(t.ns, "erase", privacyv1alpha1.ConditionReady, metav1.ConditionTrue, privacyv1alpha1.ReasonCompleted)
		Expect(t.query("acme", "SELECT name FROM app.customers WHERE id = $1", id)).To(Equal("Anonymized"))
		Expect(t.count("acme", "SELECT count(*) FROM app.customers WHERE email = $1", email)).To(BeZero())
		Expect(t.count("acme", "SELECT count(*) FROM app.case_comments c JOIN app.cases k ON k.id = c.case_id WHERE k.customer_id = $1", id)).To(BeZero(), "comments are DeleteRow")
		Expect(t.count("acme", "SELECT count(*) FROM app.cases WHERE customer_id = $1", id)).To(BeNumerically(">", 0), "cases are kept for reports")
		Expect(t.query("globex", "SELECT name FROM app.customers WHERE id = $1", id)).NotTo(Equal("Anonymized"), "the subject is not in globex")
		Expect(entityOf(targetOf(r, "acme"), "caseComment").Changed).To(Equal(before))
		Expect(t.count("acme", "SELECT count(*) FROM lethe.audit_log WHERE object_uid = $1 AND subject_digest = $2 AND action IN ('Mask', 'Delete')",
			string(r.UID), r.Status.SubjectDigest)).To(BeNumerically(">", 0))
		By("sending one event per change, each with one reason, found by a field selector")
		Eventually(func() []string { return eventNotes(t.ns, "erase", privacyv1alpha1.ReasonCompleted) }, timeout, interval).Should(
			ConsistOf(And(HavePrefix("Erasure request completed in 2 tenant databases; "), ContainSubstring("tenant database acme: "),
				ContainSubstring("tenant database globex: 0 rows found"), ContainSubstring("no identifier of the subject remains"))))
		Expect(eventNotes(t.ns, "erase", privacyv1alpha1.ReasonApproved)).To(ConsistOf(ContainSubstring("approved by dpo-approver")))
		Expect(eventNotes(t.ns, "erase", privacyv1alpha1.ReasonAwaitingApproval)).To(HaveLen(1))
		Expect(strings.Count(eventsOf(t.ns, "erase"), "\n")).To(Equal(3), "awaiting approval, approved, completed:\n%s", eventsOf(t.ns, "erase"))
		Expect(requestText(r) + eventsOf(t.ns, "erase")).NotTo(ContainSubstring(email))
	})

	It("deletes rows in foreign-key order with method Delete, leaving Keep entities", func() {
		t.identifiersSecret("who", map[string]string{"email": email})
		req := t.request("delete", privacyv1alpha1.RequestErasure, "who")
		req.Spec.Erasure = &privacyv1alpha1.ErasureOptions{Method: privacyv1alpha1.ErasureDelete}
		req.Spec.Approval = &privacyv1alpha1.Approval{Required: ptr.To(false)}
		Expect(k8s.Create(ctx, req)).To(Succeed())
		expectPhase(t.ns, "delete", privacyv1alpha1.PhaseCompleted)
		Expect(t.count("acme", "SELECT count(*) FROM app.customers WHERE id = $1", id)).To(BeZero())
		Expect(t.count("acme", "SELECT count(*) FROM app.cases WHERE customer_id = $1", id)).To(BeZero())
	})

	It("resumes an erasure interrupted mid-run and changes every row exactly once", func() {
		t.identifiersSecret("who", map[string]string{"email": email})
		var failed atomic.Bool
		hook := func(entity string, batch int) error {
			if entity == "case" && batch == 1 && failed.CompareAndSwap(false, true) {
				return errors.New("the manager went away")
			}
			return nil
		}
		requestHook.Store(&hook)
		defer requestHook.Store(nil)
		req := t.request("resume", privacyv1alpha1.RequestErasure, "who")
		req.Spec.Approval = &privacyv1alpha1.Approval{Required: ptr.To(false)}
		Expect(k8s.Create(ctx, req)).To(Succeed())
		r := expectPhase(t.ns, "resume", privacyv1alpha1.PhaseCompleted)
		Expect(failed.Load()).To(BeTrue(), "the run was interrupted")
		cases := t.count("acme", "SELECT count(*) FROM app.cases WHERE customer_id = $1", id)
		Expect(cases).To(BeNumerically(">", 4), "the sample customer needs more than one batch of cases")
		Expect(entityOf(targetOf(r, "acme"), "case").Changed).To(Equal(cases))
		Expect(t.count("acme", "SELECT sum(rows_affected)::bigint FROM lethe.audit_log WHERE object_uid = $1 AND entity = 'case'", string(r.UID))).To(Equal(cases))
		Expect(t.count("acme", "SELECT count(*) FROM lethe.run_batches WHERE run_uid = $1 AND entity = 'case'", string(r.UID))).
			To(Equal((cases + 3) / 4))

		By("never running a completed request again, even with its status wiped")
		audits := t.count("acme", "SELECT count(*) FROM lethe.audit_log WHERE object_uid = $1", string(r.UID))
		Expect(retry.RetryOnConflict(retry.DefaultRetry, func() error {
			fresh := getRequest(t.ns, "resume")
			fresh.Status = privacyv1alpha1.DataSubjectRequestStatus{}
			return k8s.Status().Update(ctx, fresh)
		})).To(Succeed())
		touch(t.ns, "resume")
		r = expectPhase(t.ns, "resume", privacyv1alpha1.PhaseCompleted)
		Expect(entityOf(targetOf(r, "acme"), "case").Changed).To(Equal(cases))
		Expect(t.count("acme", "SELECT count(*) FROM lethe.audit_log WHERE object_uid = $1", string(r.UID))).To(Equal(audits))
	})

	It("fails verification, naming the column, when a personal column is missing from the inventory", func() {
		t.exec("acme", "ALTER TABLE app.customers ADD COLUMN backup_email text; UPDATE app.customers SET backup_email = email")
		t.identifiersSecret("who", map[string]string{"email": email})
		req := t.request("unverified", privacyv1alpha1.RequestErasure, "who")
		req.Spec.Approval = &privacyv1alpha1.Approval{Required: ptr.To(false)}
		Expect(k8s.Create(ctx, req)).To(Succeed())
		c := expectRequestCondition(t.ns, "unverified", privacyv1alpha1.ConditionVerified, metav1.ConditionFalse, privacyv1alpha1.ReasonIdentifiersRemain)
		Expect(c.Message).To(ContainSubstring("acme: app.customers.backup_email"))
		Expect(c.Message).NotTo(ContainSubstring(email))
		expectRequestCondition(t.ns, "unverified", privacyv1alpha1.ConditionStalled, metav1.ConditionTrue, privacyv1alpha1.ReasonIdentifiersRemain)
	})

	It("rectifies declared personal fields from a Secret", func() {
		t.identifiersSecret("who", map[string]string{"email": email})
		Expect(k8s.Create(ctx, secret(t.ns, "fix", map[string][]byte{"customer.name": []byte("Corrected Name")}))).To(Succeed())
		req := t.request("rectify", privacyv1alpha1.RequestRectification, "who")
		req.Spec.Rectification = &privacyv1alpha1.RectificationOptions{ValuesSecretRef: privacyv1alpha1.LocalObjectReference{Name: "fix"}}
		req.Spec.Approval = &privacyv1alpha1.Approval{Required: ptr.To(false)}
		Expect(k8s.Create(ctx, req)).To(Succeed())
		expectPhase(t.ns, "rectify", privacyv1alpha1.PhaseCompleted)
		Expect(t.query("acme", "SELECT name FROM app.customers WHERE id = $1", id)).To(Equal("Corrected Name"))
	})

	It("refuses to rectify a field the inventory does not declare", func() {
		t.identifiersSecret("who", map[string]string{"email": email})
		Expect(k8s.Create(ctx, secret(t.ns, "fix", map[string][]byte{"customer.status": []byte("vip")}))).To(Succeed())
		req := t.request("rectify-bad", privacyv1alpha1.RequestRectification, "who")
		req.Spec.Rectification = &privacyv1alpha1.RectificationOptions{ValuesSecretRef: privacyv1alpha1.LocalObjectReference{Name: "fix"}}
		req.Spec.Approval = &privacyv1alpha1.Approval{Required: ptr.To(false)}
		Expect(k8s.Create(ctx, req)).To(Succeed())
		c := expectRequestCondition(t.ns, "rectify-bad", privacyv1alpha1.ConditionStalled, metav1.ConditionTrue, privacyv1alpha1.ReasonRectificationInvalid)
		Expect(c.Message).To(ContainSubstring(`"customer.status" is not a personal column declared in the inventory`))
		Expect(t.query("acme", "SELECT status FROM app.customers WHERE id = $1", id)).NotTo(Equal("vip"))
	})

	It("restricts a subject and lifts the restriction with a later request", func() {
		t.identifiersSecret("who", map[string]string{"email": email})
		Expect(k8s.Create(ctx, t.request("restrict", privacyv1alpha1.RequestRestriction, "who"))).To(Succeed())
		r := expectPhase(t.ns, "restrict", privacyv1alpha1.PhaseCompleted)
		Expect(t.count("acme", "SELECT count(*) FROM lethe.restrictions WHERE subject_digest = $1", r.Status.SubjectDigest)).To(Equal(int64(1)))
		lift := t.request("lift", privacyv1alpha1.RequestRestriction, "who")
		lift.Spec.Restriction = &privacyv1alpha1.RestrictionOptions{Lift: true}
		Expect(k8s.Create(ctx, lift)).To(Succeed())
		expectPhase(t.ns, "lift", privacyv1alpha1.PhaseCompleted)
		Expect(t.count("acme", "SELECT count(*) FROM lethe.restrictions WHERE subject_digest = $1", r.Status.SubjectDigest)).To(BeZero())
	})

	It("waits for a missing identifiers Secret and stalls on one without identifiers", func() {
		Expect(k8s.Create(ctx, t.request("no-secret", privacyv1alpha1.RequestDiscovery, "later"))).To(Succeed())
		c := expectRequestCondition(t.ns, "no-secret", privacyv1alpha1.ConditionReady, metav1.ConditionFalse, privacyv1alpha1.ReasonIdentifiersSecretNotFound)
		Expect(c.Message).To(ContainSubstring("identifiers secret later not found"))
		t.identifiersSecret("later", map[string]string{"email": email})
		expectPhase(t.ns, "no-secret", privacyv1alpha1.PhaseCompleted)

		Expect(k8s.Create(ctx, secret(t.ns, "empty", map[string][]byte{"email": {}}))).To(Succeed())
		Expect(k8s.Create(ctx, t.request("no-key", privacyv1alpha1.RequestDiscovery, "empty"))).To(Succeed())
		expectRequestCondition(t.ns, "no-key", privacyv1alpha1.ConditionStalled, metav1.ConditionTrue, privacyv1alpha1.ReasonIdentifierKeyMissing)

		t.identifiersSecret("odd", map[string]string{"shoeSize": "44"})
		Expect(k8s.Create(ctx, t.request("odd-key", privacyv1alpha1.RequestDiscovery, "odd"))).To(Succeed())
		c = expectRequestCondition(t.ns, "odd-key", privacyv1alpha1.ConditionStalled, metav1.ConditionTrue, privacyv1alpha1.ReasonUnknownIdentifier)
		Expect(c.Message).To(ContainSubstring("identifier shoeSize is not declared for subject type customer"))
	})

	It("fails a request for a subject type the inventory does not declare", func() {
		req := t.request("alien", privacyv1alpha1.RequestDiscovery, "")
		req.Spec.Subject = privacyv1alpha1.RequestSubject{Type: "supplier", Identifiers: map[string]string{"email": "x@example.com"}}
		Expect(k8s.Create(ctx, req)).To(Succeed())
		c := expectRequestCondition(t.ns, "alien", privacyv1alpha1.ConditionStalled, metav1.ConditionTrue, privacyv1alpha1.ReasonUnknownSubjectType)
		Expect(c.Message).To(ContainSubstring(`declares no subject type "supplier"`))
		Eventually(func() string { return eventsOf(t.ns, "alien") }, timeout, interval).Should(ContainSubstring(privacyv1alpha1.ReasonInlineIdentifiers))
	})

	It("refuses spec edits other than approval and extension", func() {
		t.identifiersSecret("who", map[string]string{"email": email})
		req := t.request("frozen", privacyv1alpha1.RequestErasure, "who")
		Expect(k8s.Create(ctx, req)).To(Succeed())
		Expect(updateRequest(t.ns, "frozen", func(r *privacyv1alpha1.DataSubjectRequest) {
			r.Spec.Type = privacyv1alpha1.RequestAccess
		})).To(MatchError(ContainSubstring("spec is immutable except approval and extension: create a new request instead")))
		Expect(updateAs(approver(), getRequest(t.ns, "frozen"), func(r *privacyv1alpha1.DataSubjectRequest) {
			r.Spec.Approval = &privacyv1alpha1.Approval{Approved: true}
			r.Spec.Extension = &privacyv1alpha1.Extension{Reason: "many systems"}
		})).To(Succeed())
		Expect(updateRequest(t.ns, "frozen", func(r *privacyv1alpha1.DataSubjectRequest) {
			r.Spec.Approval.Approved = false
		})).To(MatchError(ContainSubstring("spec.approval.approved cannot be withdrawn")))
	})

	It("computes the deadline, warns before it and reports Overdue after it", func() {
		t.identifiersSecret("who", map[string]string{"email": email})
		hold := &privacyv1alpha1.Approval{Required: ptr.To(true)}
		soon := t.request("soon", privacyv1alpha1.RequestAccess, "who")
		soon.Spec.ReceivedAt = &metav1.Time{Time: requestClock.Now().AddDate(0, 0, -26)}
		soon.Spec.Approval = hold
		Expect(k8s.Create(ctx, soon)).To(Succeed())
		expectRequestCondition(t.ns, "soon", privacyv1alpha1.ConditionOverdue, metav1.ConditionFalse, privacyv1alpha1.ReasonDeadlineApproaching)
		r := getRequest(t.ns, "soon")
		Expect(r.Status.DueTime.Time).To(BeTemporally("==", dsr.Deadline(dsr.GDPR, soon.Spec.ReceivedAt.Time, false, time.UTC)))
		Eventually(func() string { return eventsOf(t.ns, "soon") }, timeout, interval).Should(ContainSubstring("DeadlineApproaching"))

		late := t.request("late", privacyv1alpha1.RequestAccess, "who")
		late.Spec.Regulation = privacyv1alpha1.RegulationCCPA
		late.Spec.ReceivedAt = &metav1.Time{Time: requestClock.Now().AddDate(0, 0, -46)}
		late.Spec.Approval = hold
		Expect(k8s.Create(ctx, late)).To(Succeed())
		expectRequestCondition(t.ns, "late", privacyv1alpha1.ConditionOverdue, metav1.ConditionTrue, privacyv1alpha1.ReasonDeadlineExceeded)
		Eventually(func() []string { return eventNotes(t.ns, "late", privacyv1alpha1.ReasonDeadlineExceeded) }, timeout, interval).Should(
			ConsistOf(HavePrefix("the deadline ")), "kubectl get events --field-selector reason=DeadlineExceeded finds it")
		expectRequestCondition(t.ns, "late", privacyv1alpha1.ConditionReceiptConfirmed, metav1.ConditionFalse, privacyv1alpha1.ReasonConfirmationOverdue)
		Expect(updateRequest(t.ns, "late", func(r *privacyv1alpha1.DataSubjectRequest) {
			r.Annotations[privacyv1alpha1.AnnotationReceiptConfirmedAt] = late.Spec.ReceivedAt.Add(time.Hour).UTC().Format(time.RFC3339)
		})).To(Succeed())
		expectRequestCondition(t.ns, "late", privacyv1alpha1.ConditionReceiptConfirmed, metav1.ConditionTrue, privacyv1alpha1.ReasonReceiptConfirmed)
		Expect(meta.FindStatusCondition(getRequest(t.ns, "soon").Status.Conditions, privacyv1alpha1.ConditionReceiptConfirmed)).To(BeNil(), "GDPR has no such step")

		By("extending before the first deadline, by two months under GDPR")
		Expect(updateRequest(t.ns, "soon", func(r *privacyv1alpha1.DataSubjectRequest) {
			r.Spec.Extension = &privacyv1alpha1.Extension{Reason: "the request spans many systems"}
		})).To(Succeed())
		Eventually(func() time.Time { return getRequest(t.ns, "soon").Status.DueTime.Time }, timeout, interval).
			Should(BeTemporally("==", dsr.Deadline(dsr.GDPR, soon.Spec.ReceivedAt.Time, true, time.UTC)))
		expectRequestCondition(t.ns, "soon", privacyv1alpha1.ConditionOverdue, metav1.ConditionFalse, privacyv1alpha1.ReasonWithinDeadline)

		By("refusing an extension after the first deadline")
		Expect(updateRequest(t.ns, "late", func(r *privacyv1alpha1.DataSubjectRequest) {
			r.Spec.Extension = &privacyv1alpha1.Extension{Reason: "too late"}
		})).To(Succeed())
		expectRequestCondition(t.ns, "late", privacyv1alpha1.ConditionOverdue, metav1.ConditionTrue, privacyv1alpha1.ReasonExtensionRefused)
		Expect(getRequest(t.ns, "late").Status.Extended).To(BeFalse())
	})

	It("counts the deadline to the end of the day in spec.timeZone, and refuses an unknown zone", func() {
		t.identifiersSecret("zoned", map[string]string{"email": email})
		r := t.request("zoned", privacyv1alpha1.RequestAccess, "zoned")
		r.Spec.Approval = &privacyv1alpha1.Approval{Required: ptr.To(true)}
		// Received on 31 January in the evening in Stockholm, already
		// 1 February in UTC: due at the end of 28 February there.
		stockholm, err := time.LoadLocation("Europe/Stockholm")
		Expect(err).NotTo(HaveOccurred())
		r.Spec.ReceivedAt = &metav1.Time{Time: time.Date(2027, 1, 31, 23, 30, 0, 0, stockholm)}
		r.Spec.TimeZone = ptr.To("Europe/Stockholm")
		Expect(k8s.Create(ctx, r)).To(Succeed())
		Eventually(func() *metav1.Time { return getRequest(t.ns, "zoned").Status.DueTime }, timeout, interval).ShouldNot(BeNil())
		Expect(getRequest(t.ns, "zoned").Status.DueTime.Time).To(BeTemporally("==", time.Date(2027, 2, 28, 23, 59, 59, 0, stockholm)))

		bad := t.request("mars", privacyv1alpha1.RequestAccess, "zoned")
		bad.Spec.TimeZone = ptr.To("Mars/Olympus")
		Expect(k8s.Create(ctx, bad)).To(MatchError(ContainSubstring("not an IANA time zone (for example Europe/Stockholm")))
	})

	It("never lets a canary identifier out through logs, events, status or metrics", func() {
		canary := fmt.Sprintf("canary-%d@leak.example", time.Now().UnixNano())
		t.exec("acme", fmt.Sprintf("INSERT INTO app.addresses (id, street, city, country) VALUES (100000, 'x', 'y', 'z'); "+
			"INSERT INTO app.customers (id, customer_number, name, email, address_id, status, created_at) "+
			"VALUES (100000, 'C-CANARY', 'Canary', '%s', 100000, 'active', now())", canary))
		t.identifiersSecret("canary", map[string]string{"email": canary})
		fix := map[string][]byte{"customer.name": []byte("Canary Fixed")}
		Expect(k8s.Create(ctx, secret(t.ns, "canary-fix", fix))).To(Succeed())
		for _, typ := range []privacyv1alpha1.RequestType{privacyv1alpha1.RequestDiscovery, privacyv1alpha1.RequestAccess,
			privacyv1alpha1.RequestRestriction, privacyv1alpha1.RequestRectification, privacyv1alpha1.RequestErasure} {
			req := t.request("leak-"+strings.ToLower(string(typ)), typ, "canary")
			req.Spec.Approval = &privacyv1alpha1.Approval{Required: ptr.To(false)}
			if typ == privacyv1alpha1.RequestRectification {
				req.Spec.Rectification = &privacyv1alpha1.RectificationOptions{ValuesSecretRef: privacyv1alpha1.LocalObjectReference{Name: "canary-fix"}}
			}
			Expect(k8s.Create(ctx, req)).To(Succeed())
			expectPhase(t.ns, req.Name, privacyv1alpha1.PhaseCompleted)
		}
		Expect(leakSurface(t.ns)).NotTo(ContainSubstring(canary))
		Expect(leakSurface(t.ns)).NotTo(ContainSubstring("C-CANARY"))
		// Nothing taken from the canary's rows, its keys included, is in
		// the status of any Lethe object.
		strs := statusStrings(t.ns)
		Expect(strs).NotTo(BeEmpty())
		for where, s := range strs {
			for _, v := range []string{canary, "C-CANARY", "Canary", "100000"} {
				Expect(s).NotTo(ContainSubstring(v), "%s holds a value of the subject's rows", where)
			}
		}
	})
})

// updateRequest changes a request, retrying when the controller wrote its
// status in between.
func updateRequest(ns, name string, mutate func(*privacyv1alpha1.DataSubjectRequest)) error {
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		var r privacyv1alpha1.DataSubjectRequest
		if err := k8s.Get(ctx, keyOf(ns, name), &r); err != nil {
			return err
		}
		mutate(&r)
		return k8s.Update(ctx, &r)
	})
}

// approve sets spec.approval.approved as a second user who may approve:
// the requests of these tests are created by the suite's admin.
func approve(ns, name string) {
	GinkgoHelper()
	Expect(updateAs(approver(), getRequest(ns, name), func(r *privacyv1alpha1.DataSubjectRequest) {
		r.Spec.Approval = &privacyv1alpha1.Approval{Approved: true}
	})).To(Succeed())
}

// touch changes an annotation so the controller looks at a request again.
func touch(ns, name string) {
	GinkgoHelper()
	Expect(updateRequest(ns, name, func(r *privacyv1alpha1.DataSubjectRequest) {
		if r.Annotations == nil {
			r.Annotations = map[string]string{}
		}
		r.Annotations["test.lethe.dev/touched"] = time.Now().String()
	})).To(Succeed())
}
