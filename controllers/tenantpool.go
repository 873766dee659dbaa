package controllers

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5/pgxpool"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
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
