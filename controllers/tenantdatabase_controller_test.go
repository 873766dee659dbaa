package controllers

import (
	"strconv"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/retry"

	privacyv1alpha1 "github.com/lethe-dev/lethe/api/v1alpha1"
)

var _ = Describe("TenantDatabase", func() {
	It("becomes Ready on a sample database: connected, schema migrated, inventory valid, audit chain intact", func() {
		ns, db := readyTenant()
		expectCondition(ns, "tenant", privacyv1alpha1.ConditionConnected, metav1.ConditionTrue, privacyv1alpha1.ReasonConnected)
		expectCondition(ns, "tenant", privacyv1alpha1.ConditionInventoryValid, metav1.ConditionTrue, privacyv1alpha1.ReasonInventoryValid)
		expectCondition(ns, "tenant", privacyv1alpha1.ConditionAuditChainIntact, metav1.ConditionTrue, privacyv1alpha1.ReasonAuditChainIntact)
		expectCondition(ns, "tenant", privacyv1alpha1.ConditionUncoveredPersonalData, metav1.ConditionFalse, privacyv1alpha1.ReasonAllColumnsCovered)

		tdb := getTenant(ns, "tenant")
		Expect(tdb.Status.ObservedGeneration).To(Equal(tdb.Generation))
		Expect(tdb.Status.ServerVersion).To(MatchRegexp(`^\d+\.\d+`))
		Expect(tdb.Status.SchemaVersion).To(BeNumerically(">=", 1))
		Expect(tdb.Status.AuditRecords).To(BeNumerically(">=", 1), "the schema migration is audited")
		Expect(tdb.Status.AuditHead).NotTo(BeNil())
		Expect(tdb.Spec.MaxConnections).To(Equal(int32(4)), "defaulted by the API server")
		Expect(statusText(ns, "tenant")).NotTo(ContainSubstring(db.Password))

		By("publishing the inventory's delete order, children first")
		var inv privacyv1alpha1.DataInventory
		Expect(k8s.Get(ctx, types.NamespacedName{Namespace: ns, Name: "customer-service"}, &inv)).To(Succeed())
		Expect(inv.Status.DeleteOrder).To(ContainElements("caseComment", "case", "customer"))
		Expect(indexOf(inv.Status.DeleteOrder, "caseComment")).To(BeNumerically("<", indexOf(inv.Status.DeleteOrder, "case")))
		Expect(indexOf(inv.Status.DeleteOrder, "customer")).To(BeNumerically("<", indexOf(inv.Status.DeleteOrder, "address")))
	})

	It("waits for a missing Secret and heals when it appears", func() {
		ns := newNamespace()
		db := sampleDatabase()
		Expect(k8s.Create(ctx, sampleInventory(ns))).To(Succeed())
		Expect(k8s.Create(ctx, tenantDatabase(ns, "tenant", "db", "customer-service"))).To(Succeed())
		c := expectCondition(ns, "tenant", privacyv1alpha1.ConditionReady, metav1.ConditionFalse, privacyv1alpha1.ReasonSecretNotFound)
		Expect(c.Message).To(ContainSubstring("secret db not found"))
		expectCondition(ns, "tenant", privacyv1alpha1.ConditionReconciling, metav1.ConditionTrue, privacyv1alpha1.ReasonSecretNotFound)
		expectCondition(ns, "tenant", privacyv1alpha1.ConditionConnected, metav1.ConditionFalse, privacyv1alpha1.ReasonSecretNotFound)

		Expect(k8s.Create(ctx, secret(ns, "db", db.SecretData()))).To(Succeed())
		expectCondition(ns, "tenant", privacyv1alpha1.ConditionReady, metav1.ConditionTrue, privacyv1alpha1.ReasonSucceeded)
	})

	It("stalls on a Secret missing a key, naming the key, and heals when it is added", func() {
		ns, db := tenantWithSecret(func(data map[string][]byte) {
			delete(data, "dbname")
		})
		c := expectCondition(ns, "tenant", privacyv1alpha1.ConditionReady, metav1.ConditionFalse, privacyv1alpha1.ReasonSecretKeyMissing)
		Expect(c.Message).To(ContainSubstring(`secret db has no key "dbname"`))
		expectCondition(ns, "tenant", privacyv1alpha1.ConditionStalled, metav1.ConditionTrue, privacyv1alpha1.ReasonSecretKeyMissing)
		Eventually(func() string { return eventsOf(ns, "tenant") }, timeout, interval).Should(ContainSubstring("SecretKeyMissing"))

		updateSecret(ns, "db", func(d map[string][]byte) { d["dbname"] = []byte(db.Name) })
		expectCondition(ns, "tenant", privacyv1alpha1.ConditionReady, metav1.ConditionTrue, privacyv1alpha1.ReasonSucceeded)
		Expect(apimeta.FindStatusCondition(getTenant(ns, "tenant").Status.Conditions, privacyv1alpha1.ConditionStalled)).To(BeNil())
	})

	It("reports a wrong password as AuthenticationFailed without revealing it, and heals when the Secret is fixed", func() {
		ns, db := tenantWithSecret(func(data map[string][]byte) {
			data["password"] = []byte("not-the-password-4711")
		})
		expectCondition(ns, "tenant", privacyv1alpha1.ConditionReady, metav1.ConditionFalse, privacyv1alpha1.ReasonAuthenticationFailed)
		expectCondition(ns, "tenant", privacyv1alpha1.ConditionConnected, metav1.ConditionFalse, privacyv1alpha1.ReasonAuthenticationFailed)
		Expect(statusText(ns, "tenant")).NotTo(ContainSubstring("not-the-password-4711"))

		updateSecret(ns, "db", func(d map[string][]byte) { d["password"] = []byte(db.Password) })
		expectCondition(ns, "tenant", privacyv1alpha1.ConditionReady, metav1.ConditionTrue, privacyv1alpha1.ReasonSucceeded)
	})

	It("reports an unreachable host as Unreachable and heals when the Secret points at the server", func() {
		ns, db := tenantWithSecret(func(data map[string][]byte) {
			data["port"] = []byte("1") // nothing listens on 127.0.0.1:1
		})
		expectCondition(ns, "tenant", privacyv1alpha1.ConditionReady, metav1.ConditionFalse, privacyv1alpha1.ReasonUnreachable)
		expectCondition(ns, "tenant", privacyv1alpha1.ConditionReconciling, metav1.ConditionTrue, privacyv1alpha1.ReasonUnreachable)

		updateSecret(ns, "db", func(d map[string][]byte) { d["port"] = []byte(strconv.Itoa(db.Port)) })
		expectCondition(ns, "tenant", privacyv1alpha1.ConditionReady, metav1.ConditionTrue, privacyv1alpha1.ReasonSucceeded)
	})

	It("reports a database that does not exist as DatabaseNotFound", func() {
		ns, db := tenantWithSecret(func(data map[string][]byte) {
			data["dbname"] = []byte("no_such_database")
		})
		expectCondition(ns, "tenant", privacyv1alpha1.ConditionReady, metav1.ConditionFalse, privacyv1alpha1.ReasonDatabaseNotFound)

		updateSecret(ns, "db", func(d map[string][]byte) { d["dbname"] = []byte(db.Name) })
		expectCondition(ns, "tenant", privacyv1alpha1.ConditionReady, metav1.ConditionTrue, privacyv1alpha1.ReasonSucceeded)
	})

	It("waits for a missing DataInventory and heals when it is created", func() {
		ns := newNamespace()
		db := sampleDatabase()
		Expect(k8s.Create(ctx, secret(ns, "db", db.SecretData()))).To(Succeed())
		Expect(k8s.Create(ctx, tenantDatabase(ns, "tenant", "db", "customer-service"))).To(Succeed())
		c := expectCondition(ns, "tenant", privacyv1alpha1.ConditionInventoryValid, metav1.ConditionFalse, privacyv1alpha1.ReasonInventoryNotFound)
		Expect(c.Message).To(ContainSubstring("DataInventory customer-service not found"))
		expectCondition(ns, "tenant", privacyv1alpha1.ConditionReady, metav1.ConditionFalse, privacyv1alpha1.ReasonInventoryNotFound)

		Expect(k8s.Create(ctx, sampleInventory(ns))).To(Succeed())
		expectCondition(ns, "tenant", privacyv1alpha1.ConditionReady, metav1.ConditionTrue, privacyv1alpha1.ReasonSucceeded)
	})

	It("names a missing column and a missing table in InventoryValid, and heals when the schema is fixed", func() {
		ns, db := readyTenant()
		adminExec(db, "ALTER TABLE app.customers RENAME COLUMN phone TO phone_number_old")
		c := expectCondition(ns, "tenant", privacyv1alpha1.ConditionInventoryValid, metav1.ConditionFalse, privacyv1alpha1.ReasonInventoryInvalid)
		Expect(c.Message).To(ContainSubstring("entity customer: personal column app.customers.phone does not exist"))
		expectCondition(ns, "tenant", privacyv1alpha1.ConditionReady, metav1.ConditionFalse, privacyv1alpha1.ReasonInventoryInvalid)
		expectCondition(ns, "tenant", privacyv1alpha1.ConditionStalled, metav1.ConditionTrue, privacyv1alpha1.ReasonInventoryInvalid)

		adminExec(db, "ALTER TABLE app.customers RENAME COLUMN phone_number_old TO phone")
		expectCondition(ns, "tenant", privacyv1alpha1.ConditionReady, metav1.ConditionTrue, privacyv1alpha1.ReasonSucceeded)

		adminExec(db, "ALTER TABLE app.login_logs RENAME TO login_logs_old")
		c = expectCondition(ns, "tenant", privacyv1alpha1.ConditionInventoryValid, metav1.ConditionFalse, privacyv1alpha1.ReasonInventoryInvalid)
		Expect(c.Message).To(ContainSubstring("table app.login_logs does not exist"))

		adminExec(db, "ALTER TABLE app.login_logs_old RENAME TO login_logs")
		expectCondition(ns, "tenant", privacyv1alpha1.ConditionReady, metav1.ConditionTrue, privacyv1alpha1.ReasonSucceeded)
	})

	It("warns about personal-looking columns missing from the inventory, with their reasons, without becoming un-Ready", func() {
		ns, db := readyTenant()
		sampled := getTenant(ns, "tenant").Status.ContentSampledTime
		Expect(sampled).NotTo(BeNil())
		// One column personal by its name and content, one by its content
		// alone.
		adminExec(db, `ALTER TABLE app.customers ADD COLUMN mobile_phone text, ADD COLUMN reach text;
			UPDATE app.customers SET mobile_phone = '+46 70 ' || lpad(id::text, 7, '0'), reach = 'c' || id || '@example.org'`)
		c := expectCondition(ns, "tenant", privacyv1alpha1.ConditionUncoveredPersonalData, metav1.ConditionTrue, privacyv1alpha1.ReasonUncoveredColumns)
		Expect(c.Message).To(HavePrefix("2 columns look personal but are not in DataInventory customer-service: " +
			"app.customers.mobile_phone (Phone: name, content 100%), app.customers.reach (Email: content 100%)"))
		st := getTenant(ns, "tenant").Status
		// The content reasons say the new columns were sampled: the schema
		// changed, so the tables are sampled again.
		Expect(st.ContentSampledTime.Before(sampled)).To(BeFalse())
		Expect(st.UncoveredColumnsOmitted).To(BeZero())
		Expect(st.UncoveredColumns).To(HaveLen(2))
		phone, reach := st.UncoveredColumns[0], st.UncoveredColumns[1]
		Expect(phone.Column).To(Equal("app.customers.mobile_phone"))
		Expect(phone.Category).To(Equal(privacyv1alpha1.DataCategory("Phone")))
		Expect(phone.Reasons).To(HaveLen(2))
		Expect(phone.Reasons[0].Kind).To(Equal(privacyv1alpha1.ColumnReasonName))
		Expect(phone.Reasons[1].Kind).To(Equal(privacyv1alpha1.ColumnReasonContent))
		Expect(phone.Reasons[1].MatchPercent).To(HaveValue(BeEquivalentTo(100)))
		Expect(phone.Reasons[1].Detail).To(MatchRegexp(`^content: \d+/\d+ sampled values are phone numbers \(100%\)$`))
		Expect(reach.Column).To(Equal("app.customers.reach"))
		Expect(reach.Category).To(Equal(privacyv1alpha1.DataCategory("Email")))
		Expect(reach.Identifier).To(BeTrue())
		Expect(reach.Reasons).To(ConsistOf(HaveField("Kind", privacyv1alpha1.ColumnReasonContent)))
		expectCondition(ns, "tenant", privacyv1alpha1.ConditionReady, metav1.ConditionTrue, privacyv1alpha1.ReasonSucceeded)
		Eventually(func() string { return eventsOf(ns, "tenant") }, timeout, interval).Should(ContainSubstring("UncoveredColumns"))

		adminExec(db, "ALTER TABLE app.customers DROP COLUMN mobile_phone, DROP COLUMN reach")
		expectCondition(ns, "tenant", privacyv1alpha1.ConditionUncoveredPersonalData, metav1.ConditionFalse, privacyv1alpha1.ReasonAllColumnsCovered)
		Expect(getTenant(ns, "tenant").Status.UncoveredColumns).To(BeEmpty())
	})

	It("notices a tampered audit record, and is Ready again once it is restored", func() {
		ns, db := readyTenant()
		adminExec(db, "SET session_replication_role = replica; UPDATE lethe.audit_log SET actor = 'someone-else' WHERE id = 1")
		c := expectCondition(ns, "tenant", privacyv1alpha1.ConditionAuditChainIntact, metav1.ConditionFalse, privacyv1alpha1.ReasonAuditChainBroken)
		Expect(c.Message).To(ContainSubstring("record 1 does not match its hash"))
		expectCondition(ns, "tenant", privacyv1alpha1.ConditionReady, metav1.ConditionFalse, privacyv1alpha1.ReasonAuditChainBroken)

		adminExec(db, "SET session_replication_role = replica; UPDATE lethe.audit_log SET actor = 'lethe-operator' WHERE id = 1")
		expectCondition(ns, "tenant", privacyv1alpha1.ConditionReady, metav1.ConditionTrue, privacyv1alpha1.ReasonSucceeded)
	})

	It("refuses a change of spec.tenant", func() {
		ns := newNamespace()
		tdb := tenantDatabase(ns, "tenant", "db", "customer-service")
		Expect(k8s.Create(ctx, tdb)).To(Succeed())
		// The controller writes status meanwhile: retry on conflicts, so
		// the error seen is the API server's verdict on the change.
		err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
			fresh := getTenant(ns, "tenant")
			fresh.Spec.Tenant = "other"
			return k8s.Update(ctx, fresh)
		})
		Expect(err).To(MatchError(ContainSubstring("spec.tenant is immutable")))
	})
})

func indexOf(ss []string, s string) int {
	for i, x := range ss {
		if x == s {
			return i
		}
	}
	return -1
}
