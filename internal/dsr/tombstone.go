package dsr

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	privacyv1alpha1 "github.com/lethe-dev/lethe/api/v1alpha1"
	"github.com/lethe-dev/lethe/internal/audit"
	"github.com/lethe-dev/lethe/internal/engine"
	"github.com/lethe-dev/lethe/internal/inventory"
	"github.com/lethe-dev/lethe/internal/masking"
	"github.com/lethe-dev/lethe/internal/tenantdb"
)

// Tombstone is what a completed erasure leaves behind, so that it can be
// applied again to data restored from a backup taken before it: the
// request, the subject's digest, the erasure's method, and per root entity
// the blind indexes of the identifiers it matched. It holds no identifier:
// a blind index is a keyed HMAC of an identifier's normal form, which finds
// the same value again only with the namespace's key.
type Tombstone struct {
	RequestUID    string                                   `json:"requestUID"`
	RequestName   string                                   `json:"requestName"`
	SubjectType   string                                   `json:"subjectType"`
	SubjectDigest string                                   `json:"subjectDigest"`
	Method        privacyv1alpha1.ErasureMethod            `json:"method"`
	Overrides     map[string]privacyv1alpha1.ErasureMethod `json:"overrides,omitempty"`
	ErasedAt      time.Time                                `json:"erasedAt"`
	Roots         []TombstoneRoot                          `json:"roots"`
}

// TombstoneRoot is one root entity an erasure looked the subject up in:
// the identifiers it matched, the columns that hold them, and each one's
// blind index, in the same order.
type TombstoneRoot struct {
	Entity       string   `json:"entity"`
	Table        string   `json:"table"`
	Identifiers  []string `json:"identifiers"`
	Columns      []string `json:"columns"`
	BlindIndexes []string `json:"blindIndexes"`
}

// normalForm is what a blind index is computed over: the digits of a value
// that reads as a phone number with 7 to 15 of them, else the value
// lower-cased, as verification compares values (formsOf), so that an
// e-mail in another case or a phone with other spacing is the same
// identifier.
func normalForm(v string) string {
	if d, ok := phoneDigits(v); ok {
		return d
	}
	return strings.ToLower(v)
}

// normalFormSQL is normalForm in SQL, over the text expression x.
func normalFormSQL(x string) string {
	digits := fmt.Sprintf("regexp_replace(%s, '[^0-9]', '', 'g')", x)
	return fmt.Sprintf("(CASE WHEN %[1]s ~ '^[0-9 +()./-]+$' AND length(%[2]s) BETWEEN 7 AND 15 THEN %[2]s ELSE lower(%[1]s) END)", x, digits)
}

// BlindIndex is the blind index of an identifier's value: the hex
// HMAC-SHA-256, keyed with key, of its normal form.
func BlindIndex(key []byte, value string) string {
	h := hmac.New(sha256.New, key)
	h.Write([]byte(normalForm(value)))
	return hex.EncodeToString(h.Sum(nil))
}

// BlindMatch finds root rows whose identifier columns have the blind
// indexes given (by identifier name), the HMAC computed in the database
// over the column's normal form.
func BlindMatch(key []byte, blind map[string]string) inventory.RootMatch {
	return func(id string, _ tenantdb.Column, col string, param func(any) string) (string, bool) {
		b, ok := blind[id]
		if !ok {
			return "", false
		}
		expr := masking.HMACSQL(param, key, normalFormSQL(col+"::text"))
		return fmt.Sprintf("%s = %s", expr, param(b)), true
	}
}

// NewTombstone is the tombstone of an erasure of the subject with these
// identifiers: per root entity of the subject type, the identifiers given
// that it maps. spec must be resolved.
func NewTombstone(spec *privacyv1alpha1.DataInventorySpec, run *engine.Run, name string, method privacyv1alpha1.ErasureMethod,
	overrides map[string]privacyv1alpha1.ErasureMethod, identifiers map[string]string, key []byte) Tombstone {
	t := Tombstone{RequestUID: run.UID, RequestName: name, SubjectType: run.SubjectType, SubjectDigest: run.SubjectDigest,
		Method: method, Overrides: overrides, ErasedAt: run.Now().UTC().Truncate(time.Microsecond)}
	for _, e := range spec.Entities {
		if e.Subject == nil || e.Subject.Type != run.SubjectType {
			continue
		}
		root := TombstoneRoot{Entity: e.Name, Table: e.Table}
		for _, id := range e.Subject.Identifiers {
			v, ok := identifiers[id.Name]
			if !ok {
				continue
			}
			root.Identifiers = append(root.Identifiers, id.Name)
			root.Columns = append(root.Columns, id.Column)
			root.BlindIndexes = append(root.BlindIndexes, BlindIndex(key, v))
		}
		if len(root.Identifiers) > 0 {
			t.Roots = append(t.Roots, root)
		}
	}
	return t
}

// blindIndexes maps each identifier of the tombstone to its blind index.
func (t *Tombstone) blindIndexes() map[string]string {
	out := map[string]string{}
	for _, r := range t.Roots {
		for i, id := range r.Identifiers {
			out[id] = r.BlindIndexes[i]
		}
	}
	return out
}

// statements write the tombstone into lethe.erasure_tombstones, keeping a
// row written before.
func (t *Tombstone) statements() []engine.Statement {
	overrides := t.Overrides
	if overrides == nil {
		overrides = map[string]privacyv1alpha1.ErasureMethod{}
	}
	out := make([]engine.Statement, 0, len(t.Roots))
	for _, r := range t.Roots {
		out = append(out, engine.Statement{SQL: `INSERT INTO lethe.erasure_tombstones (request_uid, request_name, subject_type,
				subject_digest, method, overrides, entity, table_name, identifiers, columns, blind_indexes, erased_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) ON CONFLICT (request_uid, entity) DO NOTHING`,
			Args: []any{t.RequestUID, t.RequestName, t.SubjectType, t.SubjectDigest, string(t.Method), overrides,
				r.Entity, r.Table, r.Identifiers, r.Columns, r.BlindIndexes, t.ErasedAt}})
	}
	return out
}

// write writes the tombstone in a transaction of its own.
func (t *Tombstone) write(ctx context.Context, pool *pgxpool.Pool) error {
	b := &pgx.Batch{}
	b.Queue("BEGIN")
	for _, st := range t.statements() {
		b.Queue(st.SQL, st.Args...)
	}
	b.Queue("COMMIT")
	if err := engine.SendTx(ctx, pool, b); err != nil {
		return fmt.Errorf("write the erasure's tombstone: %w", err)
	}
	return nil
}

// ReadTombstones reads the tombstones of the database, by request uid.
func ReadTombstones(ctx context.Context, q tenantdb.Querier) (map[string]*Tombstone, error) {
	rows, err := q.Query(ctx, `SELECT request_uid, request_name, subject_type, subject_digest, method, overrides,
			entity, table_name, identifiers, columns, blind_indexes, erased_at
		FROM lethe.erasure_tombstones ORDER BY request_uid, entity`)
	if err != nil {
		return nil, fmt.Errorf("read lethe.erasure_tombstones: %w", err)
	}
	defer rows.Close()
	out := map[string]*Tombstone{}
	for rows.Next() {
		var t Tombstone
		var r TombstoneRoot
		var method string
		if err := rows.Scan(&t.RequestUID, &t.RequestName, &t.SubjectType, &t.SubjectDigest, &method, &t.Overrides,
			&r.Entity, &r.Table, &r.Identifiers, &r.Columns, &r.BlindIndexes, &t.ErasedAt); err != nil {
			return nil, fmt.Errorf("read lethe.erasure_tombstones: %w", err)
		}
		t.Method = privacyv1alpha1.ErasureMethod(method)
		if len(t.Overrides) == 0 {
			t.Overrides = nil
		}
		if prev, ok := out[t.RequestUID]; ok {
			prev.Roots = append(prev.Roots, r)
			continue
		}
		t.Roots = []TombstoneRoot{r}
		t.ErasedAt = t.ErasedAt.UTC()
		out[t.RequestUID] = &t
	}
	return out, rows.Err()
}

// Reapply is a re-application of a tombstoned erasure to restored data.
type Reapply struct {
	Tombstone Tombstone
	// Key is the namespace's blind-index key.
	Key []byte
	// Actor and Object are what the audit records name: the operator
	// acting for the TenantDatabase.
	Actor  string
	Object audit.Object
	Tenant string
	// Inventory, HashKeys, Salt and Engine as for an erasure.
	Inventory *privacyv1alpha1.DataInventorySpec
	HashKeys  map[string][]byte
	Salt      []byte
	Engine    engine.Options
	Clock     func() time.Time
}

// ReapplyAction is the action of the audit record a re-application ends
// with; its detail names the request re-applied.
const ReapplyAction = "ReapplyErasure"

// ReapplyRunUID is the run of a tombstone's re-application: one per
// request, so a re-application stopped halfway resumes.
func ReapplyRunUID(requestUID string) string { return requestUID + "/reapply" }

// ReapplyErasure erases again, through the erasure's own path, the subject
// of a tombstone: its root rows are those whose identifier columns have
// the tombstone's blind indexes, and the rest of its rows are found from
// them through the inventory's relations. The tombstone is written back in
// the transaction that completes the run, with an audit record naming the
// request.
func ReapplyErasure(ctx context.Context, pool *pgxpool.Pool, r *Reapply) (*Outcome, error) {
	t := r.Tombstone
	in := &Input{
		Run: engine.Run{UID: ReapplyRunUID(t.RequestUID), Type: string(privacyv1alpha1.RequestErasure), SubjectType: t.SubjectType,
			SubjectDigest: t.SubjectDigest, Actor: r.Actor, Object: r.Object, Clock: r.Clock},
		Type: privacyv1alpha1.RequestErasure, Tenant: r.Tenant, Inventory: r.Inventory, Method: t.Method, Overrides: t.Overrides,
		HashKeys: r.HashKeys, Salt: r.Salt, Engine: r.Engine, BlindKey: r.Key, reapply: &t,
	}
	return Execute(ctx, pool, in)
}

// tombstoneOf is the tombstone an erasure leaves, with the statements that
// write it and the match that finds its roots; nil for a request that is
// not an erasure or a run without a blind-index key.
func tombstoneOf(in *Input, spec *privacyv1alpha1.DataInventorySpec) (*Tombstone, inventory.RootMatch, []engine.Statement) {
	if in.Type != privacyv1alpha1.RequestErasure || len(in.BlindKey) == 0 {
		return nil, inventory.ExactMatch(in.Identifiers), nil
	}
	if t := in.reapply; t != nil {
		rec := audit.Record{Time: in.Run.Now(), Actor: in.Run.Actor, Object: in.Run.Object, Action: ReapplyAction,
			SubjectDigest: t.SubjectDigest, Detail: fmt.Sprintf("request %s (uid %s), erased at %s", t.RequestName, t.RequestUID,
				t.ErasedAt.UTC().Format(time.RFC3339))}
		call, args := audit.AppendCall(rec, 1, "")
		stmts := append(t.statements(), engine.Statement{SQL: "SELECT 1 FROM " + call, Args: args})
		return t, BlindMatch(in.BlindKey, t.blindIndexes()), stmts
	}
	t := NewTombstone(spec, &in.Run, in.RequestName, in.Method, in.Overrides, in.Identifiers, in.BlindKey)
	return &t, inventory.ExactMatch(in.Identifiers), t.statements()
}

// SortedTombstones lists tombstones by erasure time, then request uid.
func SortedTombstones(m map[string]*Tombstone) []*Tombstone {
	out := slices.Collect(maps.Values(m))
	slices.SortFunc(out, func(a, b *Tombstone) int {
		if c := a.ErasedAt.Compare(b.ErasedAt); c != 0 {
			return c
		}
		return strings.Compare(a.RequestUID, b.RequestUID)
	})
	return out
}
