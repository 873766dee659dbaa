package main

// The dsr scenario's statement profile of the engine figures: a pgx tracer
// that adds up the time of every statement by kind.

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/lethe-dev/lethe/hack/internal/benchutil"
)

// sqlTracer adds up the time of every statement by its text, under the label
// of the request being measured (statements under an empty label are not
// counted). For a query, the time runs until its rows are read.
type sqlTracer struct {
	mu    sync.Mutex
	label string
	stats map[string]map[string]*stmtStat
	// trips counts round trips by label: a statement alone or a pipeline.
	trips map[string]int
}

type stmtStat struct {
	calls int
	total time.Duration
}

type traceStartKey struct{}

type traceStart struct {
	label, sql string
	at         time.Time
}

func newSQLTracer() *sqlTracer {
	return &sqlTracer{stats: map[string]map[string]*stmtStat{}, trips: map[string]int{}}
}

func (s *sqlTracer) setLabel(label string) {
	s.mu.Lock()
	s.label = label
	s.mu.Unlock()
}

func (s *sqlTracer) TraceQueryStart(ctx context.Context, _ *pgx.Conn, data pgx.TraceQueryStartData) context.Context {
	s.mu.Lock()
	label := s.label
	s.mu.Unlock()
	if label == "" {
		return ctx
	}
	return context.WithValue(ctx, traceStartKey{}, traceStart{label: label, sql: data.SQL, at: time.Now()})
}

func (s *sqlTracer) TraceQueryEnd(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryEndData) {
	st, ok := ctx.Value(traceStartKey{}).(traceStart)
	if !ok {
		return
	}
	d := time.Since(st.at)
	key := st.sql
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stats[st.label] == nil {
		s.stats[st.label] = map[string]*stmtStat{}
	}
	if s.stats[st.label][key] == nil {
		s.stats[st.label][key] = &stmtStat{}
	}
	s.stats[st.label][key].calls++
	s.stats[st.label][key].total += d
	s.trips[st.label]++
}

// pipelineKey starts a stats entry that holds the time of a pipeline whose
// statements are of several kinds; the kinds follow it.
const pipelineKey = "\x00"

// statementKind groups a statement by what it is for.
func statementKind(sql string) string {
	if kinds, ok := strings.CutPrefix(sql, pipelineKey); ok {
		return kinds
	}
	s := strings.ToLower(strings.Join(strings.Fields(sql), " "))
	switch {
	case strings.Contains(s, "count(*) filter"):
		return "verification re-scan (dsr.Verify)"
	case strings.HasPrefix(s, "with lethe_sel as ("):
		return "changing rows with their ledger row and audit record (one statement a batch)"
	case strings.Contains(s, "lethe.audit_log") || strings.Contains(s, "lethe.audit_append") || strings.Contains(s, "advisory_xact_lock"):
		return "audit record (lock, chain head, insert)"
	case strings.Contains(s, "lethe."):
		return "request bookkeeping (state, plan, ledger, pseudonym)"
	case s == "begin" || strings.HasPrefix(s, "begin ") || s == "commit" || strings.HasPrefix(s, "set local "):
		return "begin and commit (and their settings: timeouts, synchronous_commit)"
	case strings.Contains(s, "row_to_json"):
		return "reading the subject's rows (row_to_json)"
	case strings.Contains(s, "pg_catalog.pg_class") || strings.Contains(s, "pg_catalog.pg_constraint"):
		return "catalog read (tenantdb.ReadCatalog)"
	case strings.HasPrefix(s, "update ") || strings.HasPrefix(s, "delete "):
		return "masking and deleting rows"
	case strings.HasPrefix(s, "select ") || strings.HasPrefix(s, "with "):
		return "finding the subject's rows (inventory.Find)"
	}
	return "other"
}

// breakdown groups the statements of a label by kind, by total time, with
// calls and milliseconds per request and their share of the requests' wall
// time, and the time outside SQL last.
func (s *sqlTracer) breakdown(label string, requests int, wall float64) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	kinds := map[string]*stmtStat{}
	var inSQL float64
	var calls int
	for sql, st := range s.stats[label] {
		k := statementKind(sql)
		if kinds[k] == nil {
			kinds[k] = &stmtStat{}
		}
		kinds[k].calls += st.calls
		kinds[k].total += st.total
		inSQL += benchutil.Ms(st.total)
		calls += st.calls
	}
	names := make([]string, 0, len(kinds))
	for k := range kinds {
		names = append(names, k)
	}
	sort.Slice(names, func(i, j int) bool { return kinds[names[i]].total > kinds[names[j]].total })
	per := func(v float64) float64 { return v / float64(requests) }
	share := func(v float64) float64 { return 100 * v / wall }
	lines := []string{fmt.Sprintf("%9s %8s %6s", "stmts", "ms", "share")}
	for _, k := range names {
		st := kinds[k]
		lines = append(lines, fmt.Sprintf("%9.1f %8.3f %5.1f%%  %s", per(float64(st.calls)), per(benchutil.Ms(st.total)),
			share(benchutil.Ms(st.total)), k))
	}
	lines = append(lines, fmt.Sprintf("%9s %8.3f %5.1f%%  %s", "", per(wall-inSQL), share(wall-inSQL),
		"outside SQL: Go code (inventory check, planning, export.Build), pool"),
		fmt.Sprintf("%9.1f %8.3f %5.1f%%  total: statements and time per request, in %.1f round trips", per(float64(calls)), per(wall), 100.0,
			per(float64(s.trips[label]))))
	return lines
}

type traceBatchKey struct{}

// traceBatch collects the statements of one pipelined batch.
type traceBatch struct {
	label string
	at    time.Time
	sqls  []string
}

// TraceBatchStart starts timing a pipelined batch: its statements share one
// round trip, so the batch's time is counted once, under the kinds of its
// statements, and its statements are counted one by one.
func (s *sqlTracer) TraceBatchStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceBatchStartData) context.Context {
	s.mu.Lock()
	label := s.label
	s.mu.Unlock()
	if label == "" {
		return ctx
	}
	return context.WithValue(ctx, traceBatchKey{}, &traceBatch{label: label, at: time.Now()})
}

// TraceBatchQuery notes one statement of a batch.
func (s *sqlTracer) TraceBatchQuery(ctx context.Context, _ *pgx.Conn, data pgx.TraceBatchQueryData) {
	if b, ok := ctx.Value(traceBatchKey{}).(*traceBatch); ok {
		b.sqls = append(b.sqls, data.SQL)
	}
}

// TraceBatchEnd counts the batch's statements one by one and adds its time,
// once, to the kinds of statement it holds.
func (s *sqlTracer) TraceBatchEnd(ctx context.Context, _ *pgx.Conn, _ pgx.TraceBatchEndData) {
	b, ok := ctx.Value(traceBatchKey{}).(*traceBatch)
	if !ok || len(b.sqls) == 0 {
		return
	}
	d := time.Since(b.at)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stats[b.label] == nil {
		s.stats[b.label] = map[string]*stmtStat{}
	}
	s.trips[b.label]++
	// The batch's time goes to the kinds of statement it holds, leaving out
	// its transactions' BEGIN, settings and COMMIT.
	var kinds []string
	for _, sql := range b.sqls {
		st := s.stats[b.label][sql]
		if st == nil {
			st = &stmtStat{}
			s.stats[b.label][sql] = st
		}
		st.calls++
		k := strings.ToLower(strings.TrimSpace(sql))
		if k == "begin" || k == "commit" || strings.HasPrefix(k, "set local ") {
			continue
		}
		if kind := statementKind(sql); !slices.Contains(kinds, kind) {
			kinds = append(kinds, kind)
		}
	}
	if len(kinds) == 0 {
		kinds = []string{statementKind(b.sqls[0])}
	}
	key := pipelineKey + "one round trip: " + strings.Join(kinds, "; ")
	if len(kinds) == 1 {
		key = pipelineKey + kinds[0]
	}
	if s.stats[b.label][key] == nil {
		s.stats[b.label][key] = &stmtStat{}
	}
	s.stats[b.label][key].total += d
}
