package benchutil

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/lethe-dev/lethe/hack/localenv"
)

// RunOptions configure StartRun.
type RunOptions struct {
	// Label names the run in progress lines ("run 2", "roles run 1").
	Label string
	// DirPattern is the os.MkdirTemp pattern of the work directory.
	DirPattern string
	// Keep keeps the work directory after a successful run too.
	Keep bool
	// MaxConnections is PostgreSQL's max_connections.
	MaxConnections int
	// Namespace, if set, is created.
	Namespace string
}

// Run is one run in a fresh local environment: a work directory (the
// kubeconfig and the logs), PostgreSQL with its default durability settings,
// the API server and, once StartManager started it, the manager.
type Run struct {
	Label    string
	Dir      string
	Env      *localenv.Env
	Manager  *localenv.Manager
	Versions localenv.Versions
	keep     bool
}

// StartRun starts a run's environment and reads its servers' versions. The
// caller defers Finish; if StartRun fails it has cleaned up itself.
func StartRun(ctx context.Context, opts RunOptions) (_ *Run, err error) {
	dir, err := os.MkdirTemp("", opts.DirPattern)
	if err != nil {
		return nil, err
	}
	r := &Run{Label: opts.Label, Dir: dir, keep: opts.Keep}
	defer func() {
		if err != nil {
			r.Finish(&err)
		}
	}()
	start := time.Now()
	r.Env, err = localenv.Start(ctx, localenv.Options{Dir: dir, DurablePostgres: true, MaxConnections: opts.MaxConnections})
	if err != nil {
		return nil, err
	}
	if r.Versions, err = r.Env.ServerVersions(ctx); err != nil {
		return nil, err
	}
	Progress("%s: PostgreSQL and the API server up in %.1fs", r.Label, time.Since(start).Seconds())
	if opts.Namespace != "" {
		if err := r.Env.EnsureNamespace(ctx, opts.Namespace); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// StartManager starts the manager binary with the extra flags.
func (r *Run) StartManager(ctx context.Context, bin string, args []string) (err error) {
	r.Manager, err = r.Env.StartManager(ctx, bin, args...)
	return err
}

// PeakRSS is the manager's peak resident set size so far, in bytes.
func (r *Run) PeakRSS() (int64, error) {
	rss, err := r.Manager.PeakRSS()
	if err != nil {
		return 0, fmt.Errorf("peak RSS: %w", err)
	}
	return rss, nil
}

// WaitFor polls cond every interval until it holds, the timeout passes, ctx
// ends or the manager exits.
func (r *Run) WaitFor(ctx context.Context, timeout, every time.Duration, cond func() (bool, error)) error {
	var exited <-chan struct{}
	if r.Manager != nil {
		exited = r.Manager.Exited()
	}
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(every)
	defer tick.Stop()
	var lastErr error
	for {
		ok, err := cond()
		if ok {
			return nil
		}
		lastErr = err
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-exited:
			return fmt.Errorf("the manager exited: %v", r.Manager.ExitError())
		case <-deadline.C:
			if lastErr != nil {
				return fmt.Errorf("timed out after %s: %w", timeout, lastErr)
			}
			return fmt.Errorf("timed out after %s", timeout)
		case <-tick.C:
		}
	}
}

// Finish stops the manager and the environment and, if *err is nil, sets it
// to their errors. After a failure it shows the end of the manager's log; see
// CleanWorkDir for the work directory.
func (r *Run) Finish(err *error) {
	var errs []error
	if r.Manager != nil {
		if serr := r.Manager.Stop(); serr != nil {
			errs = append(errs, serr)
		}
	}
	if r.Env != nil {
		if serr := r.Env.Stop(); serr != nil {
			errs = append(errs, serr)
		}
	}
	if *err == nil {
		*err = errors.Join(errs...)
	}
	if *err != nil && r.Manager != nil {
		secret := ""
		if r.Env != nil && r.Env.Postgres != nil {
			secret = r.Env.Postgres.AppPassword
		}
		if tail, terr := localenv.TailFile(r.Manager.LogPath, 40, secret); terr == nil {
			fmt.Fprintf(os.Stderr, "--- last 40 lines of the manager log ---\n%s\n--- end ---\n", tail)
		}
	}
	CleanWorkDir(r.Label, r.Dir, r.keep, *err)
}

// CleanWorkDir removes a work directory, or keeps it (and says so) if the
// work failed or keep is set.
func CleanWorkDir(label, dir string, keep bool, err error) {
	if err != nil || keep {
		Progress("%s: work directory kept: %s", label, dir)
		return
	}
	_ = os.RemoveAll(dir)
}

// Repeat runs a scenario's runs i = 1..n, with a progress line before each
// ("<label> i/n: <what>") and after it ("<label> i/n: <done(result)>"). It
// stops the program on the first error, and returns every run's result and
// the last run's server versions.
func Repeat[R any](label string, n int, what string, run func(i int) (R, localenv.Versions, error),
	done func(R) string) ([]R, localenv.Versions) {
	var (
		results  []R
		versions localenv.Versions
	)
	for i := 1; i <= n; i++ {
		Progress("%s %d/%d: %s", label, i, n, what)
		r, v, err := run(i)
		if err != nil {
			Fatalf("%s %d: %v", label, i, err)
		}
		Progress("%s %d/%d: %s", label, i, n, done(r))
		results, versions = append(results, r), v
	}
	return results, versions
}
