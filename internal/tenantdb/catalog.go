package tenantdb

import (
	"context"
	"strings"
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
}

// Table is a live table (ordinary or partitioned; partitions are not listed).
type Table struct {
	Schema      string
	Name        string
	Partitioned bool
	Columns     []Column
	PrimaryKey  []string
	// Rows is PostgreSQL's estimate of the table's rows (pg_class.reltuples;
	// 0 when never analysed).
	Rows int64
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

// ForeignKey is a foreign-key constraint.
type ForeignKey struct {
	Table      string // schema.table
	Columns    []string
	RefTable   string // schema.table
	RefColumns []string
}

// Catalog is the part of a database's live schema the operator checks
// inventories against: every user table outside the system schemas and the
// operator's own.
type Catalog struct {
	Tables      map[string]*Table // by schema.table
	ForeignKeys []ForeignKey
}

const columnsSQL = `
SELECT n.nspname, c.relname, c.relkind = 'p', a.attname,
       pg_catalog.format_type(a.atttypid, a.atttypmod), t.typcategory::text, a.attnotnull,
       EXISTS (SELECT 1 FROM pg_catalog.pg_index i
               WHERE i.indrelid = c.oid AND i.indisunique AND i.indnkeyatts = 1 AND i.indkey[0] = a.attnum),
       EXISTS (SELECT 1 FROM pg_catalog.pg_index i WHERE i.indrelid = c.oid AND i.indkey[0] = a.attnum),
       GREATEST(c.reltuples, 0)::bigint +
         COALESCE((SELECT sum(GREATEST(p.reltuples, 0))::bigint FROM pg_catalog.pg_inherits h
                   JOIN pg_catalog.pg_class p ON p.oid = h.inhrelid WHERE h.inhparent = c.oid), 0)
FROM pg_catalog.pg_class c
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
JOIN pg_catalog.pg_type t ON t.oid = a.atttypid
WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition
  AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'lethe') AND n.nspname NOT LIKE 'pg\_%'
ORDER BY n.nspname, c.relname, a.attnum`

const constraintsSQL = `
SELECT con.contype::text, n.nspname || '.' || c.relname,
       ARRAY(SELECT a.attname::text FROM pg_catalog.unnest(con.conkey) WITH ORDINALITY AS k(attnum, ord)
             JOIN pg_catalog.pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.attnum ORDER BY k.ord),
       COALESCE(rn.nspname || '.' || rc.relname, ''),
       ARRAY(SELECT a.attname::text FROM pg_catalog.unnest(con.confkey) WITH ORDINALITY AS k(attnum, ord)
             JOIN pg_catalog.pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.attnum ORDER BY k.ord)
FROM pg_catalog.pg_constraint con
JOIN pg_catalog.pg_class c ON c.oid = con.conrelid
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_catalog.pg_class rc ON rc.oid = con.confrelid
LEFT JOIN pg_catalog.pg_namespace rn ON rn.oid = rc.relnamespace
WHERE con.contype IN ('p', 'f') AND con.conparentid = 0 AND NOT c.relispartition
  AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'lethe') AND n.nspname NOT LIKE 'pg\_%'
ORDER BY 1, 2, con.conname`

// ReadCatalog reads the live catalog.
func ReadCatalog(ctx context.Context, q Querier) (*Catalog, error) {
	cat := &Catalog{Tables: map[string]*Table{}}
	rows, err := q.Query(ctx, columnsSQL)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var (
			schema, table, col, typ, category string
			partitioned, notNull, unique      bool
			indexed                           bool
			estimate                          int64
		)
		if err := rows.Scan(&schema, &table, &partitioned, &col, &typ, &category, &notNull, &unique, &indexed, &estimate); err != nil {
			rows.Close()
			return nil, err
		}
		key := schema + "." + table
		t, ok := cat.Tables[key]
		if !ok {
			t = &Table{Schema: schema, Name: table, Partitioned: partitioned, Rows: estimate}
			cat.Tables[key] = t
		}
		c := Column{Name: col, Type: typ, NotNull: notNull, Unique: unique, Indexed: indexed}
		if category != "" {
			c.Category = category[0]
		}
		t.Columns = append(t.Columns, c)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}

	rows, err = q.Query(ctx, constraintsSQL)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var (
			kind, table, refTable string
			cols, refCols         []string
		)
		if err := rows.Scan(&kind, &table, &cols, &refTable, &refCols); err != nil {
			return nil, err
		}
		switch kind {
		case "p":
			if t, ok := cat.Tables[table]; ok {
				t.PrimaryKey = cols
			}
		case "f":
			cat.ForeignKeys = append(cat.ForeignKeys, ForeignKey{Table: table, Columns: cols, RefTable: refTable, RefColumns: refCols})
		}
	}
	return cat, rows.Err()
}

const textColumnsSQL = `
SELECT n.nspname, c.relname, a.attname
FROM pg_catalog.pg_class c
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
JOIN pg_catalog.pg_type t ON t.oid = a.atttypid
WHERE c.relkind IN ('r', 'p') AND c.relname = ANY($2::text[]) AND n.nspname || '.' || c.relname = ANY($1::text[])
  AND t.typcategory = 'S'
ORDER BY n.nspname, c.relname, a.attnum`

// ReadTextColumns reads from the live catalog, in one statement, the text
// columns (type category S) of the given tables ("schema.table"), in
// column order. A table that does not exist, or has no text column, is
// left out.
func ReadTextColumns(ctx context.Context, q Querier, tables []string) (map[string]*Table, error) {
	names := make([]string, len(tables))
	for i, t := range tables {
		_, names[i], _ = strings.Cut(t, ".")
	}
	rows, err := q.Query(ctx, textColumnsSQL, tables, names)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]*Table{}
	for rows.Next() {
		var schema, table, col string
		if err := rows.Scan(&schema, &table, &col); err != nil {
			return nil, err
		}
		key := schema + "." + table
		t, ok := out[key]
		if !ok {
			t = &Table{Schema: schema, Name: table}
			out[key] = t
		}
		t.Columns = append(t.Columns, Column{Name: col, Category: 'S'})
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
func CachedCatalog(ctx context.Context, q Querier) (*Catalog, error) {
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
