package controllers

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	privacyv1alpha1 "github.com/lethe-dev/lethe/api/v1alpha1"
	"github.com/lethe-dev/lethe/internal/export"
	"github.com/lethe-dev/lethe/internal/tenantdb"
	"github.com/lethe-dev/lethe/internal/testutil/pgtest"
	"github.com/lethe-dev/lethe/internal/testutil/schemas"
)

// schemaTemplate is a schema loaded once into a database of its own, which
// every spec copies.
type schemaTemplate struct {
	once sync.Once
	db   string
	err  error
}

var schemaTemplates sync.Map // schema name -> *schemaTemplate

// schemaDatabase creates a database holding a schema of
// internal/testutil/schemas, copied from a template loaded on first use.
func schemaDatabase(name string) pgtest.Database {
	GinkgoHelper()
	v, _ := schemaTemplates.LoadOrStore(name, &schemaTemplate{})
	tmpl := v.(*schemaTemplate)
	tmpl.once.Do(func() {
		c, cancelLoad := context.WithTimeout(ctx, 2*time.Minute)
		defer cancelLoad()
		db, err := pg.CreateDatabase(c, "")
		if err != nil {
			tmpl.err = err
			return
		}
		conn, err := pg.AppConn(c, db)
		if err != nil {
			tmpl.err = err
			return
		}
		tmpl.err = schemas.Load(c, conn, name, schemas.Options{})
		_ = conn.Close(context.Background())
		tmpl.db = db.Name
	})
	Expect(tmpl.err).NotTo(HaveOccurred())
	db, err := pg.CopyDatabase(ctx, tmpl.db)
	Expect(err).NotTo(HaveOccurred())
	return db
}

// schemaTenant sets up a namespace with a schema's hand-written
// DataInventory, a database of its own holding the schema, its Secret and a
// TenantDatabase named tenant, Ready. It skips when a public schema is not
// here.
func schemaTenant(name string) tenants {
	GinkgoHelper()
	if name != schemas.Edge {
		if _, err := schemas.Dir(); err != nil {
			Skip(fmt.Sprintf("schema %s: %v", name, err))
		}
	}
	t := tenants{ns: newNamespace(), dbs: map[string]pgtest.Database{"tenant": schemaDatabase(name)}}
	inv := schemaInventory(name, t.ns)
	Expect(k8s.Create(ctx, inv)).To(Succeed())
	Expect(k8s.Create(ctx, secret(t.ns, "db", t.dbs["tenant"].SecretData()))).To(Succeed())
	Expect(k8s.Create(ctx, tenantDatabase(t.ns, "tenant", "db", inv.Name))).To(Succeed())
	expectCondition(t.ns, "tenant", privacyv1alpha1.ConditionReady, metav1.ConditionTrue, privacyv1alpha1.ReasonSucceeded)
	return t
}

// schemaInventory reads a schema's hand-written DataInventory into a
// namespace.
func schemaInventory(name, ns string) *privacyv1alpha1.DataInventory {
	GinkgoHelper()
	inv, err := schemas.InventoryObject(name)
	Expect(err).NotTo(HaveOccurred())
	inv.Namespace = ns
	return inv
}

// entityTables maps an inventory's entities to their canonical tables.
func entityTables(inv *privacyv1alpha1.DataInventory) map[string]string {
	out := map[string]string{}
	for _, e := range inv.Spec.Entities {
		out[e.Name] = tenantdb.CanonicalTableName(e.Table)
	}
	return out
}

// schemaRequest builds a request of the tenant about a subject whose
// identifiers it stores in a Secret of its own, needing no approval.
func (t tenants) schemaRequest(name string, typ privacyv1alpha1.RequestType, subjectType string, ids map[string]string) *privacyv1alpha1.DataSubjectRequest {
	GinkgoHelper()
	t.identifiersSecret(name+"-who", ids)
	r := t.request(name, typ, name+"-who")
	r.Spec.Subject.Type = subjectType
	r.Spec.Targets.Names = []string{"tenant"}
	r.Spec.Approval = &privacyv1alpha1.Approval{Required: ptr.To(false)}
	return r
}

// adminConn connects to the tenant's database as the superuser, with the
// settings the operator's pools pin (so rows render as the operator sees
// them), closed when the spec ends.
func (t tenants) adminConn() *pgx.Conn {
	GinkgoHelper()
	cfg, err := pgx.ParseConfig(pg.AdminDSN(t.dbs["tenant"].Name))
	Expect(err).NotTo(HaveOccurred())
	cfg.RuntimeParams["TimeZone"] = "UTC"
	cfg.RuntimeParams["DateStyle"] = "ISO, YMD"
	cfg.RuntimeParams["IntervalStyle"] = "postgres"
	cfg.RuntimeParams["extra_float_digits"] = "3"
	conn, err := pgx.ConnectConfig(ctx, cfg)
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(func() { _ = conn.Close(context.Background()) })
	return conn
}

// snapshot is every row of a database's tables (partitioned tables through
// their parents; not the lethe schema): per canonical table name, each
// row's key (a JSON array of its key columns) and the row as row_to_json
// renders it.
type snapshot struct {
	cat  *tenantdb.Catalog
	rows map[string]map[string]string
}

// keyText renders a row's key: a JSON array of its key columns, or the
// whole row for a table without one.
func keyText(t *tenantdb.Table) string {
	if len(t.Key) == 0 {
		return "pg_catalog.row_to_json(r)::text"
	}
	cols := make([]string, len(t.Key))
	for i, k := range t.Key {
		cols[i] = "r." + pgx.Identifier{k}.Sanitize()
	}
	return "pg_catalog.json_build_array(" + strings.Join(cols, ", ") + ")::text"
}

// snapshot reads every row of the tenant's tables.
func (t tenants) snapshot() snapshot {
	GinkgoHelper()
	conn := t.adminConn()
	cat, err := tenantdb.ReadCatalog(ctx, conn)
	Expect(err).NotTo(HaveOccurred())
	s := snapshot{cat: cat, rows: map[string]map[string]string{}}
	for name, tbl := range cat.Tables {
		rows, err := conn.Query(ctx, fmt.Sprintf("SELECT %s, pg_catalog.row_to_json(r)::text FROM %s AS r", keyText(tbl), tbl.Ident())) // #nosec G201 -- identifiers sanitized
		Expect(err).NotTo(HaveOccurred())
		s.rows[name] = map[string]string{}
		for rows.Next() {
			var key, row string
			Expect(rows.Scan(&key, &row)).To(Succeed())
			s.rows[name][key] = row
		}
		Expect(rows.Err()).NotTo(HaveOccurred())
	}
	return s
}

// keys selects rows of each table by a condition on alias r and returns
// their keys, by table; arg is $1 of every condition.
func (t tenants) keys(s snapshot, where map[string]string, arg any) map[string]map[string]bool {
	GinkgoHelper()
	conn := t.adminConn()
	out := map[string]map[string]bool{}
	for table, cond := range where {
		tbl, ok := s.cat.Table(table)
		Expect(ok).To(BeTrue(), "table %s does not exist", table)
		rows, err := conn.Query(ctx, fmt.Sprintf("SELECT %s FROM %s AS r WHERE %s", keyText(tbl), tbl.Ident(), cond), arg) // #nosec G201 -- the test's own conditions
		Expect(err).NotTo(HaveOccurred())
		keys, err := pgx.CollectRows(rows, pgx.RowTo[string])
		Expect(err).NotTo(HaveOccurred(), "table %s: %s", table, cond)
		out[table] = map[string]bool{}
		for _, k := range keys {
			out[table][k] = true
		}
	}
	return out
}

// rowsWhere reads the rows of a table a condition selects, canonical JSON,
// sorted.
func (t tenants) rowsWhere(table, cond string, arg any) []string {
	GinkgoHelper()
	rows, err := t.adminConn().Query(ctx, fmt.Sprintf("SELECT pg_catalog.row_to_json(r)::text FROM %s AS r WHERE %s", table, cond), arg) // #nosec G201 -- the test's own table and condition
	Expect(err).NotTo(HaveOccurred())
	texts, err := pgx.CollectRows(rows, pgx.RowTo[string])
	Expect(err).NotTo(HaveOccurred(), "table %s: %s", table, cond)
	out := make([]string, len(texts))
	for i, s := range texts {
		out[i] = canonicalJSON([]byte(s))
	}
	sort.Strings(out)
	return out
}

// canonicalJSON re-renders a JSON value with sorted keys and numbers kept
// as written.
func canonicalJSON(raw []byte) string {
	GinkgoHelper()
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	Expect(dec.Decode(&v)).To(Succeed())
	out, err := json.Marshal(v)
	Expect(err).NotTo(HaveOccurred())
	return string(out)
}

// exportedRows reads an access export's rows per entity of one tenant,
// canonical JSON, sorted.
func exportedRows(zipped []byte, tenant string) map[string][]string {
	GinkgoHelper()
	var doc struct {
		Tenants map[string]map[string][]json.RawMessage `json:"tenants"`
	}
	Expect(json.Unmarshal(unzip(zipped)[export.DocumentName], &doc)).To(Succeed())
	out := map[string][]string{}
	for entity, rows := range doc.Tenants[tenant] {
		for _, r := range rows {
			out[entity] = append(out[entity], canonicalJSON(r))
		}
		sort.Strings(out[entity])
	}
	return out
}

// changes compares two snapshots: the rows of each table that changed, that
// went and that came.
type changes struct {
	changed, gone, added map[string]map[string]bool
}

func diff(before, after snapshot) changes {
	c := changes{changed: map[string]map[string]bool{}, gone: map[string]map[string]bool{}, added: map[string]map[string]bool{}}
	mark := func(m map[string]map[string]bool, table, key string) {
		if m[table] == nil {
			m[table] = map[string]bool{}
		}
		m[table][key] = true
	}
	for table, rows := range before.rows {
		for key, row := range rows {
			now, ok := after.rows[table][key]
			switch {
			case !ok:
				mark(c.gone, table, key)
			case now != row:
				mark(c.changed, table, key)
			}
		}
		for key := range after.rows[table] {
			if _, ok := rows[key]; !ok {
				mark(c.added, table, key)
			}
		}
	}
	return c
}

// expectKeys fails, naming the table and a few rows, unless got holds
// exactly want's keys for every table of either (tables absent count as
// empty).
func expectKeys(what string, got, want map[string]map[string]bool) {
	GinkgoHelper()
	var problems []string
	for _, table := range slices.Sorted(maps.Keys(union(got, want))) {
		extra, missing := 0, 0
		var sample []string
		for k := range got[table] {
			if !want[table][k] {
				extra++
				sample = append(sample, "+"+k)
			}
		}
		for k := range want[table] {
			if !got[table][k] {
				missing++
				sample = append(sample, "-"+k)
			}
		}
		if extra+missing > 0 {
			sort.Strings(sample)
			problems = append(problems, fmt.Sprintf("%s: %d rows %s that should not be, %d not that should be (%s)",
				table, extra, what, missing, strings.Join(limit(sample, 4), ", ")))
		}
	}
	Expect(problems).To(BeEmpty())
}

func union(a, b map[string]map[string]bool) map[string]bool {
	out := map[string]bool{}
	for k, v := range a {
		if len(v) > 0 {
			out[k] = true
		}
	}
	for k, v := range b {
		if len(v) > 0 {
			out[k] = true
		}
	}
	return out
}

// only keeps the tables of m that keep says.
func only(m map[string]map[string]bool, keep func(table string) bool) map[string]map[string]bool {
	out := map[string]map[string]bool{}
	for table, keys := range m {
		if keep(table) {
			out[table] = keys
		}
	}
	return out
}

// total counts the keys of every table.
func total(m map[string]map[string]bool) (n int64) {
	for _, keys := range m {
		n += int64(len(keys))
	}
	return n
}

// columnsOf parses a row of a snapshot.
func columnsOf(row string) map[string]any {
	GinkgoHelper()
	dec := json.NewDecoder(strings.NewReader(row))
	dec.UseNumber()
	var v map[string]any
	Expect(dec.Decode(&v)).To(Succeed())
	return v
}

// auditRows sums the rows an object's audit records of an action count,
// per entity.
func (t tenants) auditRows(uid, action string) map[string]int64 {
	GinkgoHelper()
	rows, err := t.adminConn().Query(ctx, `SELECT entity, sum(rows_affected)::bigint FROM lethe.audit_log
		WHERE object_uid = $1 AND action = $2 GROUP BY entity`, uid, action)
	Expect(err).NotTo(HaveOccurred())
	out := map[string]int64{}
	for rows.Next() {
		var e string
		var n int64
		Expect(rows.Scan(&e, &n)).To(Succeed())
		out[e] = n
	}
	Expect(rows.Err()).NotTo(HaveOccurred())
	return out
}

// auditOrder lists the first and last audit record of each entity for an
// object's action, to check the order entities were changed in.
func (t tenants) auditOrder(uid, action string) map[string][2]int64 {
	GinkgoHelper()
	rows, err := t.adminConn().Query(ctx, `SELECT entity, min(id), max(id) FROM lethe.audit_log
		WHERE object_uid = $1 AND action = $2 GROUP BY entity`, uid, action)
	Expect(err).NotTo(HaveOccurred())
	out := map[string][2]int64{}
	for rows.Next() {
		var e string
		var first, last int64
		Expect(rows.Scan(&e, &first, &last)).To(Succeed())
		out[e] = [2]int64{first, last}
	}
	Expect(rows.Err()).NotTo(HaveOccurred())
	return out
}
