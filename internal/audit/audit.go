// Package audit keeps the tamper-evident audit log of a tenant database:
// lethe.audit_log, append-only (the database refuses UPDATE, DELETE and
// TRUNCATE) and hash-chained (each record carries the SHA-256 of its content
// and of the previous record's hash), so a changed or removed record breaks
// the chain and Verify finds it.
//
// Records name data subjects only by their salted digest, never by an
// identifier.
package audit

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/lethe-dev/lethe/internal/tenantdb"
)

// genesis is the previous hash of the first record.
var genesis = make([]byte, sha256.Size)

// Object identifies the Kubernetes object a record is about.
type Object struct {
	Kind      string
	Namespace string
	Name      string
	UID       string
}

// Record is one audit record.
type Record struct {
	// Time of the record; zero means now. Stored with microsecond precision.
	Time time.Time
	// Actor is who asked for the change (a user or service account name).
	Actor  string
	Object Object
	// Action is what was done (for example "Erase", "Anonymize", "Sync").
	Action string
	// Entity is the inventory entity changed, if any.
	Entity string
	// Rows is how many rows were affected.
	Rows int64
	// SubjectDigest is the salted digest of the subject, if any.
	SubjectDigest string
	// Detail says what changed, old and new value, where a row count does
	// not (a role's permissions). Never personal data.
	Detail string
}

// Entry is a stored record with its position and chain hashes.
type Entry struct {
	Record
	ID       int64
	PrevHash []byte
	Hash     []byte
}

// hash computes the chain hash: SHA-256 over the previous hash and every
// field, each length-prefixed so no two records encode alike.
func hash(prev []byte, r Record) []byte {
	h := sha256.New()
	h.Write(prev)
	var n [8]byte
	field := func(s string) {
		binary.BigEndian.PutUint64(n[:], uint64(len(s)))
		h.Write(n[:])
		h.Write([]byte(s))
	}
	binary.BigEndian.PutUint64(n[:], uint64(r.Time.UTC().UnixMicro())) // #nosec G115 -- a bit pattern, not arithmetic
	h.Write(n[:])
	field(r.Actor)
	field(r.Object.Kind)
	field(r.Object.Namespace)
	field(r.Object.Name)
	field(r.Object.UID)
	field(r.Action)
	field(r.Entity)
	binary.BigEndian.PutUint64(n[:], uint64(r.Rows)) // #nosec G115 -- a bit pattern, not arithmetic
	h.Write(n[:])
	field(r.SubjectDigest)
	if r.Detail != "" {
		field(r.Detail)
	}
	return h.Sum(nil)
}

// Append adds a record inside the caller's transaction, so the change it
// describes and the record commit together or not at all. It is one
// statement: the database takes the append lock, reads the chain's head and
// computes the hash (lethe.audit_append).
func Append(ctx context.Context, tx pgx.Tx, r Record) (Entry, error) {
	return AppendAfter(ctx, tx, r)
}

// Statement is a statement of the caller's to run before a record.
type Statement struct {
	SQL  string
	Args []any
}

// AppendAfter is Append that first runs the caller's statements (a ledger
// row, a setting) in the same round trip.
func AppendAfter(ctx context.Context, tx pgx.Tx, r Record, pre ...Statement) (Entry, error) {
	b := &pgx.Batch{}
	for _, st := range pre {
		b.Queue(st.SQL, st.Args...)
	}
	var e Entry
	QueueAppend(b, r, &e)
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return Entry{}, err
	}
	return e, nil
}

// QueueAppend queues the append of r onto b, to run in the transaction b
// runs in; e, when not nil, receives the stored entry once b's results are
// read.
func QueueAppend(b *pgx.Batch, r Record, e *Entry) {
	r = normalize(r)
	call, args := AppendCall(r, 1, "")
	b.Queue("SELECT entry_id, entry_prev_hash, entry_hash FROM "+call, args...).QueryRow(func(row pgx.Row) error {
		var got Entry
		if err := row.Scan(&got.ID, &got.PrevHash, &got.Hash); err != nil {
			return fmt.Errorf("append audit record: %w", err)
		}
		if e != nil {
			got.Record = r
			*e = got
		}
		return nil
	})
}

// AppendCall is the call of lethe.audit_append that appends r, for use in
// the caller's own statement (it returns entry_id, entry_prev_hash and
// entry_hash): its parameters are numbered from first on, and rows, when
// not empty, is an SQL expression for the row count that replaces r.Rows
// (for a count the same statement computes).
func AppendCall(r Record, first int, rows string) (string, []any) {
	return AppendCallWith(r, first, rows, "")
}

// AppendCallWith is AppendCall whose detail, when not empty, is an SQL
// expression of the caller's statement (what changed elsewhere through
// foreign keys, counted by the same statement) that replaces r.Detail.
func AppendCallWith(r Record, first int, rows, detail string) (string, []any) {
	r = normalize(r)
	args := []any{r.Time, r.Actor, r.Object.Kind, r.Object.Namespace, r.Object.Name, r.Object.UID, r.Action, r.Entity}
	params := make([]string, 0, 11)
	for i := range args {
		params = append(params, fmt.Sprintf("$%d", first+i))
	}
	if rows == "" {
		args = append(args, r.Rows)
		rows = fmt.Sprintf("$%d::bigint", first+len(args)-1)
	}
	params = append(params, rows)
	args = append(args, r.SubjectDigest)
	params = append(params, fmt.Sprintf("$%d", first+len(args)-1))
	if detail == "" {
		args = append(args, r.Detail)
		detail = fmt.Sprintf("$%d", first+len(args)-1)
	}
	params = append(params, detail)
	return "lethe.audit_append(" + strings.Join(params, ", ") + ")", args
}

// normalize sets a zero time to now and keeps microseconds, the precision
// the log stores.
func normalize(r Record) Record {
	if r.Time.IsZero() {
		r.Time = time.Now()
	}
	r.Time = r.Time.UTC().Truncate(time.Microsecond)
	return r
}

// Head is a record the verifier has seen: a later verification must still
// find it, unchanged, so removing records from the end is noticed too.
type Head struct {
	ID   int64
	Hash string // hex
}

// Result of a verification.
type Result struct {
	// Records is how many records were read.
	Records int64
	// Intact is true when every record links to its predecessor and matches
	// its own hash (and the expected head, if one was given, is still there).
	Intact bool
	// Problem names the first broken record, when not intact.
	Problem string
	// Head is the last record, to hand to the next verification.
	Head Head
	// Behind is true when every record links to the one before and
	// matches its hash, but the expected head is gone or is another
	// record: the log is behind what was seen, as after a restore from a
	// backup or a failover to a stale replica (or records removed from its
	// end). Intact is false and Problem says which record.
	Behind bool
}

// Latest reads the last n records of the log, oldest first.
func Latest(ctx context.Context, q tenantdb.Querier, n int) ([]Entry, error) {
	rows, err := q.Query(ctx, `SELECT id, recorded_at, actor, object_kind, object_namespace, object_name, object_uid,
		action, entity, rows_affected, subject_digest, detail, prev_hash, hash
		FROM (SELECT * FROM lethe.audit_log ORDER BY id DESC LIMIT $1) last ORDER BY id`, n)
	if err != nil {
		return nil, fmt.Errorf("read audit log: %w", err)
	}
	defer rows.Close()
	var out []Entry
	for rows.Next() {
		var e Entry
		if err := rows.Scan(&e.ID, &e.Time, &e.Actor, &e.Object.Kind, &e.Object.Namespace, &e.Object.Name,
			&e.Object.UID, &e.Action, &e.Entity, &e.Rows, &e.SubjectDigest, &e.Detail, &e.PrevHash, &e.Hash); err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// Verify reads the whole log in order and checks the chain. expect, when not
// zero, is a head seen by an earlier verification.
func Verify(ctx context.Context, q tenantdb.Querier, expect Head) (Result, error) {
	rows, err := q.Query(ctx, `SELECT id, recorded_at, actor, object_kind, object_namespace, object_name, object_uid,
		action, entity, rows_affected, subject_digest, detail, prev_hash, hash FROM lethe.audit_log ORDER BY id`)
	if err != nil {
		return Result{}, fmt.Errorf("read audit log: %w", err)
	}
	defer rows.Close()
	res := Result{Intact: true}
	prev := genesis
	sawExpected := expect.ID == 0
	headProblem := ""
	for rows.Next() {
		var e Entry
		if err := rows.Scan(&e.ID, &e.Time, &e.Actor, &e.Object.Kind, &e.Object.Namespace, &e.Object.Name,
			&e.Object.UID, &e.Action, &e.Entity, &e.Rows, &e.SubjectDigest, &e.Detail, &e.PrevHash, &e.Hash); err != nil {
			return Result{}, err
		}
		res.Records++
		if !res.Intact {
			continue
		}
		switch {
		case !bytes.Equal(e.PrevHash, prev):
			res.Intact = false
			res.Problem = fmt.Sprintf("record %d does not link to the record before it: a record was changed or removed", e.ID)
		case !bytes.Equal(e.Hash, hash(e.PrevHash, e.Record)):
			res.Intact = false
			res.Problem = fmt.Sprintf("record %d does not match its hash: its content was changed", e.ID)
		}
		if e.ID == expect.ID {
			sawExpected = true
			if hex.EncodeToString(e.Hash) != expect.Hash && res.Intact {
				headProblem = fmt.Sprintf("record %d is not the one seen before: the log was rewritten", e.ID)
			}
		}
		prev = e.Hash
		res.Head = Head{ID: e.ID, Hash: hex.EncodeToString(e.Hash)}
	}
	if err := rows.Err(); err != nil {
		return Result{}, err
	}
	if !sawExpected {
		headProblem = fmt.Sprintf("record %d, seen before, is gone: records were removed from the end of the log", expect.ID)
	}
	if res.Intact && headProblem != "" {
		res.Intact, res.Problem, res.Behind = false, headProblem, true
	}
	return res, nil
}
