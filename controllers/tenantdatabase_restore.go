package controllers

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/jackc/pgx/v5/pgxpool"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	privacyv1alpha1 "github.com/lethe-dev/lethe/api/v1alpha1"
	"github.com/lethe-dev/lethe/internal/audit"
	"github.com/lethe-dev/lethe/internal/dsr"
	"github.com/lethe-dev/lethe/internal/tenantdb"
)

// The blind-index key: one per namespace, in a Secret the manager creates
// on first use, as it does the digest salt. Blind indexes of erasure
// tombstones are HMACs keyed with it.
const (
	blindKeySecretName = "lethe-blind-index-key" // #nosec G101 -- the name of a Secret, not a credential
	blindKeyKey        = "key"
)

// maxTombstoneSecret bounds the tombstone Secret below the API server's
// 1 MiB, leaving room for its metadata.
const maxTombstoneSecret = 900 << 10

// tombstoneSecretName is the Secret, controlled by the TenantDatabase,
// where the manager keeps the erasure tombstones of its database, out of
// reach of a restore of the database: one key per request uid, its
// tombstone as JSON (blind indexes, never an identifier).
func tombstoneSecretName(tdb *privacyv1alpha1.TenantDatabase) string {
	return tdb.Name + "-tombstones"
}

// keptTombstones reads the tombstones the manager keeps for a database.
func keptTombstones(ctx context.Context, reader client.Reader, tdb *privacyv1alpha1.TenantDatabase) (map[string]*dsr.Tombstone, error) {
	var s corev1.Secret
	if err := reader.Get(ctx, types.NamespacedName{Namespace: tdb.Namespace, Name: tombstoneSecretName(tdb)}, &s); err != nil {
		if apierrors.IsNotFound(err) {
			return map[string]*dsr.Tombstone{}, nil
		}
		return nil, err
	}
	if !metav1.IsControlledBy(&s, tdb) {
		return nil, fmt.Errorf("secret %s does not belong to TenantDatabase %s: rename or delete it, Lethe keeps erasure tombstones there",
			s.Name, tdb.Name)
	}
	out := make(map[string]*dsr.Tombstone, len(s.Data))
	for uid, data := range s.Data {
		var t dsr.Tombstone
		if err := json.Unmarshal(data, &t); err != nil {
			return nil, fmt.Errorf("secret %s, key %s: not a tombstone: %w", s.Name, uid, err)
		}
		out[uid] = &t
	}
	return out, nil
}

// keepTombstones adds tombstones to the TenantDatabase's tombstone Secret,
// creating it on first use; a tombstone kept before is left as it is.
func keepTombstones(ctx context.Context, c client.Client, reader client.Reader, scheme *runtime.Scheme,
	tdb *privacyv1alpha1.TenantDatabase, add []*dsr.Tombstone) error {
	if len(add) == 0 {
		return nil
	}
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		var s corev1.Secret
		err := reader.Get(ctx, types.NamespacedName{Namespace: tdb.Namespace, Name: tombstoneSecretName(tdb)}, &s)
		create := apierrors.IsNotFound(err)
		switch {
		case create:
			s = corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: tdb.Namespace, Name: tombstoneSecretName(tdb),
				Labels: map[string]string{"app.kubernetes.io/managed-by": "lethe", "privacy.lethe.dev/tenant-database": tdb.Name}}}
			if err := controllerutil.SetControllerReference(tdb, &s, scheme); err != nil {
				return err
			}
		case err != nil:
			return err
		case !metav1.IsControlledBy(&s, tdb):
			return fmt.Errorf("secret %s does not belong to TenantDatabase %s: rename or delete it, Lethe keeps erasure tombstones there",
				s.Name, tdb.Name)
		}
		if s.Data == nil {
			s.Data = map[string][]byte{}
		}
		changed := false
		size := 0
		for _, v := range s.Data {
			size += len(v)
		}
		for _, t := range add {
			if _, ok := s.Data[t.RequestUID]; ok {
				continue
			}
			data, err := json.Marshal(t)
			if err != nil {
				return err
			}
			if size += len(data); size > maxTombstoneSecret {
				return fmt.Errorf("secret %s holds %d bytes of erasure tombstones, the most it can: a tombstone of request %s cannot be kept",
					s.Name, size-len(data), t.RequestName)
			}
			s.Data[t.RequestUID] = data
			changed = true
		}
		switch {
		case create:
			return c.Create(ctx, &s)
		case changed:
			return c.Update(ctx, &s)
		}
		return nil
	})
}

// restoreObservation is what a check found of a restore: whether the audit
// log is behind the head status recorded, how many kept tombstones the
// database lacks, and, once RestoreDetected was raised, what re-applying
// them did.
type restoreObservation struct {
	behind  string // the audit verification's problem, when behind
	seen    *privacyv1alpha1.AuditHead
	head    audit.Head
	kept    int
	missing int
	// raised says RestoreDetected was True before this check: the
	// re-application ran.
	raised    bool
	reapplied int
	changed   int64
	err       error
}

// checkRestore compares the database with what Lethe saw of it: the audit
// head status recorded, and the tombstones kept in the tombstone Secret
// (new tombstones of the database are copied there first). Once
// RestoreDetected is True, it re-applies every kept tombstone the database
// lacks, oldest first, through the erasure's path, each written back into
// the database as its run completes.
func (r *TenantDatabaseReconciler) checkRestore(ctx context.Context, pool *pgxpool.Pool, tdb *privacyv1alpha1.TenantDatabase,
	inv *privacyv1alpha1.DataInventory, o *tenantObservation) *restoreObservation {
	ro := &restoreObservation{seen: tdb.Status.AuditHead, head: o.auditResult.Head,
		raised: meta.IsStatusConditionTrue(tdb.Status.Conditions, privacyv1alpha1.ConditionRestoreDetected)}
	if o.auditResult.Behind {
		ro.behind = o.auditResult.Problem
	}
	inDB, err := dsr.ReadTombstones(ctx, pool)
	if err != nil {
		ro.err = err
		return ro
	}
	kept, err := keptTombstones(ctx, r.APIReader, tdb)
	if err != nil {
		ro.err = err
		return ro
	}
	var add, missing []*dsr.Tombstone
	for uid, t := range inDB {
		if kept[uid] == nil {
			add = append(add, t)
		}
	}
	for uid, t := range kept {
		if inDB[uid] == nil {
			missing = append(missing, t)
		}
	}
	if err := keepTombstones(ctx, r.Client, r.APIReader, r.Scheme(), tdb, add); err != nil {
		ro.err = err
		return ro
	}
	ro.kept, ro.missing = len(kept)+len(add), len(missing)
	if !ro.raised || len(missing) == 0 {
		return ro
	}
	ro.err = r.reapply(ctx, pool, tdb, inv, o, missing, ro)
	return ro
}

// reapply erases again the subjects of the tombstones the database lacks.
func (r *TenantDatabaseReconciler) reapply(ctx context.Context, pool *pgxpool.Pool, tdb *privacyv1alpha1.TenantDatabase,
	inv *privacyv1alpha1.DataInventory, o *tenantObservation, missing []*dsr.Tombstone, ro *restoreObservation) error {
	switch {
	case inv == nil:
		return fmt.Errorf("DataInventory %s not found in namespace %s", tdb.Spec.InventoryRef.Name, tdb.Namespace)
	case o.catalogErr != nil || len(o.inventoryIssues) > 0:
		return fmt.Errorf("DataInventory %s does not match the database (condition InventoryValid)", inv.Name)
	}
	key, err := readOrCreateKey(ctx, r.Client, r.APIReader, tdb.Namespace, blindKeySecretName, blindKeyKey)
	if err != nil {
		return err
	}
	salt, err := readOrCreateSalt(ctx, r.Client, r.APIReader, tdb.Namespace)
	if err != nil {
		return err
	}
	hashKeys, err := readHashKeys(ctx, r.APIReader, tdb.Namespace, inventoryHashKeys(&inv.Spec))
	if err != nil {
		return err
	}
	byUID := make(map[string]*dsr.Tombstone, len(missing))
	for _, t := range missing {
		byUID[t.RequestUID] = t
	}
	object := audit.Object{Kind: "TenantDatabase", Namespace: tdb.Namespace, Name: tdb.Name, UID: string(tdb.UID)}
	for _, t := range dsr.SortedTombstones(byUID) {
		out, err := dsr.ReapplyErasure(ctx, pool, &dsr.Reapply{Tombstone: *t, Key: key, Actor: operatorActor, Object: object,
			Tenant: tdb.Spec.Tenant, Inventory: &inv.Spec, HashKeys: hashKeys, Salt: salt, Clock: r.Clock.Now})
		if err != nil {
			return fmt.Errorf("request %s (uid %s): %s", t.RequestName, t.RequestUID, tenantdb.SafeError(err))
		}
		ro.reapplied++
		ro.changed += changed(out)
	}
	return nil
}

// setTenantRestoreDetected raises RestoreDetected when the database is
// behind what Lethe saw, keeps it while the erasures are re-applied, and
// clears it once they are.
func setTenantRestoreDetected(tdb *privacyv1alpha1.TenantDatabase, o *tenantObservation, fail func(verdict, string, string)) {
	st, gen := &tdb.Status, tdb.Generation
	ro := o.restore
	if ro == nil {
		return
	}
	set := func(status metav1.ConditionStatus, reason, message string) {
		setCondition(&st.Conditions, gen, privacyv1alpha1.ConditionRestoreDetected, status, reason, message)
		if status == metav1.ConditionTrue {
			fail(verdictWaiting, reason, message)
		}
	}
	found := func() string {
		var parts []string
		if ro.behind != "" {
			seen := "none"
			if ro.seen != nil {
				seen = fmt.Sprintf("record %d (chain hash %.16s…)", ro.seen.ID, ro.seen.Hash)
			}
			parts = append(parts, fmt.Sprintf("the audit log ends at record %d, and the last record seen was %s: %s",
				ro.head.ID, seen, ro.behind))
		}
		if ro.missing > 0 {
			parts = append(parts, fmt.Sprintf("the database lacks %d of the %d erasure tombstones kept in secret %s",
				ro.missing, ro.kept, tombstoneSecretName(tdb)))
		}
		return listUpTo(parts, 2, "; ")
	}
	switch {
	case ro.err != nil && ro.raised:
		set(metav1.ConditionTrue, privacyv1alpha1.ReasonReapplyFailed,
			fmt.Sprintf("re-applying %d tombstoned erasures failed, tried again: %s", ro.missing, safeDBError(ro.err)))
	case ro.err != nil:
		msg := "cannot compare the database's erasure tombstones with those kept: " + safeDBError(ro.err)
		if c := meta.FindStatusCondition(st.Conditions, privacyv1alpha1.ConditionRestoreDetected); c == nil {
			setCondition(&st.Conditions, gen, privacyv1alpha1.ConditionRestoreDetected, metav1.ConditionUnknown, privacyv1alpha1.ReasonProgressing, msg)
		}
		fail(verdictWaiting, privacyv1alpha1.ReasonProgressing, msg)
	case !ro.raised && ro.behind != "":
		set(metav1.ConditionTrue, privacyv1alpha1.ReasonAuditHeadBehind,
			"the database was restored from a backup or failed over to a stale replica: "+found()+"; every tombstoned erasure it lacks is applied again")
	case !ro.raised && ro.missing > 0:
		set(metav1.ConditionTrue, privacyv1alpha1.ReasonTombstonesMissing,
			"the database lost completed erasures, as after a restore from a backup: "+found()+"; they are applied again")
	case ro.raised:
		set(metav1.ConditionFalse, privacyv1alpha1.ReasonErasuresReapplied,
			fmt.Sprintf("after the restore, %d tombstoned erasures were applied again (%d rows changed); the database holds all %d erasure tombstones kept",
				ro.reapplied, ro.changed, ro.kept))
	case meta.IsStatusConditionFalse(st.Conditions, privacyv1alpha1.ConditionRestoreDetected) &&
		meta.FindStatusCondition(st.Conditions, privacyv1alpha1.ConditionRestoreDetected).Reason == privacyv1alpha1.ReasonErasuresReapplied:
		// What the last re-application did stays said until the next.
	default:
		set(metav1.ConditionFalse, privacyv1alpha1.ReasonNoRestoreDetected,
			fmt.Sprintf("the audit log reaches the last record seen, and the database holds all %d erasure tombstones kept in secret %s",
				ro.kept, tombstoneSecretName(tdb)))
	}
}

// recordRestore emits the Warning events of RestoreDetected: when it is
// raised, and when the erasures were applied again.
func (r *TenantDatabaseReconciler) recordRestore(before, after *privacyv1alpha1.TenantDatabase) {
	was := meta.FindStatusCondition(before.Status.Conditions, privacyv1alpha1.ConditionRestoreDetected)
	now := meta.FindStatusCondition(after.Status.Conditions, privacyv1alpha1.ConditionRestoreDetected)
	if now == nil || (was != nil && was.Reason == now.Reason && was.Status == now.Status) {
		return
	}
	switch now.Reason {
	case privacyv1alpha1.ReasonAuditHeadBehind, privacyv1alpha1.ReasonTombstonesMissing:
		r.Recorder.Eventf(after, nil, corev1.EventTypeWarning, privacyv1alpha1.ConditionRestoreDetected, "DetectRestore", "%s", now.Message)
	case privacyv1alpha1.ReasonErasuresReapplied:
		r.Recorder.Eventf(after, nil, corev1.EventTypeWarning, privacyv1alpha1.ReasonErasuresReapplied, "ReapplyErasures", "%s", now.Message)
	}
}
