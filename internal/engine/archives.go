package engine

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/lethe-dev/lethe/internal/audit"
	"github.com/lethe-dev/lethe/internal/tenantdb"
)

// The states of an archive (lethe.archives.state).
const (
	ArchiveActive  = "Active"
	ArchiveExpired = "Expired"
	ArchiveDeleted = "Deleted"
)

// ArchiveInfo is one archive as lethe.archives records it: never its rows.
type ArchiveInfo struct {
	Run, Rule, Entity string
	Rows              int64
	CreatedAt         time.Time
	State             string
	EndedAt           *time.Time
	// SHA256 is the digest of the archive's CSV as its run wrote it (see
	// archiveDigest); an erasure since may have removed rows of it.
	SHA256 string
}

// Archives lists the archives of an object's runs (a RetentionPolicy's,
// by its UID: its runs are named `<uid>-...`), newest first.
func Archives(ctx context.Context, q tenantdb.Querier, objectUID string) ([]ArchiveInfo, error) {
	rows, err := q.Query(ctx, `SELECT a.run_id, a.rule, a.entity, a.rows, a.created_at, a.state, a.ended_at,
			COALESCE((SELECT max(s.archive_sha256) FROM lethe.run_steps s WHERE s.run_uid = a.run_id AND s.step = a.rule), '')
		FROM lethe.archives a
		WHERE left(a.run_id, length($1) + 1) = $1 || '-'
		ORDER BY a.created_at DESC, a.run_id, a.rule`, objectUID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []ArchiveInfo
	for rows.Next() {
		var a ArchiveInfo
		if err := rows.Scan(&a.Run, &a.Rule, &a.Entity, &a.Rows, &a.CreatedAt, &a.State, &a.EndedAt, &a.SHA256); err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

// EndArchive expires or deletes (state) one active archive: its rows and
// its CSV are deleted, lethe.archives keeps what it was (run, rule, rows,
// dates) with its new state, and the audit log records the act (action
// ExpireArchive or DeleteArchive, the entity, the rows, the rule and run;
// no row value) in the same transaction, as run (the policy's) did it. It
// says whether there was such an active archive.
func EndArchive(ctx context.Context, pool *pgxpool.Pool, run *Run, runID, rule, state string) (bool, error) {
	action := map[string]string{ArchiveExpired: "ExpireArchive", ArchiveDeleted: "DeleteArchive"}[state]
	if action == "" {
		return false, fmt.Errorf("an archive ends Expired or Deleted, not %q", state)
	}
	ended := false
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		var entity string
		var rows int64
		err := tx.QueryRow(ctx, `UPDATE lethe.archives SET state = $3, ended_at = $4
			WHERE run_id = $1 AND rule = $2 AND state = 'Active' RETURNING entity, rows`, runID, rule, state, run.now()).Scan(&entity, &rows)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		if err != nil {
			return err
		}
		b := &pgx.Batch{}
		b.Queue("DELETE FROM lethe.archived_rows WHERE run_id = $1 AND rule = $2", runID, rule)
		b.Queue("DELETE FROM lethe.retention_archives WHERE run_id = $1 AND rule = $2", runID, rule)
		if err := tx.SendBatch(ctx, b).Close(); err != nil {
			return err
		}
		r := auditRecord(run, action, entity, rows)
		r.Detail = fmt.Sprintf("rule %s, run %s", rule, runID)
		if _, err := audit.Append(ctx, tx, r); err != nil {
			return err
		}
		ended = true
		return nil
	})
	return ended, err
}

// ExpireArchives expires every active archive of rule, written by the
// object's runs, older than retainFor (a PostgreSQL interval, in calendar
// units of time zone tz) at now; it returns the archives it expired.
func ExpireArchives(ctx context.Context, pool *pgxpool.Pool, run *Run, objectUID, rule, retainFor, tz string, now time.Time) ([]ArchiveInfo, error) {
	rows, err := pool.Query(ctx, `SELECT a.run_id FROM lethe.archives a
		WHERE a.rule = $2 AND a.state = 'Active'
			AND left(a.run_id, length($1) + 1) = $1 || '-'
			AND a.created_at < ((($3::timestamptz AT TIME ZONE $4::text) - $5::interval) AT TIME ZONE $4::text)
		ORDER BY a.created_at, a.run_id`, objectUID, rule, now, tz, retainFor)
	if err != nil {
		return nil, err
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, err
	}
	var out []ArchiveInfo
	for _, id := range ids {
		ok, err := EndArchive(ctx, pool, run, id, rule, ArchiveExpired)
		if err != nil {
			return out, err
		}
		if ok {
			out = append(out, ArchiveInfo{Run: id, Rule: rule, State: ArchiveExpired})
		}
	}
	return out, nil
}
