package disruptive

import (
	"context"
	"fmt"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	"sigs.k8s.io/controller-runtime/pkg/client"

	privacyv1alpha1 "github.com/lethe-dev/lethe/api/v1alpha1"
	"github.com/lethe-dev/lethe/internal/testutil/schemas"
)

// A PseudonymizationJob over a selector (every member who joined more than
// 30 days ago), with the manager killed at random points of it, the first
// before its first status write, pseudonymizes every selected member
// exactly once, and its progress, ledger and audit log all say so: never
// more done than found.
func TestPseudonymizationJobSurvivesKills(t *testing.T) {
	const (
		namespace = "kill-job"
		job       = "old-members"
	)
	ctx := context.Background()
	tn := newTenant(t, namespace, "pseudo", schemas.Options{Members: 1500, PaymentsPerAccount: 1}, "")
	c := newChaos(t, "--retry-interval=1s")
	tn.waitReady(t, c)
	want := tn.keys(t, "SELECT "+keyText("m", edgeKeys["members"])+" FROM edge.members m WHERE m.joined_at < now() - interval '30 days'")
	// Subscriptions reference a member by e-mail, ON UPDATE CASCADE: a new
	// e-mail reaches them once too.
	cascaded := tn.keys(t, "SELECT "+keyText("s", edgeKeys["subscriptions"])+
		" FROM edge.subscriptions s JOIN edge.members m ON m.email = s.member_email WHERE m.joined_at < now() - interval '30 days'")
	t.Logf("%d of %d members joined more than 30 days ago (%d subscriptions); batches of 2", len(want),
		tn.scalar(t, "SELECT count(*) FROM edge.members"), len(cascaded))

	apply(t, fmt.Sprintf(`apiVersion: privacy.lethe.dev/v1alpha1
kind: PseudonymizationJob
metadata: {name: %s, namespace: %s}
spec:
  targets: {names: [pseudo]}
  selector:
    entity: member
    age: {column: joined_at, olderThan: 30d}
  pseudonym: {mode: Random, mapping: Discard}
  batchSize: 2
`, job, namespace))
	begin := time.Now()
	key := client.ObjectKey{Namespace: namespace, Name: job}
	get := func() (*privacyv1alpha1.PseudonymizationJob, error) {
		var j privacyv1alpha1.PseudonymizationJob
		return &j, suite.env.Client.Get(ctx, key, &j)
	}
	stalled := func(context.Context) error {
		j, err := get()
		if err != nil {
			return err
		}
		if j.Status.Progress != nil && j.Status.Progress.Done > j.Status.Progress.Total {
			return fmt.Errorf("progress %s: more done than found", j.Status.Progress.Summary)
		}
		if meta.IsStatusConditionTrue(j.Status.Conditions, privacyv1alpha1.ConditionStalled) {
			return fmt.Errorf("the job stalled: %s", readyMessage(j.Status.Conditions))
		}
		return nil
	}
	c.disrupt(begin, minKills+1, run{
		progress: func(ctx context.Context) (n int64, err error) {
			err = tn.pool.QueryRow(ctx, "SELECT count(*) FROM disrupt.changes WHERE op = 'UPDATE' AND tbl = 'members'").Scan(&n)
			return n, err
		},
		total: int64(len(want)),
		statusWritten: func(context.Context) (bool, error) {
			j, err := get()
			return err == nil && j.Status.Progress != nil, err
		},
		stalled: stalled,
	})
	var j *privacyv1alpha1.PseudonymizationJob
	c.waitFor("the job to succeed", func() (bool, string, error) {
		if err := stalled(ctx); err != nil {
			return false, "", err
		}
		var err error
		j, err = get()
		if err != nil {
			return false, "", err
		}
		return j.Status.Phase == privacyv1alpha1.JobSucceeded,
			fmt.Sprintf("phase %q, %s", j.Status.Phase, readyMessage(j.Status.Conditions)), nil
	})
	t.Logf("job succeeded after %d kills, %.1fs after it was created", c.n, time.Since(begin).Seconds())

	updates := tn.changes(t, "UPDATE")
	checkOnce(t, "triggers", "edge.members", updates["members"], want)
	checkOnce(t, "triggers", "edge.subscriptions", updates["subscriptions"], cascaded)
	for table, keys := range updates {
		if table != "members" && table != "subscriptions" {
			t.Errorf("triggers: %d rows of %s updated; the job selects members", total(keys), edgeTable(table))
		}
	}
	if deletes := tn.changes(t, "DELETE"); len(deletes) > 0 {
		t.Errorf("triggers: rows deleted by a pseudonymization job: %v", deletes)
	}
	runID := "pj-" + string(j.UID)
	ledger := tn.keyCounts(t, "SELECT table_name, unnest(keys) FROM lethe.run_batches WHERE run_uid = $1", runID)
	checkOnce(t, "ledger of run "+runID, "edge.members", ledger["edge.members"], want)
	n := int64(len(want))
	if got := tn.scalar(t, "SELECT COALESCE(sum(rows_affected), 0)::bigint FROM lethe.audit_log WHERE object_uid = $1 AND rows_affected > 0", string(j.UID)); got != n {
		t.Errorf("audit log: %d rows pseudonymized by the job; %d members were", got, n)
	}
	tn.verifyAuditChain(t)
	if p := j.Status.Progress; p == nil || p.Done != n || p.Total != n {
		t.Errorf("status.progress %+v; want %d of %d", p, n, n)
	}
}
