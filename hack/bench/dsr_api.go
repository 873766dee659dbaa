package main

// The dsr scenario's API figure: Erasure requests through the API server and
// the manager, each run in a fresh environment.

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"

	privacyv1alpha1 "github.com/lethe-dev/lethe/api/v1alpha1"
	"github.com/lethe-dev/lethe/hack/internal/benchutil"
	"github.com/lethe-dev/lethe/hack/localenv"
	"github.com/lethe-dev/lethe/internal/testutil/pgtest"
	"github.com/lethe-dev/lethe/internal/testutil/sampleapp"
)

// apiRun is one run of the API figure.
type apiRun struct {
	completed time.Duration
	created   time.Duration
	rss       int64
	verified  int
	changed   int64
	// cpu is the CPU time each process group used during the measurement.
	cpu map[string]time.Duration
	// sessions is the mean number of the manager's PostgreSQL sessions in
	// each state over the measurement.
	sessions map[string]float64
	// done holds when each request was first seen Completed, sorted.
	done []time.Duration
	// apiserver is what the API server served during the measurement.
	apiserver map[string]apiStat
}

// runAPI is one run of the API figure in a fresh environment.
func runAPI(ctx context.Context, cfg dsrConfig, inv *privacyv1alpha1.DataInventory, n int) (res apiRun, v localenv.Versions, err error) {
	run, err := benchutil.StartRun(ctx, benchutil.RunOptions{Label: fmt.Sprintf("dsr API run %d", n),
		DirPattern: fmt.Sprintf("lethe-bench-dsr-%d-", n), Keep: cfg.keep, MaxConnections: apiMaxConnections,
		Namespace: namespace})
	if err != nil {
		return res, v, err
	}
	defer run.Finish(&err)
	v, env := run.Versions, run.Env

	c := env.Client
	inv = inv.DeepCopy()
	inv.Namespace = namespace
	if err := c.Create(ctx, inv); err != nil {
		return res, v, fmt.Errorf("create DataInventory: %w", err)
	}
	customers := max(apiCustomers, cfg.requests)
	var emails []string
	for i, t := range apiTenants {
		db, err := env.CreateTenant(ctx, namespace, t.name+"-db", t.name, sampleapp.Options{Seed: t.seed, Customers: customers})
		if err != nil {
			return res, v, err
		}
		if i == 0 {
			if emails, err = customerEmails(ctx, env, db, cfg.requests); err != nil {
				return res, v, err
			}
		}
		if err := c.Create(ctx, tenantDatabase(t.name)); err != nil {
			return res, v, fmt.Errorf("create TenantDatabase %s: %w", t.name, err)
		}
	}

	if err := run.StartManager(ctx, cfg.manager, cfg.managerArgs); err != nil {
		return res, v, err
	}
	// The manager is up, its caches synced and both targets usable, so its
	// start-up is not part of the measurement.
	if err := run.WaitFor(ctx, 2*time.Minute, pollInterval, func() (bool, error) {
		objs := []client.Object{inv}
		for _, t := range apiTenants {
			objs = append(objs, tenantDatabase(t.name))
		}
		for _, obj := range objs {
			if ready, err := benchutil.Ready(ctx, c, obj); !ready || err != nil {
				return false, err
			}
		}
		return true, nil
	}); err != nil {
		return res, v, fmt.Errorf("DataInventory and TenantDatabases not Ready: %w", err)
	}
	// The API server sets up a custom resource's storage on its first
	// request: a dry-run create keeps that out of the measurement.
	if err := c.Create(ctx, erasureRequest(0, emails[0]), client.DryRunAll); err != nil {
		return res, v, fmt.Errorf("dry-run create of a DataSubjectRequest: %w", err)
	}

	// The measurement: create all at once, watch until all are Completed.
	watch, err := watchCompletions(ctx, env, cfg.requests)
	if err != nil {
		return res, v, err
	}
	defer watch.stop()
	cpuBefore := processCPU(run.Manager.Pid())
	sampler, err := startSessionSampler(ctx, env.Postgres)
	if err != nil {
		return res, v, err
	}
	apiBefore, err := apiServerRequests(ctx, env)
	if err != nil {
		return res, v, err
	}
	t0 := time.Now()
	watch.start(t0)
	work := make(chan int)
	errs := make([]error, cfg.requests)
	var wg sync.WaitGroup
	for range apiWorkers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				errs[i] = c.Create(ctx, erasureRequest(i, emails[i]))
			}
		}()
	}
	for i := range cfg.requests {
		work <- i
	}
	close(work)
	wg.Wait()
	res.created = time.Since(t0)
	if err := errors.Join(errs...); err != nil {
		return res, v, fmt.Errorf("create DataSubjectRequests: %w", err)
	}
	benchutil.Progress("%s: %d requests created in %.2fs; waiting until all are Completed", run.Label, cfg.requests,
		res.created.Seconds())

	err = run.WaitFor(ctx, cfg.apiTimeout, watchCheckInterval, func() (bool, error) {
		ok, werr := watch.done()
		return ok || werr != nil, werr
	})
	if _, werr := watch.done(); err == nil {
		err = werr
	}
	res.completed = time.Since(t0)
	res.cpu = cpuUsed(cpuBefore, processCPU(run.Manager.Pid()))
	res.sessions = sampler.stop()
	if apiAfter, aerr := apiServerRequests(ctx, env); aerr == nil {
		res.apiserver = map[string]apiStat{}
		for k, a := range apiAfter {
			b := apiBefore[k]
			if d := (apiStat{count: a.count - b.count, seconds: a.seconds - b.seconds}); d.count > 0 {
				res.apiserver[k] = d
			}
		}
	}
	res.done = watch.times()
	// The requests' results, read once the measurement is over.
	var last privacyv1alpha1.DataSubjectRequestList
	if lerr := c.List(ctx, &last, client.InNamespace(namespace)); lerr != nil {
		return res, v, errors.Join(err, lerr)
	}
	if err != nil {
		return res, v, fmt.Errorf("%d of %d requests Completed after %.1fs: %w%s", len(res.done), cfg.requests,
			res.completed.Seconds(), err, notCompleted(&last))
	}
	if res.rss, err = run.PeakRSS(); err != nil {
		return res, v, err
	}
	for i := range last.Items {
		if meta.IsStatusConditionTrue(last.Items[i].Status.Conditions, privacyv1alpha1.ConditionVerified) {
			res.verified++
		}
		for _, t := range last.Items[i].Status.Targets {
			for _, e := range t.Entities {
				res.changed += e.Changed
			}
		}
	}
	return res, v, nil
}

// customerEmails reads the e-mails of the first n customers of a tenant.
func customerEmails(ctx context.Context, env *localenv.Env, db pgtest.Database, n int) ([]string, error) {
	conn, err := env.Postgres.AppConn(ctx, db)
	if err != nil {
		return nil, err
	}
	defer func() { _ = conn.Close(context.Background()) }()
	rows, err := conn.Query(ctx, "SELECT email FROM app.customers ORDER BY id LIMIT $1", n)
	if err != nil {
		return nil, err
	}
	emails, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, err
	}
	if len(emails) != n {
		return nil, fmt.Errorf("database %s has %d customers, want %d", db.Name, len(emails), n)
	}
	return emails, nil
}

// notCompleted describes a few requests that are not Completed (phase and
// Ready condition only: nothing personal).
func notCompleted(list *privacyv1alpha1.DataSubjectRequestList) string {
	if list == nil {
		return ""
	}
	var b strings.Builder
	shown := 0
	for i := range list.Items {
		req := &list.Items[i]
		if req.Status.Phase == privacyv1alpha1.PhaseCompleted {
			continue
		}
		if shown == 5 {
			b.WriteString("\n  ...")
			break
		}
		shown++
		fmt.Fprintf(&b, "\n  %s: phase %q", req.Name, req.Status.Phase)
		if cond := meta.FindStatusCondition(req.Status.Conditions, privacyv1alpha1.ConditionReady); cond != nil {
			fmt.Fprintf(&b, ", Ready=%s %s: %s", cond.Status, cond.Reason, cond.Message)
		}
	}
	return b.String()
}

// watchCheckInterval is how often the wait looks at what the watch saw: a
// look costs nothing, the watch records each completion as it arrives.
const watchCheckInterval = 10 * time.Millisecond

// completionWatch watches the namespace's requests and records when each is
// first seen Completed; a request that fails ends the wait. The API server
// ends a watch whose events pile up (1000 creates at once can do that): the
// namespace is then listed once and watched again from there.
type completionWatch struct {
	want   int
	wc     client.WithWatch
	ctx    context.Context
	cancel context.CancelFunc
	rv     string
	mu     sync.Mutex
	t0     time.Time
	seen   map[string]bool
	at     []time.Duration
	err    error
}

// watchCompletions takes the namespace's current state, before any request
// exists, to watch from it.
func watchCompletions(ctx context.Context, env *localenv.Env, want int) (*completionWatch, error) {
	wc, err := client.NewWithWatch(env.Config, client.Options{Scheme: env.Scheme})
	if err != nil {
		return nil, err
	}
	var now privacyv1alpha1.DataSubjectRequestList
	if err := wc.List(ctx, &now, client.InNamespace(namespace)); err != nil {
		return nil, err
	}
	c := &completionWatch{want: want, wc: wc, rv: now.ResourceVersion, seen: map[string]bool{}}
	c.ctx, c.cancel = context.WithCancel(ctx)
	return c, nil
}

// start takes the measurement's start and watches until every request is
// Completed or stop is called.
func (c *completionWatch) start(t0 time.Time) {
	c.t0 = t0
	go func() {
		for c.ctx.Err() == nil {
			if err := c.watch(); err != nil && c.ctx.Err() == nil {
				c.mu.Lock()
				c.err = err
				c.mu.Unlock()
				return
			}
			if ok, _ := c.done(); ok {
				return
			}
			if err := c.relist(); err != nil && c.ctx.Err() == nil {
				c.mu.Lock()
				c.err = err
				c.mu.Unlock()
				return
			}
		}
	}()
}

// watch reads one watch until the API server ends it.
func (c *completionWatch) watch() error {
	w, err := c.wc.Watch(c.ctx, &privacyv1alpha1.DataSubjectRequestList{}, client.InNamespace(namespace),
		&client.ListOptions{Raw: &metav1.ListOptions{ResourceVersion: c.rv, AllowWatchBookmarks: true}})
	if err != nil {
		return fmt.Errorf("watch DataSubjectRequests: %w", err)
	}
	defer w.Stop()
	for ev := range w.ResultChan() {
		if obj, ok := ev.Object.(*privacyv1alpha1.DataSubjectRequest); ok {
			c.rv = obj.ResourceVersion
			if ev.Type != watch.Bookmark {
				c.see(obj)
			}
		}
	}
	return nil
}

// relist reads every request once, after a watch ended.
func (c *completionWatch) relist() error {
	var list privacyv1alpha1.DataSubjectRequestList
	if err := c.wc.List(c.ctx, &list, client.InNamespace(namespace)); err != nil {
		return err
	}
	for i := range list.Items {
		c.see(&list.Items[i])
	}
	c.rv = list.ResourceVersion
	return nil
}

func (c *completionWatch) see(obj *privacyv1alpha1.DataSubjectRequest) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch obj.Status.Phase {
	case privacyv1alpha1.PhaseCompleted:
		if !c.seen[obj.Name] {
			c.seen[obj.Name] = true
			c.at = append(c.at, time.Since(c.t0))
		}
	case privacyv1alpha1.PhaseFailed:
		c.err = fmt.Errorf("request %s Failed", obj.Name)
	}
}

// done says whether every request was seen Completed.
func (c *completionWatch) done() (bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.at) == c.want, c.err
}

// times are when each request was first seen Completed, in order.
func (c *completionWatch) times() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Duration(nil), c.at...)
}

func (c *completionWatch) stop() { c.cancel() }
