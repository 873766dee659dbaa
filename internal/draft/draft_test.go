package draft

import (
	"context"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"sigs.k8s.io/yaml"

	privacyv1alpha1 "github.com/lethe-dev/lethe/api/v1alpha1"
	"github.com/lethe-dev/lethe/internal/classify"
	"github.com/lethe-dev/lethe/internal/inventory"
	"github.com/lethe-dev/lethe/internal/masking"
	"github.com/lethe-dev/lethe/internal/tenantdb"
	"github.com/lethe-dev/lethe/internal/testutil/pgtest"
	"github.com/lethe-dev/lethe/internal/testutil/sampleapp"
	"github.com/lethe-dev/lethe/internal/testutil/sampledb"
	"github.com/lethe-dev/lethe/internal/testutil/schemas"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// drafted is a schema's draft with what it was drafted from.
type drafted struct {
	pool  *pgxpool.Pool
	cat   *tenantdb.Catalog
	res   *classify.Result
	draft *Draft
	yaml  []byte
}

var schemaOpeners = []struct {
	name string
	open func(t *testing.T) (*pgxpool.Pool, *privacyv1alpha1.DataInventorySpec)
}{
	{schemas.Chinook, func(t *testing.T) (*pgxpool.Pool, *privacyv1alpha1.DataInventorySpec) {
		p, _, inv := schemas.Open(t, schemas.Chinook, schemas.Options{})
		return p, inv
	}},
	{schemas.Northwind, func(t *testing.T) (*pgxpool.Pool, *privacyv1alpha1.DataInventorySpec) {
		p, _, inv := schemas.Open(t, schemas.Northwind, schemas.Options{})
		return p, inv
	}},
	{schemas.Edge, func(t *testing.T) (*pgxpool.Pool, *privacyv1alpha1.DataInventorySpec) {
		p, _, inv := schemas.Open(t, schemas.Edge, schemas.Options{})
		return p, inv
	}},
	{"sampleapp", func(t *testing.T) (*pgxpool.Pool, *privacyv1alpha1.DataInventorySpec) {
		return sampledb.Open(t, sampleapp.Options{Seed: 7})
	}},
}

func draftOf(t *testing.T, pool *pgxpool.Pool, name string) drafted {
	t.Helper()
	ctx := context.Background()
	cat, err := tenantdb.ReadCatalog(ctx, pool)
	if err != nil {
		t.Fatal(err)
	}
	res, err := classify.Classify(ctx, pool, cat, classify.Options{})
	if err != nil {
		t.Fatal(err)
	}
	d, err := New(ctx, pool, cat, res, Options{Name: name, Source: "a test database"})
	if err != nil {
		t.Fatal(err)
	}
	out, err := d.YAML()
	if err != nil {
		t.Fatal(err)
	}
	return drafted{pool: pool, cat: cat, res: res, draft: d, yaml: out}
}

var apiName = regexp.MustCompile(`^[a-z][a-zA-Z0-9]*$`)

// TestDraftsEverySchema drafts each schema and checks the draft as the
// API server and the controllers would: it parses strictly, its graph and
// columns are valid against the live catalog, every strategy is one
// masking.Check accepts, lookup tables are left out, every relation is a
// foreign key of the catalog in its direction, and every personal column
// the classifier found is covered. It logs how the draft compares with
// the hand-written inventory.
func TestDraftsEverySchema(t *testing.T) {
	for _, s := range schemaOpeners {
		t.Run(s.name, func(t *testing.T) {
			pool, written := s.open(t)
			d := draftOf(t, pool, s.name)
			spec := &d.draft.Inventory.Spec

			var parsed privacyv1alpha1.DataInventory
			if err := yaml.UnmarshalStrict(d.yaml, &parsed); err != nil {
				t.Fatalf("the draft does not parse strictly: %v\n%s", err, d.yaml)
			}
			if !reflect.DeepEqual(parsed.Spec, *spec) {
				t.Errorf("the YAML does not say what the draft holds:\n%s", d.yaml)
			}
			if parsed.Name != s.name || parsed.Kind != "DataInventory" || parsed.APIVersion != "privacy.lethe.dev/v1alpha1" {
				t.Errorf("metadata: %+v %+v", parsed.TypeMeta, parsed.ObjectMeta)
			}

			if _, problems := inventory.CheckGraph(spec); len(problems) > 0 {
				t.Errorf("graph: %v", problems)
			}
			resolved, problems := inventory.Resolve(spec, d.cat)
			problems = append(problems, inventory.Validate(resolved, d.cat)...)
			if len(problems) > 0 {
				t.Errorf("against the live schema: %v", problems)
			}
			if !reflect.DeepEqual(resolved.Entities, resolvedKeys(spec, d.cat)) {
				t.Errorf("Resolve filled in something the draft leaves out")
			}
			if left := inventory.UncoveredFindings(resolved, d.res.Findings); len(left) > 0 {
				t.Errorf("personal columns the draft does not cover: %v", left)
			}

			checkNames(t, spec)
			checkStrategies(t, spec, d.cat)
			checkRelations(t, spec, d.cat)
			for _, tbl := range d.res.Tables {
				mapped := slices.ContainsFunc(spec.Entities, func(e privacyv1alpha1.Entity) bool { return e.Table == tbl.Name })
				switch {
				case tbl.Role == classify.RoleLookup && mapped:
					t.Errorf("lookup table %s is mapped", tbl.Name)
				case tbl.Role == classify.RoleLookup && !strings.Contains(string(d.yaml), tbl.Name):
					t.Errorf("lookup table %s is not named among the tables left out", tbl.Name)
				case (tbl.Role == classify.RoleSubject || tbl.Via != nil) && !mapped:
					t.Errorf("table %s, reached from a subject, is not mapped", tbl.Name)
				}
			}

			c := Compare(spec, written)
			t.Logf("%s, the draft against the hand-written inventory:\n%s", s.name, strings.Join(c.Lines("draft", "hand-written"), "\n"))
			if len(c.OnlyB) > 0 {
				t.Errorf("the hand-written inventory maps tables the draft leaves out: %v", c.OnlyB)
			}
		})
	}
}

// resolvedKeys is the draft's entities as Resolve would leave them when
// the draft wrote out everything Resolve fills in: references of a
// relation to the referred table's key.
func resolvedKeys(spec *privacyv1alpha1.DataInventorySpec, cat *tenantdb.Catalog) []privacyv1alpha1.Entity {
	out := spec.DeepCopy().Entities
	keys := map[string][]string{}
	for _, e := range out {
		keys[e.Name] = e.PrimaryKey
	}
	for i := range out {
		for j := range out[i].Relations {
			r := &out[i].Relations[j]
			if len(r.References) == 0 {
				if r.Direction == privacyv1alpha1.RelationChild {
					r.References = slices.Clone(keys[r.Entity])
				} else {
					r.References = slices.Clone(out[i].PrimaryKey)
				}
			}
		}
	}
	return out
}

func checkNames(t *testing.T, spec *privacyv1alpha1.DataInventorySpec) {
	t.Helper()
	for _, s := range spec.Subjects {
		for _, n := range append([]string{s.Name}, s.Identifiers...) {
			if !apiName.MatchString(n) {
				t.Errorf("subject %s: name %q does not match the API's pattern", s.Name, n)
			}
		}
	}
	for _, e := range spec.Entities {
		if !apiName.MatchString(e.Name) {
			t.Errorf("entity name %q does not match the API's pattern", e.Name)
		}
	}
}

func checkStrategies(t *testing.T, spec *privacyv1alpha1.DataInventorySpec, cat *tenantdb.Catalog) {
	t.Helper()
	for _, e := range spec.Entities {
		tbl, _ := cat.Table(e.Table)
		for _, pc := range e.PersonalColumns {
			c, ok := tbl.Column(pc.Column)
			if !ok {
				t.Errorf("%s.%s does not exist", e.Table, pc.Column)
				continue
			}
			if pc.Strategy.Type == privacyv1alpha1.StrategyHash {
				t.Errorf("%s.%s: Hash needs a key Secret the draft cannot create", e.Table, pc.Column)
			}
			if why := masking.Check(pc.Strategy, c); why != "" {
				t.Errorf("%s.%s (%s): masking.Check refuses %s: %s", e.Table, pc.Column, c.Type, Describe(pc.Strategy), why)
			}
		}
	}
}

// checkRelations checks that every relation is a foreign key of the
// catalog: Child from the entity's table to the related one's, Referenced
// the other way, with the key's columns and referenced columns.
func checkRelations(t *testing.T, spec *privacyv1alpha1.DataInventorySpec, cat *tenantdb.Catalog) {
	t.Helper()
	tables := map[string]privacyv1alpha1.Entity{}
	for _, e := range spec.Entities {
		tables[e.Name] = e
	}
	for _, e := range spec.Entities {
		for _, r := range e.Relations {
			other := tables[r.Entity]
			holder, target := e, other
			if r.Direction == privacyv1alpha1.RelationReferenced {
				holder, target = other, e
			}
			refs := r.References
			if len(refs) == 0 {
				refs = target.PrimaryKey
			}
			if !slices.ContainsFunc(cat.ForeignKeys, func(fk tenantdb.ForeignKey) bool {
				return fk.Table == holder.Table && fk.RefTable == target.Table && slices.Equal(fk.Columns, r.Columns) && slices.Equal(fk.RefColumns, refs)
			}) {
				t.Errorf("entity %s: relation %s %s(%v) is no foreign key from %s to %s", e.Name, r.Direction, r.Entity, r.Columns, holder.Table, target.Table)
			}
			if r.Direction == privacyv1alpha1.RelationReferenced && r.Exclusive == nil {
				t.Errorf("entity %s: relation to %s does not say whether it is exclusive", e.Name, r.Entity)
			}
		}
	}
}
