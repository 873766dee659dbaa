package dsr

import (
	"context"
	"strings"
	"sync"

	"github.com/jackc/pgx/v5/pgxpool"

	privacyv1alpha1 "github.com/lethe-dev/lethe/api/v1alpha1"
)

// Verifier runs the verification re-scans of concurrent erasures together:
// a verification that arrives while a re-scan of the same tables in the
// same database runs waits for it and joins the next one, so the erasures
// share one read of each table instead of one each. Every verification
// still looks for its own subject's identifiers in every text column of
// every inventory table, and gets the columns that hold one of them.
//
// The zero value is ready to use.
type Verifier struct {
	mu      sync.Mutex
	running map[verifierKey]bool
	next    map[verifierKey]*verification
}

type verifierKey struct {
	pool   *pgxpool.Pool
	tables string
}

// verification is one re-scan for the subjects that joined it.
type verification struct {
	spec *privacyv1alpha1.DataInventorySpec
	sets []map[string]string
	// start is closed when the re-scan may run; done when it ran.
	start, done chan struct{}
	remaining   [][]string
	err         error
}

// Verify is dsr.Verify, shared with the verifications that run at the same
// time on the same tables.
func (v *Verifier) Verify(ctx context.Context, pool *pgxpool.Pool, spec *privacyv1alpha1.DataInventorySpec, identifiers map[string]string) ([]string, error) {
	key := verifierKey{pool: pool, tables: strings.Join(inventoryTables(spec), ",")}
	v.mu.Lock()
	if v.running == nil {
		v.running, v.next = map[verifierKey]bool{}, map[verifierKey]*verification{}
	}
	vr := v.next[key]
	first := vr == nil
	if first {
		vr = &verification{spec: spec, start: make(chan struct{}), done: make(chan struct{})}
		v.next[key] = vr
		if !v.running[key] {
			v.running[key] = true
			delete(v.next, key)
			close(vr.start)
		}
	}
	i := len(vr.sets)
	vr.sets = append(vr.sets, identifiers)
	v.mu.Unlock()

	if first {
		// The first to join runs the re-scan once the one before it is
		// done, whatever happens to its own request: the others wait on
		// it.
		<-vr.start
		vr.remaining, vr.err = verifySets(context.WithoutCancel(ctx), pool, vr.spec, vr.sets)
		close(vr.done)
		v.mu.Lock()
		if nxt := v.next[key]; nxt != nil {
			delete(v.next, key)
			close(nxt.start)
		} else {
			delete(v.running, key)
		}
		v.mu.Unlock()
	}
	select {
	case <-vr.done:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if vr.err != nil {
		return nil, vr.err
	}
	return vr.remaining[i], nil
}
