package classify

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	privacyv1alpha1 "github.com/lethe-dev/lethe/api/v1alpha1"
	"github.com/lethe-dev/lethe/internal/tenantdb"
)

// DB is what Classify samples through: a pool or a connection.
type DB interface {
	BeginTx(ctx context.Context, opts pgx.TxOptions) (pgx.Tx, error)
}

// Classify classifies the columns of cat as FromCatalog does, and also
// samples every table's content inside the database: a bounded sample of
// each table (a block sample for large tables, topped up from the first
// rows), in read-only transactions with a statement timeout, with the
// tables' statements pipelined in batches. SQL counts, for every text,
// json, array and bytea column, how many sampled values match each
// pattern; only those integers leave the database. A column whose values
// mostly match a pattern is personal whatever its name; a pattern that
// matches a column already personal by name is kept as a reason.
//
// A table whose sample fails (a timeout, a missing privilege) is reported
// in its Table.SampleError and classified by names and types; the error
// returned is for what stops sampling altogether (the context, the
// connection). No error or reason holds a value of the rows.
func Classify(ctx context.Context, db DB, cat *tenantdb.Catalog, opts Options) (*Result, error) {
	if opts.SampleRows == 0 {
		opts.SampleRows = DefaultSampleRows
	}
	if opts.StatementTimeout == 0 {
		opts.StatementTimeout = DefaultStatementTimeout
	}
	if opts.SampleRows < 1 || opts.SampleRows > MaxSampleRows {
		return nil, fmt.Errorf("classify: SampleRows must be 1 to %d, got %d", MaxSampleRows, opts.SampleRows)
	}
	if opts.StatementTimeout < 0 {
		return nil, fmt.Errorf("classify: StatementTimeout must not be negative, got %s", opts.StatementTimeout)
	}
	samples, err := sampleTables(ctx, db, cat, opts)
	if err != nil {
		return nil, err
	}
	return assemble(cat, samples), nil
}

// colKind is how a column's values are looked at.
type colKind int

const (
	kindText      colKind = iota // matched whole: the value is an e-mail address
	kindComposite                // json and arrays: the value contains one
	kindBinary                   // bytea: its first bytes
)

// pattern is one count the sampler makes.
type pattern struct {
	kind       colKind
	cat        privacyv1alpha1.DataCategory
	str        strength
	identifier bool
	// what completes "48/50 sampled values ...".
	what string
	// min is the share of values that must match for the pattern to say
	// what the column holds.
	min float64
	// expr is the SQL condition on a value v.
	expr func(v string, p *params) string
}

// The regular expressions of the patterns (PostgreSQL's advanced regular
// expressions), passed as parameters.
const (
	reEmail      = `^[A-Za-z0-9._%+'-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}$`
	rePhoneShape = `^\+?[0-9 ()./-]{6,24}$`
	rePhoneMark  = `^(\+|0|\()|[ ()./-]`
	reNotPhone   = `^[0-9]{4}-[0-9]{2}-[0-9]{2}|^[0-9]+\.[0-9]+$|^[0-9]{1,3}(\.[0-9]{1,3}){3}$`
	reIPv4       = `^((25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])\.){3}(25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])$`
	reIPv6       = `^(([0-9A-Fa-f]{1,4}:){7}[0-9A-Fa-f]{1,4}|(([0-9A-Fa-f]{1,4}:){0,6}[0-9A-Fa-f]{1,4})?::(([0-9A-Fa-f]{1,4}:){0,6}[0-9A-Fa-f]{1,4})?)$`
	reIBAN       = `^[A-Z]{2}[0-9]{2}[A-Z0-9]{11,30}$`
	reCard       = `^[2-6][0-9 -]{11,22}[0-9]$`
	rePnr        = `^(19|20)?[0-9]{2}(0[1-9]|1[0-2])(0[1-9]|[12][0-9]|3[01]|6[1-9]|[78][0-9]|9[01])[-+]?[0-9]{4}$`
	reNIR        = `^[12][0-9]{2}(0[1-9]|1[0-2]|[2-9][0-9])(2[AB]|[0-9]{2})[0-9]{8}$`
	reSSN        = `^(?!000|666|9[0-9]{2})[0-9]{3}-(?!00)[0-9]{2}-(?!0000)[0-9]{4}$`
	reEmailIn    = `[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}`
	rePhoneIn    = `\+[0-9]{1,3}[ ()./-]{0,2}[0-9][0-9 ()./-]{5,16}[0-9]`
	reIPv4In     = `(^|[^0-9.])((25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])\.){3}(25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])($|[^0-9.])`
)

// luhn is the SQL condition that the digits d pass the Luhn check (payment
// cards, personnummer).
func luhn(d string) string {
	return `(SELECT pg_catalog.sum(CASE WHEN g.i % 2 = 0 THEN CASE WHEN k.n >= 5 THEN k.n * 2 - 9 ELSE k.n * 2 END ELSE k.n END) % 10 = 0
 FROM pg_catalog.generate_series(1, pg_catalog.length(` + d + `)) AS g(i),
      LATERAL (SELECT pg_catalog.substr(pg_catalog.reverse(` + d + `), g.i, 1)::int AS n) AS k)`
}

// patterns are the counts, in order of precedence: when several reach
// their share, the first says what the column holds (a social security
// number is also shaped like a phone number).
var patterns = []pattern{
	{kind: kindText, cat: catIdentifier, str: strong, identifier: true, min: 0.5,
		what: "are Swedish personal identity numbers (personnummer, check digit valid)",
		expr: func(v string, p *params) string {
			return fmt.Sprintf("CASE WHEN %s ~ %s THEN %s ELSE false END", v, p.ref(rePnr),
				luhn(fmt.Sprintf("pg_catalog.right(pg_catalog.regexp_replace(%s, '[-+]', '', 'g'), 10)", v)))
		}},
	{kind: kindText, cat: catIdentifier, str: strong, identifier: true, min: 0.5,
		what: "are French social security numbers (NIR, key valid)",
		expr: func(v string, p *params) string {
			x := fmt.Sprintf("pg_catalog.upper(pg_catalog.replace(%s, ' ', ''))", v)
			return fmt.Sprintf("CASE WHEN %[1]s ~ %[2]s THEN 97 - (pg_catalog.replace(pg_catalog.replace(pg_catalog.substr(%[1]s, 1, 13), '2A', '19'), '2B', '18')::numeric %% 97) = pg_catalog.substr(%[1]s, 14, 2)::int ELSE false END",
				x, p.ref(reNIR))
		}},
	{kind: kindText, cat: catIdentifier, str: strong, identifier: true, min: 0.5,
		what: "are US social security numbers",
		expr: func(v string, p *params) string { return v + " ~ " + p.ref(reSSN) }},
	{kind: kindText, cat: catFinancial, str: strong, min: 0.5,
		what: "are payment card numbers (Luhn check valid)",
		expr: func(v string, p *params) string {
			d := fmt.Sprintf("pg_catalog.regexp_replace(%s, '[ -]', '', 'g')", v)
			return fmt.Sprintf("CASE WHEN %s ~ %s AND pg_catalog.length(%s) BETWEEN 13 AND 19 THEN %s ELSE false END",
				v, p.ref(reCard), d, luhn(d))
		}},
	{kind: kindText, cat: catFinancial, str: strong, min: 0.5,
		what: "are IBANs (check digits valid)",
		expr: func(v string, p *params) string {
			x := fmt.Sprintf("pg_catalog.upper(pg_catalog.replace(%s, ' ', ''))", v)
			return fmt.Sprintf(`CASE WHEN %[1]s ~ %[2]s THEN (SELECT pg_catalog.string_agg(CASE WHEN pg_catalog.ascii(u.c) BETWEEN 65 AND 90 THEN (pg_catalog.ascii(u.c) - 55)::text ELSE u.c END, '' ORDER BY u.o)
 FROM pg_catalog.unnest(pg_catalog.string_to_array(pg_catalog.substr(%[1]s, 5) || pg_catalog.substr(%[1]s, 1, 4), NULL)) WITH ORDINALITY AS u(c, o))::numeric %% 97 = 1 ELSE false END`,
				x, p.ref(reIBAN))
		}},
	{kind: kindText, cat: catEmail, str: strong, identifier: true, min: 0.5,
		what: "are e-mail addresses",
		expr: func(v string, p *params) string { return v + " ~ " + p.ref(reEmail) }},
	{kind: kindText, cat: catIPAddress, str: strong, min: 0.5,
		what: "are IP addresses",
		expr: func(v string, p *params) string {
			return fmt.Sprintf("(%[1]s ~ %[2]s OR %[1]s ~ %[3]s)", v, p.ref(reIPv4), p.ref(reIPv6))
		}},
	{kind: kindText, cat: catPhone, str: contact, min: 0.5,
		what: "are phone numbers",
		expr: func(v string, p *params) string {
			return fmt.Sprintf("(%[1]s ~ %[2]s AND %[1]s ~ %[3]s AND %[1]s !~ %[4]s AND pg_catalog.length(pg_catalog.regexp_replace(%[1]s, '[^0-9]', '', 'g')) BETWEEN 7 AND 15)",
				v, p.ref(rePhoneShape), p.ref(rePhoneMark), p.ref(reNotPhone))
		}},
	{kind: kindComposite, cat: catEmail, str: strong, min: 0.2,
		what: "contain e-mail addresses",
		expr: func(v string, p *params) string { return v + " ~ " + p.ref(reEmailIn) }},
	{kind: kindComposite, cat: catIPAddress, str: strong, min: 0.2,
		what: "contain IP addresses",
		expr: func(v string, p *params) string { return v + " ~ " + p.ref(reIPv4In) }},
	{kind: kindComposite, cat: catPhone, str: contact, min: 0.2,
		what: "contain international phone numbers",
		expr: func(v string, p *params) string { return v + " ~ " + p.ref(rePhoneIn) }},
	{kind: kindBinary, cat: catImage, str: weak, min: 0.5,
		what: "are JPEG, PNG, GIF or WebP images",
		expr: func(v string, _ *params) string {
			return fmt.Sprintf(`(pg_catalog.substr(%[1]s, 1, 3) = '\xffd8ff'::bytea OR pg_catalog.substr(%[1]s, 1, 8) = '\x89504e470d0a1a0a'::bytea
 OR pg_catalog.substr(%[1]s, 1, 4) = '\x47494638'::bytea OR (pg_catalog.substr(%[1]s, 1, 4) = '\x52494646'::bytea AND pg_catalog.substr(%[1]s, 9, 4) = '\x57454250'::bytea))`, v)
		}},
}

// params numbers a statement's parameters, each distinct value once.
type params struct {
	args []any
	refs map[string]string
}

func (p *params) ref(v string) string {
	if r, ok := p.refs[v]; ok {
		return r
	}
	if p.refs == nil {
		p.refs = map[string]string{}
	}
	p.args = append(p.args, v)
	r := "$" + strconv.Itoa(len(p.args))
	p.refs[v] = r
	return r
}

func (p *params) add(v any) string {
	p.args = append(p.args, v)
	return "$" + strconv.Itoa(len(p.args))
}

// hit is one pattern's count in one column.
type hit struct {
	p       *pattern
	matches int64
	values  int64
}

func (h hit) ratio() float64 {
	if h.values == 0 {
		return 0
	}
	return float64(h.matches) / float64(h.values)
}

func (h hit) decides() bool { return h.matches > 0 && h.ratio() >= h.p.min }

func (h hit) reason() Reason {
	return Reason{Kind: ReasonContent, Ratio: h.ratio(),
		Detail: fmt.Sprintf("content: %d/%d sampled values %s (%d%%)", h.matches, h.values, h.p.what, int(math.Round(100*h.ratio())))}
}

// tableSample is what sampling one table found.
type tableSample struct {
	sampled int64
	err     string
	columns map[string][]hit
}

// withContent weighs a column's sampled content against what its name and
// type said (s, nil when nothing): a pattern that most values match makes
// an unnamed column personal and overrides a weak name; otherwise the
// name's category stands and the pattern of that category, if any value
// matched it, is kept as a reason.
func withContent(s *signal, hits []hit) *signal {
	var best *hit
	for i := range hits {
		if hits[i].decides() {
			best = &hits[i]
			break
		}
	}
	switch {
	case best == nil && s == nil:
		return nil
	case s == nil:
		return &signal{cat: best.p.cat, str: best.p.str, identifier: best.p.identifier, evidence: true,
			reasons: []Reason{best.reason()}}
	case best != nil && best.p.cat != s.cat && s.str == weak:
		return &signal{cat: best.p.cat, str: best.p.str, identifier: best.p.identifier, evidence: true,
			reasons: append([]Reason{best.reason()}, s.reasons...)}
	}
	var support *hit
	for i := range hits {
		h := &hits[i]
		if h.p.cat == s.cat && h.matches > 0 && (support == nil || h.ratio() > support.ratio()) {
			support = h
		}
	}
	if support == nil {
		return s
	}
	out := *s
	out.reasons = append(slices.Clone(s.reasons), support.reason())
	if support.decides() {
		out.evidence = true
		out.str = max(out.str, support.p.str)
	}
	return &out
}

// plan is one table's sampling statement.
type plan struct {
	table   string
	sql     string
	args    []any
	columns []string  // the sampled columns, numbered from 1 in the statement
	kinds   []colKind // their kinds
}

// maxBatch bounds the statements of one pipelined batch (one read-only
// transaction).
const maxBatch = 32

// sampleTables samples every table that has a column worth sampling. A
// table whose statement fails is tried once more alone (in a pipeline the
// statements' preparation shares one timeout, which a loaded server may
// run out of on any of them) before its error is recorded.
func sampleTables(ctx context.Context, db DB, cat *tenantdb.Catalog, opts Options) (map[string]*tableSample, error) {
	names := make([]string, 0, len(cat.Tables))
	for name := range cat.Tables {
		names = append(names, name)
	}
	sort.Strings(names)
	var plans []*plan
	for _, name := range names {
		if p := planTable(name, cat.Tables[name], opts.SampleRows); p != nil {
			plans = append(plans, p)
		}
	}
	out := map[string]*tableSample{}
	retried := map[string]bool{}
	for len(plans) > 0 {
		chunk := plans[:min(maxBatch, len(plans))]
		if len(chunk) > 1 && retried[chunk[0].table] {
			chunk = chunk[:1]
		}
		failed, err := runBatch(ctx, db, chunk, opts, out)
		if err == nil {
			plans = plans[len(chunk):]
			continue
		}
		var pgErr *pgconn.PgError
		if ctx.Err() != nil || failed < 0 || !errors.As(err, &pgErr) {
			return nil, &safeError{fmt.Errorf("classify: sample tables: %w", err)}
		}
		// One table's statement failed and took its transaction with it:
		// try it once more alone, first, then note its error; sample the
		// tables not done yet in new transactions.
		bad := chunk[failed]
		if retried[bad.table] {
			out[bad.table] = &tableSample{err: "sampling " + bad.table + ": " + tenantdb.SafeError(err)}
		}
		retried[bad.table] = true
		rest := []*plan{}
		if out[bad.table] == nil {
			rest = append(rest, bad)
		}
		for _, p := range plans {
			if out[p.table] == nil && p != bad {
				rest = append(rest, p)
			}
		}
		plans = rest
	}
	return out, nil
}

// runBatch runs the plans in one read-only transaction whose statements
// may run for opts.StatementTimeout each, pipelined, and records each
// plan's sample in out. On an error, failed is the plan whose statement
// failed, or -1 when no single plan did (the transaction did not start,
// the connection broke).
func runBatch(ctx context.Context, db DB, plans []*plan, opts Options, out map[string]*tableSample) (failed int, err error) {
	// The settings are part of BEGIN so that they bound the statements'
	// preparation too, which waits for the tables' locks.
	begin := fmt.Sprintf("BEGIN TRANSACTION READ ONLY; SET LOCAL statement_timeout = %d; SET LOCAL max_parallel_workers_per_gather = 0",
		max(opts.StatementTimeout.Milliseconds(), 1))
	tx, err := db.BeginTx(ctx, pgx.TxOptions{BeginQuery: begin})
	if err != nil {
		return -1, err
	}
	// A read-only transaction has nothing to commit; its Rollback's error
	// cannot change what was read.
	defer func() { _ = tx.Rollback(ctx) }()
	b := &pgx.Batch{}
	failed = -1
	for i, p := range plans {
		b.Queue(p.sql, p.args...).Query(func(rows pgx.Rows) error {
			failed = i
			s, err := p.read(rows)
			if err != nil {
				return err
			}
			out[p.table] = s
			failed = -1
			return nil
		})
	}
	err = tx.SendBatch(ctx, b).Close()
	var prep pgx.ErrPreprocessingBatch
	if errors.As(err, &prep) {
		// Preparing a statement failed before any ran: find whose.
		failed, err = slices.IndexFunc(plans, func(p *plan) bool { return p.sql == prep.SQL() }), prep.Unwrap()
	}
	return failed, err
}

// planTable builds a table's sampling statement, or nil when no column is
// worth sampling. The statement reads the sample once, turns each row
// into one row per sampled column (LATERAL VALUES: number, kind, value),
// and counts per column how many values match each pattern of its kind,
// so each pattern is written once whatever the number of columns. It
// returns a row per column (k, values, a count per pattern) and a row
// k = 0 whose values are the rows sampled.
func planTable(name string, t *tenantdb.Table, rows int) *plan {
	p := &plan{table: name}
	var proj, values []string
	for _, c := range t.Columns {
		col := "t." + pgx.Identifier{c.Name}.Sanitize()
		var v, row string
		k := len(p.columns) + 1
		switch classOf(c) {
		case tText:
			p.kinds = append(p.kinds, kindText)
			v, row = fmt.Sprintf("pg_catalog.left(%s::text, 256)", col), fmt.Sprintf("(%d, %d, s.v%[1]d, NULL)", k, kindText)
		case tJSON, tArray:
			p.kinds = append(p.kinds, kindComposite)
			v, row = fmt.Sprintf("pg_catalog.left(%s::text, 4096)", col), fmt.Sprintf("(%d, %d, s.v%[1]d, NULL)", k, kindComposite)
		case tBinary:
			p.kinds = append(p.kinds, kindBinary)
			v, row = fmt.Sprintf("pg_catalog.substr(%s, 1, 16)", col), fmt.Sprintf("(%d, %d, NULL, s.v%[1]d)", k, kindBinary)
		default:
			continue
		}
		p.columns = append(p.columns, c.Name)
		proj = append(proj, fmt.Sprintf("%s AS v%d", v, k))
		values = append(values, row)
	}
	if len(p.columns) == 0 {
		return nil
	}
	var ps params
	from := t.Ident()
	limit := int64(rows)
	sel := strings.Join(proj, ", ")
	var source string
	if t.Rows > 4*limit {
		// A block sample of about four times the rows wanted; the first rows
		// of the table top it up when the sampled blocks hold too few.
		pct := 100 * float64(4*limit) / float64(t.Rows)
		source = fmt.Sprintf("(SELECT %[1]s FROM %[2]s AS t TABLESAMPLE SYSTEM (%[3]s::real) REPEATABLE (0)) UNION ALL (SELECT %[1]s FROM %[2]s AS t LIMIT %[4]s) LIMIT %[4]s",
			sel, from, ps.add(pct), ps.add(limit))
	} else {
		source = fmt.Sprintf("SELECT %s FROM %s AS t LIMIT %s", sel, from, ps.add(limit))
	}
	counts := []string{"pg_catalog.count(u.t) + pg_catalog.count(u.b) + pg_catalog.count(*) FILTER (WHERE u.k = 0)"}
	for j := range patterns {
		pt := &patterns[j]
		v := "u.t"
		if pt.kind == kindBinary {
			v = "u.b"
		}
		counts = append(counts, fmt.Sprintf("pg_catalog.count(*) FILTER (WHERE u.kind = %d AND %s)", pt.kind, pt.expr(v, &ps)))
	}
	p.sql = fmt.Sprintf(`SELECT u.k, ARRAY[%s]::bigint[]
FROM (%s) AS s,
LATERAL (VALUES (0, -1, NULL::text, NULL::bytea), %s) AS u(k, kind, t, b)
GROUP BY u.k`, strings.Join(counts, ",\n "), source, strings.Join(values, ", "))
	p.args = ps.args
	return p
}

// read reads the rows planTable's statement returns.
func (p *plan) read(rows pgx.Rows) (*tableSample, error) {
	s := &tableSample{columns: map[string][]hit{}}
	for rows.Next() {
		var (
			k      int
			counts []int64
		)
		if err := rows.Scan(&k, &counts); err != nil {
			return nil, err
		}
		if len(counts) != 1+len(patterns) || k < 0 || k > len(p.columns) {
			return nil, fmt.Errorf("classify: sample %s: column %d has %d counts, want %d", p.table, k, len(counts), 1+len(patterns))
		}
		if k == 0 {
			s.sampled = counts[0]
			continue
		}
		for j := range patterns {
			if patterns[j].kind == p.kinds[k-1] {
				s.columns[p.columns[k-1]] = append(s.columns[p.columns[k-1]], hit{p: &patterns[j], matches: counts[1+j], values: counts[0]})
			}
		}
	}
	return s, rows.Err()
}

// safeError is an error whose message is tenantdb.SafeError's: nothing a
// row value could be quoted in, with the cause kept for errors.Is and As.
type safeError struct{ err error }

func (e *safeError) Error() string { return tenantdb.SafeError(e.err) }
func (e *safeError) Unwrap() error { return e.err }
