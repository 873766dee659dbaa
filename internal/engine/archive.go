package engine

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/lethe-dev/lethe/internal/audit"
	"github.com/lethe-dev/lethe/internal/masking"
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

// archivedRowsSQL writes each selected row into lethe.archived_rows: its
// place in the batch (the order of the batch's CSV), key, CSV line, and
// the subject it belongs to.
func (b *batchSQL) archivedRowsSQL(args *masking.Args) string {
	a, t := b.step.Archive, b.step.Target
	fields := make([]string, len(a.Columns))
	for i, c := range a.Columns {
		fields[i] = csvField(Row + "." + pgx.Identifier{c}.Sanitize() + "::text")
	}
	subjectType, digest, index, joins := "NULL::text", "NULL::text", "NULL::text[]", ""
	if sub := a.Subject; sub != nil && len(sub.Identifiers) > 0 {
		subjectType, digest, index = sub.sql(args)
		joins = sub.Joins
	}
	return fmt.Sprintf(`INSERT INTO lethe.archived_rows (run_id, rule, batch, ord, entity, key, subject_type, subject_digest, subject_index, line)
		SELECT %[1]s, %[2]s, %[3]s, row_number() OVER (ORDER BY %[4]s), %[5]s, %[6]s, %[7]s, %[8]s, %[9]s,
			concat_ws(',', %[10]s) || E'\r\n'
		FROM %[11]s AS %[12]s %[13]s WHERE %[14]s RETURNING 1`,
		args.Add(b.run.UID), args.Add(a.Name), args.Add(b.batch), t.OrderBy(Row), args.Add(b.step.Entity), t.KeyText(Row),
		subjectType, digest, index, strings.Join(fields, ", "), t.Ident, Row, joins, t.inRel(Row, "lethe_sel"))
}

// archiveRowSQL records the archive in lethe.archives with its first rows,
// and counts the rows of every batch.
func (b *batchSQL) archiveRowSQL(args *masking.Args) string {
	a := b.step.Archive
	header := make([]string, len(a.Columns))
	for i, c := range a.Columns {
		header[i] = csvQuote(c)
	}
	return fmt.Sprintf(`INSERT INTO lethe.archives AS lethe_a (run_id, rule, entity, header, rows, created_at)
		SELECT %s, %s, %s, %s, count(*), %s FROM lethe_arows HAVING count(*) > 0
		ON CONFLICT (run_id, rule) DO UPDATE SET rows = lethe_a.rows + EXCLUDED.rows RETURNING 1`,
		args.Add(b.run.UID), args.Add(a.Name), args.Add(b.step.Entity), args.Add(strings.Join(header, ",")+"\r\n"), args.Add(b.run.now()))
}

// sql is the archived row's subject type, subject digest and blind index.
// The digest is Digest's over every identifier of the root (NULL when one
// is NULL); the blind index holds, per identifier that is not NULL, the
// digest of that identifier alone, which is what a request that gives
// only it computes (see ArchiveIndex).
func (s *ArchiveSubject) sql(args *masking.Args) (subjectType, digest, index string) {
	inner, outer := hmacPads(s.Salt)
	pi, po := args.Add(inner), args.Add(outer)
	typ := args.Add(s.Type)
	hmac := func(msg string) string {
		return fmt.Sprintf("'sha256:' || encode(sha256(%s::bytea || sha256(%s::bytea || %s)), 'hex')", po, pi, msg)
	}
	ids := slices.Clone(s.Identifiers)
	slices.SortFunc(ids, func(a, b ArchiveIdentifier) int { return strings.Compare(a.Name, b.Name) })
	all := []string{fmt.Sprintf("convert_to(%s::text, 'UTF8')", typ)}
	entries := make([]string, len(ids))
	for i, id := range ids {
		part := fmt.Sprintf(`'\x00'::bytea || convert_to(%s::text, 'UTF8') || '\x00'::bytea || convert_to(%s.%s::text, 'UTF8')`,
			args.Add(id.Name), s.Root, pgx.Identifier{id.Column}.Sanitize())
		all = append(all, part)
		entries[i] = hmac(fmt.Sprintf("convert_to(%s::text, 'UTF8') || %s", typ, part))
	}
	return typ + "::text", hmac(strings.Join(all, " || ")), "array_remove(ARRAY[" + strings.Join(entries, ", ") + "], NULL)"
}

// hmacPads are the inner and outer padded keys of HMAC-SHA-256 with key:
// HMAC(key, m) = SHA-256(outer || SHA-256(inner || m)), which the
// database computes with its own sha256.
func hmacPads(key []byte) (inner, outer []byte) {
	if len(key) > sha256.BlockSize {
		sum := sha256.Sum256(key)
		key = sum[:]
	}
	inner, outer = make([]byte, sha256.BlockSize), make([]byte, sha256.BlockSize)
	for i := range sha256.BlockSize {
		var k byte
		if i < len(key) {
			k = key[i]
		}
		inner[i], outer[i] = k^0x36, k^0x5c
	}
	return inner, outer
}
