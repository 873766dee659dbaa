package disruptive

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	"sigs.k8s.io/controller-runtime/pkg/client"

	privacyv1alpha1 "github.com/lethe-dev/lethe/api/v1alpha1"
	"github.com/lethe-dev/lethe/internal/testutil/schemas"
)

// A retention run that anonymizes a composite-key partitioned table, with
// the manager killed at random points of it, changes every eligible row
// exactly once and no other, and its status, ledger and audit log all say
// so.
func TestRetentionRunSurvivesKills(t *testing.T) {
	tn := newTenant(t, "kill-retention", "retain", schemas.Options{Members: 60, PaymentsPerAccount: 300}, "")
	c := newChaos(t, "--retry-interval=1s")
	tn.waitReady(t, c)
	rr := startRetention(t, c, tn, 10)
	c.disrupt(rr.begin, minKills+1, rr.run())
	rr.finish()
}

// retentionRun is a run of a policy that anonymizes payments older than a
// year, asked for with the run-now annotation.
type retentionRun struct {
	t      *testing.T
	c      *chaos
	tn     *tenant
	key    client.ObjectKey
	runNow string
	begin  time.Time
	// cutoffBefore and eligibleBefore are the cut-off and the eligible
	// payments measured just before the run was asked for.
	cutoffBefore   time.Time
	eligibleBefore map[string]bool
}

// startRetention applies the policy (batches of batchSize), waits until
// the manager has seen it and asks for a run.
func startRetention(t *testing.T, c *chaos, tn *tenant, batchSize int) *retentionRun {
	t.Helper()
	const policy = "payments-after-a-year"
	ctx := context.Background()
	// A yearly schedule that is months away: only the annotation starts a
	// run.
	apply(t, fmt.Sprintf(`apiVersion: privacy.lethe.dev/v1alpha1
kind: RetentionPolicy
metadata: {name: %s, namespace: %s}
spec:
  targets: {names: [%s]}
  schedule: "0 0 1 1 *"
  batchSize: %d
  rules:
    - name: old-payments
      entity: payment
      age: {column: paid_at, olderThan: 1y}
      action: Anonymize
`, policy, tn.namespace, tn.name, batchSize))
	rr := &retentionRun{t: t, c: c, tn: tn, key: client.ObjectKey{Namespace: tn.namespace, Name: policy}}
	c.waitFor("RetentionPolicy "+policy+" seen", func() (bool, string, error) {
		p, err := rr.get()
		return err == nil && p.Status.NextScheduleTime != nil, "no status.nextScheduleTime", err
	})

	// Every row older than a year now is eligible; the run measures the
	// year from its own start, a moment later.
	if err := tn.pool.QueryRow(ctx, "SELECT (now() AT TIME ZONE 'UTC' - interval '1 year') AT TIME ZONE 'UTC'").Scan(&rr.cutoffBefore); err != nil {
		t.Fatal(err)
	}
	rr.eligibleBefore = tn.keys(t, "SELECT "+keyText("p", edgeKeys["payments"])+" FROM edge.payments p WHERE p.paid_at < $1", rr.cutoffBefore)
	t.Logf("%d of %d payments are older than a year; batches of %d", len(rr.eligibleBefore),
		tn.scalar(t, "SELECT count(*) FROM edge.payments"), batchSize)

	rr.runNow = strconv.FormatInt(time.Now().UnixNano(), 10)
	kubectl(t, "", "annotate", "rp", policy, "-n", tn.namespace, "privacy.lethe.dev/run-now="+rr.runNow, "--overwrite")
	rr.begin = time.Now()
	return rr
}

func (rr *retentionRun) get() (*privacyv1alpha1.RetentionPolicy, error) {
	var p privacyv1alpha1.RetentionPolicy
	return &p, suite.env.Client.Get(context.Background(), rr.key, &p)
}

// stalled fails when the policy stalled: it stalls only on what waiting
// cannot fix.
func (rr *retentionRun) stalled(context.Context) error {
	p, err := rr.get()
	if err != nil || !meta.IsStatusConditionTrue(p.Status.Conditions, privacyv1alpha1.ConditionStalled) {
		return err
	}
	return fmt.Errorf("the policy stalled: %s", readyMessage(p.Status.Conditions))
}

// progress counts the payments updated so far.
func (rr *retentionRun) progress(ctx context.Context) (int64, error) {
	return rr.tn.changeCount(ctx, "UPDATE")
}

// run is what disrupt watches of the run.
func (rr *retentionRun) run() run {
	return run{
		progress: rr.progress,
		total:    int64(len(rr.eligibleBefore)),
		statusWritten: func(context.Context) (bool, error) {
			p, err := rr.get()
			return err == nil && p.Status.LastRunNow == rr.runNow, err
		},
		stalled: rr.stalled,
	}
}

// finish waits for the run to complete and checks it.
func (rr *retentionRun) finish() {
	rr.t.Helper()
	var p *privacyv1alpha1.RetentionPolicy
	rr.c.waitFor("the run to complete", func() (bool, string, error) {
		if err := rr.stalled(context.Background()); err != nil {
			return false, "", err
		}
		var err error
		p, err = rr.get()
		if err != nil || p.Status.Run == nil {
			return false, "no run in status", err
		}
		return p.Status.LastRunNow == rr.runNow && p.Status.Run.Completed,
			fmt.Sprintf("run %s, progress %s, last error %q", p.Status.Run.ID, p.Status.Progress, p.Status.LastError), nil
	})
	rr.t.Logf("run %s completed after %d kills, %.1fs after it was asked for", p.Status.Run.ID, rr.c.n, time.Since(rr.begin).Seconds())
	checkRetention(rr.t, rr.tn, p, rr.cutoffBefore, rr.eligibleBefore)
}

// checkRetention compares what the run changed, row by row, with what was
// eligible, with its ledger, with the audit log and with the policy's
// status.
func checkRetention(t *testing.T, tn *tenant, p *privacyv1alpha1.RetentionPolicy, cutoffBefore time.Time, eligibleBefore map[string]bool) {
	t.Helper()
	ctx := context.Background()
	runID := p.Status.Run.ID

	// The run's cut-off is the one it recorded when it began; rows between
	// the cut-off computed before and it are eligible too.
	var cutoff time.Time
	var cutoffs int
	if err := tn.pool.QueryRow(ctx, "SELECT min(cutoff), count(DISTINCT cutoff) FROM lethe.run_steps WHERE run_uid = $1", runID).Scan(&cutoff, &cutoffs); err != nil {
		t.Fatal(err)
	}
	if cutoffs != 1 {
		t.Fatalf("run %s has %d cut-offs in lethe.run_steps; want 1", runID, cutoffs)
	}
	eligible := tn.keys(t, "SELECT "+keyText("p", edgeKeys["payments"])+" FROM edge.payments p WHERE p.paid_at < $1", cutoff)
	between := tn.scalar(t, "SELECT count(*) FROM edge.payments WHERE paid_at >= $1 AND paid_at < $2", cutoffBefore, cutoff)
	for k := range eligibleBefore {
		if !eligible[k] {
			t.Fatalf("payment %s was eligible before the run but not under its cut-off %s", k, cutoff)
		}
	}
	if int64(len(eligible)) != int64(len(eligibleBefore))+between {
		t.Fatalf("%d payments eligible under the run's cut-off, %d before it and %d between: the cut-off moved back", len(eligible), len(eligibleBefore), between)
	}

	// Row by row: every eligible payment updated exactly once, nothing
	// else updated or deleted.
	updates := tn.changes(t, "UPDATE")
	checkOnce(t, "triggers", "edge.payments", updates["payments"], eligible)
	for table, keys := range updates {
		if table != "payments" {
			t.Errorf("triggers: %d rows of %s updated; the rule changes only edge.payments", total(keys), edgeTable(table))
		}
	}
	if deletes := tn.changes(t, "DELETE"); len(deletes) > 0 {
		t.Errorf("triggers: rows deleted by an Anonymize rule: %v", deletes)
	}
	// Every update happened in a transaction of the run's ledger: the
	// ledger's keys are exactly the rows changed, each in one batch.
	ledger := tn.keyCounts(t, "SELECT table_name, unnest(keys) FROM lethe.run_batches WHERE run_uid = $1", runID)
	checkOnce(t, "ledger of run "+runID, "edge.payments", ledger["edge.payments"], eligible)
	if runs := tn.scalar(t, "SELECT count(DISTINCT run_uid) FROM lethe.run_batches"); runs != 1 {
		t.Errorf("ledger: batches of %d runs; the policy ran once", runs)
	}

	// The audit log counts the same rows, in a chain that verifies.
	want := int64(len(eligible))
	if n := tn.scalar(t, "SELECT COALESCE(sum(rows_affected), 0)::bigint FROM lethe.audit_log WHERE object_uid = $1 AND action = 'Anonymize'", string(p.UID)); n != want {
		t.Errorf("audit log: %d rows anonymized by the policy; %d eligible rows were changed", n, want)
	}
	if n, b := tn.scalar(t, "SELECT count(*) FROM lethe.audit_log WHERE object_uid = $1 AND action = 'Anonymize'", string(p.UID)),
		tn.scalar(t, "SELECT count(*) FROM lethe.run_batches WHERE run_uid = $1 AND rows > 0", runID); n != b {
		t.Errorf("audit log: %d records of the policy for %d batches that changed rows", n, b)
	}
	tn.verifyAuditChain(t)

	// Status says what the ledger says.
	if len(p.Status.Targets) != 1 || len(p.Status.Targets[0].Rules) != 1 {
		t.Fatalf("status.targets: %+v; want one target with one rule", p.Status.Targets)
	}
	rs := p.Status.Targets[0].Rules[0]
	if !rs.Done || rs.Changed != want || rs.Matched != want || rs.Locked != 0 {
		t.Errorf("status of rule %s: done %t, matched %d, changed %d, locked %d; want done, %d matched and changed, none locked",
			rs.Name, rs.Done, rs.Matched, rs.Changed, rs.Locked, want)
	}
	if p.Status.LastError != "" {
		t.Errorf("status.lastError = %q after the run completed", p.Status.LastError)
	}
}
