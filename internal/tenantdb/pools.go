package tenantdb

import (
	"context"
	"sync"

	"github.com/jackc/pgx/v5/pgxpool"
)

// Pools caches one bounded pool per tenant database, keyed by the caller
// (namespace/name). A pool is replaced when its configuration's fingerprint
// changes, and closed when its owner is gone.
type Pools struct {
	mu    sync.Mutex
	pools map[string]*cachedPool
}

type cachedPool struct {
	fingerprint string
	pool        *pgxpool.Pool
}

// NewPools returns an empty cache.
func NewPools() *Pools {
	return &Pools{pools: map[string]*cachedPool{}}
}

// Get returns the pool for key, opening one for cfg (or replacing one opened
// for another configuration). Opening does not connect: Ping does.
func (p *Pools) Get(ctx context.Context, key string, cfg *Config) (*pgxpool.Pool, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if c, ok := p.pools[key]; ok {
		if c.fingerprint == cfg.Fingerprint {
			return c.pool, nil
		}
		c.pool.Close()
		delete(p.pools, key)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg.Pool.Copy())
	if err != nil {
		return nil, Classify(err)
	}
	p.pools[key] = &cachedPool{fingerprint: cfg.Fingerprint, pool: pool}
	return pool, nil
}

// Lookup returns the pool cached for key, or nil.
func (p *Pools) Lookup(key string) *pgxpool.Pool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if c, ok := p.pools[key]; ok {
		return c.pool
	}
	return nil
}

// Close closes and forgets the pool for key, if any.
func (p *Pools) Close(key string) {
	p.mu.Lock()
	c, ok := p.pools[key]
	delete(p.pools, key)
	p.mu.Unlock()
	if ok {
		c.pool.Close()
	}
}

// CloseAll closes every pool (on shutdown).
func (p *Pools) CloseAll() {
	p.mu.Lock()
	pools := p.pools
	p.pools = map[string]*cachedPool{}
	p.mu.Unlock()
	for _, c := range pools {
		c.pool.Close()
	}
}

// Len is the number of open pools.
func (p *Pools) Len() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.pools)
}

// PoolStat is how many connections one pool has in use, idle, and at most.
type PoolStat struct {
	InUse, Idle, Max int32
}

// Each calls fn with every open pool's key and connection counts (for the
// metrics), outside the cache's lock.
func (p *Pools) Each(fn func(key string, st PoolStat)) {
	p.mu.Lock()
	stats := make(map[string]PoolStat, len(p.pools))
	for key, c := range p.pools {
		s := c.pool.Stat()
		stats[key] = PoolStat{InUse: s.AcquiredConns(), Idle: s.IdleConns(), Max: s.MaxConns()}
	}
	p.mu.Unlock()
	for key, st := range stats {
		fn(key, st)
	}
}

// Ping checks the pool can reach the database and returns the server version.
func Ping(ctx context.Context, pool *pgxpool.Pool) (string, error) {
	var version string
	if err := pool.QueryRow(ctx, "SELECT pg_catalog.current_setting('server_version')").Scan(&version); err != nil {
		return "", Classify(err)
	}
	return version, nil
}
