package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/lethe-dev/lethe/hack/internal/benchutil"
	"github.com/lethe-dev/lethe/internal/tenantdb"
	"github.com/lethe-dev/lethe/internal/testutil/pgtest"
)

// localPostgres is a PostgreSQL of one measurement's own, with its default
// durability settings, and the pools opened on it; its log stays in the
// work directory when -keep is set or the measurement failed.
type localPostgres struct {
	label string
	dir   string
	keep  bool
	srv   *pgtest.Server
	pools *tenantdb.Pools
}

// startPostgres starts one; stop it with stop(&err) in a defer.
func startPostgres(label string, keep bool) (*localPostgres, error) {
	dir, err := os.MkdirTemp("", "lethe-bench-"+strings.ReplaceAll(label, " ", "-")+"-")
	if err != nil {
		return nil, err
	}
	l := &localPostgres{label: label, dir: dir, keep: keep, pools: tenantdb.NewPools()}
	if l.srv, err = pgtest.Start(pgtest.Options{Durable: true, LogPath: filepath.Join(dir, "postgres.log")}); err != nil {
		err = fmt.Errorf("start PostgreSQL: %w", err)
		l.stop(&err)
		return nil, err
	}
	return l, nil
}

// stop closes the pools and stops the server, and keeps or removes the
// work directory; a stop failure becomes *err when there was none.
func (l *localPostgres) stop(err *error) {
	l.pools.CloseAll()
	if l.srv != nil {
		if serr := l.srv.Stop(); serr != nil && *err == nil {
			*err = serr
		}
	}
	benchutil.CleanWorkDir(l.label, l.dir, l.keep, *err)
}
