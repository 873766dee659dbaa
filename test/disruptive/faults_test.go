package disruptive

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/lethe-dev/lethe/internal/testutil/schemas"
)

// freezeFor is how long PostgreSQL stays frozen: longer than the manager's
// statement timeout (faultArgs), so the statement under way when it froze
// is cancelled once it thaws.
const freezeFor = 4 * time.Second

// faultArgs make the manager retry quickly and cancel statements after two
// seconds.
var faultArgs = []string{"--retry-interval=1s", "--statement-timeout=2s"}

// A retention run goes on through PostgreSQL crashing (an immediate
// shutdown and a start, every connection broken), PostgreSQL frozen for
// longer than the statement timeout, and the Kubernetes API server stopped
// and started again, and still changes every eligible row exactly once,
// with status, ledger and audit log saying so.
func TestRetentionRunSurvivesDatabaseAndAPIServerFaults(t *testing.T) {
	tn := newTenant(t, "fault-retention", "faults", schemas.Options{Members: 60, PaymentsPerAccount: 300}, "")
	c := newChaos(t, faultArgs...)
	tn.waitReady(t, c)
	rr := startRetention(t, c, tn, 10)
	total := int64(len(rr.eligibleBefore))
	pg := suite.env.Postgres
	ctx := context.Background()

	at := rr.waitProgress(total / 6)
	if err := pg.Restart(); err != nil {
		t.Fatal(err)
	}
	tn.pool.Reset()
	t.Logf("PostgreSQL restarted in immediate mode at %d/%d rows", at, total)

	at = rr.waitProgress(at + total/6)
	if err := pg.Freeze(); err != nil {
		t.Fatal(err)
	}
	sleep(ctx, freezeFor)
	if err := pg.Thaw(); err != nil {
		t.Fatal(err)
	}
	t.Logf("PostgreSQL frozen for %s at %d/%d rows", freezeFor, at, total)

	at = rr.waitProgress(at + total/6)
	if err := suite.env.StopAPIServer(); err != nil {
		t.Fatal(err)
	}
	// The run may go on while nothing can be written to the API server;
	// give it the time of a few batches.
	down := time.Now()
	for time.Since(down) < 5*time.Second {
		n, err := rr.progress(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if n >= at+50 {
			break
		}
		sleep(ctx, 50*time.Millisecond)
	}
	after, err := rr.progress(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := suite.env.StartAPIServer(); err != nil {
		t.Fatal(err)
	}
	t.Logf("the API server was down for %.1fs from %d/%d rows; %d rows changed meanwhile", time.Since(down).Seconds(), at, total, after-at)
	rr.finish()
}

// waitProgress waits until at least want rows were changed (or the run
// is done) and returns how many were.
func (rr *retentionRun) waitProgress(want int64) int64 {
	rr.t.Helper()
	want = min(want, int64(len(rr.eligibleBefore)))
	var n int64
	rr.c.waitFor(fmt.Sprintf("%d rows changed", want), func() (bool, string, error) {
		if err := rr.stalled(context.Background()); err != nil {
			return false, "", err
		}
		var err error
		n, err = rr.progress(context.Background())
		return n >= want, fmt.Sprintf("%d rows changed", n), err
	})
	return n
}

// Two managers running at once without leader election (a split brain,
// or a rollout that briefly runs two) both carry out the same retention
// run, and every eligible row is still changed exactly once, with one run
// in the ledger and status, ledger and audit log agreeing.
func TestSplitBrainChangesEachRowOnce(t *testing.T) {
	tn := newTenant(t, "split-brain", "split", schemas.Options{Members: 40, PaymentsPerAccount: 200}, "")
	c := newChaos(t, "--retry-interval=1s")
	other, err := suite.env.StartManager(context.Background(), suite.manager, "--retry-interval=1s")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := other.Stop(); err != nil {
			t.Errorf("stop the second manager: %v", err)
		}
	})
	tn.waitReady(t, c)
	rr := startRetention(t, c, tn, 10)
	rr.finish()
	select {
	case <-other.Exited():
		t.Errorf("the second manager exited: %v", other.ExitError())
	default:
	}
}
