package controllers

import (
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"

	privacyv1alpha1 "github.com/lethe-dev/lethe/api/v1alpha1"
)

// updateInventory changes a DataInventory's spec, retrying on conflicts.
func updateInventory(ns, name string, mutate func(*privacyv1alpha1.DataInventorySpec)) {
	GinkgoHelper()
	Expect(retry.RetryOnConflict(retry.DefaultRetry, func() error {
		var inv privacyv1alpha1.DataInventory
		if err := k8s.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, &inv); err != nil {
			return err
		}
		mutate(&inv.Spec)
		return k8s.Update(ctx, &inv)
	})).To(Succeed())
}

// loyaltyCards is a table with a quoted mixed-case name and columns, whose
// rows point to customers, and loyaltyCard the entity that maps it.
const loyaltyCards = `CREATE TABLE app."Loyalty Cards" (
    "Card Id"     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    customer_id   bigint NOT NULL REFERENCES app.customers (id),
    "Holder Name" text NOT NULL,
    "Prämie"      text);
CREATE INDEX "Loyalty Cards customer_id" ON app."Loyalty Cards" (customer_id);
INSERT INTO app."Loyalty Cards" (customer_id, "Holder Name", "Prämie") SELECT id, name, 'Gold' FROM app.customers`

func loyaltyCard(table string) privacyv1alpha1.Entity {
	return privacyv1alpha1.Entity{
		Name: "loyaltyCard", Table: table, PrimaryKey: []string{"Card Id"},
		Relations: []privacyv1alpha1.EntityRelation{{Entity: "customer", Direction: privacyv1alpha1.RelationChild, Columns: []string{"customer_id"}}},
		PersonalColumns: []privacyv1alpha1.PersonalColumn{
			{Column: "Holder Name", Category: "Name", Strategy: privacyv1alpha1.MaskingStrategy{Type: privacyv1alpha1.StrategyReplace, Value: ptr.To("Anonymized")}},
			{Column: "Prämie", Category: "Other", Strategy: privacyv1alpha1.MaskingStrategy{Type: privacyv1alpha1.StrategyNullify}},
		},
	}
}

var _ = Describe("TenantDatabase risks", func() {
	It("warns about a table outside the inventory that refers to a mapped table, and clears when it is mapped", func() {
		ns, db := readyTenant()
		expectCondition(ns, "tenant", privacyv1alpha1.ConditionUnmappedReferences, metav1.ConditionFalse, privacyv1alpha1.ReasonNoUnmappedReferences)
		expectCondition(ns, "tenant", privacyv1alpha1.ConditionMissingIndexes, metav1.ConditionFalse, privacyv1alpha1.ReasonAllLookupsIndexed)

		adminExec(db, loyaltyCards)
		c := expectCondition(ns, "tenant", privacyv1alpha1.ConditionUnmappedReferences, metav1.ConditionTrue, privacyv1alpha1.ReasonTablesReferToSubjects)
		Expect(c.Message).To(ContainSubstring(`app."Loyalty Cards"(customer_id) → customer ("Loyalty Cards_customer_id_fkey", ON DELETE NO ACTION)`))
		Expect(c.Message).To(ContainSubstring("make deleting the person's rows fail"))
		Expect(getTenant(ns, "tenant").Status.UnmappedReferences).To(Equal([]privacyv1alpha1.UnmappedReference{{
			Table: `app."Loyalty Cards"`, Columns: []string{"customer_id"}, Constraint: "Loyalty Cards_customer_id_fkey",
			OnDelete: "NO ACTION", Entity: "customer"}}))
		expectCondition(ns, "tenant", privacyv1alpha1.ConditionReady, metav1.ConditionTrue, privacyv1alpha1.ReasonSucceeded)
		Eventually(func() string { return eventsOf(ns, "tenant") }, timeout, interval).Should(ContainSubstring(privacyv1alpha1.ReasonTablesReferToSubjects))

		By("mapping the quoted mixed-case table as an entity")
		updateInventory(ns, "customer-service", func(s *privacyv1alpha1.DataInventorySpec) {
			s.Entities = append(s.Entities, loyaltyCard(`app."Loyalty Cards"`))
		})
		expectCondition(ns, "tenant", privacyv1alpha1.ConditionUnmappedReferences, metav1.ConditionFalse, privacyv1alpha1.ReasonNoUnmappedReferences)
		expectCondition(ns, "tenant", privacyv1alpha1.ConditionInventoryValid, metav1.ConditionTrue, privacyv1alpha1.ReasonInventoryValid)
		expectCondition(ns, "tenant", privacyv1alpha1.ConditionReady, metav1.ConditionTrue, privacyv1alpha1.ReasonSucceeded)
		Expect(getTenant(ns, "tenant").Status.UnmappedReferences).To(BeEmpty())
	})

	It("warns about a lookup without an index, with the table's rows, and clears when the index is created", func() {
		ns, db := readyTenant()
		adminExec(db, "DROP INDEX app.cases_customer_id_idx; ANALYZE app.cases")
		c := expectCondition(ns, "tenant", privacyv1alpha1.ConditionMissingIndexes, metav1.ConditionTrue, privacyv1alpha1.ReasonUnindexedLookups)
		Expect(c.Message).To(ContainSubstring("create an index on app.cases(customer_id) (about"))
		st := getTenant(ns, "tenant").Status
		Expect(st.MissingIndexes).To(HaveLen(1))
		Expect(st.MissingIndexes[0].Lookup).To(Equal("app.cases(customer_id)"))
		Expect(st.MissingIndexes[0].EstimatedRows).To(BeNumerically(">", 0))
		expectCondition(ns, "tenant", privacyv1alpha1.ConditionReady, metav1.ConditionTrue, privacyv1alpha1.ReasonSucceeded)

		adminExec(db, "CREATE INDEX ON app.cases (customer_id)")
		expectCondition(ns, "tenant", privacyv1alpha1.ConditionMissingIndexes, metav1.ConditionFalse, privacyv1alpha1.ReasonAllLookupsIndexed)
		Expect(getTenant(ns, "tenant").Status.MissingIndexes).To(BeEmpty())
	})

	It("names Nullify on a NOT NULL column and Replace on a unique column in InventoryValid, and heals when the schema is fixed", func() {
		ns, db := readyTenant()
		adminExec(db, "UPDATE app.contact_persons SET title = coalesce(title, 'Mx'); ALTER TABLE app.contact_persons ALTER COLUMN title SET NOT NULL")
		c := expectCondition(ns, "tenant", privacyv1alpha1.ConditionInventoryValid, metav1.ConditionFalse, privacyv1alpha1.ReasonInventoryInvalid)
		Expect(c.Message).To(ContainSubstring("entity contactPerson: column app.contact_persons.title (text) cannot take strategy Nullify: the column is NOT NULL"))
		expectCondition(ns, "tenant", privacyv1alpha1.ConditionStalled, metav1.ConditionTrue, privacyv1alpha1.ReasonInventoryInvalid)
		adminExec(db, "ALTER TABLE app.contact_persons ALTER COLUMN title DROP NOT NULL")
		expectCondition(ns, "tenant", privacyv1alpha1.ConditionReady, metav1.ConditionTrue, privacyv1alpha1.ReasonSucceeded)

		adminExec(db, "UPDATE app.customers SET name = name || ' #' || id; CREATE UNIQUE INDEX customers_name_key ON app.customers (name)")
		c = expectCondition(ns, "tenant", privacyv1alpha1.ConditionInventoryValid, metav1.ConditionFalse, privacyv1alpha1.ReasonInventoryInvalid)
		Expect(c.Message).To(ContainSubstring("entity customer: column app.customers.name (text) cannot take strategy Replace: the column is unique and Replace writes the same value into every row"))
		adminExec(db, "DROP INDEX app.customers_name_key")
		expectCondition(ns, "tenant", privacyv1alpha1.ConditionReady, metav1.ConditionTrue, privacyv1alpha1.ReasonSucceeded)
	})

	It("tries a strategy on a column a CHECK constraint guards, names the constraint, changes nothing, and heals when it is dropped", func() {
		ns, db := readyTenant()
		adminExec(db, "ALTER TABLE app.customers ADD CONSTRAINT name_is_a_name CHECK (name <> 'Anonymized')")
		c := expectCondition(ns, "tenant", privacyv1alpha1.ConditionInventoryValid, metav1.ConditionFalse, privacyv1alpha1.ReasonInventoryInvalid)
		Expect(c.Message).To(ContainSubstring("entity customer: column app.customers.name (text) cannot take strategy Replace: " +
			"constraint name_is_a_name refuses the masked value (SQLSTATE 23514; tried on one row, rolled back)"))
		Expect(tenantRows(db, "SELECT count(*)::text FROM app.customers WHERE name = 'Anonymized'")).To(Equal([]string{"0"}), "a trial is rolled back")

		adminExec(db, "ALTER TABLE app.customers DROP CONSTRAINT name_is_a_name; ALTER TABLE app.customers ADD CONSTRAINT name_is_short CHECK (length(name) < 100)")
		expectCondition(ns, "tenant", privacyv1alpha1.ConditionReady, metav1.ConditionTrue, privacyv1alpha1.ReasonSucceeded)
	})

	It("refuses a view named as an entity's table, and heals when the entity names the table", func() {
		ns, db := readyTenant()
		adminExec(db, loyaltyCards+`; CREATE VIEW app."Gold Cards" AS SELECT * FROM app."Loyalty Cards" WHERE "Prämie" = 'Gold'`)
		updateInventory(ns, "customer-service", func(s *privacyv1alpha1.DataInventorySpec) {
			s.Entities = append(s.Entities, loyaltyCard(`app."Gold Cards"`))
		})
		c := expectCondition(ns, "tenant", privacyv1alpha1.ConditionInventoryValid, metav1.ConditionFalse, privacyv1alpha1.ReasonInventoryInvalid)
		Expect(c.Message).To(ContainSubstring(`entity loyaltyCard: app."Gold Cards" is a view; map the table it reads from`))

		updateInventory(ns, "customer-service", func(s *privacyv1alpha1.DataInventorySpec) {
			s.Entities[len(s.Entities)-1].Table = `APP."Loyalty Cards"`
		})
		expectCondition(ns, "tenant", privacyv1alpha1.ConditionReady, metav1.ConditionTrue, privacyv1alpha1.ReasonSucceeded)
		expectCondition(ns, "tenant", privacyv1alpha1.ConditionUnmappedReferences, metav1.ConditionFalse, privacyv1alpha1.ReasonNoUnmappedReferences)
	})

	It("reports what one tenant's schema adds on that tenant only, when tenants share an inventory", func() {
		ns, dbA := readyTenant()
		dbB := sampleDatabase()
		Expect(k8s.Create(ctx, secret(ns, "db-b", dbB.SecretData()))).To(Succeed())
		Expect(k8s.Create(ctx, tenantDatabase(ns, "tenant-b", "db-b", "customer-service"))).To(Succeed())
		expectCondition(ns, "tenant-b", privacyv1alpha1.ConditionReady, metav1.ConditionTrue, privacyv1alpha1.ReasonSucceeded)

		adminExec(dbA, "ALTER TABLE app.customers ADD COLUMN mobile_phone text; "+loyaltyCards)
		expectCondition(ns, "tenant", privacyv1alpha1.ConditionUncoveredPersonalData, metav1.ConditionTrue, privacyv1alpha1.ReasonUncoveredColumns)
		expectCondition(ns, "tenant", privacyv1alpha1.ConditionUnmappedReferences, metav1.ConditionTrue, privacyv1alpha1.ReasonTablesReferToSubjects)
		Expect(getTenant(ns, "tenant").Status.UncoveredColumns).To(ContainElement(HaveField("Column", "app.customers.mobile_phone")))

		By("checking tenant-b again after tenant's schema changed")
		seen := getTenant(ns, "tenant").Status.LastCheckTime
		Eventually(func(g Gomega) {
			g.Expect(getTenant(ns, "tenant-b").Status.LastCheckTime.After(seen.Time)).To(BeTrue())
		}, timeout, interval).Should(Succeed())
		b := getTenant(ns, "tenant-b")
		Expect(b.Status.UncoveredColumns).To(BeEmpty())
		Expect(b.Status.UnmappedReferences).To(BeEmpty())
		expectCondition(ns, "tenant-b", privacyv1alpha1.ConditionUncoveredPersonalData, metav1.ConditionFalse, privacyv1alpha1.ReasonAllColumnsCovered)
		expectCondition(ns, "tenant-b", privacyv1alpha1.ConditionUnmappedReferences, metav1.ConditionFalse, privacyv1alpha1.ReasonNoUnmappedReferences)
	})
})
