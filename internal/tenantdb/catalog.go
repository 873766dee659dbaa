package tenantdb

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// Querier is what the catalog and audit readers need: a pool, a connection
// or a transaction.
type Querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// BatchQuerier is a Querier that can also pipeline statements: a pool or a
// connection.
type BatchQuerier interface {
	Querier
	SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults
}

// Column is a column of a live table.
type Column struct {
	Name string
	// Type is the SQL type as PostgreSQL prints it (format_type).
	Type string
	// Category is pg_type.typcategory: S string, N numeric, D date/time,
	// B boolean, I network address, U user-defined, A array, ...
	Category byte
	NotNull  bool
	// Unique is true when the column alone is unique: it is the only key
	// column of a unique index (a primary key, a unique constraint, or a
	// unique index, partial ones included). Expression indexes and
	// multi-column keys do not count.
	Unique bool
	// Indexed is true when the column leads some index, so an equality
	// lookup on it does not scan the table.
	Indexed bool
	// Constrained is true when a CHECK constraint of the table names the
	// column or its type is a domain: which values it takes only a trial
	// tells.
	Constrained bool
}

// Table is a live table (ordinary or partitioned; partitions are not listed:
// they are reached through their parent).
type Table struct {
	Schema      string
	Name        string
	Partitioned bool
	Columns     []Column
	PrimaryKey  []string
	// Key is the columns that identify a row: the primary key, or, for a
	// table without one, the unique index over NOT NULL columns with the
	// fewest columns (then the first by name). Empty when there is neither.
	Key []string
	// KeySource says where Key comes from: "primary key" or "unique index
	// NAME".
	KeySource string
	// UniqueKeys are the table's non-partial unique indexes over plain
	// columns, the primary key included: the columns a foreign key may
	// reference.
	UniqueKeys [][]string
	// Indexes are the key columns of every index, in index order; an
	// expression column is "".
	Indexes [][]string
	// Rows is PostgreSQL's estimate of the table's rows (pg_class.reltuples,
	// summed over partitions; 0 when never analysed).
	Rows int64
	// Referencing, in ReadTextColumns' answer, marks a table read because
	// it holds a foreign key into one of the tables asked for.
	Referencing bool
}

// Column finds a column by name.
func (t *Table) Column(name string) (Column, bool) {
	for _, c := range t.Columns {
		if c.Name == name {
			return c, true
		}
	}
	return Column{}, false
}

// TableName is the table's schema and name.
func (t *Table) TableName() TableName { return TableName{Schema: t.Schema, Name: t.Name} }

// Ident is the table's name quoted for SQL.
func (t *Table) Ident() string { return t.TableName().Sanitize() }

// IndexedOn says whether an index's leading columns are exactly cols, in
// any order, so an equality lookup on them reads the index.
func (t *Table) IndexedOn(cols []string) bool {
	if len(cols) == 0 {
		return false
	}
	for _, idx := range t.Indexes {
		if len(idx) < len(cols) {
			continue
		}
		lead := slices.Clone(idx[:len(cols)])
		want := slices.Clone(cols)
		slices.Sort(lead)
		slices.Sort(want)
		if slices.Equal(lead, want) {
			return true
		}
	}
	return false
}

// IsUniqueKey says whether cols, in any order, are a unique key of the
// table.
func (t *Table) IsUniqueKey(cols []string) bool {
	want := slices.Clone(cols)
	slices.Sort(want)
	for _, k := range t.UniqueKeys {
		have := slices.Clone(k)
		slices.Sort(have)
		if slices.Equal(have, want) {
			return true
		}
	}
	return false
}

// The ON DELETE actions of a foreign key.
const (
	OnDeleteNoAction   = "NO ACTION"
	OnDeleteRestrict   = "RESTRICT"
	OnDeleteCascade    = "CASCADE"
	OnDeleteSetNull    = "SET NULL"
	OnDeleteSetDefault = "SET DEFAULT"
)

// ForeignKey is a foreign-key constraint.
type ForeignKey struct {
	// Name is the constraint's name.
	Name       string
	Table      string // canonical schema.table (TableName.String)
	Columns    []string
	RefTable   string // canonical schema.table
	RefColumns []string
	// OnDelete is what deleting a referenced row does: one of the
	// OnDelete constants.
	OnDelete string
	// OnUpdate is what changing a referenced row's key columns does: one
	// of the OnDelete constants. Only CASCADE lets a masking strategy
	// change a referenced column while rows refer to it.
	OnUpdate string
	// Deferrable says the check can be deferred to commit (SET CONSTRAINTS).
	Deferrable bool
}

// Blocks says whether the constraint refuses to delete a row that another
// row still refers to (NO ACTION or RESTRICT), rather than acting on the
// referring row.
func (fk ForeignKey) Blocks() bool {
	return fk.OnDelete == OnDeleteNoAction || fk.OnDelete == OnDeleteRestrict
}

// Catalog is the part of a database's live schema the operator checks
// inventories against: every user table outside the system schemas and the
// operator's own.
type Catalog struct {
	Tables      map[string]*Table // by canonical schema.table
	ForeignKeys []ForeignKey
	// Views are the views and materialized views, by canonical name: they
	// cannot be an inventory's entities.
	Views map[string]bool
}

// Table finds a table by its name as an inventory writes it.
func (c *Catalog) Table(name string) (*Table, bool) {
	t, ok := c.Tables[CanonicalTableName(name)]
	return t, ok
}

// Referencing lists the foreign keys that refer to table (canonical name),
// in the catalog's order.
func (c *Catalog) Referencing(table string) []ForeignKey {
	var out []ForeignKey
	for _, fk := range c.ForeignKeys {
		if fk.RefTable == table {
			out = append(out, fk)
		}
	}
	return out
}

const userRelations = `n.nspname NOT IN ('pg_catalog', 'information_schema', 'lethe') AND n.nspname NOT LIKE 'pg\_%'`

const columnsSQL = `
SELECT n.nspname, c.relname, c.relkind = 'p', a.attname,
       pg_catalog.format_type(a.atttypid, a.atttypmod), t.typcategory::text, a.attnotnull,
       EXISTS (SELECT 1 FROM pg_catalog.pg_index i
               WHERE i.indrelid = c.oid AND i.indisunique AND i.indnkeyatts = 1 AND i.indkey[0] = a.attnum),
       EXISTS (SELECT 1 FROM pg_catalog.pg_index i WHERE i.indrelid = c.oid AND i.indkey[0] = a.attnum),
       t.typtype = 'd' OR EXISTS (SELECT 1 FROM pg_catalog.pg_constraint k
                                  WHERE k.conrelid = c.oid AND k.contype = 'c' AND a.attnum = ANY (k.conkey)),
       GREATEST(c.reltuples, 0)::bigint +
         COALESCE((SELECT sum(GREATEST(p.reltuples, 0))::bigint FROM pg_catalog.pg_inherits h
                   JOIN pg_catalog.pg_class p ON p.oid = h.inhrelid WHERE h.inhparent = c.oid), 0)
FROM pg_catalog.pg_class c
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
JOIN pg_catalog.pg_type t ON t.oid = a.atttypid
WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition AND ` + userRelations + `
ORDER BY n.nspname, c.relname, a.attnum`

// indexesSQL lists every index of the user tables: its name, whether it is
// unique, partial, the primary key, and its key columns (an empty name for an
// expression), with whether each is NOT NULL.
const indexesSQL = `
SELECT n.nspname, c.relname, ic.relname, i.indisunique, i.indpred IS NOT NULL, i.indisprimary,
       ARRAY(SELECT COALESCE(a.attname::text, '') FROM pg_catalog.unnest(i.indkey[0:i.indnkeyatts - 1]) WITH ORDINALITY AS k(attnum, ord)
             LEFT JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum = k.attnum ORDER BY k.ord),
       ARRAY(SELECT COALESCE(a.attnotnull, false) FROM pg_catalog.unnest(i.indkey[0:i.indnkeyatts - 1]) WITH ORDINALITY AS k(attnum, ord)
             LEFT JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum = k.attnum ORDER BY k.ord)
FROM pg_catalog.pg_index i
JOIN pg_catalog.pg_class c ON c.oid = i.indrelid
JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition AND ` + userRelations + `
ORDER BY n.nspname, c.relname, ic.relname`

const constraintsSQL = `
SELECT con.contype::text, con.conname, n.nspname, c.relname,
       ARRAY(SELECT a.attname::text FROM pg_catalog.unnest(con.conkey) WITH ORDINALITY AS k(attnum, ord)
             JOIN pg_catalog.pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.attnum ORDER BY k.ord),
       COALESCE(rn.nspname, ''), COALESCE(rc.relname, ''),
       ARRAY(SELECT a.attname::text FROM pg_catalog.unnest(con.confkey) WITH ORDINALITY AS k(attnum, ord)
             JOIN pg_catalog.pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.attnum ORDER BY k.ord),
       con.confdeltype::text, con.confupdtype::text, con.condeferrable
FROM pg_catalog.pg_constraint con
JOIN pg_catalog.pg_class c ON c.oid = con.conrelid
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_catalog.pg_class rc ON rc.oid = con.confrelid
LEFT JOIN pg_catalog.pg_namespace rn ON rn.oid = rc.relnamespace
WHERE con.contype IN ('p', 'f') AND con.conparentid = 0 AND NOT c.relispartition AND ` + userRelations + `
ORDER BY 1, 3, 4, con.conname`

const viewsSQL = `
SELECT n.nspname, c.relname FROM pg_catalog.pg_class c
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('v', 'm') AND ` + userRelations

var fkActions = map[string]string{"a": OnDeleteNoAction, "r": OnDeleteRestrict, "c": OnDeleteCascade,
	"n": OnDeleteSetNull, "d": OnDeleteSetDefault}

// ReadCatalog reads the live catalog, in one round trip.
func ReadCatalog(ctx context.Context, q BatchQuerier) (*Catalog, error) {
	cat := &Catalog{Tables: map[string]*Table{}, Views: map[string]bool{}}
	b := &pgx.Batch{}
	b.Queue(columnsSQL).Query(func(rows pgx.Rows) error {
		for rows.Next() {
			var (
				schema, table, col, typ, category string
				partitioned, notNull, unique      bool
				indexed, constrained              bool
				estimate                          int64
			)
			if err := rows.Scan(&schema, &table, &partitioned, &col, &typ, &category, &notNull, &unique, &indexed, &constrained, &estimate); err != nil {
				return err
			}
			key := TableName{schema, table}.String()
			t, ok := cat.Tables[key]
			if !ok {
				t = &Table{Schema: schema, Name: table, Partitioned: partitioned, Rows: estimate}
				cat.Tables[key] = t
			}
			c := Column{Name: col, Type: typ, NotNull: notNull, Unique: unique, Indexed: indexed, Constrained: constrained}
			if category != "" {
				c.Category = category[0]
			}
			t.Columns = append(t.Columns, c)
		}
		return rows.Err()
	})
	b.Queue(indexesSQL).Query(func(rows pgx.Rows) error {
		for rows.Next() {
			var (
				schema, table, index     string
				unique, partial, primary bool
				cols                     []string
				notNull                  []bool
			)
			if err := rows.Scan(&schema, &table, &index, &unique, &partial, &primary, &cols, &notNull); err != nil {
				return err
			}
			if t, ok := cat.Tables[TableName{schema, table}.String()]; ok {
				addIndex(t, index, unique && !partial, primary, cols, notNull)
			}
		}
		return rows.Err()
	})
	b.Queue(constraintsSQL).Query(func(rows pgx.Rows) error {
		for rows.Next() {
			var (
				kind, name, schema, table, refSchema, refTable, del, upd string
				cols, refCols                                            []string
				deferrable                                               bool
			)
			if err := rows.Scan(&kind, &name, &schema, &table, &cols, &refSchema, &refTable, &refCols, &del, &upd, &deferrable); err != nil {
				return err
			}
			key := TableName{schema, table}.String()
			switch kind {
			case "p":
				if t, ok := cat.Tables[key]; ok {
					t.PrimaryKey, t.Key, t.KeySource = cols, cols, "primary key"
				}
			case "f":
				cat.ForeignKeys = append(cat.ForeignKeys, ForeignKey{Name: name, Table: key, Columns: cols,
					RefTable: TableName{refSchema, refTable}.String(), RefColumns: refCols, OnDelete: fkActions[del], OnUpdate: fkActions[upd], Deferrable: deferrable})
			}
		}
		return rows.Err()
	})
	b.Queue(viewsSQL).Query(func(rows pgx.Rows) error {
		for rows.Next() {
			var schema, name string
			if err := rows.Scan(&schema, &name); err != nil {
				return err
			}
			cat.Views[TableName{schema, name}.String()] = true
		}
		return rows.Err()
	})
	if err := q.SendBatch(ctx, b).Close(); err != nil {
		return nil, err
	}
	return cat, nil
}

// addIndex records an index of t and, for a table without a primary key,
// keeps the smallest unique index over NOT NULL plain columns as its key
// (indexes come in name order, so the first of equal size wins).
func addIndex(t *Table, name string, unique, primary bool, cols []string, notNull []bool) {
	t.Indexes = append(t.Indexes, cols)
	if !unique || slices.Contains(cols, "") {
		return
	}
	t.UniqueKeys = append(t.UniqueKeys, cols)
	if primary || len(t.PrimaryKey) > 0 || slices.Contains(notNull, false) {
		return
	}
	if len(t.Key) == 0 || len(cols) < len(t.Key) {
		t.Key, t.KeySource = cols, "unique index "+name
	}
}

const textColumnsSQL = `
WITH given AS (
  SELECT c.oid FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
  WHERE (n.nspname, c.relname) IN (SELECT * FROM unnest($1::text[], $2::text[]))
), scanned AS (
  SELECT oid, false AS referencing FROM given
  UNION
  SELECT f.conrelid, true FROM pg_catalog.pg_constraint f
  WHERE $3 AND f.contype = 'f' AND f.confrelid IN (SELECT oid FROM given) AND f.conrelid NOT IN (SELECT oid FROM given)
)
SELECT n.nspname, c.relname, bool_and(s.referencing), a.attname, t.typcategory::text, pg_catalog.format_type(a.atttypid, a.atttypmod)
FROM scanned s
JOIN pg_catalog.pg_class c ON c.oid = s.oid
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
JOIN pg_catalog.pg_type t ON t.oid = a.atttypid
LEFT JOIN pg_catalog.pg_type e ON e.oid = t.typelem AND t.typcategory = 'A'
WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition
  AND (t.typcategory = 'S' OR t.typname IN ('json', 'jsonb') OR e.typcategory = 'S')
GROUP BY n.nspname, c.relname, a.attname, a.attnum, t.typcategory, a.atttypid, a.atttypmod
ORDER BY n.nspname, c.relname, a.attnum`

// ReadTextColumns reads from the live catalog, in one statement, the
// columns of the given tables (as an inventory names them) that can hold an
// identifier: text (type category S), json and jsonb, and arrays of text
// (category A), with their category and type, in column order, keyed by
// canonical name. With referencing, the tables that hold a foreign key into
// one of them are read too, marked Referencing. A table that does not
// exist, or has no such column, is left out.
func ReadTextColumns(ctx context.Context, q Querier, tables []string, referencing bool) (map[string]*Table, error) {
	schemas, names := make([]string, 0, len(tables)), make([]string, 0, len(tables))
	for _, t := range tables {
		if n, err := ParseTableName(t); err == nil {
			schemas, names = append(schemas, n.Schema), append(names, n.Name)
		}
	}
	rows, err := q.Query(ctx, textColumnsSQL, schemas, names, referencing)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]*Table{}
	for rows.Next() {
		var schema, table, col, category, typ string
		var ref bool
		if err := rows.Scan(&schema, &table, &ref, &col, &category, &typ); err != nil {
			return nil, err
		}
		key := TableName{schema, table}.String()
		t, ok := out[key]
		if !ok {
			t = &Table{Schema: schema, Name: table, Referencing: ref}
			out[key] = t
		}
		t.Columns = append(t.Columns, Column{Name: col, Category: category[0], Type: typ})
	}
	return out, rows.Err()
}

// catalogTTL is how long a cached catalog serves: schema changes are seen
// within it.
const catalogTTL = 10 * time.Second

var catalogs = struct {
	sync.Mutex
	m map[Querier]cachedCatalog
}{m: map[Querier]cachedCatalog{}}

type cachedCatalog struct {
	cat *Catalog
	at  time.Time
}

// CachedCatalog reads the catalog through q at most once per catalogTTL.
// Callers must not modify the returned catalog.
func CachedCatalog(ctx context.Context, q BatchQuerier) (*Catalog, error) {
	catalogs.Lock()
	c, ok := catalogs.m[q]
	catalogs.Unlock()
	if ok && time.Since(c.at) < catalogTTL {
		return c.cat, nil
	}
	cat, err := ReadCatalog(ctx, q)
	if err != nil {
		return nil, err
	}
	catalogs.Lock()
	defer catalogs.Unlock()
	for k, v := range catalogs.m {
		if time.Since(v.at) >= catalogTTL {
			delete(catalogs.m, k)
		}
	}
	catalogs.m[q] = cachedCatalog{cat: cat, at: time.Now()}
	return cat, nil
}
