package controllers

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/yaml"

	privacyv1alpha1 "github.com/lethe-dev/lethe/api/v1alpha1"
	"github.com/lethe-dev/lethe/internal/cli"
	"github.com/lethe-dev/lethe/internal/tenantdb"
	"github.com/lethe-dev/lethe/internal/testutil/pgtest"
	"github.com/lethe-dev/lethe/internal/testutil/schemas"
)

// draftCase is a database to draft an inventory of, and, for the schemas
// with hand-written cases, the subject whose rows the case lists.
type draftCase struct {
	database func() pgtest.Database
	known    *schemaCase
	// knownRoot is the table of the known subject's rows.
	knownRoot string
}

func draftEntries() []TableEntry {
	public := func(name string) func() pgtest.Database {
		return func() pgtest.Database {
			GinkgoHelper()
			if _, err := schemas.Dir(); err != nil {
				Skip(fmt.Sprintf("schema %s: %v", name, err))
			}
			return schemaDatabase(name)
		}
	}
	return []TableEntry{
		Entry("Chinook", draftCase{database: public(schemas.Chinook), known: &chinookCase, knownRoot: "public.customer"}),
		Entry("Northwind", draftCase{database: public(schemas.Northwind), known: &northwindCase, knownRoot: "public.customers"}),
		Entry("Edge", draftCase{database: func() pgtest.Database { return schemaDatabase(schemas.Edge) }, known: &edgeCase, knownRoot: "edge.members"}),
		Entry("the sample application", draftCase{database: sampleDatabase}),
	}
}

// draftedTenant creates a TenantDatabase of db that asks for a drafted
// inventory and names one that does not exist yet, waits for the draft,
// applies it as it is, and waits until the TenantDatabase is Ready.
func draftedTenant(db pgtest.Database) (tenants, *privacyv1alpha1.DataInventory) {
	GinkgoHelper()
	t := tenants{ns: newNamespace(), dbs: map[string]pgtest.Database{"tenant": db}}
	Expect(k8s.Create(ctx, secret(t.ns, "db", db.SecretData()))).To(Succeed())
	tdb := tenantDatabase(t.ns, "tenant", "db", "drafted")
	tdb.Annotations = map[string]string{privacyv1alpha1.AnnotationDraftInventory: "true"}
	Expect(k8s.Create(ctx, tdb)).To(Succeed())
	expectCondition(t.ns, "tenant", privacyv1alpha1.ConditionReady, metav1.ConditionFalse, privacyv1alpha1.ReasonInventoryNotFound)
	inv := draftConfigMap(t.ns, "tenant")
	Expect(inv.Name).To(Equal("drafted"), "the draft is named after spec.inventoryRef")
	inv.Namespace = t.ns
	Expect(k8s.Create(ctx, inv)).To(Succeed(), "the API server refuses the draft")
	expectCondition(t.ns, "tenant", privacyv1alpha1.ConditionReady, metav1.ConditionTrue, privacyv1alpha1.ReasonSucceeded)
	return t, inv
}

// draftConfigMap waits for a TenantDatabase's draft and parses it strictly.
func draftConfigMap(ns, name string) *privacyv1alpha1.DataInventory {
	GinkgoHelper()
	var cm corev1.ConfigMap
	Eventually(func(g Gomega) {
		g.Expect(k8s.Get(ctx, keyOf(ns, name+privacyv1alpha1.DraftConfigMapSuffix), &cm)).To(Succeed())
	}, timeout, interval).Should(Succeed())
	Expect(cm.OwnerReferences).To(ConsistOf(And(HaveField("Kind", "TenantDatabase"), HaveField("Name", name),
		HaveField("Controller", HaveValue(BeTrue())))))
	var inv privacyv1alpha1.DataInventory
	Expect(yaml.UnmarshalStrict([]byte(cm.Data[privacyv1alpha1.DraftConfigMapKey]), &inv)).To(Succeed())
	return &inv
}

var _ = Describe("A drafted DataInventory", func() {
	DescribeTable("applied with no edit, makes the TenantDatabase Ready, covers every personal column, and finds every row of a subject that SQL finds",
		func(dc draftCase) {
			t, inv := draftedTenant(dc.database())
			expectCondition(t.ns, "tenant", privacyv1alpha1.ConditionUncoveredPersonalData, metav1.ConditionFalse, privacyv1alpha1.ReasonAllColumnsCovered)
			expectCondition(t.ns, "tenant", privacyv1alpha1.ConditionUnmappedReferences, metav1.ConditionFalse, privacyv1alpha1.ReasonNoUnmappedReferences)
			Expect(eventsOf(t.ns, "tenant")).To(ContainSubstring(privacyv1alpha1.ReasonInventoryDrafted))

			for i, s := range inv.Spec.Subjects {
				root := rootOf(inv, s.Name)
				id, value := t.someSubject(inv, root, dc)
				name := fmt.Sprintf("access-%d", i)
				By(fmt.Sprintf("an access request about the %s whose %s is %s", s.Name, id, value))
				Expect(k8s.Create(ctx, t.schemaRequest(name, privacyv1alpha1.RequestAccess, s.Name, map[string]string{id: value}))).To(Succeed())
				r := expectPhase(t.ns, name, privacyv1alpha1.PhaseCompleted)
				exported := exportedRows(getSecret(t.ns, r.Status.Export.SecretRef.Name).Data[privacyv1alpha1.ExportSecretKey], "tenant")
				direct := t.directRows(inv, s.Name, root, id, value)
				var found int64
				for _, e := range inv.Spec.Entities {
					n := len(direct[e.Name])
					Expect(entityOf(targetOf(r, "tenant"), e.Name).Found).To(BeEquivalentTo(n), "entity %s: rows found", e.Name)
					Expect(exported[e.Name]).To(HaveLen(n), "entity %s: rows exported", e.Name)
					found += int64(n)
				}
				if c, _ := child(inv, root); c != nil {
					Expect(found).To(BeNumerically(">", 1), "the subject has rows beyond its own; choose another")
				}
				if dc.known != nil && root.Table == dc.knownRoot {
					By("finding every row the hand-written case lists for that subject")
					for table, cond := range dc.known.access.rows {
						e := entityOfTable(inv, table)
						Expect(e).NotTo(BeNil(), "the draft leaves out table %s, which holds the subject's rows", table)
						Expect(entityOf(targetOf(r, "tenant"), e.Name).Found).To(BeEquivalentTo(len(t.rowsWhere(table, cond, dc.known.access.key))),
							"table %s", table)
					}
				}
			}
		}, draftEntries())
})

var _ = Describe("The draft ConfigMap", func() {
	It("is drafted again when the schema changes or it is deleted, and deleted when the annotation goes", func() {
		ns, db := readyTenant()
		tdb := getTenant(ns, "tenant")
		tdb.Annotations = map[string]string{privacyv1alpha1.AnnotationDraftInventory: "true"}
		Expect(k8s.Update(ctx, tdb)).To(Succeed())
		Expect(draftConfigMap(ns, "tenant").Spec.Entities).NotTo(ContainElement(HaveField("Table", "app.notes")))
		Eventually(func() string { return eventsOf(ns, "tenant") }, timeout, interval).Should(ContainSubstring(privacyv1alpha1.ReasonInventoryDrafted))

		By("drafting again when a table is added")
		adminExec(db, "CREATE TABLE app.notes (id int PRIMARY KEY, customer_id bigint NOT NULL REFERENCES app.customers, body text); "+
			"ALTER TABLE app.notes OWNER TO "+pgtest.AppUser)
		Eventually(func(g Gomega) {
			g.Expect(draftConfigMap(ns, "tenant").Spec.Entities).To(ContainElement(And(HaveField("Table", "app.notes"),
				HaveField("Relations", ConsistOf(HaveField("Entity", "customer"))))))
		}, timeout, interval).Should(Succeed())

		By("drafting again when the ConfigMap is deleted")
		name := keyOf(ns, "tenant"+privacyv1alpha1.DraftConfigMapSuffix)
		var cm corev1.ConfigMap
		Expect(k8s.Get(ctx, name, &cm)).To(Succeed())
		Expect(k8s.Delete(ctx, &cm)).To(Succeed())
		Eventually(func(g Gomega) {
			var again corev1.ConfigMap
			g.Expect(k8s.Get(ctx, name, &again)).To(Succeed())
			g.Expect(again.UID).NotTo(Equal(cm.UID))
		}, timeout, interval).Should(Succeed())

		By("deleting the ConfigMap when the annotation goes")
		tdb = getTenant(ns, "tenant")
		delete(tdb.Annotations, privacyv1alpha1.AnnotationDraftInventory)
		Expect(k8s.Update(ctx, tdb)).To(Succeed())
		Eventually(func() bool { return apierrors.IsNotFound(k8s.Get(ctx, name, &corev1.ConfigMap{})) }, timeout, interval).Should(BeTrue())
	})
})

var _ = Describe("lethe inventory draft", func() {
	It("reads a TenantDatabase's or a Secret's connection through the kubeconfig and drafts what the TenantDatabase's ConfigMap holds", func() {
		ns, _ := readyTenant()
		tdb := getTenant(ns, "tenant")
		tdb.Annotations = map[string]string{privacyv1alpha1.AnnotationDraftInventory: "true"}
		Expect(k8s.Update(ctx, tdb)).To(Succeed())
		want := draftConfigMap(ns, "tenant")

		dir := GinkgoT().TempDir()
		kubeconfig := filepath.Join(dir, "kubeconfig")
		writeKubeconfig(kubeconfig, ns)
		for _, args := range [][]string{{"--tenantdatabase", "tenant", "-n", ns}, {"--secret", "db"}} {
			out := filepath.Join(dir, "inventory.yaml")
			var errs strings.Builder
			code := cli.Main(ctx, append([]string{"/usr/local/bin/kubectl-lethe", "inventory", "draft", "--kubeconfig", kubeconfig, "-o", out}, args...),
				cli.Env{Stdout: GinkgoWriter, Stderr: &errs, Getenv: func(string) string { return "" }})
			Expect(code).To(BeZero(), errs.String())
			raw, err := os.ReadFile(out) // #nosec G304 -- the test's own file
			Expect(err).NotTo(HaveOccurred())
			var got privacyv1alpha1.DataInventory
			Expect(yaml.UnmarshalStrict(raw, &got)).To(Succeed())
			Expect(got.Spec).To(Equal(want.Spec), "%v", args)
			if args[0] == "--tenantdatabase" {
				Expect(got.Name).To(Equal("customer-service"), "named after the TenantDatabase's inventoryRef")
				Expect(errs.String()).To(ContainSubstring("from TenantDatabase " + ns + "/tenant (Secret db)"))
			}
		}
	})
})

// writeKubeconfig writes a kubeconfig for the suite's API server, its
// context in namespace ns.
func writeKubeconfig(path, ns string) {
	GinkgoHelper()
	writeKubeconfigAs(path, ns, "")
}

// writeKubeconfigAs writes a kubeconfig for the suite's API server whose
// admin impersonates a user (as userClient does), its context in namespace
// ns; no user means the admin itself.
func writeKubeconfigAs(path, ns, user string) {
	GinkgoHelper()
	kc := clientcmdapi.NewConfig()
	kc.Clusters["envtest"] = &clientcmdapi.Cluster{Server: cfg.Host, CertificateAuthorityData: cfg.CAData}
	kc.AuthInfos["admin"] = &clientcmdapi.AuthInfo{ClientCertificateData: cfg.CertData, ClientKeyData: cfg.KeyData, Token: cfg.BearerToken}
	if user != "" {
		kc.AuthInfos["admin"].Impersonate = user
		kc.AuthInfos["admin"].ImpersonateUID = "uid-" + user
		kc.AuthInfos["admin"].ImpersonateGroups = []string{"lethe-testers", "system:authenticated"}
	}
	kc.Contexts["envtest"] = &clientcmdapi.Context{Cluster: "envtest", AuthInfo: "admin", Namespace: ns}
	kc.CurrentContext = "envtest"
	Expect(clientcmd.WriteToFile(*kc, path)).To(Succeed())
}

var _ = Describe("The content sampler", func() {
	It("lets no sampled value out through logs, events, status, drafts, metrics or error messages", func() {
		canary := fmt.Sprintf("canary-%d", GinkgoRandomSeed()+nsSeq.Load())
		ns := newNamespace()
		db := sampleDatabase()
		// A column personal by its content alone and a table nobody maps,
		// both holding the canary.
		adminExec(db, fmt.Sprintf(`ALTER TABLE app.customers ADD COLUMN reach text;
			UPDATE app.customers SET reach = 'c' || id || '@example.org';
			UPDATE app.customers SET reach = '%[1]s@leak.example' WHERE id = 1;
			CREATE TABLE app.leads (id int PRIMARY KEY, email text, note text);
			ALTER TABLE app.leads OWNER TO %[2]s;
			INSERT INTO app.leads SELECT i, 'lead' || i || '@example.org', 'call %[1]s' FROM generate_series(1, 30) i;
			INSERT INTO app.leads VALUES (31, '%[1]s@leak.example', '%[1]s')`, canary, pgtest.AppUser))

		By("sampling while the application holds a lock on a table, so that table's sample fails")
		t := tenants{ns: ns, dbs: map[string]pgtest.Database{"tenant": db}}
		locker := t.adminConn()
		_, err := locker.Exec(ctx, "BEGIN; LOCK TABLE app.leads IN ACCESS EXCLUSIVE MODE")
		Expect(err).NotTo(HaveOccurred())
		Expect(k8s.Create(ctx, sampleInventory(ns))).To(Succeed())
		Expect(k8s.Create(ctx, secret(ns, "db", db.SecretData()))).To(Succeed())
		tdb := tenantDatabase(ns, "tenant", "db", "customer-service")
		tdb.Annotations = map[string]string{privacyv1alpha1.AnnotationDraftInventory: "true"}
		Expect(k8s.Create(ctx, tdb)).To(Succeed())
		c := expectCondition(ns, "tenant", privacyv1alpha1.ConditionUncoveredPersonalData, metav1.ConditionTrue, privacyv1alpha1.ReasonUncoveredColumns)
		Expect(c.Message).To(ContainSubstring("could not be sampled, their columns judged by names and types: sampling app.leads: SQLSTATE 57014"))
		_, err = locker.Exec(ctx, "ROLLBACK")
		Expect(err).NotTo(HaveOccurred())

		By("sampling the table again once the lock is gone")
		Eventually(func(g Gomega) {
			st := getTenant(ns, "tenant").Status
			g.Expect(meta.FindStatusCondition(st.Conditions, privacyv1alpha1.ConditionUncoveredPersonalData).Message).NotTo(ContainSubstring("could not be sampled"))
			g.Expect(st.UncoveredColumns).To(ContainElements(
				And(HaveField("Column", "app.customers.reach"), HaveField("Reasons", ContainElement(HaveField("Kind", privacyv1alpha1.ColumnReasonContent)))),
				And(HaveField("Column", "app.leads.email"), HaveField("Reasons", ContainElement(HaveField("Kind", privacyv1alpha1.ColumnReasonContent))))))
		}, timeout, interval).Should(Succeed())
		Eventually(func(g Gomega) {
			var cm corev1.ConfigMap
			g.Expect(k8s.Get(ctx, keyOf(ns, "tenant"+privacyv1alpha1.DraftConfigMapSuffix), &cm)).To(Succeed())
			g.Expect(cm.Data[privacyv1alpha1.DraftConfigMapKey]).To(And(ContainSubstring("table: app.leads"),
				ContainSubstring("sampled values are e-mail addresses")))
		}, timeout, interval).Should(Succeed())

		Expect(leakSurface(ns)).NotTo(ContainSubstring(canary))
	})
})

// rootOf is the root entity of a subject type.
func rootOf(inv *privacyv1alpha1.DataInventory, subject string) *privacyv1alpha1.Entity {
	GinkgoHelper()
	for i, e := range inv.Spec.Entities {
		if e.Subject != nil && e.Subject.Type == subject {
			return &inv.Spec.Entities[i]
		}
	}
	Fail("no root entity of subject type " + subject)
	return nil
}

func entityOfTable(inv *privacyv1alpha1.DataInventory, table string) *privacyv1alpha1.Entity {
	for i, e := range inv.Spec.Entities {
		if tenantdb.CanonicalTableName(e.Table) == table {
			return &inv.Spec.Entities[i]
		}
	}
	return nil
}

// child is an entity whose relation makes it a Child of root, or nil.
func child(inv *privacyv1alpha1.DataInventory, root *privacyv1alpha1.Entity) (*privacyv1alpha1.Entity, *privacyv1alpha1.EntityRelation) {
	for i, e := range inv.Spec.Entities {
		for j, r := range e.Relations {
			if r.Entity == root.Name && r.Direction == privacyv1alpha1.RelationChild {
				return &inv.Spec.Entities[i], &inv.Spec.Entities[i].Relations[j]
			}
		}
	}
	return nil, nil
}

// someSubject picks a subject of a root: the hand-written case's subject
// where there is one, else the first row (by key) that a Child entity's
// rows point to, else the first row; it names it by the identifier on the
// root's key where the draft has one.
func (t tenants) someSubject(inv *privacyv1alpha1.DataInventory, root *privacyv1alpha1.Entity, dc draftCase) (id, value string) {
	GinkgoHelper()
	ids := root.Subject.Identifiers
	pick := ids[0]
	for _, i := range ids {
		if len(root.PrimaryKey) == 1 && i.Column == root.PrimaryKey[0] {
			pick = i
		}
	}
	if dc.known != nil && root.Table == dc.knownRoot && len(root.PrimaryKey) == 1 && pick.Column == root.PrimaryKey[0] {
		return pick.Name, fmt.Sprint(dc.known.access.key)
	}
	tbl, err := tenantdb.QuoteTable(root.Table)
	Expect(err).NotTo(HaveOccurred())
	col := quoteIdents(pick.Column)[0]
	where := ""
	if c, r := child(inv, root); c != nil {
		refs := r.References
		if len(refs) == 0 {
			refs = root.PrimaryKey
		}
		on := make([]string, len(r.Columns))
		for i := range r.Columns {
			on[i] = fmt.Sprintf("c.%s = r.%s", quoteIdents(r.Columns[i])[0], quoteIdents(refs[i])[0])
		}
		where = fmt.Sprintf(" AND EXISTS (SELECT 1 FROM %s AS c WHERE %s)", quotedTable(c), strings.Join(on, " AND "))
	}
	v := t.query("tenant", fmt.Sprintf("SELECT r.%s::text FROM %s AS r WHERE r.%s IS NOT NULL%s ORDER BY %s LIMIT 1", // #nosec G201 -- the test's own identifiers
		col, tbl, col, where, strings.Join(quoteIdents(root.PrimaryKey...), ", ")))
	return pick.Name, v.(string)
}

// directRows finds a subject's rows of every entity with plain SQL, one
// query per relation, following the inventory's relations from the root
// rows whose identifier column holds the value: per entity, the keys found.
func (t tenants) directRows(inv *privacyv1alpha1.DataInventory, subject string, root *privacyv1alpha1.Entity, id, value string) map[string][]string {
	GinkgoHelper()
	conn := t.adminConn()
	byName := map[string]*privacyv1alpha1.Entity{}
	for i := range inv.Spec.Entities {
		byName[inv.Spec.Entities[i].Name] = &inv.Spec.Entities[i]
	}
	keysOf := func(sql string, args ...any) []string {
		rows, err := conn.Query(ctx, sql, args...)
		Expect(err).NotTo(HaveOccurred(), sql)
		var out []string
		for rows.Next() {
			var k string
			Expect(rows.Scan(&k)).To(Succeed())
			out = append(out, k)
		}
		Expect(rows.Err()).NotTo(HaveOccurred())
		return out
	}
	found := map[string][]string{}
	var column string
	for _, i := range root.Subject.Identifiers {
		if i.Name == id {
			column = i.Column
		}
	}
	found[root.Name] = keysOf(fmt.Sprintf("SELECT DISTINCT %s FROM %s AS r WHERE r.%s::text = $1", // #nosec G201 -- the test's own identifiers
		keyExpr(root, "r"), quotedTable(root), quoteIdents(column)[0]), value)
	// The relations form no cycle: as many rounds as entities reach every
	// one.
	for range inv.Spec.Entities {
		for _, e := range inv.Spec.Entities {
			if e.Name == root.Name {
				continue
			}
			seen := map[string]bool{}
			for _, r := range e.Relations {
				p := byName[r.Entity]
				if len(found[p.Name]) == 0 {
					continue
				}
				// Child: c holds the columns, p the referenced ones;
				// Referenced: the other way round.
				refs, holderAlias, targetAlias := r.References, "c", "p"
				if r.Direction == privacyv1alpha1.RelationChild && len(refs) == 0 {
					refs = p.PrimaryKey
				}
				if r.Direction == privacyv1alpha1.RelationReferenced {
					if len(refs) == 0 {
						refs = e.PrimaryKey
					}
					holderAlias, targetAlias = "p", "c"
				}
				on := make([]string, len(r.Columns))
				for i := range r.Columns {
					on[i] = fmt.Sprintf("%s.%s = %s.%s", holderAlias, quoteIdents(r.Columns[i])[0], targetAlias, quoteIdents(refs[i])[0])
				}
				for _, k := range keysOf(fmt.Sprintf("SELECT DISTINCT %s FROM %s AS c JOIN %s AS p ON %s WHERE %s = ANY($1)", // #nosec G201 -- the test's own identifiers
					keyExpr(&e, "c"), quotedTable(&e), quotedTable(p), strings.Join(on, " AND "), keyExpr(p, "p")), found[p.Name]) {
					seen[k] = true
				}
			}
			keys := make([]string, 0, len(seen))
			for k := range seen {
				keys = append(keys, k)
			}
			slices.Sort(keys)
			found[e.Name] = keys
		}
	}
	return found
}

// quoteIdents quotes column names for SQL.
func quoteIdents(cols ...string) []string {
	out := make([]string, len(cols))
	for i, c := range cols {
		out[i] = pgx.Identifier{c}.Sanitize()
	}
	return out
}

func quotedTable(e *privacyv1alpha1.Entity) string {
	GinkgoHelper()
	t, err := tenantdb.QuoteTable(e.Table)
	Expect(err).NotTo(HaveOccurred())
	return t
}

// keyExpr renders an entity's key of alias as a JSON array's text.
func keyExpr(e *privacyv1alpha1.Entity, alias string) string {
	cols := make([]string, len(e.PrimaryKey))
	for i, c := range quoteIdents(e.PrimaryKey...) {
		cols[i] = alias + "." + c
	}
	return "pg_catalog.json_build_array(" + strings.Join(cols, ", ") + ")::text"
}
