package classify_test

import (
	"bufio"
	"context"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	privacyv1alpha1 "github.com/lethe-dev/lethe/api/v1alpha1"
	"github.com/lethe-dev/lethe/internal/classify"
	"github.com/lethe-dev/lethe/internal/inventory"
	"github.com/lethe-dev/lethe/internal/tenantdb"
	"github.com/lethe-dev/lethe/internal/testutil/pgtest"
	"github.com/lethe-dev/lethe/internal/testutil/sampleapp"
	"github.com/lethe-dev/lethe/internal/testutil/sampledb"
	"github.com/lethe-dev/lethe/internal/testutil/schemas"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// The bar every labelled schema must clear.
const (
	minRecall = 0.95
	maxFPRate = 0.05
)

type opened struct {
	pool *pgxpool.Pool
	inv  *privacyv1alpha1.DataInventorySpec
}

// labelledSchemas are the schemas with a truth file in testdata, how to
// open each with its hand-written DataInventory, and the columns that
// inventory.Uncovered, which the classifier drives, finds missing from it:
// Northwind's inventory does not map the suppliers' contact persons, and
// Edge's leaves two tables out on purpose.
var labelledSchemas = []struct {
	name      string
	open      func(t *testing.T) opened
	uncovered []string
}{
	{"chinook", func(t *testing.T) opened {
		p, _, inv := schemas.Open(t, schemas.Chinook, schemas.Options{})
		return opened{p, inv}
	}, nil},
	{"northwind", func(t *testing.T) opened {
		p, _, inv := schemas.Open(t, schemas.Northwind, schemas.Options{})
		return opened{p, inv}
	}, []string{"public.suppliers.address", "public.suppliers.city", "public.suppliers.contact_name", "public.suppliers.fax",
		"public.suppliers.phone", "public.suppliers.postal_code", "public.suppliers.region"}},
	{"edge", func(t *testing.T) opened {
		p, _, inv := schemas.Open(t, schemas.Edge, schemas.Options{})
		return opened{p, inv}
	}, []string{"edge.sessions.ip", "edge.sessions.user_agent", "edge.support_notes.note"}},
	{"sampleapp", func(t *testing.T) opened {
		p, inv := sampledb.Open(t, sampleapp.Options{Seed: 7})
		return opened{p, inv}
	}, nil},
}

// TestFindsTheLabelledPersonalColumns runs the classifier, with content
// sampling and from the catalog alone, on every labelled schema, and fails
// unless it finds 95 % of the labelled columns with their categories, with
// at most 5 % of its findings not labelled. It also checks what
// inventory.Uncovered says of the schema's hand-written inventory.
func TestFindsTheLabelledPersonalColumns(t *testing.T) {
	for _, s := range labelledSchemas {
		t.Run(s.name, func(t *testing.T) {
			truth := readTruth(t, filepath.Join("testdata", s.name+".truth"))
			db := s.open(t)
			ctx := context.Background()
			cat, err := tenantdb.ReadCatalog(ctx, db.pool)
			if err != nil {
				t.Fatal(err)
			}
			sampled, err := classify.Classify(ctx, db.pool, cat, classify.Options{})
			if err != nil {
				t.Fatal(err)
			}
			for _, tbl := range sampled.Tables {
				if tbl.SampleError != "" {
					t.Errorf("%s: %s", tbl.Name, tbl.SampleError)
				}
			}
			for _, run := range []struct {
				name string
				res  *classify.Result
			}{{"with content", sampled}, {"catalog only", classify.FromCatalog(cat)}} {
				sc := score(truth, run.res)
				t.Logf("%s, %s: %s", s.name, run.name, sc)
				if sc.recall() < minRecall || sc.fpRate() > maxFPRate {
					t.Errorf("%s, %s: recall %.1f%% (want >= %.0f%%), false positives %.1f%% (want <= %.0f%%)",
						s.name, run.name, 100*sc.recall(), 100*minRecall, 100*sc.fpRate(), 100*maxFPRate)
				}
			}
			if got := inventory.Uncovered(db.inv, cat); !reflect.DeepEqual(got, s.uncovered) {
				t.Errorf("uncovered by the hand-written inventory:\n got %v\nwant %v", got, s.uncovered)
			}
		})
	}
}

// readTruth reads a truth file: `schema.table.column Category` a line,
// each part of the name bare when it is a plain lower-case identifier and
// double-quoted otherwise (edge."Loyalty Cards"."Holder Name").
func readTruth(t *testing.T, path string) map[string]privacyv1alpha1.DataCategory {
	t.Helper()
	f, err := os.Open(path) // #nosec G304 -- the package's own test data
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	out := map[string]privacyv1alpha1.DataCategory{}
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		column, category, ok := cutLast(line)
		if !ok {
			t.Fatalf("%s:%d: want `schema.table.column Category`, got %q", path, n, line)
		}
		out[column] = privacyv1alpha1.DataCategory(category)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// scoreCard compares findings with the labels.
type scoreCard struct {
	labelled, findings int
	found              []string
	missed             []string // not found, or found with another category
	falsePositives     []string
}

func (s scoreCard) recall() float64 {
	if s.labelled == 0 {
		return 1
	}
	return float64(len(s.found)) / float64(s.labelled)
}

func (s scoreCard) fpRate() float64 {
	if s.findings == 0 {
		return 0
	}
	return float64(len(s.falsePositives)) / float64(s.findings)
}

func (s scoreCard) String() string {
	return strings.Join([]string{
		"labelled " + itoa(s.labelled),
		"found " + itoa(len(s.found)),
		"missed " + itoa(len(s.missed)) + list(s.missed),
		"false positives " + itoa(len(s.falsePositives)) + list(s.falsePositives),
		"recall " + pct(s.recall()),
		"false-positive rate " + pct(s.fpRate()),
	}, "; ")
}

func score(truth map[string]privacyv1alpha1.DataCategory, res *classify.Result) scoreCard {
	sc := scoreCard{labelled: len(truth), findings: len(res.Findings)}
	got := map[string]privacyv1alpha1.DataCategory{}
	for _, f := range res.Findings {
		key := f.Table + "." + tenantdb.QuoteIdent(f.Column)
		got[key] = f.Category
		if _, ok := truth[key]; !ok {
			sc.falsePositives = append(sc.falsePositives, key+" "+string(f.Category))
		}
	}
	for key, want := range truth {
		switch cat, ok := got[key]; {
		case !ok:
			sc.missed = append(sc.missed, key)
		case cat != want:
			sc.missed = append(sc.missed, key+" (found as "+string(cat)+", labelled "+string(want)+")")
		default:
			sc.found = append(sc.found, key)
		}
	}
	sort.Strings(sc.missed)
	sort.Strings(sc.falsePositives)
	return sc
}

func itoa(n int) string { return strconv.Itoa(n) }

func pct(f float64) string { return strconv.FormatFloat(100*f, 'f', 1, 64) + "%" }

func list(items []string) string {
	if len(items) == 0 {
		return ""
	}
	return " (" + strings.Join(items, ", ") + ")"
}

// cutLast splits a line at its last run of blanks.
func cutLast(line string) (before, after string, ok bool) {
	i := strings.LastIndexAny(line, " \t")
	if i < 0 {
		return "", "", false
	}
	return strings.TrimSpace(line[:i]), line[i+1:], strings.TrimSpace(line[:i]) != ""
}
