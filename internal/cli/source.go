package cli

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5/pgxpool"

	privacyv1alpha1 "github.com/lethe-dev/lethe/api/v1alpha1"
	"github.com/lethe-dev/lethe/internal/tenantdb"
)

// source is a database the command connects to: its connection settings,
// how to name it in messages (never a credential), and the inventory name
// it suggests.
type source struct {
	conn tenantdb.Connection
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
		return source{conn: tenantdb.Connection{Secret: map[string][]byte{privacyv1alpha1.ConnectionKeyURI: []byte(uri)}},
			what: "the database of $" + o.uriEnv}, nil
	}
	c, err := connect(o.kubeFlags)
	if err != nil {
		return source{}, err
	}
	if o.tenantDatabase != "" {
		var tdb privacyv1alpha1.TenantDatabase
		if err := c.get(ctx, "tenantdatabases", o.tenantDatabase, &tdb); err != nil {
			return source{}, err
		}
		return tenantSource(ctx, c, &tdb)
	}
	data, err := c.secretData(ctx, o.secret)
	if err != nil {
		return source{}, err
	}
	return source{conn: tenantdb.Connection{Secret: data}, what: fmt.Sprintf("Secret %s/%s", c.ns, o.secret)}, nil
}

// tenantSource is a TenantDatabase's database, as the operator connects to
// it: its connection Secret, its TLS Secret if it names one, and the host,
// port, database and sslmode its spec sets over the Secret's.
func tenantSource(ctx context.Context, c *cluster, tdb *privacyv1alpha1.TenantDatabase) (source, error) {
	spec := tdb.Spec.Connection
	src := source{
		conn: tenantdb.Connection{Host: spec.Host, Port: spec.Port, Database: spec.Database, SSLMode: spec.SSLMode},
		what: fmt.Sprintf("TenantDatabase %s/%s (Secret %s)", c.ns, tdb.Name, spec.SecretRef.Name),
		name: tdb.Spec.InventoryRef.Name,
	}
	var err error
	if src.conn.Secret, err = c.secretData(ctx, spec.SecretRef.Name); err != nil {
		return source{}, err
	}
	if spec.TLSSecretRef != nil {
		if src.conn.TLS, err = c.secretData(ctx, spec.TLSSecretRef.Name); err != nil {
			return source{}, err
		}
	}
	return src, nil
}

// openDatabase connects to a source's database with a pool of two
// connections (search_path pinned, as the operator's are), and returns a
// function that closes it. Messages name the source, never a credential.
func openDatabase(ctx context.Context, src source) (*pgxpool.Pool, func(), error) {
	src.conn.MaxConns = 2
	cfg, err := src.conn.Config()
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
