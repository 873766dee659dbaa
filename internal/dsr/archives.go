package dsr

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	privacyv1alpha1 "github.com/lethe-dev/lethe/api/v1alpha1"
	"github.com/lethe-dev/lethe/internal/engine"
	"github.com/lethe-dev/lethe/internal/export"
)

// ArchivesPrefix starts the entity name under which an access export holds
// a subject's archived rows: `archives/<entity>`, in the JSON document and
// as `csv/<tenant>/archives_<entity>.csv`.
const ArchivesPrefix = "archives/"

// ArchivedEntity counts, among an erasure's entities, the subject's rows it
// removed from retention archives.
const ArchivedEntity = "archives"

// ArchiveColumns lead the columns of an export's archived rows: the rule
// that archived the row and its run, then the archive's own columns.
var ArchiveColumns = []string{"archiveRule", "archiveRun"}

// archiveIndex is the blind index of the request's identifiers: for each
// identifier a root of the subject type maps, the digest of that identifier
// alone, as retention wrote it with each archived row of the subject
// (engine.ArchiveSubject). An archived row is the subject's when its index
// holds every one of them, as a root row is when its identifier columns
// equal every identifier given that the root maps.
func archiveIndex(in *Input, spec *privacyv1alpha1.DataInventorySpec) []string {
	mapped := map[string]bool{}
	for _, e := range spec.Entities {
		if e.Subject != nil && e.Subject.Type == in.Run.SubjectType {
			for _, id := range e.Subject.Identifiers {
				mapped[id.Name] = true
			}
		}
	}
	var out []string
	for name, v := range in.Identifiers {
		if mapped[name] {
			out = append(out, Digest(in.Salt, in.Run.SubjectType, map[string]string{name: v}))
		}
	}
	return out
}

// archivedWhere selects the subject's rows of active archives ($1 subject
// type, $2 blind index); none when the index is empty.
const archivedWhere = `r.subject_type = $1 AND cardinality($2::text[]) > 0 AND r.subject_index @> $2::text[]
	AND EXISTS (SELECT 1 FROM lethe.archives a WHERE a.run_id = r.run_id AND a.rule = r.rule AND a.state = 'Active')`

// queueArchivedExport queues the read of the subject's archived rows onto
// b, one export table per archived entity, each row a JSON object of the
// archive's columns (as text, as the CSV holds them) led by ArchiveColumns.
func queueArchivedExport(b *pgx.Batch, in *Input, index []string, out *Outcome, total *int64) {
	b.Queue(`SELECT r.entity, a.header, r.rule, r.run_id, r.line FROM lethe.archived_rows r
		JOIN lethe.archives a ON a.run_id = r.run_id AND a.rule = r.rule
		WHERE `+archivedWhere+` ORDER BY r.entity, a.created_at, r.run_id, r.rule, r.batch, r.ord`,
		in.Run.SubjectType, index).Query(func(rows pgx.Rows) error {
		tables := map[string]*export.Table{}
		var order []string
		for rows.Next() {
			var entity, header, rule, run, line string
			if err := rows.Scan(&entity, &header, &rule, &run, &line); err != nil {
				return fmt.Errorf("read archived rows: %w", err)
			}
			cols, err := csv.NewReader(strings.NewReader(header)).Read()
			if err != nil {
				return fmt.Errorf("archive %s of run %s: header: %w", rule, run, err)
			}
			values, err := csv.NewReader(strings.NewReader(line)).Read()
			if err != nil || len(values) != len(cols) {
				return fmt.Errorf("archive %s of run %s: a row of entity %s does not read as CSV of %d columns", rule, run, entity, len(cols))
			}
			name := ArchivesPrefix + entity
			t := tables[name]
			if t == nil {
				t = &export.Table{Tenant: in.Tenant, Entity: name, Columns: append(append([]string{}, ArchiveColumns...), cols...)}
				tables[name] = t
				order = append(order, name)
			}
			obj := make(map[string]string, len(cols)+2)
			obj[ArchiveColumns[0]], obj[ArchiveColumns[1]] = rule, run
			for i, c := range cols {
				obj[c] = values[i]
			}
			data, err := json.Marshal(obj)
			if err != nil {
				return err
			}
			t.Rows = append(t.Rows, data)
			*total++
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("read archived rows: %w", err)
		}
		for _, name := range order {
			out.Export = append(out.Export, *tables[name])
			out.Entities = append(out.Entities, EntityOutcome{Entity: name, Found: int64(len(tables[name].Rows))})
		}
		return nil
	})
}

// eraseArchived removes the subject's rows from every active archive, for
// an erasure, in one transaction with its audit record: the rows of the
// entities the erasure changes (not those the inventory keeps), and the
// CSV of each batch they were in written again from the lines that remain,
// so the archive reads as if they had never been archived. It is done
// before the erasure's own batches and finds nothing when done again.
func eraseArchived(ctx context.Context, pool *pgxpool.Pool, in *Input, spec *privacyv1alpha1.DataInventorySpec) (int64, error) {
	index := archiveIndex(in, spec)
	if len(index) == 0 {
		return 0, nil
	}
	var keep []string
	for _, e := range spec.Entities {
		if e.OnErasure == privacyv1alpha1.ErasureKeep {
			keep = append(keep, e.Name)
		}
	}
	var n int64
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		var runs, rules []string
		var batches []int32
		err := tx.QueryRow(ctx, `WITH d AS (
				DELETE FROM lethe.archived_rows r WHERE `+archivedWhere+` AND NOT (r.entity = ANY($3::text[]))
				RETURNING r.run_id, r.rule, r.batch),
			b AS (SELECT run_id, rule, batch, count(*) AS n FROM d GROUP BY 1, 2, 3),
			a AS (UPDATE lethe.archives x SET rows = x.rows - s.n
				FROM (SELECT run_id, rule, sum(n) AS n FROM b GROUP BY 1, 2) s WHERE x.run_id = s.run_id AND x.rule = s.rule RETURNING 1),
			c AS (UPDATE lethe.retention_archives x SET rows = x.rows - b.n FROM b
				WHERE x.run_id = b.run_id AND x.rule = b.rule AND x.batch = b.batch RETURNING 1)
			SELECT COALESCE(sum(n), 0)::bigint, COALESCE(array_agg(run_id), '{}'), COALESCE(array_agg(rule), '{}'),
				COALESCE(array_agg(batch), '{}') FROM b`, in.Run.SubjectType, index, nonNilStrings(keep)).Scan(&n, &runs, &rules, &batches)
		if err != nil || n == 0 {
			return err
		}
		// The CSV of each batch that lost rows, from the lines left: the
		// archive's first batch keeps the header.
		if _, err := tx.Exec(ctx, `UPDATE lethe.retention_archives x SET csv =
				CASE WHEN x.batch = (SELECT min(f.batch) FROM lethe.retention_archives f WHERE f.run_id = x.run_id AND f.rule = x.rule)
					THEN a.header ELSE '' END ||
				COALESCE((SELECT string_agg(r.line, '' ORDER BY r.ord) FROM lethe.archived_rows r
					WHERE r.run_id = x.run_id AND r.rule = x.rule AND r.batch = x.batch), '')
			FROM lethe.archives a, unnest($1::text[], $2::text[], $3::int[]) AS b (run_id, rule, batch)
			WHERE a.run_id = x.run_id AND a.rule = x.rule AND x.run_id = b.run_id AND x.rule = b.rule AND x.batch = b.batch`,
			runs, rules, batches); err != nil {
			return err
		}
		return engine.AppendRecord(ctx, tx, &in.Run, "EraseArchived", "", n)
	})
	return n, err
}

func nonNilStrings(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
