package controllers

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5/pgxpool"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	privacyv1alpha1 "github.com/lethe-dev/lethe/api/v1alpha1"
	"github.com/lethe-dev/lethe/internal/tenantdb"
)

// connectionConfig reads a TenantDatabase's connection Secret (uncached) and
// parses it. missing is true when the Secret does not exist.
func connectionConfig(ctx context.Context, reader client.Reader, tdb *privacyv1alpha1.TenantDatabase) (cfg *tenantdb.Config, missing bool, err error) {
	var secret corev1.Secret
	key := types.NamespacedName{Namespace: tdb.Namespace, Name: tdb.Spec.Connection.SecretRef.Name}
	if err := reader.Get(ctx, key, &secret); err != nil {
		return nil, apierrors.IsNotFound(err), err
	}
	cfg, err = tenantdb.ParseSecret(secret.Data, tdb.Spec.MaxConnections)
	return cfg, false, err
}

// poolKey is the cache key of a TenantDatabase's pool.
func poolKey(tdb *privacyv1alpha1.TenantDatabase) string {
	return types.NamespacedName{Namespace: tdb.Namespace, Name: tdb.Name}.String()
}

// tenantPool returns the pool of a TenantDatabase, shared with its own
// controller through the pool cache.
func tenantPool(ctx context.Context, reader client.Reader, pools *tenantdb.Pools, tdb *privacyv1alpha1.TenantDatabase) (*pgxpool.Pool, error) {
	cfg, _, err := connectionConfig(ctx, reader, tdb)
	if err != nil {
		return nil, fmt.Errorf("connection secret %s: %w", tdb.Spec.Connection.SecretRef.Name, err)
	}
	return pools.Get(ctx, poolKey(tdb), cfg)
}

// sharedPool returns a TenantDatabase's pool from the shared cache, reading
// its connection Secret only when the cache has no pool for it yet: the
// TenantDatabase controller replaces the pool whenever the Secret changes.
func sharedPool(ctx context.Context, reader client.Reader, pools *tenantdb.Pools, tdb *privacyv1alpha1.TenantDatabase) (*pgxpool.Pool, error) {
	if pool := pools.Lookup(poolKey(tdb)); pool != nil {
		return pool, nil
	}
	return tenantPool(ctx, reader, pools, tdb)
}

// targetInventory is what every kind that acts in a tenant database checks
// first: the TenantDatabase is Ready, and its DataInventory exists. Both
// wait (Reconciling) rather than stall: they may come right on their own.
func targetInventory(ctx context.Context, c client.Reader, tdb *privacyv1alpha1.TenantDatabase) (*privacyv1alpha1.DataInventory, error) {
	if cond := meta.FindStatusCondition(tdb.Status.Conditions, privacyv1alpha1.ConditionReady); cond == nil || cond.Status != metav1.ConditionTrue {
		return nil, waiting(privacyv1alpha1.ReasonTargetNotReady, "TenantDatabase %s is not Ready", tdb.Name)
	}
	var inv privacyv1alpha1.DataInventory
	if err := c.Get(ctx, types.NamespacedName{Namespace: tdb.Namespace, Name: tdb.Spec.InventoryRef.Name}, &inv); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, waiting(privacyv1alpha1.ReasonTargetNotReady, "DataInventory %s of TenantDatabase %s not found", tdb.Spec.InventoryRef.Name, tdb.Name)
		}
		return nil, err
	}
	return &inv, nil
}

// targetSchema returns a TenantDatabase's shared pool and its live catalog,
// waiting when either cannot be had yet.
func targetSchema(ctx context.Context, reader client.Reader, pools *tenantdb.Pools, tdb *privacyv1alpha1.TenantDatabase) (*pgxpool.Pool, *tenantdb.Catalog, error) {
	pool, err := sharedPool(ctx, reader, pools, tdb)
	if err != nil {
		return nil, nil, waiting(privacyv1alpha1.ReasonTargetNotReady, "TenantDatabase %s: %s", tdb.Name, errorMessage(err))
	}
	cat, err := tenantdb.CachedCatalog(ctx, pool)
	if err != nil {
		return nil, nil, waiting(privacyv1alpha1.ReasonTargetNotReady, "TenantDatabase %s: read the catalog: %s", tdb.Name, errorMessage(err))
	}
	return pool, cat, nil
}
