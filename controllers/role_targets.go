package controllers

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	privacyv1alpha1 "github.com/lethe-dev/lethe/api/v1alpha1"
	"github.com/lethe-dev/lethe/internal/audit"
	"github.com/lethe-dev/lethe/internal/identity"
	"github.com/lethe-dev/lethe/internal/rbac"
	"github.com/lethe-dev/lethe/internal/rolesync"
	"github.com/lethe-dev/lethe/internal/tenantdb"
)

// rolesSchemaVersion is the version of the lethe schema that holds roles
// (migration 00003_roles.sql).
const rolesSchemaVersion = 3

// tenantSyncable says whether roles can be written into a tenant database:
// connected, with the lethe schema migrated far enough.
func tenantSyncable(tdb *privacyv1alpha1.TenantDatabase) bool {
	return meta.IsStatusConditionTrue(tdb.Status.Conditions, privacyv1alpha1.ConditionConnected) &&
		tdb.Status.SchemaVersion >= rolesSchemaVersion
}

// syncTarget brings the role to its resolved state in one tenant.
func (r *RoleReconciler) syncTarget(ctx context.Context, role *privacyv1alpha1.Role, tdb *privacyv1alpha1.TenantDatabase, o *roleObservation) targetObservation {
	t := targetObservation{name: tdb.Name, tenant: tdb.Spec.Tenant}
	if !tenantSyncable(tdb) {
		return t.wait(privacyv1alpha1.ReasonTenantDatabaseNotReady,
			"TenantDatabase %s is not connected yet, or its lethe schema is older than version %d", tdb.Name, rolesSchemaVersion)
	}
	var inv privacyv1alpha1.DataInventory
	if err := r.Get(ctx, types.NamespacedName{Namespace: tdb.Namespace, Name: tdb.Spec.InventoryRef.Name}, &inv); err != nil {
		if apierrors.IsNotFound(err) {
			return t.wait(privacyv1alpha1.ReasonTenantDatabaseNotReady, "DataInventory %s of TenantDatabase %s not found", tdb.Spec.InventoryRef.Name, tdb.Name)
		}
		return t.wait(privacyv1alpha1.ReasonRoleSyncFailed, "cannot read DataInventory %s: %v", tdb.Spec.InventoryRef.Name, err)
	}
	pool, err := r.tenantPool(ctx, tdb)
	if err != nil {
		return t.wait(privacyv1alpha1.ReasonRoleSyncFailed, "TenantDatabase %s: %v", tdb.Name, err)
	}
	obj := roleAuditObject(role)
	synced := wasSynced(role, tdb.Name, o.catalogGeneration)
	if err := r.mapOrganization(ctx, pool, tdb, &inv, obj, synced); err != nil {
		var oe *rolesync.OrganizationError
		if errors.As(err, &oe) {
			return t.stall(privacyv1alpha1.ReasonOrganizationInvalid, "tenant %s: DataInventory %s does not fit the database: %s",
				tdb.Spec.Tenant, inv.Name, oe.Error())
		}
		return t.wait(privacyv1alpha1.ReasonRoleSyncFailed, "tenant %s: cannot map the organization: %s", tdb.Spec.Tenant, tenantdb.SafeError(err))
	}

	desired := rolesync.Build(roleKey(role), string(role.UID), &role.Spec, o.catalog, o.resolution)
	res, err := rolesync.Sync(ctx, pool, rolesync.Request{
		Role: desired, Object: obj, Actor: roleActor(role), Guards: o.guards(),
		Synced: synced, Time: r.Clock.Now(),
	})
	if err != nil {
		return t.wait(privacyv1alpha1.ReasonRoleSyncFailed, "tenant %s: %s", tdb.Spec.Tenant, tenantdb.SafeError(err))
	}
	t.outcome, t.changes = res.Outcome, res.Changes
	guards := o.guards()
	used, err := r.seats.get(ctx, poolKey(tdb)+"|"+role.Spec.CatalogRef.Name, pool, guards.Seats, r.Clock.Now(), r.seatTTL(),
		res.SeatsMayHaveChanged)
	if err != nil {
		return t.wait(privacyv1alpha1.ReasonRoleSyncFailed, "tenant %s: cannot count seats: %s", tdb.Spec.Tenant, tenantdb.SafeError(err))
	}
	for _, l := range role.Spec.Licenses {
		t.seats = append(t.seats, rbac.SeatCount{License: l, After: used[l], Seats: guards.Seats[l]})
	}
	if res.Outcome == rolesync.Refused {
		return t.stall(res.Refusal.Reason, "%s", refusalMessage(tdb.Spec.Tenant, role, res.Refusal, false))
	}
	t.state = targetSynced
	return t
}

// connEntry is a parsed connection, for the resource versions of the
// Secrets it was read from and the TenantDatabase's generation (its
// connection settings and pool bound) it was parsed for.
type connEntry struct {
	version string
	cfg     *tenantdb.Config
}

// tenantPool returns the pool of a TenantDatabase, shared with its own
// controller. The Secrets are read from the API server only when a resource
// version, in the manager's metadata cache of Secrets, changed: a catalog
// change syncs every role into every tenant, and reading the Secrets for
// each would cost API requests per role and tenant.
func (r *RoleReconciler) tenantPool(ctx context.Context, tdb *privacyv1alpha1.TenantDatabase) (*pgxpool.Pool, error) {
	version := fmt.Sprintf("%d", tdb.Generation)
	for _, name := range connectionSecretNames(tdb) {
		var m metav1.PartialObjectMetadata
		m.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Secret"))
		if err := r.Get(ctx, types.NamespacedName{Namespace: tdb.Namespace, Name: name}, &m); err != nil {
			return tenantPool(ctx, r.APIReader, r.Pools, tdb)
		}
		version += "/" + m.ResourceVersion
	}
	key := poolKey(tdb)
	if v, ok := r.conns.Load(key); ok {
		if e := v.(connEntry); e.version == version {
			return r.Pools.Get(ctx, key, e.cfg)
		}
	}
	cfg, _, err := connectionConfig(ctx, r.APIReader, tdb)
	if err != nil {
		r.conns.Delete(key)
		return nil, fmt.Errorf("connection %s: %w", connectionSecrets(tdb), err)
	}
	r.conns.Store(key, connEntry{version: version, cfg: cfg})
	return r.Pools.Get(ctx, key, cfg)
}

// orgMapping is the inventory whose organization was last mapped into a
// tenant, through which pool.
type orgMapping struct {
	pool       *pgxpool.Pool
	inventory  types.UID
	generation int64
}

// mapOrganization maps the inventory's organization into the tenant. It is
// skipped when this process mapped the same inventory generation through the
// same pool before, unless this is a resync: when the catalog changes, 200
// roles map it once, not 200 times.
func (r *RoleReconciler) mapOrganization(ctx context.Context, pool *pgxpool.Pool, tdb *privacyv1alpha1.TenantDatabase,
	inv *privacyv1alpha1.DataInventory, obj audit.Object, resync bool) error {
	key := poolKey(tdb)
	want := orgMapping{pool: pool, inventory: inv.UID, generation: inv.Generation}
	if v, ok := r.orgs.Load(key); ok && v.(orgMapping) == want && !resync {
		return nil
	}
	if _, err := rolesync.EnsureOrganization(ctx, pool, inv.Spec.Organization, obj, operatorActor); err != nil {
		r.orgs.Delete(key)
		return err
	}
	r.orgs.Store(key, want)
	return nil
}

// seatCache holds the seats used per tenant and catalog. Counting reads
// every member of a tenant; every role of the tenant reports the same
// counts, so they are counted once for all, at most once per TTL, and
// sooner (a tenth of it) after a change that moved seats.
type seatCache struct {
	mu      sync.Mutex
	entries map[string]*seatEntry
}

type seatEntry struct {
	mu    sync.Mutex
	at    time.Time
	dirty bool
	used  map[string]int64
}

// get returns the seats used of every license of seats (the catalog's),
// counting them when the cached counts are too old. changed says the caller
// just moved seats.
func (c *seatCache) get(ctx context.Context, key string, q rolesync.Querier, seats map[string]int32, now time.Time,
	ttl time.Duration, changed bool) (map[string]int64, error) {
	c.mu.Lock()
	if c.entries == nil {
		c.entries = map[string]*seatEntry{}
	}
	e, ok := c.entries[key]
	if !ok {
		e = &seatEntry{}
		c.entries[key] = e
	}
	c.mu.Unlock()

	e.mu.Lock()
	defer e.mu.Unlock()
	e.dirty = e.dirty || changed
	age := now.Sub(e.at)
	if e.used != nil && age < ttl && (!e.dirty || age < ttl/10) {
		return e.used, nil
	}
	licenses := make([]string, 0, len(seats))
	for l := range seats {
		licenses = append(licenses, l)
	}
	used, err := rolesync.CountSeats(ctx, q, licenses)
	if err != nil {
		return nil, err
	}
	e.used, e.at, e.dirty = used, now, false
	return used, nil
}

// seatTTL is how long seat counts are reused: a tenth of the resync
// interval.
func (r *RoleReconciler) seatTTL() time.Duration {
	return max(r.ResyncInterval/10, 100*time.Millisecond)
}

// removeFromTarget removes the role from one tenant.
func (r *RoleReconciler) removeFromTarget(ctx context.Context, role *privacyv1alpha1.Role, name string, guards rolesync.Guards) targetObservation {
	t := targetObservation{name: name, removing: true}
	var tdb privacyv1alpha1.TenantDatabase
	if err := r.Get(ctx, types.NamespacedName{Namespace: role.Namespace, Name: name}, &tdb); err != nil {
		if apierrors.IsNotFound(err) {
			// The TenantDatabase is gone: nothing the operator can reach
			// holds the role any more.
			t.state = targetRemoved
			return t
		}
		return t.wait(privacyv1alpha1.ReasonRoleSyncFailed, "cannot read TenantDatabase %s: %v", name, err)
	}
	t.tenant = tdb.Spec.Tenant
	if !tenantSyncable(&tdb) {
		return t.wait(privacyv1alpha1.ReasonTenantDatabaseNotReady,
			"TenantDatabase %s is not connected: the role is removed from it once it is", name)
	}
	pool, err := r.tenantPool(ctx, &tdb)
	if err != nil {
		return t.wait(privacyv1alpha1.ReasonRoleSyncFailed, "TenantDatabase %s: %v", name, err)
	}
	res, err := rolesync.Remove(ctx, pool, rolesync.RemoveRequest{
		Key: roleKey(role), Object: roleAuditObject(role), Actor: roleActor(role), Guards: guards,
	})
	if err != nil {
		return t.wait(privacyv1alpha1.ReasonRoleSyncFailed, "tenant %s: %s", tdb.Spec.Tenant, tenantdb.SafeError(err))
	}
	t.outcome, t.changes = res.Outcome, res.Changes
	if res.Outcome == rolesync.Refused {
		return t.stall(res.Refusal.Reason, "%s", refusalMessage(tdb.Spec.Tenant, role, res.Refusal, true))
	}
	t.state = targetRemoved
	return t
}

// refusalMessage says why a guard refused a change in a tenant and what to
// do about it.
func refusalMessage(tenant string, role *privacyv1alpha1.Role, ref *rolesync.Refusal, removal bool) string {
	change := "the change"
	if removal {
		change = "removing the role"
	}
	switch ref.Reason {
	case privacyv1alpha1.ReasonSeatsExceeded:
		return fmt.Sprintf("tenant %s keeps its previous state: %s; remove members, deactivate users or raise the seats in PermissionCatalog %s",
			tenant, strings.Join(ref.Problems, ", "), role.Spec.CatalogRef.Name)
	default:
		return fmt.Sprintf("tenant %s keeps its previous state: %s would leave no active user holding %s; give it to another active user first",
			tenant, change, strings.Join(ref.Problems, " and "))
	}
}

// wasSynced says whether the status saw the tenant in sync with the role's
// current generation and catalog.
func wasSynced(role *privacyv1alpha1.Role, name string, catalogGeneration int64) bool {
	if role.Status.ObservedGeneration != role.Generation || role.Status.CatalogGeneration != catalogGeneration {
		return false
	}
	for _, t := range role.Status.Targets {
		if t.Name == name {
			return t.Synced
		}
	}
	return false
}

// roleKey identifies a role in a tenant: namespace/name.
func roleKey(role *privacyv1alpha1.Role) string {
	return role.Namespace + "/" + role.Name
}

func roleAuditObject(role *privacyv1alpha1.Role) audit.Object {
	return audit.Object{Kind: "Role", Namespace: role.Namespace, Name: role.Name, UID: string(role.UID)}
}

// roleActor is the audit actor of a role's changes: the user who last
// changed its spec, or created it, as the admission webhook recorded them.
// A role from before the webhooks ran names the operator, for the field
// manager that last changed the spec.
func roleActor(role *privacyv1alpha1.Role) string {
	for _, key := range []string{privacyv1alpha1.AnnotationChangedBy, privacyv1alpha1.AnnotationRequestedBy} {
		if who := identity.Actor(role.Annotations[key], ""); who != "" {
			return who
		}
	}
	manager := ""
	var latest int64
	for _, mf := range role.ManagedFields {
		if mf.Subresource != "" || mf.FieldsV1 == nil || !strings.Contains(mf.FieldsV1.GetRawString(), `"f:spec"`) {
			continue
		}
		if mf.Time != nil && mf.Time.Unix() >= latest {
			latest, manager = mf.Time.Unix(), mf.Manager
		}
	}
	if manager == "" {
		return operatorActor
	}
	return operatorActor + " for " + manager
}
