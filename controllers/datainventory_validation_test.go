package controllers

import (
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	privacyv1alpha1 "github.com/lethe-dev/lethe/api/v1alpha1"
)

// minimalInventory is a small valid inventory that each validation case
// breaks in one way.
func minimalInventory(ns string) *privacyv1alpha1.DataInventory {
	return &privacyv1alpha1.DataInventory{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, GenerateName: "inv-"},
		Spec: privacyv1alpha1.DataInventorySpec{
			Subjects: []privacyv1alpha1.SubjectType{{Name: "customer", Identifiers: []string{"email"}}},
			Entities: []privacyv1alpha1.Entity{
				{
					Name: "customer", Table: "app.customers", PrimaryKey: []string{"id"},
					Subject: &privacyv1alpha1.EntitySubject{Type: "customer",
						Identifiers: []privacyv1alpha1.IdentifierColumn{{Name: "email", Column: "email"}}},
					PersonalColumns: []privacyv1alpha1.PersonalColumn{{Column: "name", Category: "Name",
						Strategy: privacyv1alpha1.MaskingStrategy{Type: privacyv1alpha1.StrategyReplace, Value: ptr.To("Anonymized")}}},
				},
				{
					Name: "caseComment", Table: "app.case_comments", PrimaryKey: []string{"id"},
					Relations: []privacyv1alpha1.EntityRelation{{Entity: "customer", Direction: privacyv1alpha1.RelationChild, Columns: []string{"customer_id"}}},
				},
			},
		},
	}
}

var _ = Describe("DataInventory validation", func() {
	var ns string
	BeforeEach(func() { ns = newNamespace() })

	It("accepts the minimal inventory and the sample, and reports them Ready", func() {
		inv := minimalInventory(ns)
		Expect(k8s.Create(ctx, inv)).To(Succeed())
		Expect(k8s.Create(ctx, sampleInventory(ns))).To(Succeed())
		Eventually(func(g Gomega) {
			var got privacyv1alpha1.DataInventory
			g.Expect(k8s.Get(ctx, types.NamespacedName{Namespace: ns, Name: inv.Name}, &got)).To(Succeed())
			g.Expect(got.Status.Conditions).To(ContainElement(And(
				HaveField("Type", privacyv1alpha1.ConditionReady), HaveField("Status", metav1.ConditionTrue))))
			g.Expect(got.Status.DeleteOrder).To(Equal([]string{"caseComment", "customer"}))
			g.Expect(got.Status.Entities).To(Equal(int32(2)))
			g.Expect(got.Spec.Entities[0].OnErasure).To(Equal(privacyv1alpha1.ErasureMask), "defaulted")
		}, timeout, interval).Should(Succeed())
	})

	It("accepts tables in any schema with quoted mixed-case names and columns as PostgreSQL stores them", func() {
		inv := minimalInventory(ns)
		inv.Spec.Entities[0].Table = `"Sales"."Kunden Übersicht"`
		inv.Spec.Entities[0].PrimaryKey = []string{"Kunden Nr"}
		inv.Spec.Entities[0].PersonalColumns[0].Column = strings.Repeat("é", 31)
		inv.Spec.Entities[0].Subject.Identifiers[0].Column = "E-Mail"
		inv.Spec.Entities[1].Table = `public."Order ""Items"""`
		inv.Spec.Entities[1].Relations[0].Columns = []string{"Kunde"}
		inv.Spec.Entities[1].ReportingColumns = []string{"Prämie", "created at"}
		Expect(k8s.Create(ctx, inv)).To(Succeed())
		other := minimalInventory(ns)
		other.Spec.Entities[0].Table = "App.Customers"
		other.Spec.Entities[1].Table = `crm."` + strings.Repeat("é", 31) + `"`
		Expect(k8s.Create(ctx, other)).To(Succeed())
	})

	DescribeTable("refuses an invalid spec with a message that says what to fix",
		func(mutate func(*privacyv1alpha1.DataInventorySpec), message string) {
			inv := minimalInventory(ns)
			mutate(&inv.Spec)
			err := k8s.Create(ctx, inv)
			Expect(err).To(HaveOccurred())
			Expect(err.Error()).To(ContainSubstring(message))
		},
		Entry("duplicate subject", func(s *privacyv1alpha1.DataInventorySpec) {
			s.Subjects = append(s.Subjects, s.Subjects[0])
		}, `spec.subjects[1]: Duplicate value`),
		Entry("duplicate entity", func(s *privacyv1alpha1.DataInventorySpec) {
			e := s.Entities[1]
			e.Table = "app.other"
			s.Entities = append(s.Entities, e)
		}, `spec.entities[2]: Duplicate value`),
		Entry("two entities on one table", func(s *privacyv1alpha1.DataInventorySpec) {
			s.Entities[1].Table = s.Entities[0].Table
		}, "each table may be described by one entity only"),
		Entry("undeclared subject type", func(s *privacyv1alpha1.DataInventorySpec) {
			s.Entities[0].Subject.Type = "employee"
		}, "spec.entities[].subject.type must name a subject type declared in spec.subjects"),
		Entry("undeclared identifier", func(s *privacyv1alpha1.DataInventorySpec) {
			s.Entities[0].Subject.Identifiers[0].Name = "phone"
		}, "must be one of the identifiers its subject type declares"),
		Entry("relation to an undeclared entity", func(s *privacyv1alpha1.DataInventorySpec) {
			s.Entities[1].Relations[0].Entity = "case"
		}, "spec.entities[].relations[].entity must name an entity declared in spec.entities"),
		Entry("subject type without a root", func(s *privacyv1alpha1.DataInventorySpec) {
			s.Subjects = append(s.Subjects, privacyv1alpha1.SubjectType{Name: "employee", Identifiers: []string{"email"}})
		}, "every subject type in spec.subjects needs a root entity"),
		Entry("entity neither root nor related", func(s *privacyv1alpha1.DataInventorySpec) {
			s.Entities[1].Relations = nil
		}, "an entity needs subject (its rows are subjects) or relations"),
		Entry("reporting column also personal", func(s *privacyv1alpha1.DataInventorySpec) {
			s.Entities[0].ReportingColumns = []string{"name"}
		}, "reportingColumns must not repeat a personal column"),
		Entry("duplicate personal column", func(s *privacyv1alpha1.DataInventorySpec) {
			s.Entities[0].PersonalColumns = append(s.Entities[0].PersonalColumns, s.Entities[0].PersonalColumns[0])
		}, `personalColumns[1]: Duplicate value`),
		Entry("table without schema", func(s *privacyv1alpha1.DataInventorySpec) {
			s.Entities[0].Table = "customers"
		}, `spec.entities[0].table: Invalid value: "customers": table is schema.table, each part a plain identifier or double-quoted `+
			`where it holds capitals, spaces, dots or other letters: app.customers, public."Order Items"`),
		Entry("table with an unquoted space", func(s *privacyv1alpha1.DataInventorySpec) {
			s.Entities[0].Table = "public.Order Items"
		}, `table is schema.table, each part a plain identifier or double-quoted`),
		Entry("table with an unclosed quote", func(s *privacyv1alpha1.DataInventorySpec) {
			s.Entities[0].Table = `public."Order Items`
		}, `table is schema.table, each part a plain identifier or double-quoted`),
		Entry("table part over 63 bytes", func(s *privacyv1alpha1.DataInventorySpec) {
			s.Entities[0].Table = `public."` + strings.Repeat("é", 32) + `"`
		}, "each part of table holds at most 63 bytes (PostgreSQL's limit), not counting its quotes"),
		Entry("schema part over 63 bytes", func(s *privacyv1alpha1.DataInventorySpec) {
			s.Entities[0].Table = strings.Repeat("s", 64) + ".customers"
		}, "each part of table holds at most 63 bytes"),
		Entry("column with a control character", func(s *privacyv1alpha1.DataInventorySpec) {
			s.Entities[0].PersonalColumns[0].Column = "na\tme"
		}, "a column is named as PostgreSQL stores it, without quotes (customer_id, Order Id, Prämie): 1 to 63 bytes, no control characters"),
		Entry("column over 63 bytes", func(s *privacyv1alpha1.DataInventorySpec) {
			s.Entities[0].PersonalColumns[0].Column = strings.Repeat("é", 32)
		}, `spec.entities[0].personalColumns[0].column: Invalid value: "`+strings.Repeat("é", 32)+`": a column is named as PostgreSQL stores it`),
		Entry("primary-key column over 63 bytes", func(s *privacyv1alpha1.DataInventorySpec) {
			s.Entities[0].PrimaryKey = []string{strings.Repeat("é", 32)}
		}, `spec.entities[0].primaryKey[0]: Invalid value: "`+strings.Repeat("é", 32)+`": a column is named as PostgreSQL stores it`),
		Entry("empty relation column", func(s *privacyv1alpha1.DataInventorySpec) {
			s.Entities[1].Relations[0].Columns = []string{""}
		}, "a column is named as PostgreSQL stores it"),
		Entry("references and columns of different length", func(s *privacyv1alpha1.DataInventorySpec) {
			s.Entities[1].Relations[0].References = []string{"id", "tenant_id"}
		}, "references must list as many columns as columns"),
		Entry("exclusive on a Child relation", func(s *privacyv1alpha1.DataInventorySpec) {
			s.Entities[1].Relations[0].Exclusive = ptr.To(true)
		}, "exclusive applies only to direction Referenced"),
		Entry("Replace without value", func(s *privacyv1alpha1.DataInventorySpec) {
			s.Entities[0].PersonalColumns[0].Strategy.Value = nil
		}, "value is required for strategy Replace and allowed only there"),
		Entry("value on another strategy", func(s *privacyv1alpha1.DataInventorySpec) {
			s.Entities[0].PersonalColumns[0].Strategy.Type = privacyv1alpha1.StrategyNullify
		}, "value is required for strategy Replace and allowed only there"),
		Entry("Pseudonym without format", func(s *privacyv1alpha1.DataInventorySpec) {
			s.Entities[0].PersonalColumns[0].Strategy = privacyv1alpha1.MaskingStrategy{Type: privacyv1alpha1.StrategyPseudonym}
		}, "format is required for strategy Pseudonym"),
		Entry("format without placeholder", func(s *privacyv1alpha1.DataInventorySpec) {
			s.Entities[0].PersonalColumns[0].Strategy = privacyv1alpha1.MaskingStrategy{Type: privacyv1alpha1.StrategyPseudonym, Format: ptr.To("L_n")}
		}, "format must contain a placeholder {n} or {hex:N}"),
		Entry("Fake without kind", func(s *privacyv1alpha1.DataInventorySpec) {
			s.Entities[0].PersonalColumns[0].Strategy = privacyv1alpha1.MaskingStrategy{Type: privacyv1alpha1.StrategyFake}
		}, "fake is required for strategy Fake"),
		Entry("Partial without prefix or suffix", func(s *privacyv1alpha1.DataInventorySpec) {
			s.Entities[0].PersonalColumns[0].Strategy = privacyv1alpha1.MaskingStrategy{Type: privacyv1alpha1.StrategyPartial}
		}, "keepPrefix or keepSuffix is required for strategy Partial"),
		Entry("Generalize with both precision and bucket", func(s *privacyv1alpha1.DataInventorySpec) {
			p := privacyv1alpha1.Precision("Month")
			s.Entities[0].PersonalColumns[0].Strategy = privacyv1alpha1.MaskingStrategy{Type: privacyv1alpha1.StrategyGeneralize, Precision: &p, Bucket: ptr.To(int64(10))}
		}, "strategy Generalize needs exactly one of precision (dates) or bucket (numbers)"),
		Entry("Hash without key", func(s *privacyv1alpha1.DataInventorySpec) {
			s.Entities[0].PersonalColumns[0].Strategy = privacyv1alpha1.MaskingStrategy{Type: privacyv1alpha1.StrategyHash}
		}, "keySecretRef is required for strategy Hash"),
		Entry("unknown strategy", func(s *privacyv1alpha1.DataInventorySpec) {
			s.Entities[0].PersonalColumns[0].Strategy = privacyv1alpha1.MaskingStrategy{Type: "Scramble"}
		}, `Unsupported value: "Scramble"`),
		Entry("unknown category", func(s *privacyv1alpha1.DataInventorySpec) {
			s.Entities[0].PersonalColumns[0].Category = "Shoe size"
		}, `Unsupported value: "Shoe size"`),
	)

	It("stalls an inventory whose relations form a cycle, naming it", func() {
		inv := minimalInventory(ns)
		inv.Spec.Entities = append(inv.Spec.Entities,
			privacyv1alpha1.Entity{Name: "a", Table: "app.a", PrimaryKey: []string{"id"},
				Relations: []privacyv1alpha1.EntityRelation{{Entity: "b", Direction: privacyv1alpha1.RelationChild, Columns: []string{"b_id"}}}},
			privacyv1alpha1.Entity{Name: "b", Table: "app.b", PrimaryKey: []string{"id"},
				Relations: []privacyv1alpha1.EntityRelation{{Entity: "a", Direction: privacyv1alpha1.RelationChild, Columns: []string{"a_id"}}}},
		)
		Expect(k8s.Create(ctx, inv)).To(Succeed())
		Eventually(func(g Gomega) {
			var got privacyv1alpha1.DataInventory
			g.Expect(k8s.Get(ctx, types.NamespacedName{Namespace: ns, Name: inv.Name}, &got)).To(Succeed())
			g.Expect(got.Status.Conditions).To(ContainElement(And(
				HaveField("Type", privacyv1alpha1.ConditionStalled), HaveField("Status", metav1.ConditionTrue),
				HaveField("Reason", privacyv1alpha1.ReasonInventoryInvalid),
				HaveField("Message", ContainSubstring("relations form a cycle: a → b → a")))))
		}, timeout, interval).Should(Succeed())
	})
})
