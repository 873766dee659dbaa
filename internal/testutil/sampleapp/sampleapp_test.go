package sampleapp

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"sigs.k8s.io/yaml"

	"github.com/lethe-dev/lethe/api/v1alpha1"
	"github.com/lethe-dev/lethe/internal/testutil/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// load creates a fresh database, loads the sample into it and returns a
// connection closed at the end of the test.
func load(t *testing.T, opts Options) *pgx.Conn {
	t.Helper()
	ctx := context.Background()
	db := pgtest.NewDatabase(t)
	conn, err := pgtest.Shared().AppConn(ctx, db)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(func() { _ = conn.Close(context.Background()) })
	if err := Load(ctx, conn, opts); err != nil {
		t.Fatalf("Load(%+v): %v", opts, err)
	}
	return conn
}

func queryInt(t *testing.T, conn *pgx.Conn, sql string, args ...any) int {
	t.Helper()
	var n int
	if err := conn.QueryRow(context.Background(), sql, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return n
}

func TestLoadCreatesTablesWithTheGeneratedRows(t *testing.T) {
	opts := Options{Tenant: "acme", Seed: 7, Customers: 200}
	conn := load(t, opts)
	data, err := Generate(opts)
	if err != nil {
		t.Fatal(err)
	}
	for _, table := range Tables() {
		got := queryInt(t, conn, "SELECT count(*) FROM "+table)
		if got == 0 || got != data.Rows(table) {
			t.Errorf("%s has %d rows, generated %d", table, got, data.Rows(table))
		}
	}
	want := map[string][2]int{ // approximate sizes for 200 customers
		"app.addresses": {150, 200}, "app.customers": {200, 200}, "app.contact_persons": {300, 500},
		"app.customer_contacts": {300, 550}, "app.employees": {40, 40}, "app.cases": {500, 700},
		"app.case_comments": {900, 1500}, "app.conversations": {450, 750}, "app.work_orders": {150, 250},
		"app.event_logs": {2000, 2000}, "app.login_logs": {1000, 1000},
	}
	for table, r := range want {
		if n := data.Rows(table); n < r[0] || n > r[1] {
			t.Errorf("%s: %d rows, want %d to %d", table, n, r[0], r[1])
		}
	}
}

func TestLoadedDataLooksLikeTheApplication(t *testing.T) {
	conn := load(t, Options{Tenant: "Globex_EU", Seed: 3, Customers: 300})
	checks := []struct {
		what string
		sql  string
		ok   func(int) bool
	}{
		{"closed customers (about 20%)", "SELECT count(*) FROM app.customers WHERE status = 'closed'", func(n int) bool { return n > 30 && n < 90 }},
		{"deleted customers (a few)", "SELECT count(*) FROM app.customers WHERE deleted_at IS NOT NULL", func(n int) bool { return n > 0 && n < 30 }},
		{"deleted customers that are not closed", "SELECT count(*) FROM app.customers WHERE deleted_at IS NOT NULL AND status <> 'closed'", func(n int) bool { return n == 0 }},
		{"addresses shared by two customers", "SELECT count(*) FROM (SELECT address_id FROM app.customers GROUP BY 1 HAVING count(*) = 2) s", func(n int) bool { return n > 5 }},
		{"addresses shared by more than two", "SELECT count(*) FROM (SELECT address_id FROM app.customers GROUP BY 1 HAVING count(*) > 2) s", func(n int) bool { return n == 0 }},
		{"duplicate customer e-mails", "SELECT count(*) - count(DISTINCT email) FROM app.customers", func(n int) bool { return n == 0 }},
		{"duplicate contact e-mails", "SELECT count(*) - count(DISTINCT email) FROM app.contact_persons", func(n int) bool { return n == 0 }},
		{"e-mails outside the tenant's domains", `SELECT count(*) FROM (SELECT email FROM app.customers UNION ALL SELECT email FROM app.contact_persons
			UNION ALL SELECT email FROM app.employees) e WHERE email NOT LIKE '%.globex-eu.example' AND email NOT LIKE '%@globex-eu.example'`, func(n int) bool { return n == 0 }},
		{"link rows with another customer's number", `SELECT count(*) FROM app.customer_contacts cc JOIN app.customers c ON c.id = cc.customer_id
			WHERE cc.customer_number <> c.customer_number`, func(n int) bool { return n == 0 }},
		{"open cases of closed customers", `SELECT count(*) FROM app.cases k JOIN app.customers c ON c.id = k.customer_id
			WHERE c.status = 'closed' AND k.status = 'open'`, func(n int) bool { return n == 0 }},
		{"closed cases without closed_at", "SELECT count(*) FROM app.cases WHERE (status = 'closed') <> (closed_at IS NOT NULL)", func(n int) bool { return n == 0 }},
		{"employees who left and are active", "SELECT count(*) FROM app.employees WHERE active AND left_at IS NOT NULL", func(n int) bool { return n == 0 }},
		{"IPv4 outside the documentation ranges", `SELECT count(*) FROM app.login_logs WHERE family(ip_address) = 4
			AND NOT (ip_address << '192.0.2.0/24' OR ip_address << '198.51.100.0/24' OR ip_address << '203.0.113.0/24')`, func(n int) bool { return n == 0 }},
		{"dates after the reference time", `SELECT count(*) FROM app.customers WHERE created_at > $1 OR closed_at > $1 OR deleted_at > $1`, func(n int) bool { return n == 0 }},
		{"event logs without employee", "SELECT count(*) FROM app.event_logs WHERE employee_id IS NULL", func(n int) bool { return n > 0 }},
	}
	for _, c := range checks {
		var args []any
		if strings.Contains(c.sql, "$1") {
			args = append(args, ReferenceTime())
		}
		if n := queryInt(t, conn, c.sql, args...); !c.ok(n) {
			t.Errorf("%s: %d", c.what, n)
		}
	}
}

func TestEveryForeignKeyIsIndexedAndTablesAreParentsFirst(t *testing.T) {
	conn := load(t, Options{Seed: 1, Customers: 10})
	rows, err := conn.Query(context.Background(), `
		SELECT c.conrelid::regclass::text, c.confrelid::regclass::text, a.attname,
		       EXISTS (SELECT 1 FROM pg_catalog.pg_index i WHERE i.indrelid = c.conrelid AND i.indkey[0] = c.conkey[1])
		FROM pg_catalog.pg_constraint c
		JOIN pg_catalog.pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1]
		WHERE c.contype = 'f' AND c.connamespace = 'app'::regnamespace`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	order := Tables()
	fks := 0
	for rows.Next() {
		var child, parent, column string
		var indexed bool
		if err := rows.Scan(&child, &parent, &column, &indexed); err != nil {
			t.Fatal(err)
		}
		fks++
		if !indexed {
			t.Errorf("%s.%s is a foreign key without an index", child, column)
		}
		if slices.Index(order, parent) >= slices.Index(order, child) {
			t.Errorf("Tables() lists %s before its parent %s", child, parent)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if fks != 15 {
		t.Errorf("%d foreign keys, want 15", fks)
	}
}

func TestIdentityContinuesAfterTheLoadedRows(t *testing.T) {
	conn := load(t, Options{Seed: 1, Customers: 5})
	var id int64
	err := conn.QueryRow(context.Background(),
		"INSERT INTO app.addresses (street, city, country) VALUES ('1 Test Road', 'Testville', 'SE') RETURNING id").Scan(&id)
	if err != nil {
		t.Fatalf("insert after load: %v", err)
	}
	if last := queryInt(t, conn, "SELECT max(id) FROM app.addresses WHERE id <> $1", id); id != int64(last)+1 {
		t.Errorf("new id %d, want %d", id, last+1)
	}
}

func TestLoadTwiceFailsAndKeepsTheFirstLoad(t *testing.T) {
	conn := load(t, Options{Seed: 1, Customers: 5})
	err := Load(context.Background(), conn, Options{Seed: 2, Customers: 5})
	if err == nil || !strings.Contains(err.Error(), "create schema app") {
		t.Fatalf("second Load: %v, want a create schema error", err)
	}
	if n := queryInt(t, conn, "SELECT count(*) FROM app.customers"); n != 5 {
		t.Errorf("customers after the failed load: %d, want 5", n)
	}
}

func TestLoadTwoThousandCustomersIsFast(t *testing.T) {
	if testing.Short() {
		t.Skip("loads 2000 customers")
	}
	start := time.Now()
	conn := load(t, Options{Tenant: "bench", Seed: 42, Customers: 2000})
	elapsed := time.Since(start)
	t.Logf("loaded 2000 customers in %v", elapsed)
	if elapsed > 30*time.Second {
		t.Errorf("loading 2000 customers took %v", elapsed)
	}
	if n := queryInt(t, conn, "SELECT count(*) FROM app.event_logs"); n != 20000 {
		t.Errorf("event logs: %d, want 20000", n)
	}
}

func TestGenerateIsDeterministic(t *testing.T) {
	a, err := Generate(Options{Tenant: "acme", Seed: 9, Customers: 40})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := Generate(Options{Tenant: "acme", Seed: 9, Customers: 40})
	if !reflect.DeepEqual(a, b) {
		t.Fatal("the same options generated different rows")
	}
	other, _ := Generate(Options{Tenant: "globex", Seed: 9, Customers: 40})
	nameA, _ := a.Value("app.customers", "name", 1)
	nameO, _ := other.Value("customers", "name", 1)
	mailA, _ := a.Value("app.customers", "email", 1)
	mailO, _ := other.Value("customers", "email", 1)
	if nameA != nameO || mailA == mailO || !strings.Contains(mailO.(string), ".globex.example") {
		t.Errorf("another tenant with the same seed: name %v / %v, e-mail %v / %v; want same names, own domains", nameA, nameO, mailA, mailO)
	}
	c, _ := Generate(Options{Tenant: "acme", Seed: 10, Customers: 40})
	if reflect.DeepEqual(a, c) {
		t.Error("another seed generated the same rows")
	}
	d, _ := Generate(Options{})
	if n := d.Rows("app.customers"); n != DefaultCustomers {
		t.Errorf("default customers: %d, want %d", n, DefaultCustomers)
	}
}

func TestLoadOneCustomer(t *testing.T) {
	for seed := range int64(5) {
		conn := load(t, Options{Seed: seed, Customers: 1})
		if n := queryInt(t, conn, "SELECT count(*) FROM app.customers"); n != 1 {
			t.Errorf("seed %d: %d customers, want 1", seed, n)
		}
	}
}

func TestGenerateRefusesANegativeSize(t *testing.T) {
	if _, err := Generate(Options{Customers: -1}); err == nil {
		t.Error("Customers -1 was accepted")
	}
}

// column is a column of the loaded schema.
type column struct {
	dataType string
	nullable bool
	fk       string // the referenced table when the column is a foreign key
}

// schemaColumns reads the loaded schema: table -> column -> column.
func schemaColumns(t *testing.T, conn *pgx.Conn) map[string]map[string]column {
	t.Helper()
	ctx := context.Background()
	cols := map[string]map[string]column{}
	rows, err := conn.Query(ctx, `
		SELECT c.table_schema || '.' || c.table_name, c.column_name, c.data_type, c.is_nullable = 'YES',
		       coalesce((SELECT k.confrelid::regclass::text FROM pg_catalog.pg_constraint k
		                 JOIN pg_catalog.pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = k.conkey[1]
		                 WHERE k.contype = 'f' AND k.conrelid = (c.table_schema || '.' || c.table_name)::regclass
		                   AND a.attname = c.column_name), '')
		FROM information_schema.columns c WHERE c.table_schema = 'app'`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var table, name string
		var c column
		if err := rows.Scan(&table, &name, &c.dataType, &c.nullable, &c.fk); err != nil {
			t.Fatal(err)
		}
		if cols[table] == nil {
			cols[table] = map[string]column{}
		}
		cols[table][name] = c
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return cols
}

// fits says whether a masking strategy can be written to a column.
func fits(s v1alpha1.MaskingStrategy, c column) bool {
	text := c.dataType == "text" || c.dataType == "character varying"
	switch s.Type {
	case v1alpha1.StrategyNullify:
		return c.nullable
	case v1alpha1.StrategyGeneralize:
		if s.Precision != nil {
			return c.dataType == "date" || strings.HasPrefix(c.dataType, "timestamp")
		}
		return c.dataType == "integer" || c.dataType == "bigint" || c.dataType == "numeric"
	default:
		return text
	}
}

func TestSampleInventoryMapsTheWholeSchema(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "..", "..", "config", "samples", "privacy_v1alpha1_datainventory.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var inv v1alpha1.DataInventory
	if err := yaml.UnmarshalStrict(raw, &inv); err != nil {
		t.Fatalf("sample inventory: %v", err)
	}
	conn := load(t, Options{Seed: 1, Customers: 5})
	live := schemaColumns(t, conn)

	tableOf := map[string]string{}
	for _, e := range inv.Spec.Entities {
		tableOf[e.Name] = e.Table
	}
	covered := map[string]bool{}
	for _, e := range inv.Spec.Entities {
		cols, ok := live[e.Table]
		if !ok {
			t.Errorf("entity %s: table %s is not in the schema", e.Name, e.Table)
			continue
		}
		if covered[e.Table] {
			t.Errorf("entity %s: table %s mapped twice", e.Name, e.Table)
		}
		covered[e.Table] = true
		known := map[string]bool{}
		for _, pk := range e.PrimaryKey {
			known[pk] = true
		}
		for _, pc := range e.PersonalColumns {
			c, ok := cols[pc.Column]
			switch {
			case !ok:
				t.Errorf("%s.%s: personal column not in the schema", e.Table, pc.Column)
			case !fits(pc.Strategy, c):
				t.Errorf("%s.%s: strategy %s does not fit a %s column (nullable %v)", e.Table, pc.Column, pc.Strategy.Type, c.dataType, c.nullable)
			}
			known[pc.Column] = true
		}
		for _, rc := range e.ReportingColumns {
			if _, ok := cols[rc]; !ok {
				t.Errorf("%s.%s: reporting column not in the schema", e.Table, rc)
			}
			known[rc] = true
		}
		if e.Subject != nil {
			for _, id := range e.Subject.Identifiers {
				if _, ok := cols[id.Column]; !ok {
					t.Errorf("%s.%s: identifier column not in the schema", e.Table, id.Column)
				}
			}
		}
		for _, r := range e.Relations {
			child, parent := e.Table, tableOf[r.Entity]
			if r.Direction == v1alpha1.RelationReferenced {
				child, parent = parent, child
			}
			for _, col := range r.Columns {
				if got := live[child][col].fk; got != parent {
					t.Errorf("%s relation to %s: %s.%s references %q, want %s", e.Name, r.Entity, child, col, got, parent)
				}
			}
		}
		for name, c := range cols {
			if !known[name] && c.fk == "" {
				t.Errorf("%s.%s is neither personal, reporting, a key nor a foreign key", e.Table, name)
			}
		}
	}
	for _, table := range Tables() {
		if !covered[table] {
			t.Errorf("%s has no entity in the sample inventory", table)
		}
	}
}
