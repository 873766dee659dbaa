package controllers

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
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
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	privacyv1alpha1 "github.com/lethe-dev/lethe/api/v1alpha1"
	"github.com/lethe-dev/lethe/internal/audit"
	"github.com/lethe-dev/lethe/internal/inventory"
	"github.com/lethe-dev/lethe/internal/tenantdb"
)

// Field indexes that map Secrets and DataInventories to the TenantDatabases
// that use them.
const (
	indexSecretRef    = ".spec.connection.secretRef.name"
	indexInventoryRef = ".spec.inventoryRef.name"
)

// operatorActor is the actor of audit records the operator writes on its own
// behalf (schema migrations).
const operatorActor = "lethe-operator"

// TenantDatabaseReconciler connects to each tenant database, keeps the
// operator's lethe schema migrated, checks the DataInventory against the live
// schema, and verifies the audit chain, periodically.
type TenantDatabaseReconciler struct {
	client.Client
	// APIReader reads Secrets uncached: the manager watches Secrets by
	// metadata only, so it never holds every Secret of the cluster in memory.
	APIReader client.Reader
	Recorder  events.EventRecorder
	Pools     *tenantdb.Pools
	Clock     clock.PassiveClock
	// ResyncInterval is how often a Ready database is checked again (schema,
	// inventory, audit chain).
	ResyncInterval time.Duration
	// RetryInterval is how soon a database that could not be checked is
	// tried again.
	RetryInterval time.Duration
	// MaxConcurrentReconciles bounds how many tenant databases are checked at
	// once.
	MaxConcurrentReconciles int
	// SampleInterval is how often the content of a database whose schema
	// did not change is sampled again for personal data (default
	// DefaultSampleInterval).
	SampleInterval time.Duration

	classified classifications
	// ignoredWarned holds, per TenantDatabase, the fingerprint of the
	// connection whose ignored keys were last warned of: the Warning
	// event is sent once per change of the Secrets, not per check.
	ignoredWarned sync.Map
}

// +kubebuilder:rbac:groups=privacy.lethe.dev,resources=tenantdatabases,verbs=get;list;watch
// +kubebuilder:rbac:groups=privacy.lethe.dev,resources=tenantdatabases/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=privacy.lethe.dev,resources=datainventories,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;list;watch;create;update
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch
// +kubebuilder:rbac:groups="",resources=configmaps,verbs=list;watch;create;patch;delete

// Reconcile checks one tenant database and writes its status.
func (r *TenantDatabaseReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	log := logf.FromContext(ctx)
	key := req.String()

	var tdb privacyv1alpha1.TenantDatabase
	if err := r.Get(ctx, req.NamespacedName, &tdb); err != nil {
		if apierrors.IsNotFound(err) {
			// The pool lives only in this process: closing it on not-found
			// is all the clean-up a deleted TenantDatabase needs, so no
			// finalizer holds deletion up.
			r.Pools.Close(key)
			r.classified.forget(key)
			r.ignoredWarned.Delete(key)
			forgetTenant(req.NamespacedName)
			return ctrl.Result{}, nil
		}
		return ctrl.Result{}, err
	}
	if !tdb.DeletionTimestamp.IsZero() {
		r.Pools.Close(key)
		r.classified.forget(key)
		r.ignoredWarned.Delete(key)
		forgetTenant(req.NamespacedName)
		return ctrl.Result{}, nil
	}
	current, err := r.currentDraft(ctx, &tdb)
	if err != nil {
		return ctrl.Result{}, err
	}

	// A failure to read the inventory from the cache is transient: back off
	// rather than report it as a property of the database.
	inv := &privacyv1alpha1.DataInventory{}
	if err := r.Get(ctx, types.NamespacedName{Namespace: tdb.Namespace, Name: tdb.Spec.InventoryRef.Name}, inv); err != nil {
		if !apierrors.IsNotFound(err) {
			return ctrl.Result{}, err
		}
		inv = nil
	}

	before := tdb.DeepCopy()
	obs := r.observe(ctx, key, &tdb, inv, current)
	if obs.connected() && obs.auditResult != nil && (obs.auditResult.Intact || obs.auditResult.Behind) {
		obs.restore = r.checkRestore(ctx, obs.pool, &tdb, inv, obs)
	}
	v := applyTenantStatus(&tdb, obs, metav1.NewTime(r.Clock.Now()))
	r.recordTransitions(before, &tdb)
	if err := r.Status().Patch(ctx, &tdb, client.MergeFrom(before)); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	for _, msg := range obs.ignoredKeys {
		r.Recorder.Eventf(&tdb, nil, corev1.EventTypeWarning, privacyv1alpha1.ReasonSecretKeysIgnored, "ReadSecret", "%s", msg)
	}
	observeTenant(&tdb)
	if obs.draftErr != nil {
		r.Recorder.Eventf(&tdb, nil, corev1.EventTypeWarning, privacyv1alpha1.ReasonDraftFailed, "DraftInventory",
			"cannot draft a DataInventory: %s", safeDBError(obs.draftErr))
	}
	if err := r.syncDraft(ctx, &tdb, current, obs.draft); err != nil {
		return ctrl.Result{}, err
	}
	ready := meta.FindStatusCondition(tdb.Status.Conditions, privacyv1alpha1.ConditionReady)
	log.V(1).Info("checked tenant database", "ready", ready.Status, "reason", ready.Reason)

	switch v {
	case verdictReady:
		return ctrl.Result{RequeueAfter: r.ResyncInterval}, nil
	case verdictStalled:
		// A user must fix something; the watches on the Secret and the
		// inventory bring the object back, and a slow resync notices fixes
		// made in the database itself.
		return ctrl.Result{RequeueAfter: r.ResyncInterval}, nil
	default:
		return ctrl.Result{RequeueAfter: r.RetryInterval}, nil
	}
}

// observe runs the checks in order, stopping where one cannot go on.
// inv is nil when the DataInventory does not exist; current is the draft
// ConfigMap as it is.
func (r *TenantDatabaseReconciler) observe(ctx context.Context, key string, tdb *privacyv1alpha1.TenantDatabase,
	inv *privacyv1alpha1.DataInventory, current draftState) *tenantObservation {
	o := &tenantObservation{secretName: tdb.Spec.Connection.SecretRef.Name, secrets: connectionSecrets(tdb),
		inventoryName: tdb.Spec.InventoryRef.Name}
	if inv != nil {
		o.inventoryFound, o.inventoryGen = true, inv.Generation
	}

	cfg, missing, err := connectionConfig(ctx, r.APIReader, tdb)
	if err != nil {
		o.missingSecret, o.secretErr = missing, err
		if missing != "" {
			o.secretErr = nil
		}
		r.Pools.Close(key)
		return o
	}
	o.sslMode = cfg.SSLMode
	o.ignoredKeys = r.newlyIgnored(key, tdb, cfg)
	pool, err := r.Pools.Get(ctx, key, cfg)
	if err != nil {
		o.connErr = tenantdb.Classify(err)
		return o
	}
	o.pool = pool
	if o.serverVersion, err = tenantdb.Ping(ctx, pool); err != nil {
		o.connErr = tenantdb.Classify(err)
		return o
	}
	var applied int
	if o.schemaVersion, applied, err = tenantdb.Migrate(ctx, pool); err != nil {
		o.migrateErr = err
		return o
	}
	if applied > 0 {
		if err := r.auditMigration(ctx, pool, tdb, applied); err != nil {
			o.migrateErr = err
			return o
		}
	}

	expect := audit.Head{}
	if h := tdb.Status.AuditHead; h != nil {
		expect = audit.Head{ID: h.ID, Hash: h.Hash}
	}
	res, err := audit.Verify(ctx, pool, expect)
	if err != nil {
		o.auditErr = err
	} else {
		o.auditResult = &res
	}

	if inv == nil && !draftWanted(tdb) {
		return o
	}
	cat, err := tenantdb.ReadCatalog(ctx, pool)
	if err != nil {
		o.catalogErr = err
		return o
	}
	c := r.classified.classify(ctx, key, pool, cat, r.Clock.Now(), r.sampleInterval(), r.ResyncInterval, draftWanted(tdb))
	if !c.sampledAt.IsZero() {
		o.sampledAt = &metav1.Time{Time: c.sampledAt}
	}
	o.samplingNote = c.samplingNote()
	if draftWanted(tdb) {
		o.draft, o.draftErr = makeDraft(ctx, pool, tdb, cat, c, current)
	}
	if inv == nil {
		return o
	}
	if _, problems := inventory.CheckGraph(&inv.Spec); len(problems) > 0 {
		o.inventoryIssues = problems
	}
	// Keys and relation columns the inventory leaves out come from the
	// catalog, as the planners read them.
	spec, _ := inventory.Resolve(&inv.Spec, cat)
	o.inventoryIssues = append(o.inventoryIssues, inventory.Validate(spec, cat)...)
	o.keyNotes = inventory.KeyNotes(spec, cat)
	o.uncovered = inventory.UncoveredFindings(spec, c.findings)
	o.unmapped = inventory.UnmappedReferences(spec, cat)
	o.unindexed = inventory.UnindexedLookups(spec, cat, 0)
	trialCtx, cancelTrial := context.WithTimeout(ctx, trialTimeout)
	defer cancelTrial()
	refused, err := inventory.TrialMasking(trialCtx, pool, spec, cat)
	if err != nil {
		// A timeout or a lock held by the application says nothing of the
		// inventory: the columns are tried again at the next check.
		logf.FromContext(ctx).Info("could not try every constrained column's masking", "reason", tenantdb.SafeError(err))
	}
	o.inventoryIssues = append(o.inventoryIssues, refused...)
	keepRowSecurity(ctx, pool, tdb, inv, cat, o)
	return o
}

// newlyIgnored says which keys of the TenantDatabase's Secrets Lethe
// ignores, once per change of the connection: one message per Secret,
// naming keys, never values.
func (r *TenantDatabaseReconciler) newlyIgnored(key string, tdb *privacyv1alpha1.TenantDatabase, cfg *tenantdb.Config) []string {
	if len(cfg.IgnoredKeys) == 0 && len(cfg.IgnoredTLSKeys) == 0 {
		r.ignoredWarned.Delete(key)
		return nil
	}
	if last, ok := r.ignoredWarned.Load(key); ok && last.(string) == cfg.Fingerprint {
		return nil
	}
	r.ignoredWarned.Store(key, cfg.Fingerprint)
	var msgs []string
	for _, s := range []struct {
		keys []string
		in   tenantdb.Origin
	}{{cfg.IgnoredKeys, tenantdb.InConnectionSecret}, {cfg.IgnoredTLSKeys, tenantdb.InTLSSecret}} {
		if len(s.keys) > 0 {
			msgs = append(msgs, fmt.Sprintf("secret %s has keys Lethe does not read, ignored: %s (a misspelt key is ignored too: check them)",
				secretOf(tdb, s.in), strings.Join(s.keys, ", ")))
		}
	}
	return msgs
}

// trialTimeout bounds the trial updates of one check.
const trialTimeout = 10 * time.Second

func (r *TenantDatabaseReconciler) sampleInterval() time.Duration {
	if r.SampleInterval > 0 {
		return r.SampleInterval
	}
	return DefaultSampleInterval
}

// auditMigration records, in the audit log, that the operator migrated its
// schema.
func (r *TenantDatabaseReconciler) auditMigration(ctx context.Context, pool *pgxpool.Pool, tdb *privacyv1alpha1.TenantDatabase, applied int) error {
	return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		_, err := audit.Append(ctx, tx, audit.Record{
			Time:   r.Clock.Now(),
			Actor:  operatorActor,
			Object: audit.Object{Kind: "TenantDatabase", Namespace: tdb.Namespace, Name: tdb.Name, UID: string(tdb.UID)},
			Action: "MigrateSchema",
			Rows:   int64(applied),
		})
		return err
	})
}

// recordTransitions emits an event when Ready changes, or when it stays
// False for a new reason, and a warning when a warning condition turns True
// or says something new.
func (r *TenantDatabaseReconciler) recordTransitions(before, after *privacyv1alpha1.TenantDatabase) {
	recordReadyTransition(r.Recorder, before.Status.Conditions, after)
	r.recordRestore(before, after)
	for _, w := range []struct{ typ, action string }{
		{privacyv1alpha1.ConditionUncoveredPersonalData, "CheckCoverage"},
		{privacyv1alpha1.ConditionUnmappedReferences, "CheckReferences"},
		{privacyv1alpha1.ConditionMissingIndexes, "CheckIndexes"},
	} {
		was := meta.FindStatusCondition(before.Status.Conditions, w.typ)
		now := meta.FindStatusCondition(after.Status.Conditions, w.typ)
		if now != nil && now.Status == metav1.ConditionTrue && (was == nil || was.Status != metav1.ConditionTrue || was.Message != now.Message) {
			r.Recorder.Eventf(after, nil, corev1.EventTypeWarning, now.Reason, w.action, "%s", now.Message)
		}
	}
}

// recordReadyTransition emits the event for a change of the Ready condition.
func recordReadyTransition(rec events.EventRecorder, before []metav1.Condition, obj client.Object) {
	conds := conditionsOf(obj)
	was := meta.FindStatusCondition(before, privacyv1alpha1.ConditionReady)
	now := meta.FindStatusCondition(conds, privacyv1alpha1.ConditionReady)
	if now == nil || (was != nil && was.Status == now.Status && was.Reason == now.Reason) {
		return
	}
	typ := corev1.EventTypeNormal
	if now.Status != metav1.ConditionTrue {
		typ = corev1.EventTypeWarning
	}
	rec.Eventf(obj, nil, typ, now.Reason, "Reconcile", "%s", now.Message)
}

func conditionsOf(obj client.Object) []metav1.Condition {
	switch o := obj.(type) {
	case *privacyv1alpha1.TenantDatabase:
		return o.Status.Conditions
	case *privacyv1alpha1.DataInventory:
		return o.Status.Conditions
	}
	return nil
}

// SetupWithManager registers the controller, its field indexes and its
// watches on Secrets (metadata only) and DataInventories.
func (r *TenantDatabaseReconciler) SetupWithManager(ctx context.Context, mgr ctrl.Manager) error {
	poolMetrics.pools.Store(r.Pools)
	idx := mgr.GetFieldIndexer()
	if err := idx.IndexField(ctx, &privacyv1alpha1.TenantDatabase{}, indexSecretRef, func(o client.Object) []string {
		return connectionSecretNames(o.(*privacyv1alpha1.TenantDatabase))
	}); err != nil {
		return err
	}
	if err := idx.IndexField(ctx, &privacyv1alpha1.TenantDatabase{}, indexInventoryRef, func(o client.Object) []string {
		return []string{o.(*privacyv1alpha1.TenantDatabase).Spec.InventoryRef.Name}
	}); err != nil {
		return err
	}
	return ctrl.NewControllerManagedBy(mgr).
		For(&privacyv1alpha1.TenantDatabase{}, builder.WithPredicates(predicate.Or(generationOrLabelsChanged(),
			annotationChanged(privacyv1alpha1.AnnotationDraftInventory), statusWiped()))).
		// The draft ConfigMaps, by metadata only: deleting one drafts it
		// again.
		Owns(&corev1.ConfigMap{}, builder.OnlyMetadata).
		Watches(&corev1.Secret{}, handler.EnqueueRequestsFromMapFunc(r.usersOf(indexSecretRef)), builder.OnlyMetadata).
		Watches(&privacyv1alpha1.DataInventory{}, handler.EnqueueRequestsFromMapFunc(r.usersOf(indexInventoryRef))).
		WithOptions(controller.Options{MaxConcurrentReconciles: r.MaxConcurrentReconciles}).
		Named("tenantdatabase").
		Complete(r)
}

// usersOf maps a Secret or DataInventory to the TenantDatabases that name it.
func (r *TenantDatabaseReconciler) usersOf(index string) handler.MapFunc {
	return func(ctx context.Context, o client.Object) []reconcile.Request {
		var list privacyv1alpha1.TenantDatabaseList
		if err := r.List(ctx, &list, client.InNamespace(o.GetNamespace()), client.MatchingFields{index: o.GetName()}); err != nil {
			logf.FromContext(ctx).Error(err, "cannot list tenant databases", "index", index)
			return nil
		}
		reqs := make([]reconcile.Request, 0, len(list.Items))
		for _, t := range list.Items {
			reqs = append(reqs, reconcile.Request{NamespacedName: types.NamespacedName{Namespace: t.Namespace, Name: t.Name}})
		}
		return reqs
	}
}
