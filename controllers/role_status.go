package controllers

import (
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	privacyv1alpha1 "github.com/lethe-dev/lethe/api/v1alpha1"
	"github.com/lethe-dev/lethe/internal/rbac"
	"github.com/lethe-dev/lethe/internal/rolesync"
)

// targetState is where a role stands in one tenant after a reconciliation.
type targetState int

const (
	targetWaiting targetState = iota
	targetStalled
	targetSynced
	targetRemoved
)

// targetObservation is what one reconciliation did in one tenant. Its
// messages name tenants, tables, permissions and licenses, never a member.
type targetObservation struct {
	name, tenant    string
	removing        bool
	state           targetState
	reason, message string
	outcome         rolesync.Outcome
	changes         []rolesync.TableChange
	seats           []rbac.SeatCount
}

func (t targetObservation) wait(reason, format string, args ...any) targetObservation {
	t.state, t.reason, t.message = targetWaiting, reason, fmt.Sprintf(format, args...)
	return t
}

func (t targetObservation) stall(reason, format string, args ...any) targetObservation {
	t.state, t.reason, t.message = targetStalled, reason, fmt.Sprintf(format, args...)
	return t
}

// roleObservation is what one reconciliation of a Role found and did.
type roleObservation struct {
	deleting          bool
	deletionRefused   bool
	removedEverywhere bool
	catalogMissing    bool
	catalog           *rbac.Catalog
	catalogGeneration int64
	catalogProblems   []string
	resolution        *rbac.Resolution
	selectorInvalid   string
	tooManyTargets    int
	targets           []targetObservation
	err               error
}

// guards are the catalog's seat and manager rules; none without a catalog.
func (o *roleObservation) guards() rolesync.Guards {
	if o.catalog == nil {
		return rolesync.Guards{}
	}
	return rolesync.GuardsOf(o.catalog)
}

// applyRoleStatus computes a Role's status from an observation and returns
// the verdict.
func applyRoleStatus(role *privacyv1alpha1.Role, o *roleObservation, now metav1.Time) verdict {
	st := &role.Status
	st.MemberCount = int32(len(role.Spec.Members)) // #nosec G115 -- bounded by the CRD's MaxItems
	if o.resolution != nil {
		setRoleResolution(st, o.resolution)
		st.CatalogGeneration = o.catalogGeneration
	}
	setRoleDeletionRefused(role, o)
	setRoleTargets(st, o.targets, now)

	v, reason, message := roleVerdict(role, o)
	setSummary(&st.Conditions, &st.ObservedGeneration, role.Generation, v, reason, message)
	return v
}

func setRoleResolution(st *privacyv1alpha1.RoleStatus, res *rbac.Resolution) {
	st.EffectivePermissions = res.Effective
	st.PermissionCount = int32(len(res.Effective)) // #nosec G115 -- bounded by the catalog's MaxItems
	st.AddedByDependency = nil
	for _, a := range res.Added {
		st.AddedByDependency = append(st.AddedByDependency, privacyv1alpha1.AddedPermission{Permission: a.Permission, RequiredBy: a.RequiredBy})
	}
	scopes := func(in []rbac.Scope) []privacyv1alpha1.EffectiveScope {
		var out []privacyv1alpha1.EffectiveScope
		for _, s := range in {
			out = append(out, privacyv1alpha1.EffectiveScope{Name: s.Name, Scope: s.Scope, SpecificGroups: s.Groups, Source: s.Source})
		}
		return out
	}
	st.AreaScopes, st.FeatureScopes = scopes(res.Areas), scopes(res.Features)
}

func setRoleDeletionRefused(role *privacyv1alpha1.Role, o *roleObservation) {
	if !o.deletionRefused {
		meta.RemoveStatusCondition(&role.Status.Conditions, privacyv1alpha1.ConditionDeletionRefused)
		return
	}
	setCondition(&role.Status.Conditions, role.Generation, privacyv1alpha1.ConditionDeletionRefused, metav1.ConditionTrue,
		privacyv1alpha1.ReasonDefaultRole, fmt.Sprintf(
			"Role %s is the default role %s of PermissionCatalog %s and cannot be deleted: rename it with spec.displayName instead; "+
				"it can be deleted once the catalog no longer lists the default role", role.Name, role.Spec.Default, role.Spec.CatalogRef.Name))
}

// setRoleTargets merges this reconciliation's targets into status.targets.
// Targets not visited keep what was last known of them.
func setRoleTargets(st *privacyv1alpha1.RoleStatus, observed []targetObservation, now metav1.Time) {
	byName := map[string]privacyv1alpha1.RoleTargetStatus{}
	for _, t := range st.Targets {
		byName[t.Name] = t
	}
	for _, t := range observed {
		if t.state == targetRemoved {
			delete(byName, t.name)
			continue
		}
		s := byName[t.name]
		s.Name, s.Removing, s.Synced = t.name, t.removing, t.state == targetSynced
		if t.tenant != "" {
			s.Tenant = t.tenant
		}
		s.Reason, s.Message = "", ""
		if !s.Synced {
			s.Reason, s.Message = t.reason, truncateTo(t.message, 1024)
		}
		if t.seats != nil {
			s.Seats = nil
			for _, c := range t.seats {
				s.Seats = append(s.Seats, privacyv1alpha1.LicenseSeats{License: c.License,
					Used: clampInt32(c.After), Available: clampInt32(c.Available())})
			}
			s.LastSyncTime = &now
		}
		byName[t.name] = s
	}
	st.Targets = make([]privacyv1alpha1.RoleTargetStatus, 0, len(byName))
	synced, total := 0, 0
	for _, t := range byName {
		st.Targets = append(st.Targets, t)
		if !t.Removing {
			total++
			if t.Synced {
				synced++
			}
		}
	}
	sort.Slice(st.Targets, func(i, j int) bool { return st.Targets[i].Name < st.Targets[j].Name })
	st.Synced = fmt.Sprintf("%d/%d", synced, total)
}

// roleVerdict decides Ready, Reconciling and Stalled: problems of the
// catalog and the spec first, then the targets, stalled before waiting.
func roleVerdict(role *privacyv1alpha1.Role, o *roleObservation) (verdict, string, string) {
	cat := role.Spec.CatalogRef.Name
	switch {
	case o.err != nil:
		return verdictWaiting, privacyv1alpha1.ReasonRoleSyncFailed, o.err.Error()
	case o.catalogMissing && !o.deleting:
		return verdictWaiting, privacyv1alpha1.ReasonCatalogNotFound,
			fmt.Sprintf("PermissionCatalog %s not found in namespace %s", cat, role.Namespace)
	case len(o.catalogProblems) > 0 && !o.deleting:
		return verdictStalled, privacyv1alpha1.ReasonCatalogInvalid,
			fmt.Sprintf("PermissionCatalog %s is invalid: %s", cat, listUpTo(o.catalogProblems, 10, "; "))
	case o.deleting && !o.deletionRefused:
		return removalVerdict(o)
	case o.resolution != nil && len(o.resolution.Problems) > 0:
		msgs := make([]string, len(o.resolution.Problems))
		for i, p := range o.resolution.Problems {
			msgs[i] = p.Message
		}
		return verdictStalled, o.resolution.Problems[0].Reason,
			"not applied, every tenant keeps its previous state: " + listUpTo(msgs, 20, "; ")
	case o.selectorInvalid != "":
		return verdictStalled, privacyv1alpha1.ReasonTargetSelectorInvalid, o.selectorInvalid
	case o.tooManyTargets > 0:
		return verdictStalled, privacyv1alpha1.ReasonTooManyTargets, fmt.Sprintf(
			"spec.targets selects %d TenantDatabases; a Role tracks at most %d: narrow the targets or split the role", o.tooManyTargets, maxRoleTargets)
	}
	if v, reason, msg, ok := worstTarget(o.targets); ok {
		return v, reason, msg
	}
	added := 0
	if o.resolution != nil {
		added = len(o.resolution.Added)
	}
	return verdictReady, privacyv1alpha1.ReasonSucceeded, fmt.Sprintf(
		"synced into %s tenants: %d effective permissions (%d added by dependency), %d members",
		role.Status.Synced, role.Status.PermissionCount, added, role.Status.MemberCount)
}

// removalVerdict summarises removing a deleted role from its tenants.
func removalVerdict(o *roleObservation) (verdict, string, string) {
	if v, reason, msg, ok := worstTarget(o.targets); ok {
		return v, reason, "the Role is removed from its tenants before it goes: " + msg
	}
	return verdictWaiting, privacyv1alpha1.ReasonProgressing, "removed from every tenant"
}

// worstTarget is the verdict of the targets that are not in sync: stalled
// before waiting, naming up to five tenants.
func worstTarget(targets []targetObservation) (verdict, string, string, bool) {
	for _, want := range []targetState{targetStalled, targetWaiting} {
		var msgs []string
		reason := ""
		for _, t := range targets {
			if t.state != want {
				continue
			}
			if reason == "" {
				reason = t.reason
			}
			msgs = append(msgs, t.message)
		}
		if len(msgs) == 0 {
			continue
		}
		v := verdictWaiting
		if want == targetStalled {
			v = verdictStalled
		}
		return v, reason, listUpTo(msgs, 5, "; "), true
	}
	return verdictReady, "", "", false
}

// recordRoleEvents emits the events of one reconciliation: Ready changes,
// a refused deletion, one event for the tenants changed, one per tenant
// whose rows were changed by hand.
func (r *RoleReconciler) recordRoleEvents(before, after *privacyv1alpha1.Role, o *roleObservation) {
	was := meta.FindStatusCondition(before.Status.Conditions, privacyv1alpha1.ConditionReady)
	now := meta.FindStatusCondition(after.Status.Conditions, privacyv1alpha1.ConditionReady)
	if now != nil && (was == nil || was.Status != now.Status || was.Reason != now.Reason) {
		typ := corev1.EventTypeNormal
		if now.Status != metav1.ConditionTrue {
			typ = corev1.EventTypeWarning
		}
		r.Recorder.Eventf(after, nil, typ, now.Reason, "Reconcile", "%s", now.Message)
	}
	if o.deletionRefused && meta.FindStatusCondition(before.Status.Conditions, privacyv1alpha1.ConditionDeletionRefused) == nil {
		c := meta.FindStatusCondition(after.Status.Conditions, privacyv1alpha1.ConditionDeletionRefused)
		r.Recorder.Eventf(after, nil, corev1.EventTypeWarning, privacyv1alpha1.ReasonDefaultRole, "Delete", "%s", c.Message)
	}
	// Events of one reason about one object within minutes are merged into
	// a series that keeps the first note: one event per reason and
	// reconciliation says it all.
	var synced, removed, drifted []string
	rows := 0
	for _, t := range o.targets {
		switch {
		case t.outcome == rolesync.DriftRepaired:
			drifted = append(drifted, fmt.Sprintf("tenant %s: %s", t.tenant, describeChanges(t.changes)))
		case t.outcome == rolesync.Applied && t.removing:
			removed = append(removed, t.tenant)
		case t.outcome == rolesync.Applied:
			synced = append(synced, t.tenant)
			for _, c := range t.changes {
				rows += c.Rows
			}
		}
	}
	if len(drifted) > 0 {
		r.Recorder.Eventf(after, nil, corev1.EventTypeWarning, privacyv1alpha1.ReasonDriftRepaired, "Sync",
			"rows changed by hand were put back: %s", listUpTo(drifted, 10, "; "))
	}
	if len(synced) > 0 {
		r.Recorder.Eventf(after, nil, corev1.EventTypeNormal, privacyv1alpha1.ReasonRoleSynced, "Sync",
			"%d rows changed in %d tenants: %s", rows, len(synced), listUpTo(synced, 10, ", "))
	}
	if len(removed) > 0 {
		r.Recorder.Eventf(after, nil, corev1.EventTypeNormal, privacyv1alpha1.ReasonRoleRemoved, "Remove",
			"removed from %d tenants: %s", len(removed), listUpTo(removed, 10, ", "))
	}
}

// describeChanges renders "4 rows (lethe.role_scopes 1, lethe.role_members 3)".
func describeChanges(changes []rolesync.TableChange) string {
	n := 0
	parts := make([]string, 0, len(changes))
	for _, c := range changes {
		n += c.Rows
		parts = append(parts, fmt.Sprintf("%s %d", c.Table, c.Rows))
	}
	return fmt.Sprintf("%d rows (%s)", n, strings.Join(parts, ", "))
}

func clampInt32(n int64) int32 {
	const lim = 1<<31 - 1
	switch {
	case n > lim:
		return lim
	case n < -lim:
		return -lim
	}
	return int32(n)
}

func truncateTo(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n-3] + "..."
}
