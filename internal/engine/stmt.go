package engine

import (
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/lethe-dev/lethe/internal/audit"
	"github.com/lethe-dev/lethe/internal/masking"
	"github.com/lethe-dev/lethe/internal/tenantdb"
)

// selection is how a batch takes its rows: listed keys, or the next rows of
// a keyset step in key order.
type selection struct {
	// keys, when not nil, are the rows (key texts).
	keys []string
	// keyset: the step's condition, the key after which to start (column
	// texts; nil from the part's start), the part's bounds on the first key
	// column (lo exclusive, hi inclusive; nil open) and the batch size.
	after  []string
	lo, hi *string
	limit  int
	cutoff *time.Time
}

// checkpoint is how a batch moves its step's checkpoint (keyset steps).
type checkpointUpdate struct {
	// computed from the batch's own selection (the fast path), or given.
	computed bool
	matched  int64
	last     *string
	done     bool
	keyset   bool
	locked   []string
	retries  int
}

// batchSQL is one batch: its identity in the ledger and what it does.
type batchSQL struct {
	run   *Run
	step  *Step
	part  int
	batch int
	sel   selection
	cp    *checkpointUpdate
	// changed, when not nil, makes a finishing statement: the rows were
	// changed by earlier statements of the transaction (one row at a
	// time), and only the ledger, checkpoint, marks and audit record are
	// written, for these keys.
	changed []string
	// auditEmpty appends an audit record even when no row changed.
	auditEmpty bool
	// changedRel is what the ledger and the marks read the changed rows
	// from: lethe_changed, or the union of a partitioned batch's changes
	// by row versions, one a partition, read in place.
	changedRel string
}

// The columns the batch statement returns.
type batchResult struct {
	rows     int64
	selected int64
	last     *string
	effects  []byte
}

func (r *batchResult) dest() []any { return []any{&r.rows, &r.selected, &r.last, &r.effects} }

// byTID says the batch updates its rows through the row versions its
// selection read (ctid), not through the key's index: a keyset batch that
// updates. The rows are then fetched directly, without one index search
// per row. A partitioned table's ctids repeat from one partition to the
// next, so there the selection also reads each row's partition (tableoid)
// and the batch updates each partition that holds some of its rows by
// name (a table of more than maxTIDPartitions partitions is updated by
// key). A selected row another transaction updated or deleted since has a
// new version, or none, which the update by ctid does not find, and so
// has a row of a partition created since the catalog was read: then the
// statement fails through lethe.raise_conflict (SQLSTATE 40001,
// isConflict), and the batch is done again by key (slowKeyset), which
// takes rows as they are now.
func (b *batchSQL) byTID() bool {
	s, t := b.step, b.step.Target
	if b.sel.keys != nil || b.changed != nil || s.Set == nil {
		return false
	}
	return !t.Partitioned || (t.Table != nil && len(t.Table.Partitions) > 0 && len(t.Table.Partitions) <= maxTIDPartitions)
}

// maxTIDPartitions bounds the partitions a batch by row versions names
// one UPDATE each for.
const maxTIDPartitions = 64

// The columns of the selection holding a row's version and its partition
// (byTID).
const (
	tid  = "lethe_tid"
	toid = "lethe_toid"
)

// statement builds the batch's one statement: select the rows, change
// them and what the plan says goes with them, record the ledger row, the
// checkpoint and the marks, and append the audit record.
func (b *batchSQL) statement() (string, []any, error) {
	s, t := b.step, b.step.Target
	args := &masking.Args{}
	var ctes []string
	add := func(name, body string) { ctes = append(ctes, name+" AS ("+body+")") }
	b.changedRel = "lethe_changed"

	if b.changed != nil {
		add("lethe_sel", t.listed(args.Add(nonNil(b.changed))))
		add("lethe_stat", t.stat())
		add("lethe_changed", fmt.Sprintf("SELECT %s AS lethe_k FROM lethe_sel", t.KeyText("lethe_sel")))
		add("lethe_fx", "SELECT '[]'::jsonb AS fx")
	} else {
		sel, err := b.selectSQL(args)
		if err != nil {
			return "", nil, err
		}
		add("lethe_sel", sel)
		add("lethe_stat", t.stat())
		if s.Archive != nil {
			add("lethe_arch", b.archiveSQL(args))
			add("lethe_arows", b.archivedRowsSQL(args))
			add("lethe_archive", b.archiveRowSQL(args))
		}
		fx, err := b.changeCTEs(args, add)
		if err != nil {
			return "", nil, err
		}
		add("lethe_fx", fx)
	}
	for i, m := range s.Marks {
		vals := make([]string, 0, len(m.Values)+1)
		for _, v := range m.Values {
			vals = append(vals, args.Add(v))
		}
		vals = append(vals, "lethe_k")
		add(fmt.Sprintf("lethe_m%d", i), fmt.Sprintf("%s SELECT %s FROM %s ON CONFLICT DO NOTHING", m.Insert, strings.Join(vals, ", "), b.changedRel))
	}
	now := args.Add(b.run.now())
	add("lethe_led", fmt.Sprintf(`INSERT INTO lethe.run_batches (run_uid, step, part, batch, entity, table_name, action, rows, keys, effects, done_at)
		SELECT %s, %s, %s, %s, %s, %s, %s, count(*), COALESCE(array_agg(lethe_k), '{}'::text[]),
			NULLIF((SELECT fx FROM lethe_fx), '[]'::jsonb), %s FROM %s RETURNING rows`,
		args.Add(b.run.UID), args.Add(s.name()), args.Add(b.part), args.Add(b.batch), args.Add(s.Entity), args.Add(t.Name),
		args.Add(s.Action), now, b.changedRel))
	if b.cp != nil {
		add("lethe_cp", b.checkpointSQL(args, now))
	}
	detail := fmt.Sprintf(`concat_ws('; ', NULLIF(%s::text, ''), (SELECT string_agg(format('%%s %%s %%s rows (%%s)', x ->> 'action', x ->> 'table', x ->> 'rows', x ->> 'constraint'), '; ')
		FROM jsonb_array_elements((SELECT fx FROM lethe_fx)) AS x))`, args.Add(s.Detail))
	call, auditArgs := audit.AppendCallWith(audit.Record{Time: b.run.now(), Actor: b.run.Actor, Object: b.run.Object,
		Action: s.Action, Entity: s.Entity, SubjectDigest: b.run.SubjectDigest}, args.Len()+1, "lethe_led.rows", detail)
	for _, v := range auditArgs {
		args.Add(v)
	}
	when := "lethe_led.rows > 0 OR (SELECT fx FROM lethe_fx) <> '[]'::jsonb"
	if b.auditEmpty {
		when = "true"
	}
	if b.byTID() {
		when = fmt.Sprintf("CASE WHEN lethe_led.rows < lethe_stat.n THEN lethe.raise_conflict(%s) ELSE %s END",
			args.Add("a selected row of "+t.Name+" was changed by another transaction; the batch is done again by key"), when)
	}
	sql := "WITH " + strings.Join(ctes, ",\n") + fmt.Sprintf(`
SELECT lethe_led.rows, lethe_stat.n, lethe_stat.last, (SELECT fx FROM lethe_fx)::text,
	CASE WHEN %s THEN (SELECT entry_id FROM %s) END
FROM lethe_led, lethe_stat`, when, call)
	return sql, args.Values(), nil
}

// selectSQL is the batch's selection: its key columns, by name.
func (b *batchSQL) selectSQL(args *masking.Args) (string, error) {
	t := b.step.Target
	if b.sel.keys != nil {
		return t.listed(args.Add(b.sel.keys)), nil
	}
	where, err := b.step.Where(args, b.sel.cutoff)
	if err != nil {
		return "", err
	}
	conds := []string{"(" + where + ")"}
	first := t.Key[0]
	if b.sel.lo != nil {
		conds = append(conds, fmt.Sprintf("%s.%s > CAST(%s::text AS %s)", Row, first.Ident, args.Add(*b.sel.lo), first.Type))
	}
	if b.sel.hi != nil {
		conds = append(conds, fmt.Sprintf("%s.%s <= CAST(%s::text AS %s)", Row, first.Ident, args.Add(*b.sel.hi), first.Type))
	}
	if b.sel.after != nil {
		params := make([]string, len(b.sel.after))
		for i, v := range b.sel.after {
			params[i] = args.Add(v)
		}
		conds = append(conds, t.After(Row, params, false))
		if t.Composite() {
			// Implied by the row comparison; stated, it lets the executor
			// leave out the partitions before the batch's first key.
			conds = append(conds, fmt.Sprintf("%s.%s >= CAST(%s::text AS %s)", Row, first.Ident, params[0], first.Type))
		}
	}
	cols := t.Cols(Row)
	if b.byTID() {
		cols += ", " + Row + ".ctid AS " + tid
		if t.Partitioned {
			cols += ", " + Row + ".tableoid AS " + toid
		}
	}
	return fmt.Sprintf("SELECT %s FROM %s AS %s WHERE %s ORDER BY %s LIMIT %d", // #nosec G201 -- identifiers sanitized, values are parameters
		cols, t.Ident, Row, strings.Join(conds, " AND "), t.OrderBy(Row), b.sel.limit), nil
}

// changeCTEs adds the change and what goes with it, ending with
// lethe_changed (the keys of the rows changed, lethe_k), and returns the
// body of lethe_fx: the effects on other tables as a JSON array.
func (b *batchSQL) changeCTEs(args *masking.Args, add func(name, body string)) (string, error) {
	s, t := b.step, b.step.Target
	returning := fmt.Sprintf(" RETURNING %s AS lethe_k", t.KeyText(Row))
	var effects []string
	switch {
	case s.Set != nil:
		head, err := s.Set(args, "((SELECT n FROM lethe_stat) > 1)")
		if err != nil {
			return "", err
		}
		switch {
		case !b.byTID():
			add("lethe_changed", head+" WHERE "+t.inRel(Row, "lethe_sel")+returning)
		case !t.Partitioned:
			add("lethe_changed", fmt.Sprintf("%s WHERE %s.ctid = ANY(ARRAY(SELECT %s FROM lethe_sel))%s", head, Row, tid, returning))
		default:
			if err := b.partitionChanges(args, head, returning, add); err != nil {
				return "", err
			}
		}
	case s.Delete != nil:
		var err error
		if effects, err = b.deletionCTEs(args, add); err != nil {
			return "", err
		}
		add("lethe_changed", fmt.Sprintf("DELETE FROM %s AS %s WHERE %s", t.Ident, Row, t.inRel(Row, "lethe_sel"))+returning) // #nosec G202 -- identifiers sanitized
	default:
		add("lethe_changed", fmt.Sprintf("SELECT %s AS lethe_k FROM lethe_sel", t.KeyText("lethe_sel")))
	}
	if len(effects) == 0 {
		return "SELECT '[]'::jsonb AS fx", nil
	}
	return fmt.Sprintf(`SELECT COALESCE(jsonb_agg(x) FILTER (WHERE (x ->> 'rows')::bigint > 0), '[]'::jsonb) AS fx FROM (VALUES %s) AS v (x)`,
		strings.Join(effects, ", ")), nil
}

// partitionChanges adds a partitioned batch's change by row versions: the
// selection's ctids grouped by partition (lethe_tids), then one UPDATE of
// each leaf partition, by name, of its ctids (none for a partition that
// holds none of the batch's rows: its TID scan reads nothing). head is the
// step's `UPDATE <target> AS lethe_row SET ...`.
func (b *batchSQL) partitionChanges(args *masking.Args, head, returning string, add func(name, body string)) error {
	t := b.step.Target
	at := strings.Index(head, " AS "+Row+" SET ")
	if !strings.HasPrefix(head, "UPDATE ") || at < 0 {
		return fmt.Errorf("step %s: its change does not start with UPDATE <table> AS %s SET", b.step.name(), Row)
	}
	set := head[at:]
	add("lethe_tids", fmt.Sprintf("SELECT %s, array_agg(%s) AS tids FROM lethe_sel GROUP BY %s", toid, tid, toid))
	changes := make([]string, len(t.Table.Partitions))
	for i, p := range t.Table.Partitions {
		name := fmt.Sprintf("lethe_p%d", i)
		add(name, fmt.Sprintf("UPDATE ONLY %s%s WHERE %s.ctid = ANY((SELECT tids FROM lethe_tids WHERE %s = CAST(%s::text AS pg_catalog.regclass))::pg_catalog.tid[])%s", // #nosec G201 -- identifiers sanitized
			p.Sanitize(), set, Row, toid, args.Add(p.Sanitize()), returning))
		changes[i] = "SELECT lethe_k FROM " + name
	}
	b.changedRel = "(" + strings.Join(changes, " UNION ALL ") + ") AS lethe_changed"
	return nil
}

// deletionCTEs adds the rows that go with the deleted rows (children
// selected then deleted per table), the unlinks and the counts of ON
// DELETE actions, and returns the effects' JSON values.
func (b *batchSQL) deletionCTEs(args *masking.Args, add func(name, body string)) ([]string, error) {
	d, t := b.step.Delete, b.step.Target
	targetOf := func(i int) (*Target, string) {
		if i < 0 {
			return t, "lethe_sel"
		}
		return d.Children[i].Target, fmt.Sprintf("lethe_c%d", i)
	}
	effect := func(table, constraint, action, count string) string {
		return fmt.Sprintf("(jsonb_build_object('table', %s::text, 'constraint', %s::text, 'action', %s::text, 'rows', (%s)))",
			args.Add(table), args.Add(constraint), args.Add(action), count)
	}
	// The rows each table loses, by table: the step's own, and each
	// child's selections.
	rels := map[string][]string{t.Name: {"lethe_sel"}}
	var tables []string
	for i, c := range d.Children {
		pt, prel := targetOf(c.Parent)
		add(fmt.Sprintf("lethe_c%d", i), fmt.Sprintf("SELECT %s FROM %s AS %s WHERE %s", // #nosec G201 -- identifiers sanitized
			c.Target.Cols(Row), c.Target.Ident, Row, refersTo(Row, c.FK.Columns, pt, prel, c.FK.RefColumns)))
		if _, ok := rels[c.Target.Name]; !ok {
			tables = append(tables, c.Target.Name)
		}
		rels[c.Target.Name] = append(rels[c.Target.Name], fmt.Sprintf("lethe_c%d", i))
	}
	var out []string
	for j, name := range tables {
		var ct *Target
		var constraints []string
		for _, c := range d.Children {
			if c.Target.Name == name {
				ct = c.Target
				constraints = append(constraints, c.FK.Name)
			}
		}
		add(fmt.Sprintf("lethe_cd%d", j), fmt.Sprintf("DELETE FROM %s AS %s WHERE %s RETURNING 1", ct.Ident, Row, ct.inRels(Row, rels[name]))) // #nosec G201 -- identifiers sanitized
		out = append(out, effect(name, strings.Join(constraints, ","), "DELETE", fmt.Sprintf("SELECT count(*) FROM lethe_cd%d", j)))
	}
	for i, u := range d.Unlinks {
		pt, prel := targetOf(u.Parent)
		sets := make([]string, len(u.FK.Columns))
		for k, c := range u.FK.Columns {
			sets[k] = pgx.Identifier{c}.Sanitize() + " = NULL"
		}
		cond := refersTo(Row, u.FK.Columns, pt, prel, u.FK.RefColumns)
		if own, ok := rels[u.From.Name]; ok {
			cond += " AND NOT " + u.From.inRels(Row, own)
		}
		add(fmt.Sprintf("lethe_u%d", i), fmt.Sprintf("UPDATE %s AS %s SET %s WHERE %s RETURNING 1", u.From.Ident, Row, strings.Join(sets, ", "), cond)) // #nosec G201 -- identifiers sanitized
		out = append(out, effect(u.FK.Table, u.FK.Name, "UNLINK", fmt.Sprintf("SELECT count(*) FROM lethe_u%d", i)))
	}
	for _, e := range d.Effects {
		pt, prel := targetOf(e.Parent)
		ref, err := tenantdb.QuoteTable(e.FK.Table)
		if err != nil {
			return nil, err
		}
		out = append(out, effect(e.FK.Table, e.FK.Name, e.FK.OnDelete, fmt.Sprintf("SELECT count(*) FROM %s AS %s WHERE %s",
			ref, Row, refersTo(Row, e.FK.Columns, pt, prel, e.FK.RefColumns))))
	}
	return out, nil
}

// archiveSQL writes the selected rows, as they are before the change, as
// RFC 4180 CSV (CRLF line ends, a field quoted when it holds a comma, a
// quote, a line break or leading white space; NULL is an empty field) into
// lethe.retention_archives, the header before the archive's first rows.
func (b *batchSQL) archiveSQL(args *masking.Args) string {
	a, t := b.step.Archive, b.step.Target
	fields := make([]string, len(a.Columns))
	header := make([]string, len(a.Columns))
	for i, c := range a.Columns {
		fields[i] = csvField(Row + "." + pgx.Identifier{c}.Sanitize() + "::text")
		header[i] = csvQuote(c)
	}
	run, name := args.Add(b.run.UID), args.Add(a.Name)
	return fmt.Sprintf(`INSERT INTO lethe.retention_archives (run_id, rule, batch, rows, csv)
		SELECT %[1]s, %[2]s, %[3]s, count(*),
			CASE WHEN NOT EXISTS (SELECT 1 FROM lethe.retention_archives WHERE run_id = %[1]s AND rule = %[2]s) THEN %[4]s::text ELSE '' END ||
			string_agg(concat_ws(',', %[5]s) || E'\r\n', '' ORDER BY %[6]s)
		FROM %[7]s AS %[8]s WHERE %[9]s HAVING count(*) > 0`,
		run, name, args.Add(b.batch), args.Add(strings.Join(header, ",")+"\r\n"), strings.Join(fields, ", "),
		t.OrderBy(Row), t.Ident, Row, t.inRel(Row, "lethe_sel"))
}

// csvField quotes a text expression as a CSV field.
func csvField(v string) string {
	return fmt.Sprintf(`CASE WHEN %[1]s IS NULL THEN '' WHEN %[1]s ~ '[",\r\n]' OR %[1]s ~ '^[[:space:]]' OR %[1]s = '\.' THEN '"' || replace(%[1]s, '"', '""') || '"' ELSE %[1]s END`, v)
}

// csvQuote quotes a column name as CSV field, as csvField does in SQL.
func csvQuote(s string) string {
	if strings.ContainsAny(s, "\",\r\n") || (s != "" && strings.ContainsAny(s[:1], " \t\n\r\v\f")) || s == `\.` {
		return `"` + strings.ReplaceAll(s, `"`, `""`) + `"`
	}
	return s
}

// checkpointSQL moves the part's checkpoint with the batch.
func (b *batchSQL) checkpointSQL(args *masking.Args, now string) string {
	where := fmt.Sprintf("run_uid = %s AND step = %s AND part = %s", args.Add(b.run.UID), args.Add(b.step.name()), args.Add(b.part))
	if b.cp.computed {
		limit := args.Add(b.sel.limit)
		return fmt.Sprintf(`UPDATE lethe.run_steps SET batches = batches + 1,
			matched = matched + lethe_stat.n, changed = changed + (SELECT rows FROM lethe_led),
			last_key = COALESCE(lethe_stat.last, last_key),
			keyset_done = lethe_stat.n < %s::int,
			done = lethe_stat.n < %s::int AND cardinality(locked_keys) = 0,
			updated_at = %s FROM lethe_stat WHERE %s`, limit, limit, now, where)
	}
	c := b.cp
	return fmt.Sprintf(`UPDATE lethe.run_steps SET batches = batches + 1, matched = matched + %s::bigint,
		changed = changed + (SELECT rows FROM lethe_led), last_key = COALESCE(%s::text, last_key), keyset_done = %s::boolean,
		locked_keys = %s::text[], retries = %s::int, done = %s::boolean, updated_at = %s WHERE %s`,
		args.Add(c.matched), args.Add(c.last), args.Add(c.keyset), args.Add(nonNil(c.locked)), args.Add(c.retries), args.Add(c.done), now, where)
}

// listed selects the key columns, by name, of the key texts in the text[]
// parameter param.
func (t *Target) listed(param string) string {
	if !t.Composite() {
		k := t.Key[0]
		return fmt.Sprintf("SELECT CAST(lethe_t AS %s) AS %s FROM pg_catalog.unnest(%s::text[]) AS lethe_t", k.Type, k.Ident, param)
	}
	cols := make([]string, len(t.Key))
	for i, k := range t.Key {
		cols[i] = fmt.Sprintf("CAST(lethe_k.j ->> %d AS %s) AS %s", i, k.Type, k.Ident)
	}
	return fmt.Sprintf("SELECT %s FROM (SELECT CAST(lethe_t AS jsonb) AS j FROM pg_catalog.unnest(%s::text[]) AS lethe_t) AS lethe_k",
		strings.Join(cols, ", "), param)
}

// inRel is the condition that alias's key is among the rows of rel, a
// relation whose columns are the key columns by name.
func (t *Target) inRel(alias, rel string) string { return t.inRels(alias, []string{rel}) }

// inRels is inRel over the union of several relations.
func (t *Target) inRels(alias string, rels []string) string {
	parts := make([]string, len(rels))
	for i, r := range rels {
		parts[i] = fmt.Sprintf("SELECT %s FROM %s", t.Cols(r), r)
	}
	union := strings.Join(parts, " UNION ALL ")
	if !t.Composite() {
		return fmt.Sprintf("%s.%s = ANY(ARRAY(%s))", alias, t.Key[0].Ident, union)
	}
	return fmt.Sprintf("(%s) IN (%s)", t.Cols(alias), union)
}

// refersTo is the condition that alias's columns cols refer to rows of
// parent that are in the relation rel, through parent's columns refs.
func refersTo(alias string, cols []string, parent *Target, rel string, refs []string) string {
	mine := make([]string, len(cols))
	for i, c := range cols {
		mine[i] = alias + "." + pgx.Identifier{c}.Sanitize()
	}
	keyRefs := len(refs) == len(parent.Key)
	theirs := make([]string, len(refs))
	for i, r := range refs {
		theirs[i] = "lethe_p." + pgx.Identifier{r}.Sanitize()
		keyRefs = keyRefs && parent.Key[i].Name == r
	}
	var sub string
	if keyRefs {
		// The foreign key refers to the key itself: the relation holds it.
		sub = fmt.Sprintf("SELECT %s FROM %s", parent.Cols(rel), rel)
	} else {
		sub = fmt.Sprintf("SELECT %s FROM %s AS lethe_p WHERE %s", strings.Join(theirs, ", "), parent.Ident, parent.inRel("lethe_p", rel))
	}
	if len(cols) == 1 {
		return fmt.Sprintf("%s = ANY(ARRAY(%s))", mine[0], sub)
	}
	return fmt.Sprintf("(%s) IN (%s)", strings.Join(mine, ", "), sub)
}

// stat is the body of lethe_stat: how many rows lethe_sel holds (n) and
// the key text of the last in key order (last; NULL when none), each
// computed once for the whole statement.
func (t *Target) stat() string {
	desc := make([]string, len(t.Key))
	for i, k := range t.Key {
		desc[i] = "lethe_sel." + k.Ident + " DESC"
	}
	return fmt.Sprintf("SELECT (SELECT count(*) FROM lethe_sel) AS n, (SELECT %s FROM (SELECT %s FROM lethe_sel ORDER BY %s LIMIT 1) AS lethe_last) AS last",
		t.KeyText("lethe_last"), t.Cols("lethe_sel"), strings.Join(desc, ", "))
}
