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
	"sigs.k8s.io/controller-runtime/pkg/client"

	privacyv1alpha1 "github.com/lethe-dev/lethe/api/v1alpha1"
	"github.com/lethe-dev/lethe/hack/internal/benchutil"
	"github.com/lethe-dev/lethe/hack/internal/localenv"
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

	// The measurement: create all at once, poll until all are Completed.
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

	var completed, failed int
	var last *privacyv1alpha1.DataSubjectRequestList
	seen := map[string]bool{}
	err = run.WaitFor(ctx, cfg.apiTimeout, apiPollInterval, func() (bool, error) {
		var list privacyv1alpha1.DataSubjectRequestList
		if err := c.List(ctx, &list, client.InNamespace(namespace)); err != nil {
			return false, err
		}
		at := time.Since(t0)
		completed, failed = 0, 0
		for i := range list.Items {
			switch list.Items[i].Status.Phase {
			case privacyv1alpha1.PhaseCompleted:
				completed++
				if !seen[list.Items[i].Name] {
					seen[list.Items[i].Name] = true
					res.done = append(res.done, at)
				}
			case privacyv1alpha1.PhaseFailed:
				failed++
			}
		}
		last = &list
		if failed > 0 {
			return false, fmt.Errorf("%d requests Failed", failed)
		}
		return completed == cfg.requests, nil
	})
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
	if err != nil {
		return res, v, fmt.Errorf("%d of %d requests Completed after %.1fs: %w%s", completed, cfg.requests,
			res.completed.Seconds(), err, notCompleted(last))
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
