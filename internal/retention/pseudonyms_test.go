package retention

import (
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	privacyv1alpha1 "github.com/lethe-dev/lethe/api/v1alpha1"
	"github.com/lethe-dev/lethe/internal/tenantdb"
)

var jobKey = []byte("a key every tenant shares, 32 by")

// employees is a PseudonymizationJob's work on every employee.
var employees = privacyv1alpha1.RetentionRule{Name: "employee", Entity: "employee"}

func compileJob(t *testing.T, pool *pgxpool.Pool, inv *privacyv1alpha1.DataInventorySpec, r privacyv1alpha1.RetentionRule, p Pseudonyms) *Rule {
	t.Helper()
	cat, err := tenantdb.ReadCatalog(ctx, pool)
	if err != nil {
		t.Fatal(err)
	}
	rule, err := CompileJob(r, inv, cat, nil, p)
	if err != nil {
		t.Fatal(err)
	}
	return rule
}

type person struct{ first, last, user string }

func people(t *testing.T, pool *pgxpool.Pool) map[string]person {
	t.Helper()
	rows, err := pool.Query(ctx, "SELECT employee_id, first_name, last_name, user_name FROM app.employees")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]person{}
	for rows.Next() {
		var id string
		var p person
		if err := rows.Scan(&id, &p.first, &p.last, &p.user); err != nil {
			t.Fatal(err)
		}
		out[id] = p
	}
	return out
}

func TestKeyedPseudonymsAreEqualAcrossTenantsAndASecondJobChangesNothing(t *testing.T) {
	acme, inv := sampleTenant(t, "acme", 3)
	globex, _ := sampleTenant(t, "globex", 4)
	before := people(t, acme)
	p := Pseudonyms{Key: jobKey, Identifier: "employee_id"}
	for _, pool := range []*pgxpool.Pool{acme, globex} {
		finish(t, pool, newRun("job-1"), compileJob(t, pool, inv, employees, p))
	}
	a, g := people(t, acme), people(t, globex)
	same := 0
	for id, pa := range a {
		if pa == before[id] || pa.first == before[id].first {
			t.Fatalf("employee %s kept its name", id)
		}
		if pg, ok := g[id]; ok {
			if pa != pg {
				t.Fatalf("employee %s has pseudonyms %v in one tenant and %v in the other", id, pa, pg)
			}
			same++
		}
	}
	if same == 0 {
		t.Fatal("no employee is known to both tenants")
	}
	second := finish(t, acme, newRun("job-2"), compileJob(t, acme, inv, employees, p))
	if second.Changed != 0 {
		t.Fatalf("a second job changed %d rows", second.Changed)
	}
}

func TestKeyedPseudonymsStayUniqueUnderForcedCollisions(t *testing.T) {
	pool, inv := sample(t)
	// One hex digit: 16 values for every employee of the tenant.
	format := "{hex:1}"
	r := employees
	r.Fields = []privacyv1alpha1.FieldOverride{{Column: "user_name", Strategy: privacyv1alpha1.MaskingStrategy{Type: privacyv1alpha1.StrategyPseudonym, Format: &format}}}
	n := count(t, pool, "SELECT count(*) FROM app.employees")
	run := newRun("job-1")
	run.BatchSize = 50
	pr := finish(t, pool, run, compileJob(t, pool, inv, r, Pseudonyms{Key: jobKey, Identifier: "employee_id"}))
	if pr.Changed != n {
		t.Fatalf("changed %d employees; want %d", pr.Changed, n)
	}
	if d := count(t, pool, "SELECT count(DISTINCT user_name) FROM app.employees"); d != n {
		t.Fatalf("%d distinct user names for %d employees", d, n)
	}
	if c := count(t, pool, "SELECT count(*) FROM app.employees WHERE user_name ~ '^[0-9a-f]_[0-9]+$'"); c == 0 || c == n {
		t.Fatalf("%d of %d user names took the row discriminator; want some, not all", c, n)
	}
}

func TestOneSubjectIsPseudonymizedAndDeactivated(t *testing.T) {
	pool, inv := sample(t)
	p := Pseudonyms{Key: jobKey, Identifier: "employee_id", Only: []string{"E10002"}, Deactivate: "active"}
	pr := finish(t, pool, newRun("job-1"), compileJob(t, pool, inv, employees, p))
	if pr.Changed != 1 {
		t.Fatalf("changed %d rows; want 1", pr.Changed)
	}
	if n := count(t, pool, "SELECT count(*) FROM app.employees WHERE active = false AND first_name LIKE 'F\\_%' AND employee_id LIKE 'EMP-%'"); n != 1 {
		t.Fatalf("%d employees were pseudonymized and deactivated; want 1", n)
	}
	if n := count(t, pool, "SELECT count(*) FROM app.employees WHERE first_name LIKE 'F\\_%'"); n != 1 {
		t.Fatalf("%d employees were pseudonymized; want 1", n)
	}
}

func TestKilledJobPseudonymizesEveryRowExactlyOnce(t *testing.T) {
	pool, inv := sample(t)
	if _, err := pool.Exec(ctx, `CREATE TABLE app.updates (id bigint);
		CREATE FUNCTION app.count_update() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN INSERT INTO app.updates VALUES (NEW.id); RETURN NEW; END $$;
		CREATE TRIGGER count_update AFTER UPDATE ON app.employees FOR EACH ROW EXECUTE FUNCTION app.count_update()`); err != nil {
		t.Fatal(err)
	}
	n := count(t, pool, "SELECT count(*) FROM app.employees")
	rule := compileJob(t, pool, inv, employees, Pseudonyms{Key: jobKey, Identifier: "employee_id"})
	run := newRun("job-1")
	run.BatchSize = 3
	killed := errors.New("killed")
	for _, at := range []int{1, 2} {
		run.BeforeBatch = func(_ string, b int) error {
			if b == at {
				return killed
			}
			return nil
		}
		if _, err := Step(ctx, pool, run, rule, time.Now().Add(time.Minute)); !errors.Is(err, killed) {
			t.Fatalf("the job was not stopped at batch %d: %v", at, err)
		}
	}
	run.BeforeBatch = nil
	if p := finish(t, pool, run, rule); p.Changed != n {
		t.Fatalf("changed %d; want %d", p.Changed, n)
	}
	if u := count(t, pool, "SELECT count(*) FROM app.updates"); u != n {
		t.Fatalf("%d updates of %d employees", u, n)
	}
	if d := count(t, pool, "SELECT count(DISTINCT id) FROM app.updates"); d != n {
		t.Fatalf("%d employees updated; want %d", d, n)
	}
}

func TestARetentionRuleKeepsAJobsPseudonyms(t *testing.T) {
	pool, inv := sample(t)
	p := Pseudonyms{Key: jobKey, Identifier: "employee_id", Only: []string{"E10002"}}
	finish(t, pool, newRun("job-1"), compileJob(t, pool, inv, employees, p))
	var id string
	if err := pool.QueryRow(ctx, "SELECT employee_id FROM app.employees WHERE id = 2").Scan(&id); err != nil {
		t.Fatal(err)
	}
	before := people(t, pool)[id]
	rule := compile(t, pool, inv, privacyv1alpha1.RetentionRule{Name: "all", Entity: "employee", Action: privacyv1alpha1.RetentionPseudonymize,
		Age: privacyv1alpha1.RetentionAge{Column: "hired_at", OlderThan: "1d"}})
	pr := finish(t, pool, newRun("rule-1"), rule)
	if pr.Changed == 0 {
		t.Fatal("the rule changed nothing")
	}
	if after := people(t, pool)[id]; after != before {
		t.Fatalf("the rule replaced the job's pseudonyms %v with %v", before, after)
	}
}
