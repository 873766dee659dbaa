package cli

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	privacyv1alpha1 "github.com/lethe-dev/lethe/api/v1alpha1"
)

// Bounds that keep one tenant database on one screen.
const (
	maxListed  = 10  // uncovered columns, references, indexes shown
	maxRuns    = 8   // last runs shown
	maxMessage = 110 // characters of a condition's message shown
)

func status(ctx context.Context, name string, args []string, env Env) error {
	var k kubeFlags
	fs := newFlags(name, "[TENANTDATABASE] [-n NAMESPACE]", `Shows, for one tenant database or every one of the namespace: its conditions, the
warnings (personal-looking columns the inventory leaves out, tables outside it that
refer to the people it maps, lookups without an index), and the last runs of the
retention policies, requests and pseudonymization jobs that target it. It reads
Lethe's objects only, never a database.
`, env.Stderr)
	k.register(fs)
	pos, err := parseArgs(fs, args, 0, 1, "at most one TenantDatabase")
	if err != nil {
		return err
	}
	c, err := connect(k)
	if err != nil {
		return err
	}
	var tdbs []privacyv1alpha1.TenantDatabase
	if len(pos) == 1 {
		var tdb privacyv1alpha1.TenantDatabase
		if err := c.get(ctx, "tenantdatabases", pos[0], &tdb); err != nil {
			return err
		}
		tdbs = append(tdbs, tdb)
	} else {
		var list privacyv1alpha1.TenantDatabaseList
		if err := c.list(ctx, "tenantdatabases", &list); err != nil {
			return err
		}
		if len(list.Items) == 0 {
			return fmt.Errorf("no TenantDatabase in namespace %s", c.ns)
		}
		tdbs = list.Items
	}
	runs, err := readRuns(ctx, c)
	if err != nil {
		return err
	}
	for i := range tdbs {
		if i > 0 {
			_, _ = fmt.Fprintln(env.Stdout)
		}
		if err := printTenant(env.Stdout, c.ns, &tdbs[i], runs); err != nil {
			return err
		}
	}
	return nil
}

// runs are the objects that act on tenant databases.
type runs struct {
	policies []privacyv1alpha1.RetentionPolicy
	requests []privacyv1alpha1.DataSubjectRequest
	jobs     []privacyv1alpha1.PseudonymizationJob
}

func readRuns(ctx context.Context, c *cluster) (runs, error) {
	var rp privacyv1alpha1.RetentionPolicyList
	var dsr privacyv1alpha1.DataSubjectRequestList
	var pj privacyv1alpha1.PseudonymizationJobList
	if err := c.list(ctx, "retentionpolicies", &rp); err != nil {
		return runs{}, err
	}
	if err := c.list(ctx, "datasubjectrequests", &dsr); err != nil {
		return runs{}, err
	}
	if err := c.list(ctx, "pseudonymizationjobs", &pj); err != nil {
		return runs{}, err
	}
	return runs{policies: rp.Items, requests: dsr.Items, jobs: pj.Items}, nil
}

func printTenant(out io.Writer, ns string, tdb *privacyv1alpha1.TenantDatabase, all runs) error {
	st := &tdb.Status
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	p := func(format string, a ...any) { _, _ = fmt.Fprintf(w, format, a...) }

	ready := condition(st.Conditions, privacyv1alpha1.ConditionReady)
	p("TenantDatabase %s/%s (tenant %s): Ready %s", ns, tdb.Name, tdb.Spec.Tenant, ready)
	if st.ObservedGeneration != tdb.Generation {
		p(", generation %d not yet observed (last: %d)", tdb.Generation, st.ObservedGeneration)
	}
	p("\n")
	server := "not reached yet"
	if st.ServerVersion != "" {
		server = fmt.Sprintf("PostgreSQL %s, lethe schema %d", st.ServerVersion, st.SchemaVersion)
	}
	p("  database:\t%s; connection Secret %s; last checked %s\n", server, tdb.Spec.Connection.SecretRef.Name, when(st.LastCheckTime))
	p("  inventory:\tDataInventory %s (generation %d checked); content sampled %s\n",
		tdb.Spec.InventoryRef.Name, st.InventoryGeneration, when(st.ContentSampledTime))
	if h := st.AuditHead; h != nil {
		p("  audit log:\t%d records, the last record %d (chain hash %s)\n", st.AuditRecords, h.ID, short(h.Hash, 16))
	}

	p("\n  CONDITION\tSTATUS\tREASON\tMESSAGE\n")
	for _, c := range st.Conditions {
		p("  %s\t%s\t%s\t%s\n", c.Type, c.Status, c.Reason, clip(c.Message, maxMessage))
	}

	var warnings []metav1.Condition
	for _, typ := range []string{privacyv1alpha1.ConditionUncoveredPersonalData, privacyv1alpha1.ConditionUnmappedReferences,
		privacyv1alpha1.ConditionMissingIndexes} {
		if c := findCondition(st.Conditions, typ); c != nil && c.Status == metav1.ConditionTrue {
			warnings = append(warnings, *c)
		}
	}
	if len(warnings) == 0 {
		p("\n  warnings: none\n")
	}
	for _, c := range warnings {
		p("\n  warning %s: %s\n", c.Type, clip(c.Message, 2*maxMessage))
		switch c.Type {
		case privacyv1alpha1.ConditionUncoveredPersonalData:
			for i, u := range st.UncoveredColumns {
				if i == maxListed {
					break
				}
				p("    %s\t%s\t%s\n", u.Column, u.Category, reasons(u))
			}
			more(p, len(st.UncoveredColumns), int(st.UncoveredColumnsOmitted), "columns")
		case privacyv1alpha1.ConditionUnmappedReferences:
			for i, r := range st.UnmappedReferences {
				if i == maxListed {
					break
				}
				p("    %s(%s)\trefers to entity %s\t%s, ON DELETE %s\n", r.Table, strings.Join(r.Columns, ", "), r.Entity, r.Constraint, r.OnDelete)
			}
			more(p, len(st.UnmappedReferences), int(st.UnmappedReferencesOmitted), "references")
		case privacyv1alpha1.ConditionMissingIndexes:
			for i, m := range st.MissingIndexes {
				if i == maxListed {
					break
				}
				p("    %s\tabout %d rows\n", m.Lookup, m.EstimatedRows)
			}
			more(p, len(st.MissingIndexes), int(st.MissingIndexesOmitted), "lookups")
		}
	}

	lines := lastRuns(tdb, all)
	if len(lines) == 0 {
		p("\n  last runs: none; no retention policy, request or pseudonymization job targets it\n")
		return w.Flush()
	}
	p("\n  LAST RUNS\tNAME\tWHEN\tSTATE\tIN THIS DATABASE\n")
	for i, l := range lines {
		if i == maxRuns {
			p("  ... %d more\n", len(lines)-maxRuns)
			break
		}
		p("  %s\t%s\t%s\t%s\t%s\n", l.kind, l.name, when(l.at), l.state, l.here)
	}
	return w.Flush()
}

// runLine is one object's last run as status shows it.
type runLine struct {
	kind, name, state, here string
	at                      *metav1.Time
}

// lastRuns lists the runs of the objects that target a tenant database,
// the latest first.
func lastRuns(tdb *privacyv1alpha1.TenantDatabase, all runs) []runLine {
	var out []runLine
	for _, rp := range all.policies {
		if !rp.Spec.Targets.Selects(tdb) {
			continue
		}
		l := runLine{kind: "RetentionPolicy", name: rp.Name, at: rp.Status.LastScheduleTime, state: "no run yet"}
		if r := rp.Status.Run; r != nil {
			l.state = "run " + r.ID + " under way, " + rp.Status.Progress + " rules done"
			if r.Completed {
				l.state = "run " + r.ID + " completed"
			}
			if r.DryRun {
				l.state += " (dry run)"
			}
		}
		if rp.Spec.Suspend {
			l.state += "; suspended"
		}
		for _, t := range rp.Status.Targets {
			if t.Name == tdb.Name {
				var matched, changed int64
				for _, r := range t.Rules {
					matched, changed = matched+r.Matched, changed+r.Changed
				}
				l.here = countsHere("matched", "changed", matched, changed, t.Error)
			}
		}
		out = append(out, l)
	}
	for _, r := range all.requests {
		if !r.Spec.Targets.Selects(tdb) {
			continue
		}
		at := r.Status.CompletionTime
		if at == nil {
			at = &r.CreationTimestamp
		}
		l := runLine{kind: "DataSubjectRequest", name: r.Name, at: at, state: fmt.Sprintf("%s %s", r.Spec.Type, orNone(string(r.Status.Phase)))}
		if r.Status.DueTime != nil && r.Status.Phase != privacyv1alpha1.PhaseCompleted {
			l.state += ", due " + when(r.Status.DueTime)
		}
		for _, t := range r.Status.Targets {
			if t.Name == tdb.Name {
				var found, changed int64
				for _, e := range t.Entities {
					found, changed = found+e.Found, changed+e.Changed
				}
				l.here = countsHere("found", "changed", found, changed, t.Error)
			}
		}
		out = append(out, l)
	}
	for _, j := range all.jobs {
		if !j.Spec.Targets.Selects(tdb) {
			continue
		}
		at := j.Status.StartTime
		if at == nil {
			at = &j.CreationTimestamp
		}
		l := runLine{kind: "PseudonymizationJob", name: j.Name, at: at, state: orNone(string(j.Status.Phase))}
		for _, t := range j.Status.Targets {
			if t.Name == tdb.Name {
				var found, changed int64
				for _, e := range t.Entities {
					found, changed = found+e.Found, changed+e.Changed
				}
				l.here = countsHere("found", "pseudonymized", found, changed, "")
			}
		}
		out = append(out, l)
	}
	slices.SortStableFunc(out, func(a, b runLine) int { return timeOf(b.at).Compare(timeOf(a.at)) })
	return out
}

// countsHere is what a run line says of one tenant database: its two
// counts and, when there is one, its error.
func countsHere(first, second string, a, b int64, errText string) string {
	s := fmt.Sprintf("%d rows %s, %d %s", a, first, b, second)
	if errText != "" {
		s += "; error: " + clip(errText, maxMessage/2)
	}
	return s
}

func timeOf(t *metav1.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.Time
}

// condition says a condition's status and reason, or that there is none.
func condition(conds []metav1.Condition, typ string) string {
	c := findCondition(conds, typ)
	if c == nil {
		return "unknown (no status yet)"
	}
	return fmt.Sprintf("%s (%s)", c.Status, c.Reason)
}

func findCondition(conds []metav1.Condition, typ string) *metav1.Condition {
	for i := range conds {
		if conds[i].Type == typ {
			return &conds[i]
		}
	}
	return nil
}

// reasons says why a column looks personal, in short: "name, content 100%".
func reasons(u privacyv1alpha1.UncoveredColumn) string {
	var parts []string
	for _, r := range u.Reasons {
		part := strings.ToLower(string(r.Kind))
		if r.MatchPercent != nil {
			part += fmt.Sprintf(" %d%%", *r.MatchPercent)
		}
		parts = append(parts, part)
	}
	s := strings.Join(parts, ", ")
	if u.Identifier {
		s += "; identifies its person"
	}
	return s
}

// more says how many entries were not shown: beyond maxListed, and those
// status itself left out.
func more(p func(string, ...any), listed, omitted int, what string) {
	if n := listed - min(listed, maxListed) + omitted; n > 0 {
		p("    ... %d more %s\n", n, what)
	}
}

func when(t *metav1.Time) string {
	if t == nil || t.IsZero() {
		return "never"
	}
	return t.UTC().Format(time.RFC3339)
}

func orNone(s string) string {
	if s == "" {
		return "(no status yet)"
	}
	return s
}

// clip cuts a text to n characters, on a character boundary.
func clip(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

func short(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
