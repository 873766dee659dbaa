package retention

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	privacyv1alpha1 "github.com/lethe-dev/lethe/api/v1alpha1"
	"github.com/lethe-dev/lethe/internal/tenantdb"
	"github.com/lethe-dev/lethe/internal/testutil/schemas"
)

// edge loads the Edge schema (composite and partitioned keys, a table keyed
// by a unique index, cycles, unmapped references) with a trigger that
// counts every update of a payment, and returns its inventory.
func edge(t *testing.T, opts schemas.Options) (*pgxpool.Pool, *privacyv1alpha1.DataInventorySpec) {
	t.Helper()
	pool, _, inv := schemas.Open(t, schemas.Edge, opts)
	if _, err := pool.Exec(ctx, `CREATE TABLE edge.updates (paid_at timestamptz, id bigint);
		CREATE FUNCTION edge.count_update() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN INSERT INTO edge.updates VALUES (NEW.paid_at, NEW.id); RETURN NEW; END $$;
		CREATE TRIGGER count_update AFTER UPDATE ON edge.payments FOR EACH ROW EXECUTE FUNCTION edge.count_update()`); err != nil {
		t.Fatal(err)
	}
	return pool, inv
}

func compileOn(t *testing.T, pool *pgxpool.Pool, inv *privacyv1alpha1.DataInventorySpec, r privacyv1alpha1.RetentionRule) (*Rule, error) {
	t.Helper()
	cat, err := tenantdb.ReadCatalog(ctx, pool)
	if err != nil {
		t.Fatal(err)
	}
	return Compile(r, inv, cat, nil)
}

var oldPayments = privacyv1alpha1.RetentionRule{Name: "old-payments", Entity: "payment",
	Age: privacyv1alpha1.RetentionAge{Column: "paid_at", OlderThan: "1y"}, Action: privacyv1alpha1.RetentionAnonymize}

const eligiblePayments = `SELECT count(*) FROM edge.payments WHERE paid_at < $1::timestamptz - interval '1 year'`

// A monthly-partitioned table keyed by (paid_at, id): keyset batches over
// the composite key, two workers splitting the first key column, a kill
// between batches; every eligible row changed exactly once, no other.
func TestCompositePartitionedKeyIsAnonymizedOnceByTwoWorkers(t *testing.T) {
	pool, inv := edge(t, schemas.Options{Members: 40, PaymentsPerAccount: 20})
	if _, err := pool.Exec(ctx, "ANALYZE edge.payments"); err != nil {
		t.Fatal(err)
	}
	want := count(t, pool, eligiblePayments, reference)
	total := count(t, pool, "SELECT count(*) FROM edge.payments")
	if want < 100 || want == total {
		t.Fatalf("%d of %d payments are eligible; the test needs many, and not all", want, total)
	}
	rule, err := compileOn(t, pool, inv, oldPayments)
	if err != nil {
		t.Fatal(err)
	}
	run := newRun("payments-1")
	run.Env.Now = reference
	run.BatchSize = 13
	run.Workers = 2
	killed := errors.New("killed")
	for _, at := range []int{2, 5} {
		run.BeforeBatch = func(_ string, b int) error {
			if b == at {
				return killed
			}
			return nil
		}
		if _, err := Step(ctx, pool, run, rule, time.Now().Add(time.Minute)); !errors.Is(err, killed) {
			t.Fatalf("the run was not stopped at batch %d: %v", at, err)
		}
	}
	run.BeforeBatch = nil
	p := finish(t, pool, run, rule)
	if p.Matched != want || p.Changed != want {
		t.Fatalf("matched %d, changed %d; want %d each", p.Matched, p.Changed, want)
	}
	if n := count(t, pool, "SELECT count(*) FROM lethe.run_steps WHERE run_uid = 'payments-1'"); n != 2 {
		t.Fatalf("%d parts; want the composite key split between 2 workers", n)
	}
	if n := count(t, pool, "SELECT count(*) FROM (SELECT 1 FROM edge.updates GROUP BY paid_at, id HAVING count(*) > 1) d"); n != 0 {
		t.Fatalf("%d payments were updated more than once", n)
	}
	if n := count(t, pool, "SELECT count(*) FROM edge.updates u JOIN edge.payments p USING (paid_at, id) WHERE p.paid_at >= $1::timestamptz - interval '1 year'", reference); n != 0 {
		t.Fatalf("%d payments that were not eligible were updated", n)
	}
	if n := count(t, pool, eligiblePayments+" AND (card_holder <> 'Anonymized' OR payer_ip IS NOT NULL)", reference); n != 0 {
		t.Fatalf("%d eligible payments keep personal data", n)
	}
	if n := count(t, pool, "SELECT count(*) FROM lethe.run_batches WHERE run_uid = 'payments-1' AND keys[1] NOT LIKE '[\"%'"); n != 0 {
		t.Fatalf("%d ledger rows do not hold composite keys", n)
	}
	if again := finish(t, pool, newRun("payments-2"), rule); again.Changed != 0 {
		t.Fatalf("a second run changed %d payments", again.Changed)
	}
}

// A table with no primary key is keyed by its unique index over NOT NULL
// columns.
func TestUniqueIndexKeyedTableIsAnonymized(t *testing.T) {
	pool, inv := edge(t, schemas.Options{})
	rule, err := compileOn(t, pool, inv, privacyv1alpha1.RetentionRule{Name: "devices", Entity: "device",
		Age: privacyv1alpha1.RetentionAge{Column: "registered_at", OlderThan: "1y"}, Action: privacyv1alpha1.RetentionAnonymize})
	if err != nil {
		t.Fatal(err)
	}
	want := count(t, pool, "SELECT count(*) FROM edge.devices WHERE registered_at < $1::timestamptz - interval '1 year'", reference)
	run := newRun("devices-1")
	run.Env.Now = reference
	p := finish(t, pool, run, rule)
	if want == 0 || p.Changed != want {
		t.Fatalf("changed %d devices; want %d", p.Changed, want)
	}
	if n := count(t, pool, "SELECT count(*) FROM edge.devices WHERE last_ip IS NULL"); n != want {
		t.Fatalf("%d devices lost their address; want %d", n, want)
	}
}

// Deleting members deletes what belongs to them, children first, in the
// same transaction (two cycles included), unlinks the members they manage,
// and counts what the ON DELETE CASCADE of an unmapped table took; an
// unmapped NO ACTION reference refuses the rule before any row changes.
func TestDeleteFollowsEveryForeignKey(t *testing.T) {
	pool, inv := edge(t, schemas.Options{})
	rule := privacyv1alpha1.RetentionRule{Name: "closed-members", Entity: "member",
		Age:        privacyv1alpha1.RetentionAge{Column: "closed_at", OlderThan: "90d"},
		Conditions: []privacyv1alpha1.RetentionCondition{{Column: "closed_at", IsNotNull: true}},
		Action:     privacyv1alpha1.RetentionDelete, Scope: privacyv1alpha1.RetentionScopeRow}
	_, err := compileOn(t, pool, inv, rule)
	if err == nil || !strings.Contains(err.Error(), "support_notes_member_id_fkey") || !strings.Contains(err.Error(), "edge.support_notes") {
		t.Fatalf("the rule was not refused naming the unmapped NO ACTION constraint: %v", err)
	}

	mapped := inv.DeepCopy()
	mapped.Entities = append(mapped.Entities, privacyv1alpha1.Entity{Name: "supportNote", Table: "edge.support_notes",
		Relations: []privacyv1alpha1.EntityRelation{{Entity: "member", Direction: privacyv1alpha1.RelationChild}},
		PersonalColumns: []privacyv1alpha1.PersonalColumn{{Column: "note", Category: privacyv1alpha1.DataCategory("FreeText"),
			Strategy: privacyv1alpha1.MaskingStrategy{Type: privacyv1alpha1.StrategyClear}}}})
	compiled, err := compileOn(t, pool, mapped, rule)
	if err != nil {
		t.Fatal(err)
	}
	doomed := "SELECT id FROM edge.members WHERE closed_at < $1::timestamptz - interval '90 days'"
	want := count(t, pool, "SELECT count(*) FROM ("+doomed+") d", reference)
	sessions := count(t, pool, "SELECT count(*) FROM edge.sessions WHERE member_id IN ("+doomed+")", reference)
	managed := count(t, pool, "SELECT count(*) FROM edge.members WHERE manager_id IN ("+doomed+") AND id NOT IN ("+doomed+")", reference)
	payments := count(t, pool, "SELECT count(*) FROM edge.payments p JOIN edge.accounts a ON a.code = p.account_code WHERE a.member_id IN ("+doomed+")", reference)
	countries := count(t, pool, "SELECT count(*) FROM edge.countries")
	unmanaged := count(t, pool, "SELECT count(*) FROM edge.members WHERE manager_id IS NULL AND id NOT IN ("+doomed+")", reference)
	if want == 0 || sessions == 0 || managed == 0 || payments == 0 {
		t.Fatalf("the data lacks the shapes: %d members, %d sessions, %d managed, %d payments", want, sessions, managed, payments)
	}
	run := newRun("delete-1")
	run.Env.Now = reference
	run.BatchSize = 4
	p := finish(t, pool, run, compiled)
	if p.Changed != want {
		t.Fatalf("deleted %d members; want %d", p.Changed, want)
	}
	effect := func(table, action string) int64 {
		for _, e := range p.Effects {
			if e.Table == table && e.Action == action {
				return e.Rows
			}
		}
		return 0
	}
	if got := effect("edge.sessions", tenantdb.OnDeleteCascade); got != sessions {
		t.Fatalf("the run counts %d sessions deleted by CASCADE; want %d (%v)", got, sessions, p.Effects)
	}
	// Members deleted in a later batch are unlinked first too: at least
	// the survivors are counted.
	if got := effect("edge.members", "UNLINK"); got < managed || got > managed+want {
		t.Fatalf("the run counts %d members unlinked from their deleted manager; want %d to %d (%v)", got, managed, managed+want, p.Effects)
	}
	if n := count(t, pool, "SELECT count(*) FROM edge.members WHERE manager_id IS NULL"); n != unmanaged+managed {
		t.Fatalf("%d members have no manager; want the %d that had none and the %d whose manager was deleted", n, unmanaged, managed)
	}
	if got := effect("edge.payments", "DELETE"); got != payments {
		t.Fatalf("the run counts %d payments deleted with their members; want %d (%v)", got, payments, p.Effects)
	}
	for _, q := range []string{
		"SELECT count(*) FROM edge.members WHERE closed_at < $1::timestamptz - interval '90 days'",
		"SELECT count(*) FROM edge.accounts WHERE member_id NOT IN (SELECT id FROM edge.members)",
		"SELECT count(*) FROM edge.payments WHERE account_code NOT IN (SELECT code FROM edge.accounts)",
		"SELECT count(*) FROM edge.addresses WHERE profile_id NOT IN (SELECT member_id FROM edge.profiles)",
		"SELECT count(*) FROM edge.cart_items WHERE cart_id NOT IN (SELECT id FROM edge.carts)",
		"SELECT count(*) FROM edge.sessions WHERE member_id NOT IN (SELECT id FROM edge.members)",
	} {
		var args []any
		if strings.Contains(q, "$1") {
			args = append(args, reference)
		}
		if n := count(t, pool, q, args...); n != 0 {
			t.Fatalf("%s: %d rows left", q, n)
		}
	}
	if n := count(t, pool, "SELECT count(*) FROM edge.countries"); n != countries {
		t.Fatalf("the lookup table lost rows: %d of %d", n, countries)
	}
	if n := count(t, pool, "SELECT coalesce(sum(rows_affected), 0)::bigint FROM lethe.audit_log WHERE action = 'Delete'"); n != want {
		t.Fatalf("the audit log records %d members; want %d", n, want)
	}
	if n := count(t, pool, "SELECT count(*) FROM lethe.audit_log WHERE action = 'Delete' AND detail LIKE '%CASCADE edge.sessions%'"); n == 0 {
		t.Fatal("no audit record names the sessions the CASCADE took")
	}
}

// reference is the instant Edge's ages are measured from.
var reference = time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
