package disruptive

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lethe-dev/lethe/hack/localenv"
)

// patience bounds every wait, so a stuck run fails the test with what was
// last seen instead of hanging it; it says nothing about speed.
const patience = 3 * time.Minute

// minKills is how many kills must land while a run is under way.
const minKills = 5

// chaos runs the manager as a child process and kill -9s it.
type chaos struct {
	t    *testing.T
	rng  *rand.Rand
	args []string
	// restartArgs, when set, adds flags to each manager started after a
	// kill (the last occurrence of a flag wins).
	restartArgs func(*rand.Rand) []string
	mgr         *localenv.Manager
	// kills counts the kills that landed while the run was under way.
	kills int
	n     int
}

// newChaos starts the manager with args. Its random source is the suite's
// seed mixed with the test's name, so each test replays alone.
func newChaos(t *testing.T, args ...string) *chaos {
	h := fnv.New64a()
	_, _ = h.Write([]byte(t.Name()))
	c := &chaos{t: t, rng: rand.New(rand.NewPCG(suite.seed, h.Sum64())), args: args} // #nosec G404 -- reproducible kill points, not secrets
	c.start(args)
	t.Cleanup(func() {
		if err := c.mgr.Stop(); err != nil && !errors.Is(err, localenv.ErrExited) {
			t.Errorf("stop the manager: %v", err)
		}
		if t.Failed() {
			tail, err := localenv.TailFile(c.mgr.LogPath, 80, suite.env.Postgres.AppPassword)
			if err == nil {
				t.Logf("the last lines of the manager's log:\n%s", tail)
			}
		}
	})
	return c
}

func (c *chaos) start(args []string) {
	c.t.Helper()
	m, err := suite.env.StartManager(context.Background(), suite.manager, args...)
	if err != nil {
		c.t.Fatal(err)
	}
	c.mgr = m
}

// killAndRestart kill -9s the manager, waits until it is gone and starts a
// new one, with restartArgs' flags if set, which it returns. A manager that
// had exited on its own fails the test.
func (c *chaos) killAndRestart() []string {
	c.t.Helper()
	if err := c.mgr.Kill(); err != nil {
		c.t.Fatalf("kill the manager (pid %d): %v", c.mgr.Pid(), err)
	}
	var extra []string
	if c.restartArgs != nil {
		extra = c.restartArgs(c.rng)
	}
	c.start(append(slices.Clone(c.args), extra...))
	return extra
}

// waitFor polls cond until it holds. It fails the test when the manager
// exits on its own, or after patience with the last state cond described.
func (c *chaos) waitFor(what string, cond func() (bool, string, error)) {
	c.t.Helper()
	deadline := time.Now().Add(patience)
	for {
		ok, state, err := cond()
		if err != nil {
			c.t.Fatalf("waiting for %s: %v", what, err)
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("%s did not happen within %s; last seen: %s", what, patience, state)
		}
		select {
		case <-c.mgr.Exited():
			c.t.Fatalf("the manager exited on its own while waiting for %s: %v", what, c.mgr.ExitError())
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// run is what disrupt watches of a run.
type run struct {
	// progress counts the rows changed so far (committed).
	progress func(context.Context) (int64, error)
	// total is how many rows the run changes in all.
	total int64
	// statusWritten says whether the object's status shows the run yet.
	statusWritten func(context.Context) (bool, error)
	// stalled returns an error when the object stalled: it would not go
	// on by itself, and the test fails at once.
	stalled func(context.Context) error
}

// disrupt kills the manager `kills` times while r is under way and restarts
// it each time: first at a random moment of the first second after begin
// (when the run has just started, before its first status write), then at
// random points of its progress, each after the new manager changed at
// least one row and a random few milliseconds more, so kills land in the
// middle of batches, between them and during start-up.
func (c *chaos) disrupt(begin time.Time, kills int, r run) {
	c.t.Helper()
	ctx := context.Background()
	sleep(ctx, time.Until(begin.Add(time.Duration(c.rng.Int64N(int64(time.Second))))))
	c.kill(ctx, r, begin)

	points := make([]float64, kills-1)
	for i := range points {
		points[i] = 0.05 + 0.85*c.rng.Float64()
	}
	slices.Sort(points)
	for _, p := range points {
		base, err := r.progress(ctx)
		if err != nil {
			c.t.Fatal(err)
		}
		if base >= r.total {
			c.t.Logf("the run changed every row before kill %d", c.n+1)
			break
		}
		want := max(int64(p*float64(r.total)), base+1)
		c.waitFor(fmt.Sprintf("%d of %d rows changed", want, r.total), func() (bool, string, error) {
			if err := r.stalled(ctx); err != nil {
				return false, "", err
			}
			n, err := r.progress(ctx)
			return n >= want, fmt.Sprintf("%d rows changed", n), err
		})
		sleep(ctx, time.Duration(c.rng.Int64N(int64(30*time.Millisecond))))
		c.kill(ctx, r, begin)
	}
	if c.kills < minKills {
		c.t.Errorf("only %d kills landed while the run was under way (want at least %d): make the run longer", c.kills, minKills)
	}
}

// kill kill -9s the manager, says where in the run it landed, and starts a
// new one.
func (c *chaos) kill(ctx context.Context, r run, begin time.Time) {
	c.t.Helper()
	c.n++
	at := time.Since(begin)
	extra := c.killAndRestart()
	done, err := r.progress(ctx)
	if err != nil {
		c.t.Fatal(err)
	}
	written, err := r.statusWritten(ctx)
	if err != nil {
		c.t.Fatal(err)
	}
	where := "status not written yet"
	if written {
		where = "status written"
	}
	if done < r.total {
		c.kills++
	} else {
		where += "; the run had already changed every row"
	}
	if len(extra) > 0 {
		where += "; restarted with " + strings.Join(extra, " ")
	}
	c.t.Logf("kill %d at %.2fs: %d/%d rows changed (%.0f%%), %s", c.n, at.Seconds(), done, r.total,
		100*float64(done)/float64(max(r.total, 1)), where)
}
