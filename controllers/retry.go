package controllers

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"sort"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	privacyv1alpha1 "github.com/lethe-dev/lethe/api/v1alpha1"
	"github.com/lethe-dev/lethe/internal/dsr"
	"github.com/lethe-dev/lethe/internal/engine"
	"github.com/lethe-dev/lethe/internal/inventory"
	"github.com/lethe-dev/lethe/internal/tenantdb"
)

// maxRetryWait caps the backoff of transient errors.
const maxRetryWait = 5 * time.Minute

// retries counts, per object, the attempts that failed on a transient
// error since its last success: the wait before the next doubles from the
// base interval up to maxRetryWait, and Reconciling says the attempt.
type retries struct{ m sync.Map }

// next counts a failed attempt and returns its number and the wait before
// the next.
func (r *retries) next(uid types.UID, base time.Duration) (int, time.Duration) {
	n := 1
	if v, ok := r.m.Load(uid); ok {
		n = v.(int) + 1
	}
	r.m.Store(uid, n)
	wait := base
	for i := 1; i < n && wait < maxRetryWait; i++ {
		wait *= 2
	}
	return n, min(wait, maxRetryWait)
}

// reset forgets the failed attempts of an object that succeeded.
func (r *retries) reset(uid types.UID) { r.m.Delete(uid) }

// stalls remembers, per object stalled on an error that waiting cannot fix,
// what its targets looked like then: it is tried again only when its spec,
// an inventory or a TenantDatabase of its targets has changed since.
type stalls struct{ m sync.Map }

func (s *stalls) remember(uid types.UID, fingerprint string) { s.m.Store(uid, fingerprint) }

// unchanged says the object stalled and nothing it depends on changed.
func (s *stalls) unchanged(uid types.UID, fingerprint string) bool {
	v, ok := s.m.Load(uid)
	return ok && v.(string) == fingerprint
}

// fingerprint sums an object's generation and annotations (annotating it,
// for example `kubectl annotate ... privacy.lethe.dev/retry=1`, asks for a
// new attempt after a fix made in the database itself), its targets (each
// TenantDatabase's name and generation, and its inventory's) and the
// Secrets it and their inventories name (secretVersions).
func fingerprint(ctx context.Context, c client.Reader, obj client.Object, tdbs []privacyv1alpha1.TenantDatabase) string {
	keys := make([]string, 0, len(obj.GetAnnotations()))
	for k, v := range obj.GetAnnotations() {
		keys = append(keys, k+"="+v)
	}
	sort.Strings(keys)
	parts := []string{fmt.Sprint(obj.GetGeneration(), keys)}
	var invs []*privacyv1alpha1.DataInventory
	for _, t := range tdbs {
		part := fmt.Sprintf("%s/%d", t.Name, t.Generation)
		var inv privacyv1alpha1.DataInventory
		if err := c.Get(ctx, types.NamespacedName{Namespace: t.Namespace, Name: t.Spec.InventoryRef.Name}, &inv); err == nil {
			part += fmt.Sprintf("/%s/%d", inv.Name, inv.Generation)
			invs = append(invs, &inv)
		}
		parts = append(parts, part)
	}
	parts = append(parts, secretVersions(ctx, c, obj, invs)...)
	sort.Strings(parts[1:])
	sum := sha256.New()
	for _, p := range parts {
		sum.Write([]byte(p + "\n"))
	}
	return hex.EncodeToString(sum.Sum(nil)[:8])
}

// runError says what an error of the work in a target means for the
// object: a request error to report, stalled when waiting cannot fix it
// (a foreign key that refuses a delete, an inventory that does not fit the
// database, a constraint, a missing column or privilege: the message names
// the table, column or constraint), or nil for a transient error, retried
// with backoff.
func runError(target string, err error) *requestError {
	if re := asRequestError(err); re != nil {
		return re
	}
	var (
		locked  *engine.RowsLockedError
		blocked *dsr.DeleteBlockedError
		inv     *dsr.InventoryError
		missing *dsr.MissingIndexError
		subject *inventory.UnknownSubjectError
		rectify *dsr.RectificationError
	)
	switch {
	case errors.As(err, &locked):
		return waiting(privacyv1alpha1.ReasonRowsLocked, "TenantDatabase %s: %s", target, locked.Error())
	case errors.As(err, &blocked):
		return stalled(privacyv1alpha1.ReasonDeleteBlocked, "TenantDatabase %s: %s", target, blocked.Error())
	case errors.As(err, &inv):
		return stalled(privacyv1alpha1.ReasonInventoryInvalid, "TenantDatabase %s: %s", target, inv.Error())
	case errors.As(err, &subject):
		return stalled(privacyv1alpha1.ReasonUnknownSubjectType, "TenantDatabase %s: %s", target, subject.Error())
	case errors.As(err, &rectify):
		return stalled(privacyv1alpha1.ReasonRectificationInvalid, "TenantDatabase %s: %s", target, rectify.Error())
	case errors.As(err, &missing):
		return stalled(privacyv1alpha1.ReasonMissingIndex, "TenantDatabase %s: %s", target, missing.Error())
	case engine.Concurrent(err):
		// A batch a killed manager left in flight committed first; this
		// attempt's rolled back, and the next goes on from the ledger.
		return nil
	case tenantdb.Permanent(err):
		return stalled(privacyv1alpha1.ReasonDatabaseRefused, "TenantDatabase %s: the database refused the change, and will again until the inventory, the spec or the schema changes: %s",
			target, tenantdb.SafeError(err))
	}
	return nil
}

// targeting maps a TenantDatabase, or a DataInventory (through the
// TenantDatabases that use it), to the objects of one kind in its
// namespace whose targets select it: list returns each object's key and
// targets.
func targeting(c client.Client, list func(ctx context.Context, namespace string) (map[types.NamespacedName]privacyv1alpha1.Targets, error)) handler.MapFunc {
	return func(ctx context.Context, o client.Object) []reconcile.Request {
		var tdbs []privacyv1alpha1.TenantDatabase
		switch obj := o.(type) {
		case *privacyv1alpha1.TenantDatabase:
			tdbs = []privacyv1alpha1.TenantDatabase{*obj}
		case *privacyv1alpha1.DataInventory:
			var l privacyv1alpha1.TenantDatabaseList
			if err := c.List(ctx, &l, client.InNamespace(obj.Namespace), client.MatchingFields{indexInventoryRef: obj.Name}); err != nil {
				logf.FromContext(ctx).Error(err, "cannot list tenant databases")
				return nil
			}
			tdbs = l.Items
		}
		if len(tdbs) == 0 {
			return nil
		}
		objs, err := list(ctx, o.GetNamespace())
		if err != nil {
			logf.FromContext(ctx).Error(err, "cannot list the objects that target tenant databases")
			return nil
		}
		var out []reconcile.Request
		for key, t := range objs {
			if slices.ContainsFunc(tdbs, func(tdb privacyv1alpha1.TenantDatabase) bool { return t.Selects(&tdb) }) {
				out = append(out, reconcile.Request{NamespacedName: key})
			}
		}
		return out
	}
}

// maxEffects bounds the effects listed per rule or entity in status.
const maxEffects = 32

// foreignKeyEffects are an executor's effects as status shows them, the
// largest first, at most maxEffects, with how many were left out.
func foreignKeyEffects(fx engine.Effects) ([]privacyv1alpha1.ForeignKeyEffect, int32) {
	out := make([]privacyv1alpha1.ForeignKeyEffect, 0, len(fx))
	for _, e := range fx {
		out = append(out, privacyv1alpha1.ForeignKeyEffect{Table: e.Table, Constraint: truncateTo(e.Constraint, 512), Action: e.Action, Rows: e.Rows})
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Rows > out[j].Rows })
	omitted := int32(0)
	if len(out) > maxEffects {
		omitted = int32(len(out) - maxEffects) // #nosec G115 -- bounded by the plan's foreign keys
		out = out[:maxEffects]
	}
	if len(out) == 0 {
		return nil, 0
	}
	return out, omitted
}

// maxSubjectRows bounds a rule's subjectRows in status.
const maxSubjectRows = 64

// subjectRows are the rows a rule of scope Subject changed in its
// subjects' other entities, per entity and action, for status.
func subjectRows(graph []engine.StepResult) []privacyv1alpha1.RetentionEntityRows {
	var out []privacyv1alpha1.RetentionEntityRows
	for _, g := range graph {
		if len(out) == maxSubjectRows {
			break
		}
		out = append(out, privacyv1alpha1.RetentionEntityRows{Entity: truncateTo(g.Entity, 63), Action: g.Action, Rows: g.Changed})
	}
	return out
}
