package engine

import (
	"context"
	"errors"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/lethe-dev/lethe/internal/audit"
)

// archiveDigest is the SHA-256 of a done archive step's CSV, its batches
// in order, as ArchiveOf returns it. It is computed once, kept with the
// step's checkpoint and recorded in the audit log in the same transaction.
func archiveDigest(ctx context.Context, pool *pgxpool.Pool, run *Run, s *Step, cp *checkpoint) (string, error) {
	if cp.archive != "" {
		return cp.archive, nil
	}
	var sha *string
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		err := tx.QueryRow(ctx, `WITH d AS (
				SELECT encode(sha256(convert_to(string_agg(csv, '' ORDER BY batch), 'UTF8')), 'hex') AS sha
				FROM lethe.retention_archives WHERE run_id = $1 AND rule = $2)
			UPDATE lethe.run_steps SET archive_sha256 = COALESCE((SELECT sha FROM d), '')
			WHERE run_uid = $1 AND step = $3 AND part = $4 AND archive_sha256 IS NULL RETURNING archive_sha256`,
			run.UID, s.Archive.Name, s.name(), cp.part).Scan(&sha)
		if errors.Is(err, pgx.ErrNoRows) {
			return tx.QueryRow(ctx, `SELECT archive_sha256 FROM lethe.run_steps WHERE run_uid = $1 AND step = $2 AND part = $3`,
				run.UID, s.name(), cp.part).Scan(&sha)
		}
		if err != nil || sha == nil || *sha == "" {
			return err
		}
		r := auditRecord(run, s.Action, s.Entity, 0)
		r.Detail = strings.TrimPrefix(s.Detail+", archive sha256 "+*sha, ", ")
		_, err = audit.Append(ctx, tx, r)
		return err
	})
	if err != nil || sha == nil {
		return "", err
	}
	cp.archive = *sha
	return *sha, nil
}

// ArchiveOf returns an archive of a run, as one CSV document.
func ArchiveOf(ctx context.Context, pool *pgxpool.Pool, runID, name string) (string, error) {
	var out *string
	err := pool.QueryRow(ctx, `SELECT string_agg(csv, '' ORDER BY batch) FROM lethe.retention_archives
		WHERE run_id = $1 AND rule = $2`, runID, name).Scan(&out)
	if err != nil || out == nil {
		return "", err
	}
	return *out, nil
}
