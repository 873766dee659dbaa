package controllers

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sync"
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
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	privacyv1alpha1 "github.com/lethe-dev/lethe/api/v1alpha1"
	"github.com/lethe-dev/lethe/internal/audit"
	"github.com/lethe-dev/lethe/internal/dsr"
	"github.com/lethe-dev/lethe/internal/engine"
	"github.com/lethe-dev/lethe/internal/export"
	"github.com/lethe-dev/lethe/internal/tenantdb"
)

// maxExportSize is what an export Secret may hold: the API server refuses
// objects over 1 MiB, and the Secret needs room for its metadata.
const maxExportSize = 1000 * 1024

// DataSubjectRequestReconciler carries out one person's request in every
// selected tenant database, before its legal deadline.
type DataSubjectRequestReconciler struct {
	client.Client
	APIReader     client.Reader
	Recorder      events.EventRecorder
	Pools         *tenantdb.Pools
	Clock         clock.PassiveClock
	RetryInterval time.Duration
	// GDPRRequestRetention is how long a completed GDPR request without
	// spec.retainFor is kept (a period such as 3y); empty keeps it.
	GDPRRequestRetention string
	// Engine tunes the executor (batch size; tests interrupt runs with it).
	Engine                  engine.Options
	MaxConcurrentReconciles int

	salts     sync.Map // namespace -> salt
	blindKeys sync.Map // namespace -> blind-index key
	// verifier lets concurrent erasures share their re-scans of a tenant.
	verifier dsr.Verifier
	retries  retries
	stalls   stalls
	// completed holds the UIDs of the requests this manager completed, by
	// name: an owned Secret's event can start a reconcile before the cache
	// holds the status that completed the request, and such a reconcile
	// reads the request from the API server instead of running it again.
	completed sync.Map // types.NamespacedName -> types.UID
}

// +kubebuilder:rbac:groups=privacy.lethe.dev,resources=datasubjectrequests,verbs=get;list;watch
// +kubebuilder:rbac:groups=privacy.lethe.dev,resources=datasubjectrequests/status,verbs=get;update;patch
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;list;watch;create;update;delete

// Reconcile moves a request through its phases and writes its status.
func (r *DataSubjectRequestReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	var obj privacyv1alpha1.DataSubjectRequest
	if err := r.Get(ctx, req.NamespacedName, &obj); err != nil {
		if apierrors.IsNotFound(err) {
			requestMetrics.forget("DataSubjectRequest", req.NamespacedName)
			r.completed.Delete(req.NamespacedName)
		}
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if uid, ok := r.completed.Load(req.NamespacedName); ok && uid == obj.UID && obj.Status.Phase != privacyv1alpha1.PhaseCompleted {
		if err := r.APIReader.Get(ctx, req.NamespacedName, &obj); err != nil {
			return ctrl.Result{}, client.IgnoreNotFound(err)
		}
	}
	if !obj.DeletionTimestamp.IsZero() {
		requestMetrics.forget("DataSubjectRequest", req.NamespacedName)
		return ctrl.Result{}, nil
	}
	before := obj.DeepCopy()
	ev := &requestEvents{recorder: r.Recorder}
	result, err := r.reconcile(ctx, &obj, ev)
	if perr := r.Status().Patch(ctx, &obj, client.MergeFrom(before)); perr != nil {
		return ctrl.Result{}, client.IgnoreNotFound(perr)
	}
	if obj.Status.Phase == privacyv1alpha1.PhaseCompleted {
		r.completed.Store(req.NamespacedName, obj.UID)
	}
	observeRequest(&obj)
	ev.send(before, &obj)
	return result, err
}

func (r *DataSubjectRequestReconciler) reconcile(ctx context.Context, obj *privacyv1alpha1.DataSubjectRequest, ev events.EventRecorder) (ctrl.Result, error) {
	now := r.Clock.Now()
	st := &obj.Status
	if st.Phase == "" {
		st.Phase = privacyv1alpha1.PhasePending
		ev.Eventf(obj, nil, corev1.EventTypeNormal, privacyv1alpha1.ReasonReceived, "Receive",
			"%s request received under %s", obj.Spec.Type, regulationOf(obj))
	}
	loc, err := requestLocation(obj)
	if err != nil {
		return r.fail(ctx, obj, stalled(privacyv1alpha1.ReasonTimeZoneInvalid, "%s", err.Error()))
	}
	due := setDeadline(ev, obj, now, loc)
	setReceiptConfirmation(obj, now, loc)

	if st.Phase == privacyv1alpha1.PhaseCompleted || (st.Phase == privacyv1alpha1.PhaseFailed && !r.changedSinceFailure(ctx, obj)) {
		// A finished request's answer holds for a later generation too
		// (only approval and extension can change, and they change
		// nothing now), so kstatus sees it observed.
		observe(&st.Conditions, &st.ObservedGeneration, obj.Generation)
		if st.Phase == privacyv1alpha1.PhaseCompleted {
			return r.afterCompletion(ctx, obj, now, ev, false)
		}
		return ctrl.Result{}, nil
	}
	if st.Phase == privacyv1alpha1.PhaseFailed {
		st.Phase = privacyv1alpha1.PhaseInProgress
		ev.Eventf(obj, nil, corev1.EventTypeNormal, privacyv1alpha1.ReasonStarted, "Retry",
			"tried again: the request, its inventory or a TenantDatabase changed since it failed")
	}
	requeue := setOverdue(obj, due, now)

	ids, err := r.identifiers(ctx, obj)
	if err != nil {
		return r.fail(ctx, obj, err)
	}
	if obj.Spec.Subject.Identifiers != nil && st.SubjectDigest == "" {
		ev.Eventf(obj, nil, corev1.EventTypeWarning, privacyv1alpha1.ReasonInlineIdentifiers, "Receive",
			"the subject's identifiers are stored in the request itself; use spec.subject.identifiersSecretRef so nothing personal is kept in Git or in this object")
	}
	salt, err := r.salt(ctx, obj.Namespace)
	if err != nil {
		return ctrl.Result{}, err
	}
	st.SubjectDigest = dsr.Digest(salt, obj.Spec.Subject.Type, ids)

	setApprovalStatus(obj)
	if !r.approved(obj) {
		st.Phase = privacyv1alpha1.PhaseAwaitingApproval
		message := "the request waits for spec.approval.approved: true"
		if c := meta.FindStatusCondition(st.Conditions, privacyv1alpha1.ConditionApproved); c != nil && c.Reason != privacyv1alpha1.ReasonAwaitingApproval {
			message = c.Message
		}
		setSummary(&st.Conditions, &st.ObservedGeneration, obj.Generation, verdictWaiting, privacyv1alpha1.ReasonAwaitingApproval, message)
		return ctrl.Result{RequeueAfter: requeue}, nil
	}

	targets, err := r.targets(ctx, obj)
	if err != nil {
		return r.fail(ctx, obj, err)
	}
	if st.Phase != privacyv1alpha1.PhaseInProgress {
		st.Phase = privacyv1alpha1.PhaseInProgress
		t := metav1.NewTime(now)
		st.StartTime = &t
		ev.Eventf(obj, nil, corev1.EventTypeNormal, privacyv1alpha1.ReasonStarted, "Start",
			"started in %d tenant databases", len(targets))
	}

	if obj.Spec.Type == privacyv1alpha1.RequestPseudonymization {
		finished, err := r.pseudonymize(ctx, obj, targets, ids, ev)
		if err != nil {
			return r.fail(ctx, obj, err)
		}
		if !finished {
			setSummary(&st.Conditions, &st.ObservedGeneration, obj.Generation, verdictWaiting, privacyv1alpha1.ReasonProgressing,
				"pseudonymizing through PseudonymizationJob "+st.JobName)
			return ctrl.Result{RequeueAfter: requeue}, nil
		}
		return r.complete(ctx, obj, targets, nil, ids, due, now, ev)
	}

	var tables []export.Table
	done := 0
	var firstErr error
	for i := range targets {
		out, err := r.runTarget(ctx, obj, &targets[i], ids, salt, now)
		res := targetResult(obj, targets[i].Name)
		if err != nil {
			re := runError(targets[i].Name, err)
			if re != nil && re.stalled {
				res.Phase, res.Error = privacyv1alpha1.PhaseFailed, re.message
				return r.fail(ctx, obj, re)
			}
			res.Phase = privacyv1alpha1.PhaseInProgress
			res.Error = errorMessage(err)
			if firstErr == nil {
				firstErr = err
				if re != nil {
					firstErr = re
				}
			}
			continue
		}
		if res.Phase != privacyv1alpha1.PhaseCompleted {
			ev.Eventf(obj, nil, corev1.EventTypeNormal, privacyv1alpha1.ReasonTargetCompleted, "Run",
				"tenant database %s: %d rows found, %d changed", targets[i].Name, found(out), changed(out))
		}
		fillTargetResult(res, out)
		tables = append(tables, out.Export...)
		done++
	}
	st.Progress = fmt.Sprintf("%d/%d", done, len(targets))
	if firstErr != nil {
		return r.fail(ctx, obj, firstErr)
	}
	return r.complete(ctx, obj, targets, tables, ids, due, now, ev)
}

// complete finishes a request whose work is done in every target.
func (r *DataSubjectRequestReconciler) complete(ctx context.Context, obj *privacyv1alpha1.DataSubjectRequest, targets []privacyv1alpha1.TenantDatabase,
	tables []export.Table, ids map[string]string, due, now time.Time, ev events.EventRecorder) (ctrl.Result, error) {
	st := &obj.Status
	if obj.Spec.Type == privacyv1alpha1.RequestAccess || obj.Spec.Type == privacyv1alpha1.RequestDiscovery {
		if err := r.writeExport(ctx, obj, tables, now); err != nil {
			return r.fail(ctx, obj, err)
		}
	}
	if obj.Spec.Type == privacyv1alpha1.RequestErasure {
		r.verify(ctx, obj, targets, ids)
	}
	st.Phase = privacyv1alpha1.PhaseCompleted
	t := metav1.NewTime(now)
	st.CompletionTime = &t
	if loc, err := requestLocation(obj); err == nil {
		setReceiptConfirmation(obj, now, loc)
	}
	setCondition(&st.Conditions, obj.Generation, privacyv1alpha1.ConditionOverdue, metav1.ConditionFalse, privacyv1alpha1.ReasonCompletedInTime,
		"completed before the deadline")
	if now.After(due) {
		setCondition(&st.Conditions, obj.Generation, privacyv1alpha1.ConditionOverdue, metav1.ConditionTrue, privacyv1alpha1.ReasonDeadlineExceeded,
			fmt.Sprintf("completed after the deadline %s", due.UTC().Format(time.RFC3339)))
	}
	if v := meta.FindStatusCondition(st.Conditions, privacyv1alpha1.ConditionVerified); v != nil && v.Status == metav1.ConditionFalse {
		setSummary(&st.Conditions, &st.ObservedGeneration, obj.Generation, verdictStalled, privacyv1alpha1.ReasonIdentifiersRemain, v.Message)
	} else {
		setSummary(&st.Conditions, &st.ObservedGeneration, obj.Generation, verdictReady, privacyv1alpha1.ReasonCompleted,
			fmt.Sprintf("%s request completed in %d tenant databases", obj.Spec.Type, len(targets)))
	}
	return r.afterCompletion(ctx, obj, now, ev, true)
}

// runTarget carries out the request in one TenantDatabase.
func (r *DataSubjectRequestReconciler) runTarget(ctx context.Context, obj *privacyv1alpha1.DataSubjectRequest,
	tdb *privacyv1alpha1.TenantDatabase, ids map[string]string, salt []byte, now time.Time) (*dsr.Outcome, error) {
	inv, err := targetInventory(ctx, r.Client, tdb)
	if err != nil {
		return nil, err
	}
	if err := checkIdentifiers(inv, obj.Spec.Subject.Type, ids); err != nil {
		return nil, err
	}
	hashKeys, err := r.hashKeys(ctx, obj.Namespace, inv)
	if err != nil {
		return nil, err
	}
	rectify, err := r.rectificationValues(ctx, obj)
	if err != nil {
		return nil, err
	}
	pool, err := r.poolOf(ctx, tdb)
	if err != nil {
		return nil, err
	}
	object := audit.Object{Kind: "DataSubjectRequest", Namespace: obj.Namespace, Name: obj.Name, UID: string(obj.UID)}
	if a := obj.Status.Approval; a != nil && a.ApprovedAt != nil {
		if err := dsr.RecordApproval(ctx, pool, dsr.Approval{Object: object, SubjectDigest: obj.Status.SubjectDigest,
			Approver: a.ApprovedBy, Requester: requestActor(obj), Type: string(obj.Spec.Type), At: a.ApprovedAt.Time}); err != nil {
			return nil, fmt.Errorf("TenantDatabase %s: cannot record the approval: %s", tdb.Name, tenantdb.SafeError(err))
		}
	}
	in := &dsr.Input{
		Run: engine.Run{
			UID: string(obj.UID), Type: string(obj.Spec.Type), SubjectType: obj.Spec.Subject.Type,
			SubjectDigest: obj.Status.SubjectDigest, Actor: requestActor(obj), Object: object,
			Clock: func() time.Time { return now },
		},
		Type: obj.Spec.Type, Tenant: tdb.Spec.Tenant, Inventory: &inv.Spec, Identifiers: ids,
		Method: privacyv1alpha1.ErasureAnonymize, Rectify: rectify, HashKeys: hashKeys, Salt: salt, Engine: r.Engine,
	}
	if e := obj.Spec.Erasure; e != nil {
		if e.Method != "" {
			in.Method = e.Method
		}
		in.Overrides = map[string]privacyv1alpha1.ErasureMethod{}
		for _, o := range e.Overrides {
			in.Overrides[o.Entity] = o.Method
		}
	}
	if obj.Spec.Restriction != nil {
		in.Lift = obj.Spec.Restriction.Lift
	}
	if obj.Spec.Type == privacyv1alpha1.RequestErasure {
		if in.BlindKey, err = r.blindKey(ctx, obj.Namespace); err != nil {
			return nil, err
		}
		in.RequestName = obj.Name
	}
	out, err := dsr.Execute(ctx, pool, in)
	if err != nil {
		return nil, fmt.Errorf("TenantDatabase %s: %w", tdb.Name, err)
	}
	if out.Tombstone != nil {
		// The tombstone is kept where a restore of the database cannot
		// reach it; a failure here leaves the target in progress, and the
		// completed run reports its tombstone again on the next attempt.
		if err := keepTombstones(ctx, r.Client, r.APIReader, r.Scheme(), tdb, []*dsr.Tombstone{out.Tombstone}); err != nil {
			return nil, fmt.Errorf("TenantDatabase %s: cannot keep the erasure's tombstone: %w", tdb.Name, err)
		}
	}
	return out, nil
}

// poolOf returns a TenantDatabase's pool from the shared cache.
func (r *DataSubjectRequestReconciler) poolOf(ctx context.Context, tdb *privacyv1alpha1.TenantDatabase) (*pgxpool.Pool, error) {
	return sharedPool(ctx, r.APIReader, r.Pools, tdb)
}

// requestActor is who asked: the user the webhook stamped at creation when
// there is one, else the operator acting for the object.
func requestActor(obj *privacyv1alpha1.DataSubjectRequest) string {
	if obj.Spec.RequestedBy != nil {
		return obj.Spec.RequestedBy.Username
	}
	return operatorActor
}

// setApprovalStatus copies who approved the request, as the admission
// webhook stamped it, into status.approval.
func setApprovalStatus(obj *privacyv1alpha1.DataSubjectRequest) {
	who := approverOf(obj)
	if obj.Status.Approval != nil || !obj.Spec.Approved() || who == nil {
		return
	}
	at := who.At
	obj.Status.Approval = &privacyv1alpha1.ApprovalStatus{ApprovedBy: who.Username, ApprovedByUID: who.UID, ApprovedAt: &at}
}

// writeExport builds the access package and stores it in a Secret owned by
// the request.
func (r *DataSubjectRequestReconciler) writeExport(ctx context.Context, obj *privacyv1alpha1.DataSubjectRequest, tables []export.Table, now time.Time) error {
	data, _, err := export.Build(obj.Status.SubjectDigest, now, tables)
	if err != nil {
		return err
	}
	if len(data) > maxExportSize {
		return stalled(privacyv1alpha1.ReasonExportTooLarge,
			"the export is %d bytes; a Secret holds at most %d: narrow spec.targets or split the request", len(data), maxExportSize)
	}
	secret := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: obj.Namespace, Name: obj.Name + "-export",
			Labels: map[string]string{"app.kubernetes.io/managed-by": "lethe", "privacy.lethe.dev/request": obj.Name}},
		Data: map[string][]byte{privacyv1alpha1.ExportSecretKey: data},
	}
	if err := controllerutil.SetControllerReference(obj, secret, r.Scheme()); err != nil {
		return err
	}
	if err := r.Create(ctx, secret); err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	sum := sha256.Sum256(data)
	ex := &privacyv1alpha1.ExportStatus{SecretRef: &privacyv1alpha1.LocalObjectReference{Name: secret.Name},
		Size: int64(len(data)), SHA256: hex.EncodeToString(sum[:])}
	if e := obj.Spec.Export; e != nil && e.TTL != nil {
		t := metav1.NewTime(now.Add(e.TTL.Duration))
		ex.ExpiresAt = &t
	}
	obj.Status.Export = ex
	return nil
}

// expireExport deletes an export past its expiry and requeues until then.
func (r *DataSubjectRequestReconciler) expireExport(ctx context.Context, obj *privacyv1alpha1.DataSubjectRequest, now time.Time, ev events.EventRecorder) (ctrl.Result, error) {
	ex := obj.Status.Export
	if ex == nil || ex.ExpiresAt == nil || ex.Expired || ex.SecretRef == nil {
		return ctrl.Result{}, nil
	}
	if wait := ex.ExpiresAt.Sub(now); wait > 0 {
		return ctrl.Result{RequeueAfter: wait}, nil
	}
	deleted, err := deleteOwnedSecret(ctx, r.APIReader, r.Client, obj, ex.SecretRef.Name)
	if err != nil {
		return ctrl.Result{}, err
	}
	ex.Expired = true
	if !deleted {
		ev.Eventf(obj, nil, corev1.EventTypeWarning, privacyv1alpha1.ReasonExportExpired, "Expire",
			"export secret %s does not belong to this request: left alone", ex.SecretRef.Name)
		return ctrl.Result{}, nil
	}
	ev.Eventf(obj, nil, corev1.EventTypeNormal, privacyv1alpha1.ReasonExportExpired, "Expire",
		"export secret %s deleted after spec.export.ttl", ex.SecretRef.Name)
	return ctrl.Result{}, nil
}

// verify re-scans every target for the subject's identifiers after erasure.
func (r *DataSubjectRequestReconciler) verify(ctx context.Context, obj *privacyv1alpha1.DataSubjectRequest, targets []privacyv1alpha1.TenantDatabase, ids map[string]string) {
	var remaining []string
	for i := range targets {
		tdb := &targets[i]
		var inv privacyv1alpha1.DataInventory
		if err := r.Get(ctx, types.NamespacedName{Namespace: tdb.Namespace, Name: tdb.Spec.InventoryRef.Name}, &inv); err != nil {
			remaining = append(remaining, fmt.Sprintf("%s: cannot verify: %s", tdb.Name, err))
			continue
		}
		pool, err := r.poolOf(ctx, tdb)
		if err != nil {
			remaining = append(remaining, fmt.Sprintf("%s: cannot verify: %s", tdb.Name, tenantdb.SafeError(err)))
			continue
		}
		cols, err := r.verifier.Verify(ctx, pool, &inv.Spec, ids)
		if err != nil {
			remaining = append(remaining, fmt.Sprintf("%s: cannot verify: %s", tdb.Name, tenantdb.SafeError(err)))
			continue
		}
		for _, c := range cols {
			remaining = append(remaining, tdb.Name+": "+c)
		}
	}
	st := &obj.Status
	if len(remaining) > 0 {
		setCondition(&st.Conditions, obj.Generation, privacyv1alpha1.ConditionVerified, metav1.ConditionFalse, privacyv1alpha1.ReasonIdentifiersRemain,
			"the subject's identifiers remain in "+listUpTo(remaining, 20, ", ")+": map these columns in the DataInventory and erase again; "+
				"where the identifier is itself a key or a foreign key (a natural key), Anonymize keeps it: erase with method Delete")
		return
	}
	setCondition(&st.Conditions, obj.Generation, privacyv1alpha1.ConditionVerified, metav1.ConditionTrue, privacyv1alpha1.ReasonVerified,
		fmt.Sprintf("no identifier of the subject remains in the inventory tables of %d tenant databases", len(targets)))
}

// fail records an error. A stalled one fails the request until the
// request, an inventory or a TenantDatabase of its targets changes; a
// waiting one is looked at again after the retry interval; any other is
// transient and retried with a backoff that doubles, the attempt shown.
func (r *DataSubjectRequestReconciler) fail(ctx context.Context, obj *privacyv1alpha1.DataSubjectRequest, err error) (ctrl.Result, error) {
	st := &obj.Status
	re := asRequestError(err)
	if re == nil {
		n, wait := r.retries.next(obj.UID, r.RetryInterval)
		setSummary(&st.Conditions, &st.ObservedGeneration, obj.Generation, verdictWaiting, privacyv1alpha1.ReasonTargetFailed,
			fmt.Sprintf("attempt %d failed: %s; retrying in %s", n, errorMessage(err), wait.Round(time.Second)))
		return ctrl.Result{RequeueAfter: wait}, nil
	}
	if re.stalled {
		st.Phase = privacyv1alpha1.PhaseFailed
		r.stalls.remember(obj.UID, r.failureFingerprint(ctx, obj))
		setSummary(&st.Conditions, &st.ObservedGeneration, obj.Generation, verdictStalled, re.reason, re.message)
		return ctrl.Result{}, nil
	}
	setSummary(&st.Conditions, &st.ObservedGeneration, obj.Generation, verdictWaiting, re.reason, re.message)
	return ctrl.Result{RequeueAfter: r.RetryInterval}, nil
}

// failureFingerprint sums what a failed request depends on: its spec and
// annotations, and its targets with their inventories.
func (r *DataSubjectRequestReconciler) failureFingerprint(ctx context.Context, obj *privacyv1alpha1.DataSubjectRequest) string {
	tdbs, _ := selectTargets(ctx, r.Client, obj.Namespace, obj.Spec.Targets)
	return fingerprint(ctx, r.Client, obj, tdbs)
}

// changedSinceFailure says whether a failed request should be tried again:
// what it depends on changed since it failed (or the manager restarted
// and does not know).
func (r *DataSubjectRequestReconciler) changedSinceFailure(ctx context.Context, obj *privacyv1alpha1.DataSubjectRequest) bool {
	return !r.stalls.unchanged(obj.UID, r.failureFingerprint(ctx, obj))
}

// errorMessage keeps error text that is safe to show: a request error's
// own message, and of a database error only what cannot quote a row value
// (tenantdb.SafeError).
func errorMessage(err error) string {
	if re := asRequestError(err); re != nil {
		return re.message
	}
	return tenantdb.SafeError(err)
}

func targetResult(obj *privacyv1alpha1.DataSubjectRequest, name string) *privacyv1alpha1.TargetResult {
	for i := range obj.Status.Targets {
		if obj.Status.Targets[i].Name == name {
			return &obj.Status.Targets[i]
		}
	}
	obj.Status.Targets = append(obj.Status.Targets, privacyv1alpha1.TargetResult{Name: name})
	return &obj.Status.Targets[len(obj.Status.Targets)-1]
}

func fillTargetResult(res *privacyv1alpha1.TargetResult, out *dsr.Outcome) {
	res.Phase = privacyv1alpha1.PhaseCompleted
	res.Error = ""
	res.Entities = nil
	for _, e := range out.Entities {
		res.Entities = append(res.Entities, privacyv1alpha1.EntityResult{Entity: e.Entity, Found: e.Found,
			Changed: e.Changed, Shared: e.Shared, Columns: e.Columns})
		r := &res.Entities[len(res.Entities)-1]
		r.Effects, r.EffectsOmitted = foreignKeyEffects(e.Effects)
	}
}

func found(out *dsr.Outcome) (n int64) {
	for _, e := range out.Entities {
		n += e.Found
	}
	return n
}

func changed(out *dsr.Outcome) (n int64) {
	for _, e := range out.Entities {
		n += e.Changed
	}
	return n
}

func limit(ss []string, n int) []string {
	if len(ss) > n {
		return ss[:n]
	}
	return ss
}

// listTargets lists the unfinished requests of a namespace and their
// targets.
func (r *DataSubjectRequestReconciler) listTargets(ctx context.Context, namespace string) (map[types.NamespacedName]privacyv1alpha1.Targets, error) {
	var list privacyv1alpha1.DataSubjectRequestList
	if err := r.List(ctx, &list, client.InNamespace(namespace)); err != nil {
		return nil, err
	}
	out := map[types.NamespacedName]privacyv1alpha1.Targets{}
	for _, d := range list.Items {
		if d.Status.Phase != privacyv1alpha1.PhaseCompleted {
			out[types.NamespacedName{Namespace: d.Namespace, Name: d.Name}] = d.Spec.Targets
		}
	}
	return out, nil
}

// namingSecret lists the unfinished requests of a namespace that name a
// Secret.
func (r *DataSubjectRequestReconciler) namingSecret(ctx context.Context, namespace, secret string) ([]types.NamespacedName, error) {
	var list privacyv1alpha1.DataSubjectRequestList
	if err := r.List(ctx, &list, client.InNamespace(namespace), client.MatchingFields{indexSecretNames: secret}); err != nil {
		return nil, err
	}
	var out []types.NamespacedName
	for _, d := range list.Items {
		if d.Status.Phase != privacyv1alpha1.PhaseCompleted {
			out = append(out, types.NamespacedName{Namespace: d.Namespace, Name: d.Name})
		}
	}
	return out, nil
}

// SetupWithManager registers the controller.
func (r *DataSubjectRequestReconciler) SetupWithManager(mgr ctrl.Manager) error {
	if err := indexSecrets(mgr, &privacyv1alpha1.DataSubjectRequest{}); err != nil {
		return err
	}
	requestMetrics.setClock(r.Clock)
	return ctrl.NewControllerManagedBy(mgr).
		// Annotation changes reconcile too: `kubectl annotate` asks for a
		// fresh look without touching the spec.
		For(&privacyv1alpha1.DataSubjectRequest{}, builder.WithPredicates(
			predicate.Or(predicate.GenerationChangedPredicate{}, predicate.AnnotationChangedPredicate{}, statusWiped()))).
		Owns(&corev1.Secret{}, builder.OnlyMetadata).
		Owns(&privacyv1alpha1.PseudonymizationJob{}).
		// A request waiting for a Secret, or stalled on its content, goes
		// on when it changes.
		Watches(&corev1.Secret{}, handler.EnqueueRequestsFromMapFunc(secretWaiters(r.Client, r.namingSecret, r.listTargets)),
			builder.OnlyMetadata).
		// A request stalled on its inventory or its database is tried
		// again when either changes.
		Watches(&privacyv1alpha1.TenantDatabase{}, handler.EnqueueRequestsFromMapFunc(targeting(r.Client, r.listTargets)),
			builder.WithPredicates(generationOrLabelsChanged())).
		Watches(&privacyv1alpha1.DataInventory{}, handler.EnqueueRequestsFromMapFunc(targeting(r.Client, r.listTargets)),
			builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		WithOptions(controller.Options{MaxConcurrentReconciles: r.MaxConcurrentReconciles}).
		Named("datasubjectrequest").
		Complete(r)
}
