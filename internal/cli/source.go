package cli

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5/pgxpool"

	privacyv1alpha1 "github.com/lethe-dev/lethe/api/v1alpha1"
	"github.com/lethe-dev/lethe/internal/tenantdb"
)

// source is the database a draft is made from: its connection settings,
// how to name it in messages (never a credential), and the inventory name
// it suggests.
type source struct {
	data map[string][]byte
	what string
	name string
}

// resolveSource reads the connection settings the flags name: an
// environment variable, or a Secret (named directly or by a
// TenantDatabase) read through the kubeconfig.
func resolveSource(ctx context.Context, o draftOptions, env Env) (source, error) {
	if o.uriEnv != "" {
		uri := env.Getenv(o.uriEnv)
		if uri == "" {
			return source{}, fmt.Errorf("environment variable %s is empty: set it to a postgres:// URI", o.uriEnv)
		}
		return source{data: map[string][]byte{privacyv1alpha1.ConnectionKeyURI: []byte(uri)},
			what: "the database of $" + o.uriEnv}, nil
	}
	c, err := connect(o.kubeFlags)
	if err != nil {
		return source{}, err
	}
	src := source{}
	secretName := o.secret
	if o.tenantDatabase != "" {
		var tdb privacyv1alpha1.TenantDatabase
		if err := c.get(ctx, "tenantdatabases", o.tenantDatabase, &tdb); err != nil {
			return source{}, err
		}
		secretName = tdb.Spec.Connection.SecretRef.Name
		src.what = fmt.Sprintf("TenantDatabase %s/%s", c.ns, tdb.Name)
		src.name = tdb.Spec.InventoryRef.Name
	}
	data, err := c.secretData(ctx, secretName)
	if err != nil {
		return source{}, err
	}
	src.data = data
	if src.what == "" {
		src.what = fmt.Sprintf("Secret %s/%s", c.ns, secretName)
	} else {
		src.what += fmt.Sprintf(" (Secret %s)", secretName)
	}
	return src, nil
}

// openDatabase connects to a source's database with a pool of two
// connections (search_path pinned, as the operator's are), and returns a
// function that closes it. Messages name the source, never a credential.
func openDatabase(ctx context.Context, src source) (*pgxpool.Pool, func(), error) {
	cfg, err := tenantdb.ParseSecret(src.data, 2)
	if err != nil {
		return nil, nil, fmt.Errorf("%s %w", src.what, err)
	}
	pools := tenantdb.NewPools()
	pool, err := pools.Get(ctx, "lethe", cfg)
	if err != nil {
		pools.CloseAll()
		return nil, nil, fmt.Errorf("connect with %s: %s", src.what, tenantdb.SafeError(err))
	}
	return pool, pools.CloseAll, nil
}
