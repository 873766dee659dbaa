package controllers

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/robfig/cron/v3"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/clock"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	privacyv1alpha1 "github.com/lethe-dev/lethe/api/v1alpha1"
	"github.com/lethe-dev/lethe/internal/audit"
	"github.com/lethe-dev/lethe/internal/calendar"
	"github.com/lethe-dev/lethe/internal/engine"
	"github.com/lethe-dev/lethe/internal/identity"
	"github.com/lethe-dev/lethe/internal/retention"
	"github.com/lethe-dev/lethe/internal/tenantdb"
)

// retentionWorkers is how many transactions mask one rule's rows at once in
// a tenant database (each in its own key range): two use both cores a
// database server commonly has for one tenant without taking every
// connection of its pool (4 by default).
const retentionWorkers = 2

// RetentionPolicyReconciler runs retention policies on their schedule.
// A run is carried out in slices: each reconcile works for at most Slice,
// writes the progress to status and comes back, so a run shows its
// progress, stops at the next batch when the policy is suspended or
// deleted, and resumes from the tenant databases' checkpoints after a
// restart.
type RetentionPolicyReconciler struct {
	client.Client
	APIReader     client.Reader
	Recorder      events.EventRecorder
	Pools         *tenantdb.Pools
	Clock         clock.PassiveClock
	RetryInterval time.Duration
	// Slice bounds the work of one reconcile; 0 means 10 seconds.
	Slice time.Duration
	// LockRetryDelay is the wait before rows found locked are retried.
	LockRetryDelay time.Duration
	// LockRetries is how often locked rows are retried before they are
	// counted and left to the next run.
	LockRetries int
	// LockTimeout and StatementTimeout bound each batch's statements.
	LockTimeout      time.Duration
	StatementTimeout time.Duration
	retries          retries
	stalls           stalls
	// BeforeBatch, when set, runs before each batch (tests interrupt runs
	// with it).
	BeforeBatch             func(rule string, batch int) error
	MaxConcurrentReconciles int
}

// +kubebuilder:rbac:groups=privacy.lethe.dev,resources=retentionpolicies,verbs=get;list;watch
// +kubebuilder:rbac:groups=privacy.lethe.dev,resources=retentionpolicies/status,verbs=get;update;patch

// Reconcile starts runs when they are due and carries them forward.
func (r *RetentionPolicyReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	var obj privacyv1alpha1.RetentionPolicy
	if err := r.Get(ctx, req.NamespacedName, &obj); err != nil {
		if apierrors.IsNotFound(err) {
			forgetPolicy(req.NamespacedName)
		}
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !obj.DeletionTimestamp.IsZero() {
		forgetPolicy(req.NamespacedName)
		return ctrl.Result{}, nil
	}
	before := obj.DeepCopy()
	result, err := r.reconcile(ctx, &obj)
	if perr := r.Status().Patch(ctx, &obj, client.MergeFrom(before)); perr != nil {
		return ctrl.Result{}, client.IgnoreNotFound(perr)
	}
	return result, err
}

// schedule parses spec.schedule and spec.timeZone. The admission webhook
// refuses what this refuses; a policy admitted before the webhook ran, or
// past it, stalls here.
func schedule(p *privacyv1alpha1.RetentionPolicy) (cron.Schedule, *time.Location, error) {
	loc, err := calendar.Zone(ptr.Deref(p.Spec.TimeZone, ""))
	if err != nil {
		return nil, nil, err
	}
	s, err := calendar.Schedule(p.Spec.Schedule)
	if err != nil {
		return nil, nil, err
	}
	return s, loc, nil
}

func (r *RetentionPolicyReconciler) reconcile(ctx context.Context, p *privacyv1alpha1.RetentionPolicy) (ctrl.Result, error) {
	st := &p.Status
	now := r.Clock.Now()
	sched, loc, err := schedule(p)
	if err != nil {
		setSummary(&st.Conditions, &st.ObservedGeneration, p.Generation, verdictStalled, privacyv1alpha1.ReasonScheduleInvalid, err.Error())
		return ctrl.Result{}, nil
	}
	if r.stalledStill(ctx, p) {
		return ctrl.Result{}, nil
	}
	works, err := r.prepare(ctx, p)
	if err != nil {
		return r.fail(ctx, p, err)
	}
	if err := r.administerArchives(ctx, p, works, now); err != nil {
		return r.fail(ctx, p, err)
	}

	running := st.Run != nil && !st.Run.Completed && !r.stopWidened(p)
	if !running && !p.Spec.Suspend {
		scheduled, runNow, due := r.due(p, sched, loc, now)
		if !due && approvalDue(p) {
			// The approved run starts at once.
			scheduled, due = now, true
		}
		if due {
			if gate := approvalGate(p); gate == gateHold {
				r.holdRun(p, scheduled, runNow)
			} else {
				r.startRun(p, scheduled, runNow, gate == gateDryRun)
				running = true
			}
		}
	}
	st.NextScheduleTime = nextSchedule(p, sched, loc, now)
	if !running {
		return r.idle(p, now), nil
	}
	if p.Spec.Suspend {
		setSummary(&st.Conditions, &st.ObservedGeneration, p.Generation, verdictReady, privacyv1alpha1.ReasonSuspended,
			fmt.Sprintf("suspended: run %s paused at %s; it resumes when spec.suspend is cleared", st.Run.ID, st.Progress))
		return ctrl.Result{}, nil
	}
	return r.carry(ctx, p, works, now)
}

// due says whether a run should start now: the run-now annotation has a
// new value, or a scheduled time passed since the last run (only the latest
// missed time runs).
func (r *RetentionPolicyReconciler) due(p *privacyv1alpha1.RetentionPolicy, sched cron.Schedule, loc *time.Location, now time.Time) (time.Time, string, bool) {
	if v := p.Annotations[privacyv1alpha1.AnnotationRunNow]; v != "" && v != p.Status.LastRunNow {
		return now, v, true
	}
	from := p.CreationTimestamp.Time
	if p.Status.LastScheduleTime != nil {
		from = p.Status.LastScheduleTime.Time
	}
	var latest time.Time
	for t := sched.Next(from.In(loc)); !t.After(now); t = sched.Next(t) {
		latest = t
	}
	return latest, "", !latest.IsZero()
}

func nextSchedule(p *privacyv1alpha1.RetentionPolicy, sched cron.Schedule, loc *time.Location, now time.Time) *metav1.Time {
	if p.Spec.Suspend {
		return nil
	}
	from := now
	if p.Status.LastScheduleTime != nil && p.Status.LastScheduleTime.After(now) {
		from = p.Status.LastScheduleTime.Time
	}
	next := metav1.NewTime(sched.Next(from.In(loc)))
	return &next
}

// startRun starts a run; dry (or spec.dryRun) makes it count only.
func (r *RetentionPolicyReconciler) startRun(p *privacyv1alpha1.RetentionPolicy, scheduled time.Time, runNow string, dry bool) {
	st := &p.Status
	t := metav1.NewTime(scheduled)
	id := fmt.Sprintf("%s-%d", p.UID, scheduled.Unix())
	if runNow != "" {
		id = runNowID(p, runNow)
		st.LastRunNow = runNow
	}
	st.Run = &privacyv1alpha1.RetentionRun{ID: id, ScheduledTime: t, DryRun: p.Spec.DryRun || dry}
	st.LastScheduleTime = &t
	st.Targets, st.LastError = nil, ""
	how := "scheduled"
	if runNow != "" {
		how = "requested by the " + privacyv1alpha1.AnnotationRunNow + " annotation"
	}
	note := ""
	switch {
	case p.Spec.DryRun:
		note = " (dry run: nothing is changed)"
	case dry:
		note = " (dry run: nothing is changed until its counts are approved)"
	}
	r.Recorder.Eventf(p, nil, corev1.EventTypeNormal, privacyv1alpha1.ReasonRunStarted, "Run", "run %s started, %s%s", st.Run.ID, how, note)
}

// runNowID names a run asked for by the run-now annotation after what asked
// for it (the value, and the last run's value and time as status holds them
// before this run), never after the moment it started: a run is recorded in
// status only after its first slice of work, and a manager that dies before
// then starts the same run again, under the same ID, resuming from the
// checkpoints the first attempt wrote, rather than a second run whose status
// would not count the rows the first one changed. A scheduled run is named
// by its scheduled time, which is as stable.
func runNowID(p *privacyv1alpha1.RetentionPolicy, value string) string {
	last := ""
	if p.Status.LastScheduleTime != nil {
		last = p.Status.LastScheduleTime.UTC().Format(time.RFC3339)
	}
	sum := sha256.Sum256([]byte(p.Status.LastRunNow + "\x00" + last + "\x00" + value))
	return fmt.Sprintf("%s-now-%s", p.UID, hex.EncodeToString(sum[:8]))
}

// idle reports a policy with no run under way and requeues for the next
// scheduled time.
func (r *RetentionPolicyReconciler) idle(p *privacyv1alpha1.RetentionPolicy, now time.Time) ctrl.Result {
	st := &p.Status
	switch {
	case p.Spec.Suspend:
		setSummary(&st.Conditions, &st.ObservedGeneration, p.Generation, verdictReady, privacyv1alpha1.ReasonSuspended,
			"suspended: no run starts until spec.suspend is cleared")
		return ctrl.Result{}
	case meta.IsStatusConditionFalse(st.Conditions, privacyv1alpha1.ConditionApproved):
		c := meta.FindStatusCondition(st.Conditions, privacyv1alpha1.ConditionApproved)
		setSummary(&st.Conditions, &st.ObservedGeneration, p.Generation, verdictWaiting, c.Reason, c.Message)
	case st.LastError != "":
		setSummary(&st.Conditions, &st.ObservedGeneration, p.Generation, verdictReady, privacyv1alpha1.ReasonRunFailed,
			"the last run failed in a target: "+st.LastError)
	default:
		msg := "no run yet"
		if st.Run != nil {
			msg = "last run " + st.Run.ID + " completed"
		}
		setSummary(&st.Conditions, &st.ObservedGeneration, p.Generation, verdictReady, privacyv1alpha1.ReasonSucceeded,
			msg+"; next run at "+st.NextScheduleTime.UTC().Format(time.RFC3339))
	}
	if v := p.Annotations[privacyv1alpha1.AnnotationRunNow]; v != "" && v != st.LastRunNow {
		// A run asked for while another ran starts now, not at the next
		// scheduled time.
		return ctrl.Result{RequeueAfter: time.Millisecond}
	}
	return ctrl.Result{RequeueAfter: max(st.NextScheduleTime.Sub(now), time.Second)}
}

// targetWork is one target's compiled rules and pool.
type targetWork struct {
	tdb   privacyv1alpha1.TenantDatabase
	pool  *pgxpool.Pool
	rules []*retention.Rule
	salt  []byte
}

// prepare resolves the targets and compiles every rule against each
// target's inventory and live schema, so a rule no target can satisfy
// stalls the policy before any row changes.
func (r *RetentionPolicyReconciler) prepare(ctx context.Context, p *privacyv1alpha1.RetentionPolicy) ([]targetWork, error) {
	tdbs, err := selectTargets(ctx, r.Client, p.Namespace, p.Spec.Targets)
	if err != nil {
		return nil, err
	}
	salt, err := readOrCreateSalt(ctx, r.Client, r.APIReader, p.Namespace)
	if err != nil {
		return nil, err
	}
	works := make([]targetWork, 0, len(tdbs))
	for _, tdb := range tdbs {
		inv, err := targetInventory(ctx, r.Client, &tdb)
		if err != nil {
			return nil, err
		}
		uses := inventoryHashKeys(&inv.Spec)
		for _, rule := range p.Spec.Rules {
			for _, f := range rule.Fields {
				if f.Strategy.KeySecretRef != nil {
					uses = append(uses, hashKeyUse{entity: rule.Entity, column: f.Column, ref: f.Strategy.KeySecretRef})
				}
			}
		}
		keys, err := readHashKeys(ctx, r.APIReader, p.Namespace, uses)
		if err != nil {
			return nil, err
		}
		pool, cat, err := targetSchema(ctx, r.APIReader, r.Pools, &tdb)
		if err != nil {
			return nil, err
		}
		w := targetWork{tdb: tdb, pool: pool, salt: salt}
		for _, rule := range p.Spec.Rules {
			c, err := retention.Compile(rule, &inv.Spec, cat, keys)
			if err != nil {
				return nil, stalled(privacyv1alpha1.ReasonRuleInvalid, "TenantDatabase %s (DataInventory %s): %s", tdb.Name, inv.Name, err.Error())
			}
			w.rules = append(w.rules, c)
		}
		works = append(works, w)
	}
	return works, nil
}

// carry works on the run for one slice and writes its progress.
func (r *RetentionPolicyReconciler) carry(ctx context.Context, p *privacyv1alpha1.RetentionPolicy, works []targetWork, now time.Time) (ctrl.Result, error) {
	st := &p.Status
	slice := r.Slice
	if slice <= 0 {
		slice = 10 * time.Second
	}
	deadline := time.Now().Add(slice)
	var failed []string
	var stall *requestError
	waitingLocks := false
	for _, w := range works {
		ts := retentionTarget(st, w.tdb.Name)
		ts.Error = ""
		reason := privacyv1alpha1.ReasonRunFailed
		for _, rule := range w.rules {
			rs := retentionRule(ts, rule.Spec.Name)
			if rs.Done {
				continue
			}
			run := r.runOf(p, w)
			if st.Run.DryRun {
				n, err := retention.Count(ctx, w.pool, run.env, rule)
				if err != nil {
					ts.Error = fmt.Sprintf("rule %s: %s", rule.Spec.Name, errorMessage(err))
					break
				}
				was := *rs
				rs.Matched, rs.Done = n, true
				countRuleRows(p, w.tdb.Name, &was, rs)
				continue
			}
			if !time.Now().Before(deadline) {
				break
			}
			pr, err := run.advance(ctx, w.pool, rule, deadline)
			if pr != nil {
				was := *rs
				rs.Matched, rs.Changed, rs.Locked, rs.ArchiveSHA256, rs.Done = pr.Matched, pr.Changed, pr.Locked, pr.ArchiveSHA256, pr.Done
				rs.Effects, rs.EffectsOmitted = foreignKeyEffects(pr.Effects)
				rs.SubjectRows = subjectRows(pr.Graph)
				countRuleRows(p, w.tdb.Name, &was, rs)
			}
			if err != nil && engine.Concurrent(err) {
				// Another manager (a split brain, a rollout) committed the
				// batch first: no failure, the next attempt goes on from
				// the ledger.
				break
			}
			if err != nil {
				ts.Error = errorMessage(err)
				if re := runError(w.tdb.Name, err); re != nil && re.stalled {
					reason = re.reason
					if stall == nil {
						stall = re
					}
				}
				break
			}
			if !pr.Done {
				waitingLocks = waitingLocks || time.Now().Before(deadline)
				break
			}
		}
		if ts.Error != "" {
			failed = append(failed, w.tdb.Name+": "+ts.Error)
			countRunFailure(p, w.tdb.Name, reason)
		}
	}
	done, total := progressOf(st, works)
	st.Progress = fmt.Sprintf("%d/%d", done, total)
	if stall != nil {
		st.LastError = stall.message
		r.stalls.remember(p.UID, r.fingerprint(ctx, p))
		r.Recorder.Eventf(p, nil, corev1.EventTypeWarning, stall.reason, "Run",
			"run %s stalled: %s; it resumes from its checkpoint once the policy, an inventory or a TenantDatabase changes", st.Run.ID, stall.message)
		setSummary(&st.Conditions, &st.ObservedGeneration, p.Generation, verdictStalled, stall.reason,
			"run "+st.Run.ID+" stalled: "+stall.message)
		return ctrl.Result{}, nil
	}
	if len(failed) > 0 {
		st.LastError = listUpTo(failed, 3, "; ")
		n, wait := r.retries.next(p.UID, r.RetryInterval)
		r.Recorder.Eventf(p, nil, corev1.EventTypeWarning, privacyv1alpha1.ReasonRunFailed, "Run",
			"run %s failed in %s (attempt %d); it resumes from its checkpoint", st.Run.ID, st.LastError, n)
		setSummary(&st.Conditions, &st.ObservedGeneration, p.Generation, verdictWaiting, privacyv1alpha1.ReasonRunFailed,
			fmt.Sprintf("run %s failed (attempt %d): %s; retrying from its checkpoint in %s", st.Run.ID, n, st.LastError, wait.Round(time.Second)))
		return ctrl.Result{RequeueAfter: wait}, nil
	}
	r.retries.reset(p.UID)
	st.LastError = ""
	if done < total {
		setSummary(&st.Conditions, &st.ObservedGeneration, p.Generation, verdictWaiting, privacyv1alpha1.ReasonProgressing,
			fmt.Sprintf("run %s under way: %s rules done", st.Run.ID, st.Progress))
		if waitingLocks {
			return ctrl.Result{RequeueAfter: r.LockRetryDelay}, nil
		}
		return ctrl.Result{RequeueAfter: time.Millisecond}, nil
	}
	r.completeRun(p, now)
	if err := r.administerArchives(ctx, p, works, now); err != nil {
		return r.fail(ctx, p, err)
	}
	return r.idle(p, now), nil
}

func (r *RetentionPolicyReconciler) completeRun(p *privacyv1alpha1.RetentionPolicy, now time.Time) {
	st := &p.Status
	st.Run.Completed = true
	t := metav1.NewTime(now)
	st.LastCompletionTime = &t
	countRunCompleted(p, now.Sub(st.Run.ScheduledTime.Time))
	var matched, changed, locked int64
	for _, ts := range st.Targets {
		for _, rs := range ts.Rules {
			matched, changed, locked = matched+rs.Matched, changed+rs.Changed, locked+rs.Locked
		}
	}
	if st.Run.DryRun {
		r.Recorder.Eventf(p, nil, corev1.EventTypeNormal, privacyv1alpha1.ReasonRunCompleted, "Run",
			"dry run %s completed: %d rows would change in %d targets; nothing was changed", st.Run.ID, matched, len(st.Targets))
		return
	}
	r.Recorder.Eventf(p, nil, corev1.EventTypeNormal, privacyv1alpha1.ReasonRunCompleted, "Run",
		"run %s completed: %d rows matched, %d changed in %d targets", st.Run.ID, matched, changed, len(st.Targets))
	if locked > 0 {
		r.Recorder.Eventf(p, nil, corev1.EventTypeWarning, privacyv1alpha1.ReasonRowsLocked, "Run",
			"%d rows stayed locked by other transactions through every retry; the next run takes them", locked)
	}
}

// ruleRun is a policy's or a job's run in one target, as the executor and
// the rules see it.
type ruleRun struct {
	run  engine.Run
	opts engine.Options
	env  retention.Env
}

// advance carries a rule forward in the run until it is done or the
// deadline passes.
func (x *ruleRun) advance(ctx context.Context, pool *pgxpool.Pool, rule *retention.Rule, deadline time.Time) (*engine.Progress, error) {
	return engine.Advance(ctx, pool, &x.run, rule.Step(x.env), x.opts, deadline)
}

// runOf is the executor's view of the policy's current run in a target.
func (r *RetentionPolicyReconciler) runOf(p *privacyv1alpha1.RetentionPolicy, w targetWork) *ruleRun {
	tz := "UTC"
	if p.Spec.TimeZone != nil {
		tz = *p.Spec.TimeZone
	}
	batch := int(p.Spec.BatchSize)
	if batch <= 0 {
		batch = 1000
	}
	return &ruleRun{
		run: engine.Run{UID: p.Status.Run.ID, Kind: engine.KindPolicy, Type: "Retention", Actor: objectActor(p),
			Object: audit.Object{Kind: "RetentionPolicy", Namespace: p.Namespace, Name: p.Name, UID: string(p.UID)}},
		opts: engine.Options{BatchSize: batch, Workers: retentionWorkers, LockTimeout: r.LockTimeout,
			StatementTimeout: r.StatementTimeout, MaxRetries: r.LockRetries, BeforeBatch: r.BeforeBatch,
			BatchDone: batchTimer(p)},
		env: retention.Env{PolicyUID: string(p.UID), Now: p.Status.Run.ScheduledTime.Time, TimeZone: tz, Salt: w.salt},
	}
}

// objectActor is who asked for an object's work: the user the admission
// webhook recorded as its creator, else the operator acting for the object.
func objectActor(obj client.Object) string {
	return identity.Actor(obj.GetAnnotations()[privacyv1alpha1.AnnotationRequestedBy], operatorActor)
}

func progressOf(st *privacyv1alpha1.RetentionPolicyStatus, works []targetWork) (done, total int) {
	for _, w := range works {
		ts := retentionTarget(st, w.tdb.Name)
		for _, rule := range w.rules {
			total++
			if retentionRule(ts, rule.Spec.Name).Done {
				done++
			}
		}
	}
	return done, total
}

func retentionTarget(st *privacyv1alpha1.RetentionPolicyStatus, name string) *privacyv1alpha1.RetentionTargetStatus {
	return entryOf(&st.Targets, func(t *privacyv1alpha1.RetentionTargetStatus) bool { return t.Name == name },
		privacyv1alpha1.RetentionTargetStatus{Name: name})
}

func retentionRule(ts *privacyv1alpha1.RetentionTargetStatus, name string) *privacyv1alpha1.RetentionRuleStatus {
	return entryOf(&ts.Rules, func(r *privacyv1alpha1.RetentionRuleStatus) bool { return r.Name == name },
		privacyv1alpha1.RetentionRuleStatus{Name: name})
}

// fail reports an error of preparation: a stalled one (a rule the schema
// cannot satisfy) until the policy, an inventory or a TenantDatabase
// changes, a waiting one retried.
func (r *RetentionPolicyReconciler) fail(ctx context.Context, p *privacyv1alpha1.RetentionPolicy, err error) (ctrl.Result, error) {
	if re := asRequestError(err); re != nil && re.stalled {
		r.stalls.remember(p.UID, r.fingerprint(ctx, p))
	}
	return reportRequestError(r.Recorder, p, &p.Status.Conditions, &p.Status.ObservedGeneration, p.Generation, err, r.RetryInterval)
}

// fingerprint sums what the policy depends on.
func (r *RetentionPolicyReconciler) fingerprint(ctx context.Context, p *privacyv1alpha1.RetentionPolicy) string {
	tdbs, _ := selectTargets(ctx, r.Client, p.Namespace, p.Spec.Targets)
	return fingerprint(ctx, r.Client, p, tdbs)
}

// stalledStill says the policy stalled and nothing it depends on changed
// since: it is not tried again.
func (r *RetentionPolicyReconciler) stalledStill(ctx context.Context, p *privacyv1alpha1.RetentionPolicy) bool {
	c := meta.FindStatusCondition(p.Status.Conditions, privacyv1alpha1.ConditionStalled)
	return c != nil && c.Status == metav1.ConditionTrue && r.stalls.unchanged(p.UID, r.fingerprint(ctx, p))
}

// listTargets lists the policies of a namespace and their targets.
func (r *RetentionPolicyReconciler) listTargets(ctx context.Context, namespace string) (map[types.NamespacedName]privacyv1alpha1.Targets, error) {
	var list privacyv1alpha1.RetentionPolicyList
	if err := r.List(ctx, &list, client.InNamespace(namespace)); err != nil {
		return nil, err
	}
	out := map[types.NamespacedName]privacyv1alpha1.Targets{}
	for _, p := range list.Items {
		out[types.NamespacedName{Namespace: p.Namespace, Name: p.Name}] = p.Spec.Targets
	}
	return out, nil
}

// namingSecret lists the policies of a namespace that name a Secret.
func (r *RetentionPolicyReconciler) namingSecret(ctx context.Context, namespace, secret string) ([]types.NamespacedName, error) {
	var list privacyv1alpha1.RetentionPolicyList
	if err := r.List(ctx, &list, client.InNamespace(namespace), client.MatchingFields{indexSecretNames: secret}); err != nil {
		return nil, err
	}
	out := make([]types.NamespacedName, 0, len(list.Items))
	for _, p := range list.Items {
		out = append(out, types.NamespacedName{Namespace: p.Namespace, Name: p.Name})
	}
	return out, nil
}

// SetupWithManager watches policies, the TenantDatabases and
// DataInventories they depend on, and the Secrets they wait for.
func (r *RetentionPolicyReconciler) SetupWithManager(mgr ctrl.Manager) error {
	if err := indexSecrets(mgr, &privacyv1alpha1.RetentionPolicy{}); err != nil {
		return err
	}
	if r.LockRetryDelay <= 0 {
		r.LockRetryDelay = 2 * time.Second
	}
	if r.LockTimeout <= 0 {
		r.LockTimeout = 5 * time.Second
	}
	if r.LockRetries <= 0 {
		r.LockRetries = 3
	}
	if r.StatementTimeout <= 0 {
		r.StatementTimeout = 5 * time.Minute
	}
	return ctrl.NewControllerManagedBy(mgr).
		For(&privacyv1alpha1.RetentionPolicy{}, builder.WithPredicates(
			predicate.Or(predicate.GenerationChangedPredicate{}, predicate.AnnotationChangedPredicate{}, statusWiped()))).
		Watches(&privacyv1alpha1.TenantDatabase{}, handler.EnqueueRequestsFromMapFunc(targeting(r.Client, r.listTargets)),
			builder.WithPredicates(generationOrLabelsChanged())).
		Watches(&privacyv1alpha1.DataInventory{}, handler.EnqueueRequestsFromMapFunc(targeting(r.Client, r.listTargets)),
			builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Watches(&corev1.Secret{}, handler.EnqueueRequestsFromMapFunc(secretWaiters(r.Client, r.namingSecret, r.listTargets)),
			builder.OnlyMetadata).
		WithOptions(controller.Options{MaxConcurrentReconciles: max(r.MaxConcurrentReconciles, 1)}).
		Named("retentionpolicy").
		Complete(r)
}
