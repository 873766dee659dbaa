package draft

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	privacyv1alpha1 "github.com/lethe-dev/lethe/api/v1alpha1"
	"github.com/lethe-dev/lethe/internal/classify"
	"github.com/lethe-dev/lethe/internal/inventory"
	"github.com/lethe-dev/lethe/internal/tenantdb"
	"github.com/lethe-dev/lethe/internal/testutil/pgtest"
	"github.com/lethe-dev/lethe/internal/testutil/testdb"
)

// canary is a value no draft may hold.
const canary = "canary-5e1d7b2a90"

// openSQL creates a database with a schema of its own.
func openSQL(t *testing.T, sql string) drafted {
	t.Helper()
	ctx := context.Background()
	pool := testdb.Pool(t, pgtest.NewDatabase(t), 4)
	if _, err := pool.Exec(ctx, sql+"; ANALYZE"); err != nil {
		t.Fatal(err)
	}
	return draftOf(t, pool, "shapes")
}

// TestSaysWhetherReferencedRowsAreShared drafts people who point to rows
// of three tables: one through a unique column (exclusive), one shared by
// two people today, and one shared by nobody yet; the values hold a
// canary, which the draft must not.
func TestSaysWhetherReferencedRowsAreShared(t *testing.T) {
	d := openSQL(t, `CREATE SCHEMA s;
CREATE TABLE s.homes (id int PRIMARY KEY, street text, city text);
CREATE TABLE s.mailboxes (id int PRIMARY KEY, street text, postcode text);
CREATE TABLE s.badges (id int PRIMARY KEY, phone text, holder_name text);
CREATE TABLE s.people (id int PRIMARY KEY, email text UNIQUE, first_name text, note text,
  home_id int REFERENCES s.homes, mailbox_id int REFERENCES s.mailboxes, badge_id int UNIQUE REFERENCES s.badges);
INSERT INTO s.homes SELECT i, 'Street `+canary+` ' || i, 'City' FROM generate_series(1, 3) i;
INSERT INTO s.mailboxes SELECT i, 'Box ' || i, '12345' FROM generate_series(1, 4) i;
INSERT INTO s.badges SELECT i, '+46 70 123 45 6' || i, 'Holder' FROM generate_series(1, 4) i;
INSERT INTO s.people SELECT i, 'p' || i || '@example.org', '`+canary+`', 'call `+canary+`@example.org', 1 + i % 3, i, i
FROM generate_series(1, 4) i`)
	rels := map[string]privacyv1alpha1.EntityRelation{}
	for _, e := range d.draft.Inventory.Spec.Entities {
		for _, r := range e.Relations {
			rels[e.Table] = r
		}
	}
	for table, want := range map[string]struct {
		exclusive bool
		note      string
	}{
		"s.badges":    {true, "s.people(badge_id) is unique"},
		"s.homes":     {false, "some rows here are shared by several person rows today"},
		"s.mailboxes": {false, "no row here is shared today"},
	} {
		r, ok := rels[table]
		if !ok {
			t.Errorf("%s: no relation; the draft:\n%s", table, d.yaml)
			continue
		}
		if r.Direction != privacyv1alpha1.RelationReferenced || r.Entity != "person" || r.Exclusive == nil || *r.Exclusive != want.exclusive {
			t.Errorf("%s: relation %+v, want Referenced by person, exclusive %v", table, r, want.exclusive)
		}
		if !strings.Contains(string(d.yaml), want.note) {
			t.Errorf("%s: the draft does not say %q:\n%s", table, want.note, d.yaml)
		}
	}
	if strings.Contains(string(d.yaml), canary) {
		t.Errorf("the draft holds a value of a row:\n%s", d.yaml)
	}
	if !strings.Contains(string(d.yaml), "sampled values are e-mail addresses") {
		t.Errorf("the draft does not give the sampled content as a reason:\n%s", d.yaml)
	}
}

// TestStaysWithinTheAPIsBounds drafts, from a catalog alone, 20 tables of
// people and 60 tables of their rows: the draft keeps 16 subject types
// and 48 entities, names what it left out, and stays a valid graph.
func TestStaysWithinTheAPIsBounds(t *testing.T) {
	cat := &tenantdb.Catalog{Tables: map[string]*tenantdb.Table{}, Views: map[string]bool{}}
	add := func(name string, rows int64, cols ...tenantdb.Column) {
		cols = append([]tenantdb.Column{{Name: "id", Type: "integer", Category: 'N', NotNull: true, Unique: true, Indexed: true}}, cols...)
		cat.Tables["s."+name] = &tenantdb.Table{Schema: "s", Name: name, Columns: cols, PrimaryKey: []string{"id"},
			Key: []string{"id"}, KeySource: "primary key", UniqueKeys: [][]string{{"id"}}, Rows: rows}
	}
	for i := range 20 {
		add(fmt.Sprintf("people%02d", i), int64(100+i),
			tenantdb.Column{Name: "email", Type: "text", Category: 'S', Unique: true},
			tenantdb.Column{Name: "first_name", Type: "text", Category: 'S'})
	}
	for i := range 60 {
		name := fmt.Sprintf("notes%02d", i)
		add(name, 10, tenantdb.Column{Name: "person_id", Type: "integer", Category: 'N', NotNull: true},
			tenantdb.Column{Name: "comment", Type: "text", Category: 'S'})
		cat.ForeignKeys = append(cat.ForeignKeys, tenantdb.ForeignKey{Name: name + "_fk", Table: "s." + name, Columns: []string{"person_id"},
			RefTable: "s.people19", RefColumns: []string{"id"}, OnDelete: tenantdb.OnDeleteNoAction, OnUpdate: tenantdb.OnDeleteNoAction})
	}
	d, err := New(context.Background(), nil, cat, classify.FromCatalog(cat), Options{})
	if err != nil {
		t.Fatal(err)
	}
	spec := &d.Inventory.Spec
	if len(spec.Subjects) != maxSubjects || len(spec.Entities) != maxEntities {
		t.Errorf("%d subject types, %d entities; want %d and %d", len(spec.Subjects), len(spec.Entities), maxSubjects, maxEntities)
	}
	if _, problems := inventory.CheckGraph(spec); len(problems) > 0 {
		t.Errorf("graph: %v", problems)
	}
	out, err := d.YAML()
	if err != nil {
		t.Fatal(err)
	}
	var parsed privacyv1alpha1.DataInventory
	if err := yaml.UnmarshalStrict(out, &parsed); err != nil {
		t.Fatal(err)
	}
	if parsed.Name != DefaultName {
		t.Errorf("name %q, want %q", parsed.Name, DefaultName)
	}
	for _, want := range []string{"beyond what one DataInventory holds", "s.people00", "s.notes59"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("the draft does not say %q among what it left out", want)
		}
	}
}

// TestRefusesASchemaWithoutPeople says so when no table holds people.
func TestRefusesASchemaWithoutPeople(t *testing.T) {
	cat := &tenantdb.Catalog{Tables: map[string]*tenantdb.Table{"s.genres": {Schema: "s", Name: "genres",
		Columns:    []tenantdb.Column{{Name: "id", Type: "integer", Category: 'N', NotNull: true}, {Name: "name", Type: "text", Category: 'S'}},
		PrimaryKey: []string{"id"}, Key: []string{"id"}}}}
	_, err := New(context.Background(), nil, cat, classify.FromCatalog(cat), Options{})
	if err == nil || !strings.Contains(err.Error(), "nothing to draft") {
		t.Errorf("err %v, want one saying there is nothing to draft", err)
	}
}

// TestLeavesOutNamesTheAPIRefuses drafts a table of people with a column,
// and a table, whose names hold control characters: both are left out,
// named, and the draft still parses and validates.
func TestLeavesOutNamesTheAPIRefuses(t *testing.T) {
	text := func(name string) tenantdb.Column { return tenantdb.Column{Name: name, Type: "text", Category: 'S'} }
	id := tenantdb.Column{Name: "id", Type: "integer", Category: 'N', NotNull: true, Unique: true}
	email := tenantdb.Column{Name: "email", Type: "text", Category: 'S', Unique: true}
	cat := &tenantdb.Catalog{Tables: map[string]*tenantdb.Table{
		"s.people": {Schema: "s", Name: "people", Columns: []tenantdb.Column{id, email, text("first_name"), text("home\naddress")},
			PrimaryKey: []string{"id"}, Key: []string{"id"}, UniqueKeys: [][]string{{"id"}, {"email"}}, Rows: 10},
		`s."odd\x01table"`: {Schema: "s", Name: "odd\x01table", Columns: []tenantdb.Column{id, email, text("last_name")},
			PrimaryKey: []string{"id"}, Key: []string{"id"}, UniqueKeys: [][]string{{"id"}}, Rows: 10},
	}}
	d, err := New(context.Background(), nil, cat, classify.FromCatalog(cat), Options{})
	if err != nil {
		t.Fatal(err)
	}
	out, err := d.YAML()
	if err != nil {
		t.Fatal(err)
	}
	var parsed privacyv1alpha1.DataInventory
	if err := yaml.UnmarshalStrict(out, &parsed); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if len(parsed.Spec.Entities) != 1 || parsed.Spec.Entities[0].Table != "s.people" {
		t.Errorf("entities %+v, want s.people alone", parsed.Spec.Entities)
	}
	for _, want := range []string{"names hold control characters, which the API refuses: home?address", "tables whose name or key columns hold control characters"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("the draft does not say %q:\n%s", want, out)
		}
	}
}
