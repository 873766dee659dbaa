package disruptive

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"k8s.io/apimachinery/pkg/api/meta"
	"sigs.k8s.io/controller-runtime/pkg/client"

	privacyv1alpha1 "github.com/lethe-dev/lethe/api/v1alpha1"
	"github.com/lethe-dev/lethe/internal/tenantdb"
	"github.com/lethe-dev/lethe/internal/testutil/schemas"
)

// erasedMember is the member erased: one with two accounts, a subscription,
// two addresses, a loyalty card and no support notes (which would block the
// delete).
const erasedMember = 12

// memberPayments is how many payments each of the member's accounts gets on
// top of Edge's own, one in ten refunded.
const memberPayments = 4000

// memberRows are the SQL queries of the member's rows per Edge table, by
// key, for the member's id ($1): what a Delete erasure removes (sessions by
// their ON DELETE CASCADE).
var memberRows = map[string]string{
	"members":       "FROM edge.members x WHERE x.id = $1",
	"accounts":      "FROM edge.accounts x WHERE x.member_id = $1",
	"payments":      "FROM edge.payments x JOIN edge.accounts a ON a.code = x.account_code WHERE a.member_id = $1",
	"refunds":       "FROM edge.refunds x JOIN edge.payments p ON (p.paid_at, p.id) = (x.paid_at, x.payment_id) JOIN edge.accounts a ON a.code = p.account_code WHERE a.member_id = $1",
	"devices":       "FROM edge.devices x WHERE x.member_id = $1",
	"subscriptions": "FROM edge.subscriptions x JOIN edge.members m ON m.email = x.member_email WHERE m.id = $1",
	"profiles":      "FROM edge.profiles x WHERE x.member_id = $1",
	"addresses":     "FROM edge.addresses x WHERE x.profile_id = $1",
	"carts":         "FROM edge.carts x WHERE x.member_id = $1",
	"cart_items":    "FROM edge.cart_items x JOIN edge.carts c ON c.id = x.cart_id WHERE c.member_id = $1",
	"sessions":      "FROM edge.sessions x WHERE x.member_id = $1",
	"Loyalty Cards": `FROM edge."Loyalty Cards" x WHERE x.member_id = $1`,
}

// A Delete erasure of a member with thousands of rows in a composite-key
// partitioned table, with the manager killed at random points of it,
// deletes each of the member's rows exactly once and no other row (but the
// sessions that cascade), completes, and its status, ledger and audit log
// all say so.
func TestDeleteErasureSurvivesKills(t *testing.T) {
	const (
		namespace = "kill-erasure"
		request   = "erase-member"
		batchSize = 2
	)
	ctx := context.Background()
	more := fmt.Sprintf(`
INSERT INTO edge.payments (paid_at, account_code, amount, card_holder, payer_ip)
SELECT timestamptz '%[1]s 00:00+00' + (j %% 719) * interval '1 day' + (j %% 24) * interval '1 hour' + j * interval '1 second',
       a.code, 10 + j %% 90, 'Extra payment', '10.99.0.1'
FROM edge.accounts a, generate_series(1, %[2]d) AS j WHERE a.member_id = md5('member-%[3]d')::uuid;
INSERT INTO edge.refunds (paid_at, payment_id, reason, refunded_at)
SELECT p.paid_at, p.id, 'Refund of an extra payment', p.paid_at + interval '3 days'
FROM edge.payments p JOIN edge.accounts a ON a.code = p.account_code
WHERE a.member_id = md5('member-%[3]d')::uuid AND p.card_holder = 'Extra payment' AND p.id %% 10 = 0;`,
		schemas.EdgeStart, memberPayments, erasedMember)
	tn := newTenant(t, namespace, "erase", schemas.Options{}, more)
	if schemas.HasSupportNotes(erasedMember) {
		t.Fatalf("member %d has support notes, which would block the delete", erasedMember)
	}
	c := newChaos(t, "--retry-interval=1s", fmt.Sprintf("--request-batch-size=%d", batchSize))
	// A manager may come back with another batch size (an upgrade, a
	// changed flag): the run goes on with the one it began with.
	c.restartArgs = func(rng *rand.Rand) []string {
		// Small enough that a run which begins after the first kill,
		// with the size of that restart, still lasts for every kill.
		sizes := []int{1, batchSize, 7, 20}
		return []string{fmt.Sprintf("--request-batch-size=%d", sizes[rng.IntN(len(sizes))])}
	}
	tn.waitReady(t, c)

	id := schemas.MemberID(erasedMember)
	want := map[string]map[string]bool{}
	var rows, engineRows int64
	for table, from := range memberRows {
		want[table] = tn.keys(t, "SELECT "+keyText("x", edgeKeys[table])+" "+from, id)
		if len(want[table]) == 0 {
			t.Fatalf("member %d has no rows in %s: the test would prove nothing there", erasedMember, edgeTable(table))
		}
		rows += int64(len(want[table]))
		if table != "sessions" {
			engineRows += int64(len(want[table]))
		}
	}
	t.Logf("member %d has %d rows (%d payments, %d refunds); batches of %d", erasedMember, rows,
		len(want["payments"]), len(want["refunds"]), batchSize)

	t.Cleanup(func() {
		if t.Failed() {
			tn.explainErasure(t, want)
		}
	})

	apply(t, fmt.Sprintf(`apiVersion: v1
kind: Secret
metadata: {name: member-identifiers, namespace: %[1]s}
stringData: {memberId: %[2]s}
---
apiVersion: privacy.lethe.dev/v1alpha1
kind: DataSubjectRequest
metadata: {name: %[3]s, namespace: %[1]s}
spec:
  type: Erasure
  subject:
    type: member
    identifiersSecretRef: {name: member-identifiers}
  targets: {names: [erase]}
  erasure: {method: Delete}
  # No webhooks here to stamp who waived the approval: stamped by hand.
  approval: {required: false, approvedBy: {username: disruptive-dpo, at: "2026-01-01T00:00:00Z"}}
`, namespace, id, request))
	begin := time.Now()
	key := client.ObjectKey{Namespace: namespace, Name: request}
	get := func() (*privacyv1alpha1.DataSubjectRequest, error) {
		var r privacyv1alpha1.DataSubjectRequest
		return &r, suite.env.Client.Get(ctx, key, &r)
	}
	// A request fails only on what waiting cannot fix.
	failed := func(context.Context) error {
		r, err := get()
		if err != nil || r.Status.Phase != privacyv1alpha1.PhaseFailed {
			return err
		}
		return fmt.Errorf("the request failed: %s", readyMessage(r.Status.Conditions))
	}
	c.disrupt(begin, minKills+1, run{
		progress: func(ctx context.Context) (int64, error) { return tn.changeCount(ctx, "DELETE") },
		total:    rows,
		statusWritten: func(context.Context) (bool, error) {
			r, err := get()
			return err == nil && r.Status.Phase != "", err
		},
		stalled: failed,
	})
	var req *privacyv1alpha1.DataSubjectRequest
	c.waitFor("the request to complete", func() (bool, string, error) {
		if err := failed(ctx); err != nil {
			return false, "", err
		}
		var err error
		if req, err = get(); err != nil {
			return false, "", err
		}
		return req.Status.Phase == privacyv1alpha1.PhaseCompleted,
			fmt.Sprintf("phase %q, progress %q, %s", req.Status.Phase, req.Status.Progress, readyMessage(req.Status.Conditions)), nil
	})
	t.Logf("request completed after %d kills, %.1fs after it was created", c.n, time.Since(begin).Seconds())
	checkErasure(t, tn, req, want, engineRows)
}

// checkErasure compares what the erasure deleted, row by row, with the
// member's rows, with its ledger, with the audit log and with the
// request's status.
func checkErasure(t *testing.T, tn *tenant, req *privacyv1alpha1.DataSubjectRequest, want map[string]map[string]bool, engineRows int64) {
	t.Helper()
	uid := string(req.UID)

	// Row by row: each of the member's rows deleted exactly once, no other
	// row deleted; the only updates are of the member's own rows (a
	// reference between two of them cleared before they go).
	deletes := tn.changes(t, "DELETE")
	for table, keys := range want {
		checkOnce(t, "triggers", edgeTable(table), deletes[table], keys)
	}
	for table, keys := range deletes {
		if want[table] == nil {
			t.Errorf("triggers: %d rows of %s deleted; the member has none there", total(keys), edgeTable(table))
		}
	}
	for table, keys := range tn.changes(t, "UPDATE") {
		for k, n := range keys {
			if !want[table][k] || n > 1 {
				t.Errorf("triggers: row %s of %s updated %d times; only the member's rows may be unlinked, once", k, edgeTable(table), n)
			}
		}
	}

	// The ledger lists every row the executor deleted, each in one batch;
	// the sessions that cascaded are counted in its effects.
	ledger := tn.keyCounts(t, "SELECT table_name, unnest(keys) FROM lethe.run_batches WHERE run_uid = $1", uid)
	for table, keys := range want {
		if table != "sessions" {
			checkOnce(t, "ledger", edgeTable(table), ledger[edgeTable(table)], keys)
		}
	}
	if n := tn.scalar(t, `SELECT COALESCE(sum((x ->> 'rows')::bigint), 0)::bigint FROM lethe.run_batches b, jsonb_array_elements(b.effects) AS x
		WHERE b.run_uid = $1 AND x ->> 'table' = 'edge.sessions'`, uid); n != int64(len(want["sessions"])) {
		t.Errorf("ledger: %d sessions counted as cascaded; %d were deleted", n, len(want["sessions"]))
	}
	if state := tn.scalar(t, "SELECT count(*) FROM lethe.runs WHERE uid = $1 AND state = 'Completed'", uid); state != 1 {
		t.Errorf("lethe.runs: the request's run is not Completed")
	}

	// The audit log: one record per batch, counting the same rows, in a
	// chain that verifies.
	if n := tn.scalar(t, "SELECT COALESCE(sum(rows_affected), 0)::bigint FROM lethe.audit_log WHERE object_uid = $1 AND action = 'Delete'", uid); n != engineRows {
		t.Errorf("audit log: %d rows deleted by the request; the member had %d (sessions aside)", n, engineRows)
	}
	if n, b := tn.scalar(t, "SELECT count(*) FROM lethe.audit_log WHERE object_uid = $1 AND action = 'Delete'", uid),
		tn.scalar(t, "SELECT count(*) FROM lethe.run_batches WHERE run_uid = $1", uid); n != b {
		t.Errorf("audit log: %d Delete records of the request for %d batches", n, b)
	}
	tn.verifyAuditChain(t)

	// Status says what the ledger says.
	st := req.Status
	for _, typ := range []string{privacyv1alpha1.ConditionReady, privacyv1alpha1.ConditionVerified} {
		if c := meta.FindStatusCondition(st.Conditions, typ); c == nil || c.Status != "True" {
			t.Errorf("condition %s of the request: %+v; want True", typ, c)
		}
	}
	if len(st.Targets) != 1 {
		t.Fatalf("status.targets: %+v; want one target", st.Targets)
	}
	changed := map[string]int64{}
	for _, e := range st.Targets[0].Entities {
		changed[e.Entity] = e.Changed
	}
	inv, err := schemas.Inventory(schemas.Edge)
	if err != nil {
		t.Fatal(err)
	}
	var diffs []string
	for _, e := range inv.Entities {
		name, err := tenantdb.ParseTableName(e.Table)
		if err != nil {
			t.Fatal(err)
		}
		table := name.Name
		if changed[e.Name] != int64(len(want[table])) {
			diffs = append(diffs, fmt.Sprintf("%s: %d changed, %d deleted", e.Name, changed[e.Name], len(want[table])))
		}
	}
	sort.Strings(diffs)
	if len(diffs) > 0 {
		t.Errorf("status.targets[0].entities differ from the rows deleted: %s", strings.Join(diffs, "; "))
	}
}

// explainErasure logs, when the test failed, which of the member's rows are
// left, and what the request's run recorded: its state, plan and ledger.
func (tn *tenant) explainErasure(t *testing.T, want map[string]map[string]bool) {
	t.Helper()
	tables := make([]string, 0, len(want))
	for table := range want {
		tables = append(tables, table)
	}
	sort.Strings(tables)
	var left []string
	for _, table := range tables {
		keys := make([]string, 0, len(want[table]))
		for k := range want[table] {
			keys = append(keys, k)
		}
		n := tn.scalar(t, fmt.Sprintf("SELECT count(*) FROM %s x WHERE %s = ANY($1)", pgx.Identifier{"edge", table}.Sanitize(), keyText("x", edgeKeys[table])), keys)
		left = append(left, fmt.Sprintf("%s %d/%d", table, n, len(keys)))
	}
	t.Logf("the member's rows left: %s", strings.Join(left, ", "))
	for _, q := range []string{
		"SELECT uid || ' ' || state FROM lethe.runs",
		"SELECT step || ' ' || cardinality(keys) FROM lethe.run_plan",
		"SELECT step || ': ' || count(*) || ' batches ' || min(batch) || '..' || max(batch) || ', ' || sum(rows) || ' rows' FROM lethe.run_batches GROUP BY step",
	} {
		rows, err := tn.pool.Query(context.Background(), q)
		if err != nil {
			t.Logf("%s: %v", q, err)
			continue
		}
		lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
		t.Logf("%s:\n  %s (%v)", q, strings.Join(lines, "\n  "), err)
	}
}
