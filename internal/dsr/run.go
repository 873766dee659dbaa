package dsr

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	privacyv1alpha1 "github.com/lethe-dev/lethe/api/v1alpha1"
	"github.com/lethe-dev/lethe/internal/engine"
	"github.com/lethe-dev/lethe/internal/export"
	"github.com/lethe-dev/lethe/internal/inventory"
	"github.com/lethe-dev/lethe/internal/tenantdb"
)

// Input is one request in one tenant database.
type Input struct {
	Run         engine.Run
	Type        privacyv1alpha1.RequestType
	Tenant      string
	Inventory   *privacyv1alpha1.DataInventorySpec
	Identifiers map[string]string
	// Method and Overrides, for Erasure.
	Method    privacyv1alpha1.ErasureMethod
	Overrides map[string]privacyv1alpha1.ErasureMethod
	// Rectify maps `entity.column` to its new value, for Rectification.
	Rectify map[string]string
	// Lift, for Restriction, lifts an earlier restriction.
	Lift bool
	// HashKeys holds the keys of Hash strategies by "secret/key".
	HashKeys map[string][]byte
	// Salt keys Fake values, so a fake cannot be matched to a guessed input.
	Salt []byte
	// LargeTable is the estimated row count from which a lookup without an
	// index is refused; 0 means DefaultLargeTable.
	LargeTable int64
	Engine     engine.Options
	// BlindKey, for Erasure, is the namespace's blind-index key: with it,
	// the erasure's completion writes its tombstone (Tombstone).
	BlindKey []byte
	// RequestName names the request in its tombstone.
	RequestName string
	// reapply, for a re-application, is the tombstone whose subject is
	// erased again, its roots found by blind index (ReapplyErasure).
	reapply *Tombstone
}

// EntityOutcome counts one entity's rows.
type EntityOutcome struct {
	Entity  string
	Found   int64
	Changed int64
	Shared  int64
	Columns []privacyv1alpha1.ColumnCount
	// Effects are the rows other tables lost or had changed through
	// foreign keys while this entity's rows were deleted.
	Effects engine.Effects
}

// Outcome is what a request did in one tenant database.
type Outcome struct {
	Entities []EntityOutcome
	// Export holds the subject's rows, for Access, and where they were
	// found (table and key of each row), for Discovery: it goes into the
	// request's export, never into its status.
	Export []export.Table
	// Archived counts the archived rows of the subject an erasure removed
	// from retention archives.
	Archived int64
	// Remaining lists `schema.table.column` still holding an identifier
	// after erasure; empty means verified.
	Remaining []string
	// Tombstone, for an erasure run with a blind-index key, is what its
	// completion wrote into lethe.erasure_tombstones.
	Tombstone *Tombstone
}

// DefaultLargeTable is the estimated size from which a table must have an
// index for every lookup a request makes on it.
const DefaultLargeTable = 100_000

// InventoryError says the inventory cannot be planned on this database:
// each problem names the entity and what is missing or wrong.
type InventoryError struct{ Problems []string }

func (e *InventoryError) Error() string {
	return "the inventory does not match the database: " + strings.Join(e.Problems, "; ")
}

// MissingIndexError refuses a plan that would scan large tables.
type MissingIndexError struct{ Missing []string }

func (e *MissingIndexError) Error() string {
	return "the plan needs indexes the database lacks: " + strings.Join(e.Missing, "; ")
}

// Execute carries out the request in one tenant database.
func Execute(ctx context.Context, pool *pgxpool.Pool, in *Input) (*Outcome, error) {
	cat, err := tenantdb.CachedCatalog(ctx, pool)
	if err != nil {
		return nil, fmt.Errorf("read the catalog: %w", err)
	}
	spec, problems := inventory.Resolve(in.Inventory, cat)
	problems = append(problems, inventory.Validate(spec, cat)...)
	if len(problems) > 0 {
		return nil, &InventoryError{Problems: problems}
	}
	large := in.LargeTable
	if large <= 0 {
		large = DefaultLargeTable
	}
	if missing := inventory.MissingIndexes(spec, cat, in.Run.SubjectType, large); len(missing) > 0 && in.Type != privacyv1alpha1.RequestRestriction {
		return nil, &MissingIndexError{Missing: missing}
	}
	find := func() (*inventory.SubjectRows, error) {
		return inventory.Find(ctx, pool, spec, cat, in.Run.SubjectType, in.Identifiers)
	}
	switch in.Type {
	case privacyv1alpha1.RequestDiscovery:
		return discover(ctx, pool, in, spec, cat, find)
	case privacyv1alpha1.RequestAccess:
		return access(ctx, pool, in, spec, cat, find)
	case privacyv1alpha1.RequestErasure, privacyv1alpha1.RequestRectification:
		return change(ctx, pool, in, spec, cat)
	case privacyv1alpha1.RequestRestriction:
		return restrict(ctx, pool, in, spec, cat, find)
	}
	return nil, fmt.Errorf("unknown request type %q", in.Type)
}

func discover(ctx context.Context, pool *pgxpool.Pool, in *Input, spec *privacyv1alpha1.DataInventorySpec, cat *tenantdb.Catalog, find func() (*inventory.SubjectRows, error)) (*Outcome, error) {
	rows, err := find()
	if err != nil {
		return nil, err
	}
	out := &Outcome{Export: discoveryExport(in.Tenant, rows)}
	counts, err := scan(ctx, pool, spec, cat.Tables, in.Identifiers)
	if err != nil {
		return nil, err
	}
	found := map[string]inventory.EntityRows{}
	for _, e := range rows.Entities {
		found[e.Entity.Name] = e
	}
	for _, e := range spec.Entities {
		eo := EntityOutcome{Entity: e.Name, Found: int64(len(found[e.Name].Keys) + len(found[e.Name].Shared)),
			Shared: int64(len(found[e.Name].Shared)), Columns: counts[e.Name]}
		if eo.Found > 0 || len(eo.Columns) > 0 {
			out.Entities = append(out.Entities, eo)
		}
	}
	return out, engine.Record(ctx, pool, &in.Run, "Discover", "", rows.Total())
}

// DiscoveryColumns are the columns of a Discovery export's rows: the table
// a row of the subject is in, its key (a JSON array of the columns' texts
// for a composite key), whether the identifiers found it (a root row) and
// whether other subjects share it.
var DiscoveryColumns = []string{"table", "key", "root", "shared"}

// discoveryExport lists where the subject's rows are, per entity.
func discoveryExport(tenant string, rows *inventory.SubjectRows) []export.Table {
	out := make([]export.Table, 0, len(rows.Entities))
	for _, e := range rows.Entities {
		root := make(map[string]bool, len(e.Roots))
		for _, k := range e.Roots {
			root[k] = true
		}
		t := export.Table{Tenant: tenant, Entity: e.Entity.Name, Columns: DiscoveryColumns}
		add := func(k string, shared bool) {
			row, _ := json.Marshal(struct {
				Table  string `json:"table"`
				Key    string `json:"key"`
				Root   bool   `json:"root"`
				Shared bool   `json:"shared"`
			}{e.Entity.Table, k, root[k], shared})
			t.Rows = append(t.Rows, row)
		}
		for _, k := range e.Keys {
			add(k, false)
		}
		for _, k := range e.Shared {
			add(k, true)
		}
		out = append(out, t)
	}
	return out
}

func access(ctx context.Context, pool *pgxpool.Pool, in *Input, spec *privacyv1alpha1.DataInventorySpec, cat *tenantdb.Catalog, find func() (*inventory.SubjectRows, error)) (*Outcome, error) {
	rows, err := find()
	if err != nil {
		return nil, err
	}
	out := &Outcome{}
	// Every entity's rows are read, and the export audited, in one round
	// trip.
	b := &pgx.Batch{}
	b.Queue("BEGIN")
	for _, e := range rows.Entities {
		keys := append(append([]string{}, e.Keys...), e.Shared...)
		t, err := targetOf(cat, e.Entity)
		if err != nil {
			return nil, err
		}
		sql := rowsSQL(t)
		b.Queue(sql, keys).Query(func(qr pgx.Rows) error {
			texts, err := pgx.CollectRows(qr, pgx.RowTo[string])
			if err != nil {
				return fmt.Errorf("entity %s: %w", e.Entity.Name, err)
			}
			data := make([]json.RawMessage, len(texts))
			for i, t := range texts {
				data[i] = json.RawMessage(t)
			}
			cols := make([]string, len(e.Table.Columns))
			for i, c := range e.Table.Columns {
				cols[i] = c.Name
			}
			out.Export = append(out.Export, export.Table{Tenant: in.Tenant, Entity: e.Entity.Name, Columns: cols, Rows: data})
			out.Entities = append(out.Entities, EntityOutcome{Entity: e.Entity.Name, Found: int64(len(texts)), Shared: int64(len(e.Shared))})
			return nil
		})
	}
	engine.QueueRecord(b, &in.Run, "Export", "", rows.Total())
	var archived int64
	queueArchivedExport(b, in, archiveIndex(in, spec), out, &archived)
	b.Queue("COMMIT")
	if err := engine.SendTx(ctx, pool, b); err != nil {
		return nil, err
	}
	if archived > 0 {
		// The archived rows' own record, counted once they are read.
		if err := engine.Record(ctx, pool, &in.Run, "ExportArchived", "", archived); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// rowsSQL reads whole rows as JSON objects, in key order, for the keys in
// $1.
func rowsSQL(t *engine.Target) string {
	return fmt.Sprintf("SELECT pg_catalog.row_to_json(r)::text FROM %s AS r WHERE %s ORDER BY %s", t.Ident, t.In("r", "$1"), t.OrderBy("r")) // #nosec G201 -- identifiers sanitized
}

// restrict marks the subject restricted, and records its rows so retention
// and pseudonymization skip them; lifting removes both.
func restrict(ctx context.Context, pool *pgxpool.Pool, in *Input, spec *privacyv1alpha1.DataInventorySpec, cat *tenantdb.Catalog, find func() (*inventory.SubjectRows, error)) (*Outcome, error) {
	action := "Restrict"
	out := &Outcome{}
	flags, err := restrictionFlags(in, spec, cat)
	if err != nil {
		return nil, err
	}
	var found *inventory.SubjectRows
	if !in.Lift {
		var err error
		if found, err = find(); err != nil {
			return nil, err
		}
	}
	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		b := &pgx.Batch{}
		if in.Lift {
			action = "LiftRestriction"
			b.Queue("DELETE FROM lethe.restrictions WHERE subject_type = $1 AND subject_digest = $2",
				in.Run.SubjectType, in.Run.SubjectDigest)
			for _, f := range flags {
				b.Queue(f.sql(false), in.Run.SubjectType, in.Run.SubjectDigest, f.entity)
			}
			b.Queue("DELETE FROM lethe.restricted_rows WHERE subject_type = $1 AND subject_digest = $2",
				in.Run.SubjectType, in.Run.SubjectDigest)
		} else {
			b.Queue(`INSERT INTO lethe.restrictions (subject_type, subject_digest, request_uid, restricted_at)
				VALUES ($1, $2, $3, $4) ON CONFLICT (subject_type, subject_digest) DO NOTHING`,
				in.Run.SubjectType, in.Run.SubjectDigest, in.Run.UID, in.Run.Now())
			for _, e := range found.Entities {
				b.Queue(`INSERT INTO lethe.restricted_rows (subject_type, subject_digest, entity, key)
					SELECT $1, $2, $3, unnest($4::text[]) ON CONFLICT DO NOTHING`,
					in.Run.SubjectType, in.Run.SubjectDigest, e.Entity.Name, append(append([]string{}, e.Keys...), e.Shared...))
				out.Entities = append(out.Entities, EntityOutcome{Entity: e.Entity.Name, Found: int64(len(e.Keys) + len(e.Shared))})
			}
			for _, f := range flags {
				b.Queue(f.sql(true), in.Run.SubjectType, in.Run.SubjectDigest, f.entity)
			}
		}
		if err := tx.SendBatch(ctx, b).Close(); err != nil {
			return err
		}
		return engine.AppendRecord(ctx, tx, &in.Run, action, "", 0)
	})
	return out, err
}

// restrictionFlag is a root entity's declared restricted column.
type restrictionFlag struct {
	entity string
	target *engine.Target
	column string // sanitized
}

// sql sets the flag on the subject's recorded rows of the entity ($1
// subject type, $2 digest, $3 entity).
func (f restrictionFlag) sql(on bool) string {
	return fmt.Sprintf(`UPDATE %s AS r SET %s = %t WHERE %s`, f.target.Ident, f.column, on, // #nosec G201 -- identifiers sanitized
		f.target.In("r", `ARRAY(SELECT key FROM lethe.restricted_rows WHERE subject_type = $1 AND subject_digest = $2 AND entity = $3)`))
}

// restrictionFlags lists the restricted columns of the request's subject
// type's root entities.
func restrictionFlags(in *Input, spec *privacyv1alpha1.DataInventorySpec, cat *tenantdb.Catalog) ([]restrictionFlag, error) {
	var out []restrictionFlag
	for i := range spec.Entities {
		e := &spec.Entities[i]
		if e.Subject == nil || e.Subject.Type != in.Run.SubjectType || e.Subject.RestrictedColumn == "" {
			continue
		}
		t, err := targetOf(cat, e)
		if err != nil {
			return nil, err
		}
		out = append(out, restrictionFlag{entity: e.Name, target: t, column: pgx.Identifier{e.Subject.RestrictedColumn}.Sanitize()})
	}
	return out, nil
}

// Restricted says whether a subject is restricted in the database.
func Restricted(ctx context.Context, q tenantdb.Querier, subjectType, digest string) (bool, error) {
	var ok bool
	err := q.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM lethe.restrictions WHERE subject_type = $1 AND subject_digest = $2)",
		subjectType, digest).Scan(&ok)
	return ok, err
}
