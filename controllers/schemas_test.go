package controllers

import (
	"fmt"
	"reflect"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	privacyv1alpha1 "github.com/lethe-dev/lethe/api/v1alpha1"
	"github.com/lethe-dev/lethe/internal/testutil/schemas"
)

// The features that touch tenant data, through the API server and the
// running manager, on Chinook and Northwind (public schemas loaded
// unchanged) and Edge (the project's own schema of the shapes they lack),
// each with its hand-written DataInventory.

// subjectCase is a subject of a schema: the identifiers a request names
// it by, and per table the condition (on alias r, with $1 the subject's
// key) that selects its rows, mapped or not.
type subjectCase struct {
	ids  map[string]string
	key  any
	rows map[string]string
}

// jobCase is a PseudonymizationJob's subject: its matching identifier, the
// root table and the condition selecting its row there ($1 the
// identifier), the job's pseudonym formats, and the columns that change.
type jobCase struct {
	identifier string
	table      string
	where      string
	fields     []privacyv1alpha1.PseudonymField
	changes    []string
}

// retentionCase is a rule and, per table, the condition selecting the rows
// it changes or deletes ($1 the run's time).
type retentionCase struct {
	rule privacyv1alpha1.RetentionRule
	rows map[string]string
}

// schemaCase is what the specs do on one schema.
type schemaCase struct {
	schema, subjectType      string
	access, anonymize, erase subjectCase
	// empty are entities the access subject has no rows of.
	empty []string
	// remain are the columns an erasure by Anonymize leaves holding the
	// subject's identifiers (a natural key and the references to it).
	remain []string
	// effects are the effects of foreign keys an erasure by Delete of the
	// erase subject counts, per entity: the rows of the table each names
	// that belong to the subject.
	effects                   map[string][]privacyv1alpha1.ForeignKeyEffect
	job                       jobCase
	anonymizeRule, deleteRule retentionCase
}

// retentionReference is the instant retention ages are measured from.
var retentionReference = time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)

func chinookCustomer(ids map[string]string, id int) subjectCase {
	return subjectCase{ids: ids, key: id, rows: map[string]string{
		"public.customer":     "r.customer_id = $1",
		"public.invoice":      "r.customer_id = $1",
		"public.invoice_line": "r.invoice_id IN (SELECT invoice_id FROM public.invoice WHERE customer_id = $1)",
	}}
}

func northwindCustomer(id string) subjectCase {
	return subjectCase{ids: map[string]string{"customerId": id}, key: id, rows: map[string]string{
		"public.customers":              "r.customer_id = $1",
		"public.customer_customer_demo": "r.customer_id = $1",
		"public.orders":                 "r.customer_id = $1",
		"public.order_details":          "r.order_id IN (SELECT order_id FROM public.orders WHERE customer_id = $1)",
	}}
}

// edgeMember is Edge's member i, with the rows of the two tables the
// inventory leaves out.
func edgeMember(ids map[string]string, i int) subjectCase {
	return subjectCase{ids: ids, key: schemas.MemberID(i), rows: map[string]string{
		"edge.members":         "r.id = $1::uuid",
		"edge.accounts":        "r.member_id = $1::uuid",
		"edge.payments":        "r.account_code IN (SELECT code FROM edge.accounts WHERE member_id = $1::uuid)",
		"edge.refunds":         "(r.paid_at, r.payment_id) IN (SELECT p.paid_at, p.id FROM edge.payments p JOIN edge.accounts a ON a.code = p.account_code WHERE a.member_id = $1::uuid)",
		"edge.devices":         "r.member_id = $1::uuid",
		"edge.subscriptions":   "r.member_email = (SELECT email FROM edge.members WHERE id = $1::uuid)",
		"edge.profiles":        "r.member_id = $1::uuid",
		"edge.addresses":       "r.profile_id = $1::uuid",
		"edge.carts":           "r.member_id = $1::uuid",
		"edge.cart_items":      "r.cart_id IN (SELECT id FROM edge.carts WHERE member_id = $1::uuid)",
		"edge.sessions":        "r.member_id = $1::uuid",
		"edge.support_notes":   "r.member_id = $1::uuid",
		`edge."Loyalty Cards"`: "r.member_id = $1::uuid",
	}}
}

func olderThan(column, interval string) string {
	return fmt.Sprintf("r.%s < $1::timestamptz - interval '%s'", column, interval)
}

var (
	chinookCase = schemaCase{schema: schemas.Chinook, subjectType: "customer",
		access:    chinookCustomer(map[string]string{"customerId": "12"}, 12),
		anonymize: chinookCustomer(map[string]string{"email": "astrid.gruber@apple.at"}, 7),
		erase:     chinookCustomer(map[string]string{"email": "luisg@embraer.com.br"}, 1),
		job: jobCase{identifier: "9", table: "public.customer", where: "r.customer_id::text = $1",
			fields:  []privacyv1alpha1.PseudonymField{{Column: "first_name", Format: "F_{n}"}, {Column: "last_name", Format: "L_{n}"}},
			changes: []string{"first_name", "last_name", "email"}},
		anonymizeRule: retentionCase{rule: privacyv1alpha1.RetentionRule{Name: "old-invoices", Entity: "invoice",
			Age: privacyv1alpha1.RetentionAge{Column: "invoice_date", OlderThan: "4y"}, Action: privacyv1alpha1.RetentionAnonymize},
			rows: map[string]string{"public.invoice": olderThan("invoice_date", "4 years")}},
		deleteRule: retentionCase{rule: privacyv1alpha1.RetentionRule{Name: "oldest-invoices", Entity: "invoice",
			Age: privacyv1alpha1.RetentionAge{Column: "invoice_date", OlderThan: "5y"}, Action: privacyv1alpha1.RetentionDelete},
			rows: map[string]string{"public.invoice": olderThan("invoice_date", "5 years"),
				"public.invoice_line": "r.invoice_id IN (SELECT invoice_id FROM public.invoice WHERE invoice_date < $1::timestamptz - interval '5 years')"}},
	}
	northwindCase = schemaCase{schema: schemas.Northwind, subjectType: "customer",
		access: northwindCustomer("ALFKI"), anonymize: northwindCustomer("BONAP"), erase: northwindCustomer("ANTON"),
		empty:  []string{"customerDemo"},
		remain: []string{"public.customers.customer_id", "public.orders.customer_id"},
		job: jobCase{identifier: "BLONP", table: "public.customers", where: "r.customer_id = $1",
			fields: []privacyv1alpha1.PseudonymField{{Column: "contact_name", Format: "C_{n}"}, {Column: "first_name", Format: "F_{n}"},
				{Column: "last_name", Format: "L_{n}"}},
			changes: []string{"contact_name"}},
		anonymizeRule: retentionCase{rule: privacyv1alpha1.RetentionRule{Name: "old-orders", Entity: "order",
			Age: privacyv1alpha1.RetentionAge{Column: "order_date", OlderThan: "29y"}, Action: privacyv1alpha1.RetentionAnonymize},
			rows: map[string]string{"public.orders": olderThan("order_date", "29 years")}},
		deleteRule: retentionCase{rule: privacyv1alpha1.RetentionRule{Name: "oldest-orders", Entity: "order",
			Age: privacyv1alpha1.RetentionAge{Column: "order_date", OlderThan: "30y"}, Action: privacyv1alpha1.RetentionDelete},
			rows: map[string]string{"public.orders": olderThan("order_date", "30 years"),
				"public.order_details": "r.order_id IN (SELECT order_id FROM public.orders WHERE order_date < $1::timestamptz - interval '30 years')"}},
	}
	edgeCase = schemaCase{schema: schemas.Edge, subjectType: "member",
		access:    edgeMember(map[string]string{"email": schemas.MemberEmail(24)}, 24),
		anonymize: edgeMember(map[string]string{"email": schemas.MemberEmail(18)}, 18),
		erase:     edgeMember(map[string]string{"memberId": schemas.MemberID(12)}, 12),
		effects: map[string][]privacyv1alpha1.ForeignKeyEffect{
			// the unmapped sessions go with their member
			"member": {{Table: "edge.sessions", Constraint: "sessions_member_id_fkey", Action: "CASCADE"}},
			// the two cycles are cut before their rows go
			"address":  {{Table: "edge.profiles", Constraint: "profiles_current_address_fkey", Action: "UNLINK"}},
			"cartItem": {{Table: "edge.carts", Constraint: "carts_last_item_fkey", Action: "UNLINK"}},
		},
		job: jobCase{identifier: schemas.MemberID(15), table: "edge.members", where: "r.id::text = $1",
			fields:  []privacyv1alpha1.PseudonymField{{Column: "full_name", Format: "M_{n}"}},
			changes: []string{"full_name", "email"}},
		anonymizeRule: retentionCase{rule: privacyv1alpha1.RetentionRule{Name: "old-devices", Entity: "device",
			Age: privacyv1alpha1.RetentionAge{Column: "registered_at", OlderThan: "1000d"}, Action: privacyv1alpha1.RetentionAnonymize},
			rows: map[string]string{"edge.devices": olderThan("registered_at", "1000 days")}},
		deleteRule: retentionCase{rule: privacyv1alpha1.RetentionRule{Name: "old-payments", Entity: "payment",
			Age: privacyv1alpha1.RetentionAge{Column: "paid_at", OlderThan: "1y"}, Action: privacyv1alpha1.RetentionDelete},
			rows: map[string]string{"edge.payments": olderThan("paid_at", "1 year"),
				"edge.refunds": "(r.paid_at, r.payment_id) IN (SELECT paid_at, id FROM edge.payments WHERE paid_at < $1::timestamptz - interval '1 year')"}},
	}
)

func schemaEntries() []TableEntry {
	return []TableEntry{Entry("Chinook", chinookCase), Entry("Northwind", northwindCase), Entry("Edge", edgeCase)}
}

var _ = Describe("Schemas nobody on the team wrote", func() {
	DescribeTable("an access export holds every row of the subject, as direct SQL reads them", func(sc schemaCase) {
		t := schemaTenant(sc.schema)
		Expect(k8s.Create(ctx, t.schemaRequest("access", privacyv1alpha1.RequestAccess, sc.subjectType, sc.access.ids))).To(Succeed())
		r := expectPhase(t.ns, "access", privacyv1alpha1.PhaseCompleted)
		Expect(r.Status.Export).NotTo(BeNil())
		exported := exportedRows(getSecret(t.ns, r.Status.Export.SecretRef.Name).Data[privacyv1alpha1.ExportSecretKey], "tenant")
		for entity, table := range entityTables(schemaInventory(sc.schema, t.ns)) {
			cond, ok := sc.access.rows[table]
			if !ok { // an entity of another subject type
				Expect(exported).NotTo(HaveKey(entity))
				continue
			}
			want := t.rowsWhere(table, cond, sc.access.key)
			if len(want) == 0 {
				Expect(sc.empty).To(ContainElement(entity), "the subject has no rows of entity %s; choose another", entity)
				Expect(exported[entity]).To(BeEmpty(), "entity %s", entity)
				continue
			}
			Expect(exported[entity]).To(Equal(want), "entity %s: the export differs from the rows SQL reads", entity)
			Expect(entityOf(targetOf(r, "tenant"), entity).Found).To(BeEquivalentTo(len(want)), "entity %s", entity)
		}
	}, schemaEntries())

	DescribeTable("an erasure by Anonymize masks the subject's personal columns and changes no other row", func(sc schemaCase) {
		t := schemaTenant(sc.schema)
		inv := schemaInventory(sc.schema, t.ns)
		tables := entityTables(inv)
		before := t.snapshot()
		subject := only(t.keys(before, sc.anonymize.rows, sc.anonymize.key), func(table string) bool {
			for _, tb := range tables {
				if tb == table {
					return true
				}
			}
			return false
		})
		Expect(k8s.Create(ctx, t.schemaRequest("anonymize", privacyv1alpha1.RequestErasure, sc.subjectType, sc.anonymize.ids))).To(Succeed())
		r := expectPhase(t.ns, "anonymize", privacyv1alpha1.PhaseCompleted)
		after := t.snapshot()
		d := diff(before, after)
		Expect(total(d.gone)+total(d.added)).To(BeZero(), "rows went or came: %v %v", d.gone, d.added)
		var others []string
		for table, keys := range d.changed {
			for k := range keys {
				if !subject[table][k] {
					others = append(others, table+" "+k)
				}
			}
		}
		Expect(others).To(BeEmpty(), "rows not of the subject changed")

		masks := t.auditRows(string(r.UID), "Mask")
		for _, e := range inv.Spec.Entities {
			if len(e.PersonalColumns) == 0 {
				continue
			}
			table := tables[e.Name]
			for k := range subject[table] {
				was, now := columnsOf(before.rows[table][k]), columnsOf(after.rows[table][k])
				for _, pc := range e.PersonalColumns {
					if was[pc.Column] != nil {
						Expect(reflect.DeepEqual(was[pc.Column], now[pc.Column])).To(BeFalse(), "%s.%s of row %s kept its value", table, pc.Column, k)
					}
				}
			}
			n := int64(len(subject[table]))
			Expect(entityOf(targetOf(r, "tenant"), e.Name).Changed).To(Equal(n), "entity %s", e.Name)
			Expect(masks[e.Name]).To(Equal(n), "the audit log of entity %s", e.Name)
		}
		Expect(total(subject)).To(BeNumerically(">", 0))
		if len(sc.remain) == 0 {
			expectRequestCondition(t.ns, "anonymize", privacyv1alpha1.ConditionVerified, metav1.ConditionTrue, privacyv1alpha1.ReasonVerified)
			return
		}
		// The subject's customer id is the key Anonymize keeps, so the
		// rows stay linked: the verification says where it remains.
		c := expectRequestCondition(t.ns, "anonymize", privacyv1alpha1.ConditionVerified, metav1.ConditionFalse, privacyv1alpha1.ReasonIdentifiersRemain)
		Expect(c.Message).To(ContainSubstring("remain in tenant: " + strings.Join(sc.remain, ", tenant: ") + ":"))
	}, schemaEntries())

	DescribeTable("an erasure by Delete deletes the subject's rows children first and no other row, counting what a CASCADE took", func(sc schemaCase) {
		t := schemaTenant(sc.schema)
		inv := schemaInventory(sc.schema, t.ns)
		tables := entityTables(inv)
		before := t.snapshot()
		subject := t.keys(before, sc.erase.rows, sc.erase.key)
		req := t.schemaRequest("delete", privacyv1alpha1.RequestErasure, sc.subjectType, sc.erase.ids)
		req.Spec.Erasure = &privacyv1alpha1.ErasureOptions{Method: privacyv1alpha1.ErasureDelete}
		Expect(k8s.Create(ctx, req)).To(Succeed())
		r := expectPhase(t.ns, "delete", privacyv1alpha1.PhaseCompleted)
		d := diff(before, t.snapshot())
		expectKeys("deleted", d.gone, subject)
		Expect(total(d.changed)+total(d.added)).To(BeZero(), "rows changed or came: %v %v", d.changed, d.added)

		target := targetOf(r, "tenant")
		deletes := t.auditRows(string(r.UID), "Delete")
		order := t.auditOrder(string(r.UID), "Delete")
		for _, e := range inv.Spec.Entities {
			n := int64(len(subject[tables[e.Name]]))
			Expect(entityOf(target, e.Name).Changed).To(Equal(n), "entity %s", e.Name)
			Expect(deletes[e.Name]).To(Equal(n), "the audit log of entity %s", e.Name)
			for _, rel := range e.Relations {
				if rel.Direction == privacyv1alpha1.RelationChild && n > 0 && deletes[rel.Entity] > 0 {
					Expect(order[e.Name][1]).To(BeNumerically("<", order[rel.Entity][0]), "entity %s was deleted after its parent %s", e.Name, rel.Entity)
				}
			}
		}
		for _, e := range inv.Spec.Entities {
			want := []privacyv1alpha1.ForeignKeyEffect{}
			for _, fx := range sc.effects[e.Name] {
				Expect(subject[fx.Table]).NotTo(BeEmpty(), "the subject has no rows of %s; choose another", fx.Table)
				fx.Rows = int64(len(subject[fx.Table]))
				want = append(want, fx)
			}
			Expect(entityOf(target, e.Name).Effects).To(ConsistOf(want), "the effects of entity %s in status", e.Name)
		}
		expectRequestCondition(t.ns, "delete", privacyv1alpha1.ConditionVerified, metav1.ConditionTrue, privacyv1alpha1.ReasonVerified)
	}, schemaEntries())

	DescribeTable("retention Anonymize and Delete rules change exactly the rows older than their age, once", func(sc schemaCase) {
		retentionClock.SetTime(retentionReference)
		DeferCleanup(func() { retentionClock.SetTime(time.Now()) })
		t := schemaTenant(sc.schema)
		tables := entityTables(schemaInventory(sc.schema, t.ns))
		if sc.schema == schemas.Edge {
			By("refusing a Delete of members that an unmapped NO ACTION reference would block, before any row changes")
			before := t.snapshot()
			p := retentionPolicy(t.ns, "members", privacyv1alpha1.RetentionRule{Name: "closed-members", Entity: "member",
				Age: privacyv1alpha1.RetentionAge{Column: "closed_at", OlderThan: "90d"}, Action: privacyv1alpha1.RetentionDelete})
			p.Spec.Targets.Names = []string{"tenant"}
			Expect(k8s.Create(ctx, p)).To(Succeed())
			c := waitCondition(p, func() []metav1.Condition { return p.Status.Conditions },
				privacyv1alpha1.ConditionStalled, metav1.ConditionTrue, privacyv1alpha1.ReasonRuleInvalid)
			Expect(c.Message).To(And(ContainSubstring("support_notes_member_id_fkey"), ContainSubstring("edge.support_notes")))
			Expect(getPolicy(t.ns, "members").Status.Run).To(BeNil())
			d := diff(before, t.snapshot())
			Expect(total(d.changed) + total(d.gone)).To(BeZero())
		}
		for _, rc := range []retentionCase{sc.anonymizeRule, sc.deleteRule} {
			By(fmt.Sprintf("running rule %s (%s)", rc.rule.Name, rc.rule.Action))
			before := t.snapshot()
			eligible := t.keys(before, rc.rows, retentionReference)
			n := int64(len(eligible[tables[rc.rule.Entity]]))
			Expect(n).To(BeNumerically(">", 0), "no row is older than the age")
			Expect(n).To(BeNumerically("<", len(before.rows[tables[rc.rule.Entity]])), "every row is older than the age")
			p := retentionPolicy(t.ns, rc.rule.Name, rc.rule)
			p.Spec.Targets.Names = []string{"tenant"}
			Expect(k8s.Create(ctx, p)).To(Succeed())
			p = completedRun(t.ns, rc.rule.Name, "1")
			Expect(p.Status.Run.ScheduledTime.Time).To(BeTemporally("==", retentionReference))
			d := diff(before, t.snapshot())
			if rc.rule.Action == privacyv1alpha1.RetentionDelete {
				expectKeys("deleted", d.gone, eligible)
				Expect(total(d.changed)).To(BeZero())
			} else {
				expectKeys("changed", d.changed, eligible)
				Expect(total(d.gone)).To(BeZero())
			}
			st := ruleStatus(p, "tenant", rc.rule.Name)
			Expect(st.Matched).To(Equal(n))
			Expect(st.Changed).To(Equal(n))
			Expect(t.auditRows(string(p.UID), string(rc.rule.Action))[rc.rule.Entity]).To(Equal(st.Changed), "the audit log")

			runNow(t.ns, rc.rule.Name, "2")
			p = completedRun(t.ns, rc.rule.Name, "2")
			Expect(ruleStatus(p, "tenant", rc.rule.Name).Changed).To(BeZero(), "the second run")
			Expect(ruleStatus(p, "tenant", rc.rule.Name).Matched).To(BeZero(), "the second run")
			Expect(t.auditRows(string(p.UID), string(rc.rule.Action))[rc.rule.Entity]).To(Equal(st.Changed), "the audit log after the second run")
		}
	}, schemaEntries())

	DescribeTable("a keyed PseudonymizationJob changes the subject's identifying columns only, and a second job nothing", func(sc schemaCase) {
		t := schemaTenant(sc.schema)
		Expect(k8s.Create(ctx, secret(t.ns, "pseudonym-key", map[string][]byte{"key": []byte("0123456789abcdef0123456789abcdef")}))).To(Succeed())
		Expect(k8s.Create(ctx, secret(t.ns, "who", map[string][]byte{"id": []byte(sc.job.identifier)}))).To(Succeed())
		job := func(name string) *privacyv1alpha1.PseudonymizationJob {
			j := newJob(t.ns, name, "tenant")
			j.Spec.Subject = &privacyv1alpha1.PseudonymizationSubject{IdentifierSecretRef: &privacyv1alpha1.SecretKeyReference{Name: "who", Key: "id"}}
			j.Spec.Pseudonym.Fields = sc.job.fields
			return j
		}
		before := t.snapshot()
		subject := t.keys(before, map[string]string{sc.job.table: sc.job.where}, sc.job.identifier)
		Expect(subject[sc.job.table]).To(HaveLen(1))
		Expect(k8s.Create(ctx, job("pseudonymize"))).To(Succeed())
		j := expectJob(t.ns, "pseudonymize", privacyv1alpha1.ConditionReady, metav1.ConditionTrue, privacyv1alpha1.ReasonJobSucceeded)
		Expect(j.Status.Progress.Done).To(BeEquivalentTo(1))
		after := t.snapshot()
		d := diff(before, after)
		expectKeys("changed", d.changed, subject)
		Expect(total(d.gone) + total(d.added)).To(BeZero())
		for k := range subject[sc.job.table] {
			was, now := columnsOf(before.rows[sc.job.table][k]), columnsOf(after.rows[sc.job.table][k])
			for col, v := range was {
				Expect(reflect.DeepEqual(now[col], v)).To(Equal(!contains(sc.job.changes, col)), "column %s: %v, was %v", col, now[col], v)
			}
		}
		if len(sc.job.identifier) > 4 { // a short number is in any status
			Expect(jobStatusText(j)).NotTo(ContainSubstring(sc.job.identifier))
		}

		Expect(k8s.Create(ctx, job("again"))).To(Succeed())
		again := expectJob(t.ns, "again", privacyv1alpha1.ConditionReady, metav1.ConditionTrue, privacyv1alpha1.ReasonJobSucceeded)
		Expect(again.Status.Progress.Done).To(BeZero())
		d = diff(after, t.snapshot())
		Expect(total(d.changed) + total(d.gone) + total(d.added)).To(BeZero())
	}, schemaEntries())

	It("stalls an erasure by Delete that an unmapped table blocks, changing nothing, and completes it once the table is mapped", func() {
		const i = 10
		Expect(schemas.HasSupportNotes(i)).To(BeTrue())
		t := schemaTenant(schemas.Edge)
		member := edgeMember(map[string]string{"email": schemas.MemberEmail(i)}, i)
		before := t.snapshot()
		subject := t.keys(before, member.rows, member.key)
		Expect(subject["edge.support_notes"]).NotTo(BeEmpty())
		req := t.schemaRequest("blocked", privacyv1alpha1.RequestErasure, "member", member.ids)
		req.Spec.Erasure = &privacyv1alpha1.ErasureOptions{Method: privacyv1alpha1.ErasureDelete}
		Expect(k8s.Create(ctx, req)).To(Succeed())
		c := expectRequestCondition(t.ns, "blocked", privacyv1alpha1.ConditionStalled, metav1.ConditionTrue, privacyv1alpha1.ReasonDeleteBlocked)
		Expect(c.Message).To(And(ContainSubstring("edge.support_notes"), ContainSubstring("member_id"), ContainSubstring("support_notes_member_id_fkey")))
		Expect(getRequest(t.ns, "blocked").Status.Phase).To(Equal(privacyv1alpha1.PhaseFailed))
		Expect(eventsOf(t.ns, "blocked")).NotTo(ContainSubstring(privacyv1alpha1.ReasonTargetFailed), "the request was retried")
		Expect(t.count("tenant", "SELECT count(*) FROM lethe.runs WHERE uid = $1", string(getRequest(t.ns, "blocked").UID))).To(BeZero(), "a plan was recorded")
		d := diff(before, t.snapshot())
		Expect(total(d.changed)+total(d.gone)+total(d.added)).To(BeZero(), "rows changed before the fix")

		By("mapping support_notes as a child of member, its columns from the live foreign key")
		Expect(updateAs(k8s, schemaInventory(schemas.Edge, t.ns), func(inv *privacyv1alpha1.DataInventory) {
			inv.Spec.Entities = append(inv.Spec.Entities, privacyv1alpha1.Entity{Name: "supportNote", Table: "edge.support_notes",
				Relations: []privacyv1alpha1.EntityRelation{{Entity: "member", Direction: privacyv1alpha1.RelationChild}}})
		})).To(Succeed())
		r := expectPhase(t.ns, "blocked", privacyv1alpha1.PhaseCompleted)
		expectRequestCondition(t.ns, "blocked", privacyv1alpha1.ConditionReady, metav1.ConditionTrue, privacyv1alpha1.ReasonCompleted)
		Expect(entityOf(targetOf(r, "tenant"), "supportNote").Changed).To(BeEquivalentTo(len(subject["edge.support_notes"])))
		d = diff(before, t.snapshot())
		expectKeys("deleted", d.gone, subject)
		Expect(total(d.changed) + total(d.added)).To(BeZero())
	})
})
