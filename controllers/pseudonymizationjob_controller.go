package controllers

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	privacyv1alpha1 "github.com/lethe-dev/lethe/api/v1alpha1"
	"github.com/lethe-dev/lethe/internal/audit"
	"github.com/lethe-dev/lethe/internal/dsr"
	"github.com/lethe-dev/lethe/internal/masking"
	"github.com/lethe-dev/lethe/internal/retention"
	"github.com/lethe-dev/lethe/internal/tenantdb"
)

// minKeyBytes is the shortest HMAC key a job accepts.
const minKeyBytes = 16

// subjectTypeOfJob keys the digest of a job's subject: the matching
// identifier is not tied to one subject type of one inventory.
const subjectTypeOfJob = "pseudonymization"

// PseudonymizationJobReconciler carries out PseudonymizationJobs. The work
// is the retention executor's (internal/retention, a Pseudonymize rule per
// entity with keyed pseudonyms), so a job and a RetentionPolicy rule share
// batches, checkpoints (keyed by the job's UID), audit records and the
// exactly-once guarantee. Like a retention run, a job works in slices: each
// reconcile works for at most Slice, writes its progress and comes back.
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
}

// +kubebuilder:rbac:groups=privacy.lethe.dev,resources=pseudonymizationjobs,verbs=get;list;watch
// +kubebuilder:rbac:groups=privacy.lethe.dev,resources=pseudonymizationjobs/status,verbs=get;update;patch
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;list;watch;create;update;delete

// Reconcile carries a job forward and writes its status.
func (r *PseudonymizationJobReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	var obj privacyv1alpha1.PseudonymizationJob
	if err := r.Get(ctx, req.NamespacedName, &obj); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !obj.DeletionTimestamp.IsZero() {
		return ctrl.Result{}, nil
	}
	before := obj.DeepCopy()
	result, err := r.reconcile(ctx, &obj)
	if perr := r.Status().Patch(ctx, &obj, client.MergeFrom(before)); perr != nil {
		return ctrl.Result{}, client.IgnoreNotFound(perr)
	}
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
	works, err := r.prepare(ctx, j)
	if err != nil {
		return r.fail(j, err)
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

// key reads the HMAC key of keyed pseudonyms. A missing Secret or key
// stalls the job: it names what to create.
func (r *PseudonymizationJobReconciler) key(ctx context.Context, j *privacyv1alpha1.PseudonymizationJob) ([]byte, error) {
	if j.Spec.Pseudonym.Mode == privacyv1alpha1.PseudonymRandom {
		return r.randomKey(ctx, j)
	}
	ref := j.Spec.Pseudonym.KeySecretRef
	if ref == nil {
		return nil, stalled(privacyv1alpha1.ReasonKeySecretNotFound, "mode Keyed needs spec.pseudonym.keySecretRef")
	}
	var secret corev1.Secret
	if err := r.APIReader.Get(ctx, types.NamespacedName{Namespace: j.Namespace, Name: ref.Name}, &secret); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, stalled(privacyv1alpha1.ReasonKeySecretNotFound,
				"pseudonym key secret %s not found in namespace %s: create it with key %q holding at least %d random bytes, the same for every job whose pseudonyms must agree, then recreate the job",
				ref.Name, j.Namespace, ref.Key, minKeyBytes)
		}
		return nil, err
	}
	key, ok := secret.Data[ref.Key]
	if !ok {
		return nil, stalled(privacyv1alpha1.ReasonKeySecretNotFound, "pseudonym key secret %s has no key %q", ref.Name, ref.Key)
	}
	if len(key) < minKeyBytes {
		return nil, stalled(privacyv1alpha1.ReasonKeyTooShort, "pseudonym key %s/%s has %d bytes; it needs at least %d", ref.Name, ref.Key, len(key), minKeyBytes)
	}
	return key, nil
}

// keySecretName is the Secret a Random job keeps its key in.
func keySecretName(j *privacyv1alpha1.PseudonymizationJob) string {
	if len(j.Name) <= 242 {
		return j.Name + "-pseudonyms"
	}
	return "pseudonyms-" + string(j.UID)
}

// randomKey reads a Random job's key, creating it (32 random bytes, in a
// Secret the job owns) before the first row changes. A key lost while the
// job runs stalls it: the rows left would get pseudonyms unrelated to
// those already written.
func (r *PseudonymizationJobReconciler) randomKey(ctx context.Context, j *privacyv1alpha1.PseudonymizationJob) ([]byte, error) {
	name := keySecretName(j)
	var s corev1.Secret
	err := r.APIReader.Get(ctx, types.NamespacedName{Namespace: j.Namespace, Name: name}, &s)
	switch {
	case err == nil:
		if !metav1.IsControlledBy(&s, j) {
			return nil, stalled(privacyv1alpha1.ReasonKeySecretConflict, "secret %s exists and does not belong to this job; delete it or rename the job", name)
		}
		j.Status.KeySecretName = name
		return s.Data["key"], nil
	case !apierrors.IsNotFound(err):
		return nil, err
	case j.Status.Phase == privacyv1alpha1.JobRunning:
		return nil, stalled(privacyv1alpha1.ReasonKeySecretNotFound,
			"the job's key secret %s was deleted while the job ran; the rows left cannot get matching pseudonyms: delete this job and create a new one", name)
	}
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, err
	}
	s = corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: j.Namespace, Name: name,
		Labels: map[string]string{"app.kubernetes.io/managed-by": "lethe"}}, Data: map[string][]byte{"key": key}}
	if err := controllerutil.SetControllerReference(j, &s, r.Scheme()); err != nil {
		return nil, err
	}
	if err := r.Create(ctx, &s); err != nil {
		if apierrors.IsAlreadyExists(err) {
			return r.randomKey(ctx, j)
		}
		return nil, err
	}
	j.Status.KeySecretName = name
	r.Recorder.Eventf(j, nil, corev1.EventTypeNormal, privacyv1alpha1.ReasonKeyCreated, "Start",
		"created secret %s holding the job's random key", name)
	return key, nil
}

func retainsMapping(j *privacyv1alpha1.PseudonymizationJob) bool {
	return j.Spec.Pseudonym.Mode == privacyv1alpha1.PseudonymRandom && j.Spec.Pseudonym.Mapping == privacyv1alpha1.MappingRetain && !j.Spec.DryRun
}

// mappingKey is the key of the mapping in a Random job's Secret.
const mappingKey = "mapping.json"

// maxMapping keeps the mapping within a Secret's 1 MiB.
const maxMapping = 900 << 10

// recordMapping writes, before an entity's rows change, each pseudonym the
// job will give them (of the matching identifier's column, or its 64-digit
// token when that column is not pseudonymized) with the identifier it
// replaces into the job's Secret: a JSON object from pseudonym to
// identifier, merged across targets and entities. Recording it first means
// no change is ever made whose link is not kept. A unique column may add
// "_" and the row's key to a value that was taken; the mapping holds the
// value without it.
func (r *PseudonymizationJobReconciler) recordMapping(ctx context.Context, j *privacyv1alpha1.PseudonymizationJob, w jobWork, rule *retention.Rule, run *retention.Run) error {
	ids, err := retention.Identifiers(ctx, w.pool, run, rule)
	if err != nil || len(ids) == 0 {
		return err
	}
	format := matchFormat(j, rule.Entity)
	var s corev1.Secret
	if err := r.APIReader.Get(ctx, types.NamespacedName{Namespace: j.Namespace, Name: j.Status.KeySecretName}, &s); err != nil {
		return err
	}
	m := map[string]string{}
	if raw := s.Data[mappingKey]; len(raw) > 0 {
		if err := json.Unmarshal(raw, &m); err != nil {
			return fmt.Errorf("secret %s: key %s is not a JSON object", s.Name, mappingKey)
		}
	}
	for _, id := range ids {
		p, err := masking.KeyedPseudonym(format, w.key, id)
		if err != nil {
			return err
		}
		m[p] = id
	}
	raw, err := json.Marshal(m)
	if err != nil {
		return err
	}
	if len(raw) > maxMapping {
		return stalled(privacyv1alpha1.ReasonMappingTooLarge, "the mapping of %d people would outgrow secret %s; select fewer people per job", len(m), s.Name)
	}
	if s.Data == nil {
		s.Data = map[string][]byte{}
	}
	s.Data[mappingKey] = raw
	return r.Update(ctx, &s)
}

// matchFormat is the pseudonym format of an entity's matching identifier
// column: the job's field, the inventory's Pseudonym, or the full token.
func matchFormat(j *privacyv1alpha1.PseudonymizationJob, ent *privacyv1alpha1.Entity) string {
	col := ent.Pseudonymization.MatchColumn
	for _, f := range j.Spec.Pseudonym.Fields {
		if f.Column == col {
			return f.Format
		}
	}
	for _, pc := range ent.PersonalColumns {
		if pc.Column == col && pc.Strategy.Type == privacyv1alpha1.StrategyPseudonym && pc.Strategy.Format != nil {
			return *pc.Strategy.Format
		}
	}
	return "{hex:64}"
}

// identifier reads the subject's matching identifier from its Secret or the
// spec.
func (r *PseudonymizationJobReconciler) identifier(ctx context.Context, j *privacyv1alpha1.PseudonymizationJob) (string, error) {
	s := j.Spec.Subject
	if s.IdentifierSecretRef == nil {
		if j.Status.SubjectDigest == "" {
			r.Recorder.Eventf(j, nil, corev1.EventTypeWarning, privacyv1alpha1.ReasonInlineIdentifiers, "Check",
				"the subject's identifier is stored in the job itself; prefer spec.subject.identifierSecretRef")
		}
		return s.Identifier, nil
	}
	ref := s.IdentifierSecretRef
	var secret corev1.Secret
	if err := r.APIReader.Get(ctx, types.NamespacedName{Namespace: j.Namespace, Name: ref.Name}, &secret); err != nil {
		if apierrors.IsNotFound(err) {
			return "", waiting(privacyv1alpha1.ReasonIdentifiersSecretNotFound, "identifier secret %s not found in namespace %s", ref.Name, j.Namespace)
		}
		return "", err
	}
	v := secret.Data[ref.Key]
	if len(v) == 0 {
		return "", stalled(privacyv1alpha1.ReasonIdentifierKeyMissing, "identifier secret %s has no key %q", ref.Name, ref.Key)
	}
	return string(v), nil
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
				n, err := retention.Count(ctx, w.pool, run, rule)
				if err != nil {
					ts.Error = fmt.Sprintf("entity %s: %s", rule.Entity.Name, errorMessage(err))
					break
				}
				es.Found = n
				if j.Spec.DryRun || n == 0 {
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
						return r.fail(j, err)
					}
					ts.Error = fmt.Sprintf("entity %s: record the mapping: %s", rule.Entity.Name, errorMessage(err))
					break
				}
			}
			pr, err := retention.Step(ctx, w.pool, run, rule, deadline)
			if pr != nil {
				es.Changed, es.Locked, es.Done = pr.Changed, pr.Locked, pr.Done
			}
			if err != nil {
				ts.Error = errorMessage(err)
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
	if len(failed) > 0 {
		msg := listUpTo(failed, 3, "; ")
		r.Recorder.Eventf(j, nil, corev1.EventTypeWarning, privacyv1alpha1.ReasonJobFailed, "Run", "failed in %s; it resumes from its checkpoint", msg)
		setSummary(&st.Conditions, &st.ObservedGeneration, j.Generation, verdictWaiting, privacyv1alpha1.ReasonJobFailed,
			"failed: "+msg+"; retrying from its checkpoint")
		return ctrl.Result{RequeueAfter: r.RetryInterval}, nil
	}
	if !allDone {
		setSummary(&st.Conditions, &st.ObservedGeneration, j.Generation, verdictWaiting, privacyv1alpha1.ReasonProgressing,
			"under way: "+st.Progress.Summary+" rows done")
		return ctrl.Result{RequeueAfter: time.Millisecond}, nil
	}
	if j.Spec.Pseudonym.Mode == privacyv1alpha1.PseudonymRandom && !retainsMapping(j) && st.KeySecretName != "" {
		s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: j.Namespace, Name: st.KeySecretName}}
		if err := r.Delete(ctx, s); client.IgnoreNotFound(err) != nil {
			return ctrl.Result{}, err
		}
		r.Recorder.Eventf(j, nil, corev1.EventTypeNormal, privacyv1alpha1.ReasonKeyDiscarded, "Discard",
			"deleted secret %s: the job's key is gone, and no pseudonym can be linked to a person any more", st.KeySecretName)
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
func (r *PseudonymizationJobReconciler) runOf(j *privacyv1alpha1.PseudonymizationJob) *retention.Run {
	batch := int(j.Spec.BatchSize)
	if batch <= 0 {
		batch = 500
	}
	return &retention.Run{ID: "pj-" + string(j.UID), PolicyUID: string(j.UID), Actor: objectActor(j),
		Object: audit.Object{Kind: "PseudonymizationJob", Namespace: j.Namespace, Name: j.Name, UID: string(j.UID)},
		Now:    j.Status.StartTime.Time, BatchSize: batch, Workers: retentionWorkers,
		LockTimeout: r.LockTimeout, StatementTimeout: r.StatementTimeout, MaxRetries: r.LockRetries,
		SubjectDigest: j.Status.SubjectDigest, BeforeBatch: r.BeforeBatch}
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
func (r *PseudonymizationJobReconciler) fail(j *privacyv1alpha1.PseudonymizationJob, err error) (ctrl.Result, error) {
	return reportRequestError(r.Recorder, j, &j.Status.Conditions, &j.Status.ObservedGeneration, j.Generation, err, r.RetryInterval)
}

// SetupWithManager watches jobs.
func (r *PseudonymizationJobReconciler) SetupWithManager(mgr ctrl.Manager) error {
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
		For(&privacyv1alpha1.PseudonymizationJob{}, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		WithOptions(controller.Options{MaxConcurrentReconciles: max(r.MaxConcurrentReconciles, 1)}).
		Named("pseudonymizationjob").
		Complete(r)
}
