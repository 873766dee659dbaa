package cli

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/jackc/pgx/v5"

	privacyv1alpha1 "github.com/lethe-dev/lethe/api/v1alpha1"
	"github.com/lethe-dev/lethe/internal/audit"
	"github.com/lethe-dev/lethe/internal/tenantdb"
)

func verifyAudit(ctx context.Context, name string, args []string, env Env) error {
	var k kubeFlags
	var last int
	var timeout time.Duration
	fs := newFlags(name, "TENANTDATABASE [-n NAMESPACE] [--last N]", fmt.Sprintf(`Re-checks the audit log of a tenant database from your machine, as the operator
does: it connects with the TenantDatabase's connection Secret (your kubeconfig must
read it, and your machine reach the database), reads lethe.audit_log in a read-only
transaction, checks that every record links to the one before it and matches its
own SHA-256, and that the last record the operator saw (status.auditHead) is still
there unchanged, so records removed from the end are noticed too. Then it prints
the latest records. It exits 1 when the chain is broken.

  %s acme -n shop --last 20
`, name), env.Stderr)
	k.register(fs)
	fs.IntVar(&last, "last", 10, "how many of the latest records to print, 0 to 1000")
	fs.DurationVar(&timeout, "timeout", 2*time.Minute, "how long the check may take")
	pos, err := parseArgs(fs, args, 1, 1, "the name of a TenantDatabase")
	if err != nil {
		return err
	}
	if last < 0 || last > 1000 {
		return usagef("--last must be 0 to 1000, got %d", last)
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	c, err := connect(k)
	if err != nil {
		return err
	}
	var tdb privacyv1alpha1.TenantDatabase
	if err := c.get(ctx, "tenantdatabases", pos[0], &tdb); err != nil {
		return err
	}
	src, err := tenantSource(ctx, c, &tdb)
	if err != nil {
		return err
	}
	what := fmt.Sprintf("TenantDatabase %s/%s", c.ns, tdb.Name)
	pool, closePool, err := openDatabase(ctx, src)
	if err != nil {
		return err
	}
	defer closePool()

	var expect audit.Head
	if h := tdb.Status.AuditHead; h != nil {
		expect = audit.Head{ID: h.ID, Hash: h.Hash}
	}
	var res audit.Result
	var recs []audit.Entry
	err = pgx.BeginTxFunc(ctx, pool, pgx.TxOptions{AccessMode: pgx.ReadOnly, IsoLevel: pgx.RepeatableRead}, func(tx pgx.Tx) error {
		var err error
		if res, err = audit.Verify(ctx, tx, expect); err != nil {
			return err
		}
		recs, err = audit.Latest(ctx, tx, last)
		return err
	})
	if err != nil {
		return fmt.Errorf("read the audit log of %s: %s", what, tenantdb.SafeError(err))
	}

	verdict := fmt.Sprintf("intact: %d records", res.Records)
	if res.Head.ID != 0 {
		verdict += fmt.Sprintf(", the last record %d (chain hash %s)", res.Head.ID, short(res.Head.Hash, 16))
	}
	if expect.ID != 0 {
		verdict += fmt.Sprintf("; record %d, the last the operator saw, is there unchanged", expect.ID)
	}
	if !res.Intact {
		verdict = fmt.Sprintf("BROKEN: %s (%d records read)", res.Problem, res.Records)
	}
	_, _ = fmt.Fprintf(env.Stdout, "audit chain of %s: %s\n", what, verdict)
	if len(recs) > 0 {
		_, _ = fmt.Fprintf(env.Stdout, "\nthe latest %d records:\n", len(recs))
		printRecords(env, recs)
	}
	if !res.Intact {
		return errors.New("the audit chain of " + what + " is broken: " + res.Problem)
	}
	return nil
}

// printRecords prints audit records as a table: who did what to which
// object, how many rows, about which subject (its digest) and the detail,
// cut to fit a line.
func printRecords(env Env, recs []audit.Entry) {
	w := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
	_, _ = fmt.Fprintf(w, "ID\tTIME\tACTOR\tACTION\tOBJECT\tENTITY\tROWS\tSUBJECT\tDETAIL\n")
	for _, e := range recs {
		object := e.Object.Kind + " " + e.Object.Name
		if e.Object.Namespace != "" {
			object = e.Object.Kind + " " + e.Object.Namespace + "/" + e.Object.Name
		}
		_, _ = fmt.Fprintf(w, "%d\t%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\n", e.ID, e.Time.UTC().Format(time.RFC3339), dash(e.Actor), e.Action,
			strings.TrimSpace(object), dash(e.Entity), e.Rows, dash(short(e.SubjectDigest, 19)), dash(clip(strings.Join(strings.Fields(e.Detail), " "), 60)))
	}
	_ = w.Flush()
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
