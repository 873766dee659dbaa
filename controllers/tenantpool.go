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

// connectionConfig reads a TenantDatabase's connection Secret and TLS
// Secret (uncached) and parses them with the spec's settings. missing
// names the Secret that does not exist, if one does not.
func connectionConfig(ctx context.Context, reader client.Reader, tdb *privacyv1alpha1.TenantDatabase) (cfg *tenantdb.Config, missing string, err error) {
	spec := tdb.Spec.Connection
	read := func(name string) (map[string][]byte, error) {
		var secret corev1.Secret
		if err := reader.Get(ctx, types.NamespacedName{Namespace: tdb.Namespace, Name: name}, &secret); err != nil {
			if apierrors.IsNotFound(err) {
				missing = name
			}
			return nil, err
		}
		return secret.Data, nil
	}
	conn := tenantdb.Connection{Host: spec.Host, Port: spec.Port, Database: spec.Database, SSLMode: spec.SSLMode,
		MaxConns: tdb.Spec.MaxConnections}
	if conn.Secret, err = read(spec.SecretRef.Name); err != nil {
		return nil, missing, err
	}
	if spec.TLSSecretRef != nil {
		if conn.TLS, err = read(spec.TLSSecretRef.Name); err != nil {
			return nil, missing, err
		}
	}
	cfg, err = conn.Config()
	return cfg, "", err
}

// connectionSecrets names a TenantDatabase's Secrets in messages: the
// connection Secret, and the TLS Secret where there is one.
func connectionSecrets(tdb *privacyv1alpha1.TenantDatabase) string {
	if ref := tdb.Spec.Connection.TLSSecretRef; ref != nil {
		return fmt.Sprintf("secrets %s and %s", tdb.Spec.Connection.SecretRef.Name, ref.Name)
	}
	return "secret " + tdb.Spec.Connection.SecretRef.Name
}

// secretOf names the Secret a problem of a connection is in.
func secretOf(tdb *privacyv1alpha1.TenantDatabase, in tenantdb.Origin) string {
	if ref := tdb.Spec.Connection.TLSSecretRef; ref != nil && in == tenantdb.InTLSSecret {
		return ref.Name
	}
	return tdb.Spec.Connection.SecretRef.Name
}

// connectionSecretNames lists the Secrets a TenantDatabase reads: the
// connection Secret, and the TLS Secret where there is one.
func connectionSecretNames(tdb *privacyv1alpha1.TenantDatabase) []string {
	names := []string{tdb.Spec.Connection.SecretRef.Name}
	if ref := tdb.Spec.Connection.TLSSecretRef; ref != nil {
		names = append(names, ref.Name)
	}
	return names
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
		return nil, fmt.Errorf("connection %s: %w", connectionSecrets(tdb), err)
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
