package controllers

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	privacyv1alpha1 "github.com/lethe-dev/lethe/api/v1alpha1"
	"github.com/lethe-dev/lethe/internal/audit"
	"github.com/lethe-dev/lethe/internal/dsr"
	"github.com/lethe-dev/lethe/internal/engine"
	"github.com/lethe-dev/lethe/internal/retention"
	"github.com/lethe-dev/lethe/internal/tenantdb"
)

// minKeyBytes is the shortest HMAC key a job accepts.
const minKeyBytes = 16

// subjectTypeOfJob keys the digest of a job's subject: the matching
// identifier is not tied to one subject type of one inventory.
const subjectTypeOfJob = "pseudonymization"

// PseudonymizationJobReconciler carries out PseudonymizationJobs. The work
// goes through the one executor (internal/engine) as a Pseudonymize rule
// per entity with keyed pseudonyms (internal/retention), so a job, a
// RetentionPolicy rule and a request share batches, checkpoints (keyed by
// the job's UID), audit records and the exactly-once guarantee. Like a
// retention run, a job works in slices: each reconcile works for at most
// Slice, writes its progress and comes back. Its keys, its mapping and its
// subject are read in pseudonymizationjob_keys.go.
type PseudonymizationJobReconciler struct {
	client.Client
	APIReader     client.Reader
	Recorder      events.EventRecorder
	Pools         *tenantdb.Pools
	Clock         clock.PassiveClock
	RetryInterval time.Duration
	// Slice bounds the work of one reconcile; 0 means 10 seconds.
	Slice time.Duration
	// LockRetries, LockTimeout and StatementTimeout are as for retention.
	LockRetries      int
	LockTimeout      time.Duration
	StatementTimeout time.Duration
	// BeforeBatch, when set, runs before each batch (tests interrupt jobs
	// with it).
	BeforeBatch             func(entity string, batch int) error
	MaxConcurrentReconciles int

	retries retries
	stalls  stalls
}

// +kubebuilder:rbac:groups=privacy.lethe.dev,resources=pseudonymizationjobs,verbs=get;list;watch
// +kubebuilder:rbac:groups=privacy.lethe.dev,resources=pseudonymizationjobs/status,verbs=get;update;patch
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;list;watch;create;update;delete

// Reconcile carries a job forward and writes its status.
func (r *PseudonymizationJobReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	var obj privacyv1alpha1.PseudonymizationJob
	if err := r.Get(ctx, req.NamespacedName, &obj); err != nil {
		if apierrors.IsNotFound(err) {
			requestMetrics.forget("PseudonymizationJob", req.NamespacedName)
		}
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !obj.DeletionTimestamp.IsZero() {
		requestMetrics.forget("PseudonymizationJob", req.NamespacedName)
		return ctrl.Result{}, nil
	}
	before := obj.DeepCopy()
	result, err := r.reconcile(ctx, &obj)
	if perr := r.Status().Patch(ctx, &obj, client.MergeFrom(before)); perr != nil {
		return ctrl.Result{}, client.IgnoreNotFound(perr)
	}
	observeJob(&obj)
	return result, err
}

func (r *PseudonymizationJobReconciler) reconcile(ctx context.Context, j *privacyv1alpha1.PseudonymizationJob) (ctrl.Result, error) {
	st := &j.Status
	if st.Phase == privacyv1alpha1.JobSucceeded {
		return ctrl.Result{}, nil
	}
	if st.Phase == "" {
		st.Phase = privacyv1alpha1.JobPending
	}
	if r.stalledStill(ctx, j) {
		return ctrl.Result{}, nil
	}
	works, err := r.prepare(ctx, j)
	if err != nil {
		return r.fail(ctx, j, err)
	}
	if st.StartTime == nil {
		t := metav1.NewTime(r.Clock.Now())
		st.StartTime = &t
	}
	if st.Phase == privacyv1alpha1.JobPending && !j.Spec.DryRun {
		r.Recorder.Eventf(j, nil, corev1.EventTypeNormal, privacyv1alpha1.ReasonJobStarted, "Start",
			"pseudonymizing in %d targets", len(works))
	}
	st.Phase = privacyv1alpha1.JobRunning
	return r.carry(ctx, j, works)
}

// jobWork is one target's compiled entities.
type jobWork struct {
	tdb   privacyv1alpha1.TenantDatabase
	pool  *pgxpool.Pool
	rules []*retention.Rule
	key   []byte
}

// prepare reads the key and the subject, resolves the targets and compiles
// each entity's work against each target's inventory and live schema, so
// a job no target can satisfy stalls before any row changes.
func (r *PseudonymizationJobReconciler) prepare(ctx context.Context, j *privacyv1alpha1.PseudonymizationJob) ([]jobWork, error) {
	key, err := r.key(ctx, j)
	if err != nil {
		return nil, err
	}
	var only []string
	if s := j.Spec.Subject; s != nil {
		id, err := r.identifier(ctx, j)
		if err != nil {
			return nil, err
		}
		only = []string{id}
		salt, err := readOrCreateSalt(ctx, r.Client, r.APIReader, j.Namespace)
		if err != nil {
			return nil, err
		}
		j.Status.SubjectDigest = dsr.Digest(salt, subjectTypeOfJob, map[string]string{"identifier": id})
	}
	tdbs, err := selectTargets(ctx, r.Client, j.Namespace, j.Spec.Targets)
	if err != nil {
		return nil, err
	}
	var works []jobWork
	for _, tdb := range tdbs {
		inv, err := targetInventory(ctx, r.Client, &tdb)
		if err != nil {
			return nil, err
		}
		hashKeys, err := readHashKeys(ctx, r.APIReader, j.Namespace, inventoryHashKeys(&inv.Spec))
		if err != nil {
			return nil, err
		}
		pool, cat, err := targetSchema(ctx, r.APIReader, r.Pools, &tdb)
		if err != nil {
			return nil, err
		}
		w := jobWork{tdb: tdb, pool: pool, key: key}
		for _, rule := range jobRules(j, &inv.Spec) {
			ent := inventoryEntity(&inv.Spec, rule.Entity)
			if ent.Pseudonymization == nil {
				return nil, stalled(privacyv1alpha1.ReasonRuleInvalid, "TenantDatabase %s (DataInventory %s): entity %s has no pseudonymization section naming its matchColumn",
					tdb.Name, inv.Name, ent.Name)
			}
			p := retention.Pseudonyms{Key: key, Identifier: ent.Pseudonymization.MatchColumn, Only: only}
			if j.Spec.Deactivate {
				if ent.Pseudonymization.ActiveColumn == "" {
					return nil, stalled(privacyv1alpha1.ReasonRuleInvalid, "TenantDatabase %s (DataInventory %s): spec.deactivate needs entity %s to declare pseudonymization.activeColumn",
						tdb.Name, inv.Name, ent.Name)
				}
				p.Deactivate = ent.Pseudonymization.ActiveColumn
			}
			c, err := retention.CompileJob(rule, &inv.Spec, cat, hashKeys, p)
			if err != nil {
				return nil, stalled(privacyv1alpha1.ReasonRuleInvalid, "TenantDatabase %s (DataInventory %s): %s", tdb.Name, inv.Name, err.Error())
			}
			w.rules = append(w.rules, c)
		}
		if len(w.rules) > 0 {
			works = append(works, w)
		}
	}
	if len(works) == 0 {
		what := "an entity with a pseudonymization section"
		if j.Spec.Selector != nil {
			what = "entity " + j.Spec.Selector.Entity
		}
		return nil, stalled(privacyv1alpha1.ReasonNothingToPseudonymize, "no target's DataInventory has %s", what)
	}
	return works, nil
}

// jobRules are the job's work in one inventory as retention rules named
// after their entities: the selector's entity, or for one subject every
// entity with a pseudonymization section.
func jobRules(j *privacyv1alpha1.PseudonymizationJob, inv *privacyv1alpha1.DataInventorySpec) []privacyv1alpha1.RetentionRule {
	var out []privacyv1alpha1.RetentionRule
	for _, e := range inv.Entities {
		var rule privacyv1alpha1.RetentionRule
		switch s := j.Spec.Selector; {
		case s != nil && e.Name == s.Entity:
			rule = privacyv1alpha1.RetentionRule{Name: e.Name, Entity: e.Name, Age: s.Age, Conditions: s.Conditions}
		case s == nil && e.Pseudonymization != nil:
			rule = privacyv1alpha1.RetentionRule{Name: e.Name, Entity: e.Name}
		default:
			continue
		}
		for _, f := range j.Spec.Pseudonym.Fields {
			for _, pc := range e.PersonalColumns {
				if pc.Column == f.Column {
					format := f.Format
					rule.Fields = append(rule.Fields, privacyv1alpha1.FieldOverride{Column: f.Column,
						Strategy: privacyv1alpha1.MaskingStrategy{Type: privacyv1alpha1.StrategyPseudonym, Format: &format}})
				}
			}
		}
		out = append(out, rule)
	}
	return out
}

func inventoryEntity(inv *privacyv1alpha1.DataInventorySpec, name string) *privacyv1alpha1.Entity {
	for i := range inv.Entities {
		if inv.Entities[i].Name == name {
			return &inv.Entities[i]
		}
	}
	return nil
}

// counted reads what the job's run already recorded for a rule (nil if it
// has not started it) and counts the rows still pending.
func (r *PseudonymizationJobReconciler) counted(ctx context.Context, w jobWork, run *ruleRun, rule *retention.Rule) (*engine.Progress, int64, error) {
	prior, err := engine.Recorded(ctx, w.pool, &run.run, rule.Step(run.env))
	if err != nil {
		return nil, 0, err
	}
	if prior != nil && prior.Done {
		// Rows that stayed locked are still pending: the next job takes them.
		return prior, prior.Locked, nil
	}
	n, err := retention.Count(ctx, w.pool, run.env, rule)
	return prior, n, err
}

// carry works on the job for one slice and writes its progress.
func (r *PseudonymizationJobReconciler) carry(ctx context.Context, j *privacyv1alpha1.PseudonymizationJob, works []jobWork) (ctrl.Result, error) {
	st := &j.Status
	slice := r.Slice
	if slice <= 0 {
		slice = 10 * time.Second
	}
	deadline := time.Now().Add(slice)
	var failed []string
	var stall *requestError
	for _, w := range works {
		ts := jobTarget(st, w.tdb.Name)
		ts.Error = ""
		for _, rule := range w.rules {
			es := jobEntity(ts, rule.Entity.Name)
			if es.Done {
				continue
			}
			run := r.runOf(j)
			if es.Found == 0 && es.Changed == 0 {
				// A new step, or a status lost (a crash before it was
				// written, a wipe): what the run already did counts too.
				prior, n, err := r.counted(ctx, w, run, rule)
				if err != nil {
					ts.Error = fmt.Sprintf("entity %s: %s", rule.Entity.Name, errorMessage(err))
					break
				}
				es.Found = n
				if prior != nil {
					es.Found += prior.Changed
					es.Changed, es.Locked, es.Done = prior.Changed, prior.Locked, prior.Done
				}
				if es.Done || j.Spec.DryRun || (n == 0 && prior == nil) {
					es.Done = true
					continue
				}
			}
			if !time.Now().Before(deadline) {
				break
			}
			if es.Changed == 0 && retainsMapping(j) {
				if err := r.recordMapping(ctx, j, w, rule, run); err != nil {
					if re := asRequestError(err); re != nil && re.stalled {
						return r.fail(ctx, j, err)
					}
					ts.Error = fmt.Sprintf("entity %s: record the mapping: %s", rule.Entity.Name, errorMessage(err))
					break
				}
			}
			pr, err := run.advance(ctx, w.pool, rule, deadline)
			if pr != nil {
				es.Changed, es.Locked, es.Done = pr.Changed, pr.Locked, pr.Done
			}
			if err != nil {
				ts.Error = errorMessage(err)
				if re := runError(w.tdb.Name, err); re != nil && re.stalled && stall == nil {
					stall = re
				}
				break
			}
			if !pr.Done {
				break
			}
		}
		if ts.Error != "" {
			failed = append(failed, w.tdb.Name+": "+ts.Error)
		}
	}
	allDone := setJobProgress(st, works, j.Spec.DryRun)
	if stall != nil {
		r.stalls.remember(j.UID, r.fingerprint(ctx, j))
		r.Recorder.Eventf(j, nil, corev1.EventTypeWarning, stall.reason, "Run",
			"stalled: %s; it resumes from its checkpoint once the job, an inventory or a TenantDatabase changes", stall.message)
		setSummary(&st.Conditions, &st.ObservedGeneration, j.Generation, verdictStalled, stall.reason, "stalled: "+stall.message)
		return ctrl.Result{}, nil
	}
	if len(failed) > 0 {
		msg := listUpTo(failed, 3, "; ")
		n, wait := r.retries.next(j.UID, r.RetryInterval)
		r.Recorder.Eventf(j, nil, corev1.EventTypeWarning, privacyv1alpha1.ReasonJobFailed, "Run", "failed in %s (attempt %d); it resumes from its checkpoint", msg, n)
		setSummary(&st.Conditions, &st.ObservedGeneration, j.Generation, verdictWaiting, privacyv1alpha1.ReasonJobFailed,
			fmt.Sprintf("failed (attempt %d): %s; retrying from its checkpoint in %s", n, msg, wait.Round(time.Second)))
		return ctrl.Result{RequeueAfter: wait}, nil
	}
	r.retries.reset(j.UID)
	if !allDone {
		setSummary(&st.Conditions, &st.ObservedGeneration, j.Generation, verdictWaiting, privacyv1alpha1.ReasonProgressing,
			"under way: "+st.Progress.Summary+" rows done")
		return ctrl.Result{RequeueAfter: time.Millisecond}, nil
	}
	if j.Spec.Pseudonym.Mode == privacyv1alpha1.PseudonymRandom && !retainsMapping(j) && st.KeySecretName != "" {
		deleted, err := deleteOwnedSecret(ctx, r.APIReader, r.Client, j, st.KeySecretName)
		if err != nil {
			return ctrl.Result{}, err
		}
		if deleted {
			r.Recorder.Eventf(j, nil, corev1.EventTypeNormal, privacyv1alpha1.ReasonKeyDiscarded, "Discard",
				"deleted secret %s: the job's key is gone, and no pseudonym can be linked to a person any more", st.KeySecretName)
		} else {
			r.Recorder.Eventf(j, nil, corev1.EventTypeWarning, privacyv1alpha1.ReasonKeySecretConflict, "Discard",
				"secret %s does not belong to this job: left alone", st.KeySecretName)
		}
	}
	st.Phase = privacyv1alpha1.JobSucceeded
	t := metav1.NewTime(r.Clock.Now())
	st.CompletionTime = &t
	msg := fmt.Sprintf("%d rows pseudonymized in %d targets", st.Progress.Done, len(works))
	if j.Spec.DryRun {
		msg = fmt.Sprintf("dry run: %d rows would be pseudonymized in %d targets; nothing was changed", st.Progress.Total, len(works))
	}
	r.Recorder.Eventf(j, nil, corev1.EventTypeNormal, privacyv1alpha1.ReasonJobSucceeded, "Run", "%s", msg)
	setSummary(&st.Conditions, &st.ObservedGeneration, j.Generation, verdictReady, privacyv1alpha1.ReasonJobSucceeded, msg)
	return ctrl.Result{}, nil
}

// setJobProgress sums the targets' counts into status.progress and says
// whether every entity of every target is done.
func setJobProgress(st *privacyv1alpha1.PseudonymizationJobStatus, works []jobWork, dryRun bool) bool {
	p := &privacyv1alpha1.JobProgress{}
	all := true
	for _, w := range works {
		ts := jobTarget(st, w.tdb.Name)
		for _, rule := range w.rules {
			es := jobEntity(ts, rule.Entity.Name)
			p.Total += es.Found
			if dryRun {
				p.Done += es.Found
			} else {
				p.Done += es.Changed
			}
			all = all && es.Done
		}
	}
	p.Percent = 100
	if p.Total > 0 {
		p.Percent = int32(min(p.Done*100/p.Total, 100)) // #nosec G115 -- at most 100
	}
	p.Summary = fmt.Sprintf("%d/%d", p.Done, p.Total)
	st.Progress = p
	return all
}

// runOf is the executor's view of the job. Its checkpoints are keyed by the
// job's UID; ages are measured from the job's start.
func (r *PseudonymizationJobReconciler) runOf(j *privacyv1alpha1.PseudonymizationJob) *ruleRun {
	batch := int(j.Spec.BatchSize)
	if batch <= 0 {
		batch = 500
	}
	return &ruleRun{
		run: engine.Run{UID: "pj-" + string(j.UID), Kind: engine.KindJob, Type: "Pseudonymization", Actor: objectActor(j),
			Object:        audit.Object{Kind: "PseudonymizationJob", Namespace: j.Namespace, Name: j.Name, UID: string(j.UID)},
			SubjectDigest: j.Status.SubjectDigest},
		opts: engine.Options{BatchSize: batch, Workers: retentionWorkers, LockTimeout: r.LockTimeout,
			StatementTimeout: r.StatementTimeout, MaxRetries: r.LockRetries, BeforeBatch: r.BeforeBatch},
		env: retention.Env{PolicyUID: string(j.UID), Now: j.Status.StartTime.Time},
	}
}

func jobTarget(st *privacyv1alpha1.PseudonymizationJobStatus, name string) *privacyv1alpha1.PseudonymizationTargetStatus {
	return entryOf(&st.Targets, func(t *privacyv1alpha1.PseudonymizationTargetStatus) bool { return t.Name == name },
		privacyv1alpha1.PseudonymizationTargetStatus{Name: name})
}

func jobEntity(ts *privacyv1alpha1.PseudonymizationTargetStatus, name string) *privacyv1alpha1.PseudonymizedEntity {
	return entryOf(&ts.Entities, func(e *privacyv1alpha1.PseudonymizedEntity) bool { return e.Entity == name },
		privacyv1alpha1.PseudonymizedEntity{Entity: name})
}

// fail reports an error of preparation: a stalled one until the spec
// changes, a waiting one retried.
func (r *PseudonymizationJobReconciler) fail(ctx context.Context, j *privacyv1alpha1.PseudonymizationJob, err error) (ctrl.Result, error) {
	if re := asRequestError(err); re != nil && re.stalled {
		r.stalls.remember(j.UID, r.fingerprint(ctx, j))
	}
	return reportRequestError(r.Recorder, j, &j.Status.Conditions, &j.Status.ObservedGeneration, j.Generation, err, r.RetryInterval)
}

// fingerprint sums what the job depends on.
func (r *PseudonymizationJobReconciler) fingerprint(ctx context.Context, j *privacyv1alpha1.PseudonymizationJob) string {
	tdbs, _ := selectTargets(ctx, r.Client, j.Namespace, j.Spec.Targets)
	return fingerprint(ctx, r.Client, j, tdbs)
}

// stalledStill says the job stalled and nothing it depends on changed
// since: it is not tried again.
func (r *PseudonymizationJobReconciler) stalledStill(ctx context.Context, j *privacyv1alpha1.PseudonymizationJob) bool {
	c := meta.FindStatusCondition(j.Status.Conditions, privacyv1alpha1.ConditionStalled)
	return c != nil && c.Status == metav1.ConditionTrue && r.stalls.unchanged(j.UID, r.fingerprint(ctx, j))
}

// listTargets lists the unfinished jobs of a namespace and their targets.
func (r *PseudonymizationJobReconciler) listTargets(ctx context.Context, namespace string) (map[types.NamespacedName]privacyv1alpha1.Targets, error) {
	var list privacyv1alpha1.PseudonymizationJobList
	if err := r.List(ctx, &list, client.InNamespace(namespace)); err != nil {
		return nil, err
	}
	out := map[types.NamespacedName]privacyv1alpha1.Targets{}
	for _, j := range list.Items {
		if j.Status.Phase != privacyv1alpha1.JobSucceeded {
			out[types.NamespacedName{Namespace: j.Namespace, Name: j.Name}] = j.Spec.Targets
		}
	}
	return out, nil
}

// namingSecret lists the unfinished jobs of a namespace that name a
// Secret.
func (r *PseudonymizationJobReconciler) namingSecret(ctx context.Context, namespace, secret string) ([]types.NamespacedName, error) {
	var list privacyv1alpha1.PseudonymizationJobList
	if err := r.List(ctx, &list, client.InNamespace(namespace), client.MatchingFields{indexSecretNames: secret}); err != nil {
		return nil, err
	}
	var out []types.NamespacedName
	for _, j := range list.Items {
		if j.Status.Phase != privacyv1alpha1.JobSucceeded {
			out = append(out, types.NamespacedName{Namespace: j.Namespace, Name: j.Name})
		}
	}
	return out, nil
}

// SetupWithManager watches jobs, the TenantDatabases and DataInventories
// they depend on, and the Secrets they wait for.
func (r *PseudonymizationJobReconciler) SetupWithManager(mgr ctrl.Manager) error {
	if err := indexSecrets(mgr, &privacyv1alpha1.PseudonymizationJob{}); err != nil {
		return err
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
		For(&privacyv1alpha1.PseudonymizationJob{}, builder.WithPredicates(predicate.Or(predicate.GenerationChangedPredicate{}, statusWiped()))).
		Watches(&privacyv1alpha1.TenantDatabase{}, handler.EnqueueRequestsFromMapFunc(targeting(r.Client, r.listTargets)),
			builder.WithPredicates(generationOrLabelsChanged())).
		Watches(&privacyv1alpha1.DataInventory{}, handler.EnqueueRequestsFromMapFunc(targeting(r.Client, r.listTargets)),
			builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Watches(&corev1.Secret{}, handler.EnqueueRequestsFromMapFunc(secretWaiters(r.Client, r.namingSecret, r.listTargets)),
			builder.OnlyMetadata).
		WithOptions(controller.Options{MaxConcurrentReconciles: max(r.MaxConcurrentReconciles, 1)}).
		Named("pseudonymizationjob").
		Complete(r)
}
