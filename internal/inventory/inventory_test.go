package inventory

import (
	"reflect"
	"strings"
	"testing"

	"k8s.io/utils/ptr"

	privacyv1alpha1 "github.com/lethe-dev/lethe/api/v1alpha1"
	"github.com/lethe-dev/lethe/internal/tenantdb"
)

func rel(entity string, dir privacyv1alpha1.RelationDirection, cols ...string) privacyv1alpha1.EntityRelation {
	return privacyv1alpha1.EntityRelation{Entity: entity, Direction: dir, Columns: cols}
}

func replace(v string) privacyv1alpha1.MaskingStrategy {
	return privacyv1alpha1.MaskingStrategy{Type: privacyv1alpha1.StrategyReplace, Value: ptr.To(v)}
}

// spec is a customer with an address it points to, cases that point to it,
// and comments that point to the cases.
func spec() *privacyv1alpha1.DataInventorySpec {
	return &privacyv1alpha1.DataInventorySpec{
		Subjects: []privacyv1alpha1.SubjectType{{Name: "customer", Identifiers: []string{"email"}}},
		Entities: []privacyv1alpha1.Entity{
			{Name: "comment", Table: "app.comments", PrimaryKey: []string{"id"},
				Relations:       []privacyv1alpha1.EntityRelation{rel("case", privacyv1alpha1.RelationChild, "case_id")},
				PersonalColumns: []privacyv1alpha1.PersonalColumn{{Column: "body", Category: "FreeText", Strategy: privacyv1alpha1.MaskingStrategy{Type: privacyv1alpha1.StrategyClear}}}},
			{Name: "address", Table: "app.addresses", PrimaryKey: []string{"id"},
				Relations: []privacyv1alpha1.EntityRelation{rel("customer", privacyv1alpha1.RelationReferenced, "address_id")}},
			{Name: "customer", Table: "app.customers", PrimaryKey: []string{"id"},
				Subject: &privacyv1alpha1.EntitySubject{Type: "customer", Identifiers: []privacyv1alpha1.IdentifierColumn{{Name: "email", Column: "email"}}},
				PersonalColumns: []privacyv1alpha1.PersonalColumn{
					{Column: "name", Category: "Name", Strategy: replace("Anonymized")},
					{Column: "born", Category: "BirthDate", Strategy: privacyv1alpha1.MaskingStrategy{Type: privacyv1alpha1.StrategyGeneralize, Precision: ptr.To(privacyv1alpha1.Precision("Year"))}},
				},
				ReportingColumns: []string{"status"}},
			{Name: "case", Table: "app.cases", PrimaryKey: []string{"id"},
				Relations: []privacyv1alpha1.EntityRelation{rel("customer", privacyv1alpha1.RelationChild, "customer_id")}},
		},
	}
}

func catalog() *tenantdb.Catalog {
	col := func(name, typ string, cat byte, notNull bool) tenantdb.Column {
		return tenantdb.Column{Name: name, Type: typ, Category: cat, NotNull: notNull}
	}
	id := col("id", "bigint", 'N', true)
	cat := &tenantdb.Catalog{Tables: map[string]*tenantdb.Table{
		"app.customers": {Schema: "app", Name: "customers", PrimaryKey: []string{"id"}, Columns: []tenantdb.Column{
			id, col("email", "text", 'S', true), col("name", "text", 'S', true), col("born", "date", 'D', false),
			col("status", "text", 'S', true), col("address_id", "bigint", 'N', false)}},
		"app.addresses": {Schema: "app", Name: "addresses", PrimaryKey: []string{"id"}, Columns: []tenantdb.Column{id, col("street", "text", 'S', false)}},
		"app.cases":     {Schema: "app", Name: "cases", PrimaryKey: []string{"id"}, Columns: []tenantdb.Column{id, col("customer_id", "bigint", 'N', true)}},
		"app.comments":  {Schema: "app", Name: "comments", PrimaryKey: []string{"id"}, Columns: []tenantdb.Column{id, col("case_id", "bigint", 'N', true), col("body", "text", 'S', false)}},
	}}
	for _, t := range cat.Tables {
		t.Key, t.KeySource, t.UniqueKeys = t.PrimaryKey, "primary key", [][]string{t.PrimaryKey}
	}
	return cat
}

func TestCheckGraphOrdersDeletesChildrenFirst(t *testing.T) {
	g, problems := CheckGraph(spec())
	if len(problems) > 0 {
		t.Fatal(problems)
	}
	pos := map[string]int{}
	for i, n := range g.DeleteOrderOfSpec {
		pos[n] = i
	}
	for _, pair := range [][2]string{{"comment", "case"}, {"case", "customer"}, {"customer", "address"}} {
		if pos[pair[0]] > pos[pair[1]] {
			t.Errorf("%s must be deleted before %s: %v", pair[0], pair[1], g.DeleteOrderOfSpec)
		}
	}
}

func TestCheckGraphFindsCyclesAndEntitiesWithoutARoot(t *testing.T) {
	s := spec()
	s.Entities = append(s.Entities,
		privacyv1alpha1.Entity{Name: "a", Table: "app.a", PrimaryKey: []string{"id"}, Relations: []privacyv1alpha1.EntityRelation{rel("b", privacyv1alpha1.RelationChild, "b_id")}},
		privacyv1alpha1.Entity{Name: "b", Table: "app.b", PrimaryKey: []string{"id"}, Relations: []privacyv1alpha1.EntityRelation{rel("a", privacyv1alpha1.RelationChild, "a_id")}},
	)
	_, problems := CheckGraph(s)
	got := strings.Join(problems, "\n")
	for _, want := range []string{"relations form a cycle: a → b → a", "entity a does not reach a root", "entity b does not reach a root"} {
		if !strings.Contains(got, want) {
			t.Errorf("missing %q in:\n%s", want, got)
		}
	}
}

func TestValidateAcceptsAMatchingSchema(t *testing.T) {
	if problems := Validate(spec(), catalog()); len(problems) > 0 {
		t.Fatal(problems)
	}
}

func TestValidateNamesTheMissingOrWrongPiece(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*privacyv1alpha1.DataInventorySpec, *tenantdb.Catalog)
		want   string
	}{
		{"missing table", func(_ *privacyv1alpha1.DataInventorySpec, c *tenantdb.Catalog) { delete(c.Tables, "app.cases") },
			"entity case: table app.cases does not exist"},
		{"missing personal column", func(s *privacyv1alpha1.DataInventorySpec, _ *tenantdb.Catalog) {
			s.Entities[2].PersonalColumns[0].Column = "full_name"
		}, "entity customer: personal column app.customers.full_name does not exist"},
		{"missing identifier column", func(s *privacyv1alpha1.DataInventorySpec, _ *tenantdb.Catalog) {
			s.Entities[2].Subject.Identifiers[0].Column = "mail"
		}, "entity customer: identifier column app.customers.mail does not exist"},
		{"missing foreign-key column", func(s *privacyv1alpha1.DataInventorySpec, _ *tenantdb.Catalog) {
			s.Entities[3].Relations[0].Columns = []string{"client_id"}
		}, "entity case: relation to customer: foreign-key column app.cases.client_id does not exist"},
		{"missing key on the referencing side", func(s *privacyv1alpha1.DataInventorySpec, _ *tenantdb.Catalog) {
			s.Entities[1].Relations[0].Columns = []string{"home_id"}
		}, "entity address: relation to customer: foreign-key column app.customers.home_id does not exist"},
		{"wrong primary key", func(s *privacyv1alpha1.DataInventorySpec, _ *tenantdb.Catalog) {
			s.Entities[3].PrimaryKey = []string{"customer_id"}
		}, "entity case: primaryKey [customer_id]: table app.cases: columns (customer_id) are not a unique key of the table (the table's own key is [id])"},
		{"Nullify on NOT NULL", func(s *privacyv1alpha1.DataInventorySpec, _ *tenantdb.Catalog) {
			s.Entities[2].PersonalColumns[0].Strategy = privacyv1alpha1.MaskingStrategy{Type: privacyv1alpha1.StrategyNullify}
		}, "column app.customers.name (text) cannot take strategy Nullify: the column is NOT NULL"},
		{"Generalize precision on text", func(s *privacyv1alpha1.DataInventorySpec, _ *tenantdb.Catalog) {
			s.Entities[2].PersonalColumns[1].Column = "status"
			s.Entities[2].ReportingColumns = nil
		}, "cannot take strategy Generalize: precision needs a date or timestamp column"},
		{"Clear on a date", func(s *privacyv1alpha1.DataInventorySpec, _ *tenantdb.Catalog) {
			s.Entities[2].PersonalColumns[1].Strategy = privacyv1alpha1.MaskingStrategy{Type: privacyv1alpha1.StrategyClear}
		}, "column app.customers.born (date) cannot take strategy Clear: it needs a text column"},
		{"Replace text on a number", func(s *privacyv1alpha1.DataInventorySpec, c *tenantdb.Catalog) {
			c.Tables["app.customers"].Columns[2].Category = 'N'
		}, "the column is numeric and the value is not a number"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, c := spec(), catalog()
			tt.mutate(s, c)
			got := Validate(s, c)
			if !strings.Contains(strings.Join(got, "\n"), tt.want) {
				t.Fatalf("want %q in %q", tt.want, got)
			}
		})
	}
}

func TestUncoveredListsPersonalColumnsTheInventoryLeavesOut(t *testing.T) {
	c := catalog()
	c.Tables["app.customers"].Columns = append(c.Tables["app.customers"].Columns,
		tenantdb.Column{Name: "mobile_phone", Type: "text", Category: 'S'},
		tenantdb.Column{Name: "lastLoginIp", Type: "inet", Category: 'I'},
		tenantdb.Column{Name: "employee_id", Type: "bigint", Category: 'N'},
		tenantdb.Column{Name: "employee_id_text", Type: "text", Category: 'S'},
		tenantdb.Column{Name: "firstName", Type: "text", Category: 'S'},
		tenantdb.Column{Name: "created_at", Type: "timestamp with time zone", Category: 'D'},
		tenantdb.Column{Name: "country_id", Type: "integer", Category: 'N'},
	)
	c.Tables["app.countries"] = &tenantdb.Table{Schema: "app", Name: "countries", Columns: []tenantdb.Column{
		{Name: "id", Type: "integer", Category: 'N'}, {Name: "name", Type: "text", Category: 'S'}}}
	c.Tables["app.products"] = &tenantdb.Table{Schema: "app", Name: "products", Columns: []tenantdb.Column{
		{Name: "id", Type: "bigint", Category: 'N'}, {Name: "description", Type: "text", Category: 'S'}}}
	c.ForeignKeys = append(c.ForeignKeys,
		tenantdb.ForeignKey{Name: "customers_address_id_fkey", Table: "app.customers", Columns: []string{"address_id"}, RefTable: "app.addresses", RefColumns: []string{"id"}},
		tenantdb.ForeignKey{Name: "customers_country_id_fkey", Table: "app.customers", Columns: []string{"country_id"}, RefTable: "app.countries", RefColumns: []string{"id"}})
	got := Uncovered(spec(), c)
	// Not listed: numeric keys, the countries' names, and the products'
	// description (no table about people refers to products).
	want := []string{"app.addresses.street", `app.customers."firstName"`, `app.customers."lastLoginIp"`,
		"app.customers.employee_id_text", "app.customers.mobile_phone"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %v\nwant %v", got, want)
	}
}

func TestDeleteOrderFollowsLiveForeignKeysTheInventoryDoesNotDeclare(t *testing.T) {
	s, c := spec(), catalog()
	// notes belong to the customer; a case also points to a note, which the
	// inventory does not declare.
	note := privacyv1alpha1.Entity{Name: "note", Table: "app.notes", PrimaryKey: []string{"id"},
		Relations: []privacyv1alpha1.EntityRelation{rel("customer", privacyv1alpha1.RelationChild, "customer_id")}}
	s.Entities = append([]privacyv1alpha1.Entity{note}, s.Entities...)
	c.ForeignKeys = append(c.ForeignKeys, tenantdb.ForeignKey{Table: "app.cases", Columns: []string{"note_id"}, RefTable: "app.notes", RefColumns: []string{"id"}})
	g, problems := CheckGraph(s)
	if len(problems) > 0 {
		t.Fatal(problems)
	}
	pos := func(order []string) map[string]int {
		m := map[string]int{}
		for i, n := range order {
			m[n] = i
		}
		return m
	}
	if p := pos(g.DeleteOrderOfSpec); p["note"] > p["case"] {
		t.Fatalf("the test needs the declared order to put note first: %v", g.DeleteOrderOfSpec)
	}
	order := g.DeleteOrder(s, c)
	p := pos(order)
	if p["case"] > p["note"] {
		t.Errorf("a case holds a live key to a note and must be deleted first: %v", order)
	}
	if p["comment"] > p["case"] || p["case"] > p["customer"] || p["customer"] > p["address"] {
		t.Errorf("declared order lost: %v", order)
	}
}

func TestMissingIndexesNamesTheIndexToCreateOnLargeTablesOnly(t *testing.T) {
	s, c := spec(), catalog()
	for _, tb := range c.Tables {
		tb.Rows = 500000
	}
	c.Tables["app.customers"].Indexes = [][]string{{"email"}, {"address_id"}}
	got := MissingIndexes(s, c, "customer", 100000)
	want := []string{
		"app.cases.customer_id (about 500000 rows): CREATE INDEX ON app.cases (customer_id)",
		"app.comments.case_id (about 500000 rows): CREATE INDEX ON app.comments (case_id)",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %v\nwant %v", got, want)
	}
	c.Tables["app.cases"].Rows = 10
	c.Tables["app.comments"].Rows = 10
	if got := MissingIndexes(s, c, "customer", 100000); len(got) != 0 {
		t.Errorf("small tables need no index: %v", got)
	}
	c.Tables["app.customers"].Indexes = [][]string{{"address_id"}}
	c.Tables["app.customers"].Rows = 500000
	if got := MissingIndexes(s, c, "customer", 100000); len(got) != 1 || !strings.Contains(got[0], "app.customers.email") {
		t.Errorf("an unindexed identifier must be named: %v", got)
	}
}
