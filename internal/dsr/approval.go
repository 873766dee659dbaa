package dsr

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/lethe-dev/lethe/internal/audit"
)

// ActionApprove is the audit action of a request's approval.
const ActionApprove = "Approve"

// Approval is who approved a request, for its audit record.
type Approval struct {
	Object        audit.Object
	SubjectDigest string
	// Approver is the approver's user name; Requester the requester's.
	Approver, Requester string
	Type                string
	At                  time.Time
}

// RecordApproval writes the approval into the tenant's audit log, once: a
// request resumed after an interruption does not record it again.
func RecordApproval(ctx context.Context, pool *pgxpool.Pool, a Approval) (err error) {
	tx, err := pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer func() {
		if rerr := tx.Rollback(ctx); rerr != nil && !errors.Is(rerr, pgx.ErrTxClosed) && err == nil {
			err = rerr
		}
	}()
	var recorded bool
	if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM lethe.audit_log WHERE object_uid = $1 AND action = $2)`,
		a.Object.UID, ActionApprove).Scan(&recorded); err != nil {
		return fmt.Errorf("read approval record: %w", err)
	}
	if recorded {
		return nil
	}
	if _, err := audit.Append(ctx, tx, audit.Record{
		Time: a.At, Actor: a.Approver, Object: a.Object, Action: ActionApprove, SubjectDigest: a.SubjectDigest,
		Detail: fmt.Sprintf("%s request of %s approved by %s", a.Type, a.Requester, a.Approver),
	}); err != nil {
		return err
	}
	return tx.Commit(ctx)
}
