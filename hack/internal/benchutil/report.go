package benchutil

import (
	"fmt"
	"runtime"
	"strings"
	"time"

	"github.com/lethe-dev/lethe/hack/localenv"
)

// Report is the text of a results file. Its header lines are a label padded
// to 13 characters ("date:        ") and a value.
type Report struct {
	b strings.Builder
}

// NewReport starts a report with its title and the date and machine lines.
func NewReport(scenario string, started time.Time) *Report {
	r := &Report{}
	r.Printf("Lethe benchmark: %s\n\n", scenario)
	r.Printf("date:        %s\n", started.UTC().Format(time.RFC3339))
	r.Printf("machine:     %s\n", Machine())
	return r
}

// Printf appends to the report.
func (r *Report) Printf(format string, args ...any) { fmt.Fprintf(&r.b, format, args...) }

// String is the report's text.
func (r *Report) String() string { return r.b.String() }

// Versions writes the go, postgresql and kubernetes lines; postgresNote
// describes PostgreSQL's set-up.
func (r *Report) Versions(v localenv.Versions, postgresNote string) {
	r.Printf("go:          %s\n", runtime.Version())
	r.Printf("postgresql:  %s (%s)\n", v.PostgreSQL, postgresNote)
	r.Printf("kubernetes:  %s (envtest kube-apiserver, etcd %s)\n", v.Kubernetes, v.Etcd)
}

// ManagerFlags describes the manager's extra flags: "defaults" if none.
func ManagerFlags(args []string) string {
	if len(args) == 0 {
		return "defaults"
	}
	return strings.Join(args, " ")
}

// Table is a table of figures, one row each with the minimum, median and
// maximum over runs (two decimals) and, in a table with targets, the target
// and whether the median meets it.
type Table struct {
	r       *Report
	name    int // width of the figure column
	num     int // width of the min, median and max columns
	targets bool
}

// TargetTable writes the heading of a table with target and result columns;
// name is the width of the figure column.
func (r *Report) TargetTable(name int) *Table {
	t := &Table{r: r, name: name, num: 8, targets: true}
	r.Printf("%-*s %*s %*s %*s %10s  %s\n", name, "figure", t.num, "min", t.num, "median", t.num, "max", "target", "result")
	return t
}

// StatsTable writes the heading of a table without targets; name and num
// are the widths of the figure column and the number columns.
func (r *Report) StatsTable(name, num int) *Table {
	t := &Table{r: r, name: name, num: num}
	r.Printf("%-*s %*s %*s %*s\n", name, "figure", num, "min", num, "median", num, "max")
	return t
}

// Below writes a row whose median must be below limit ("< 15 s").
func (t *Table) Below(name string, vals []float64, limit float64, unit string) {
	_, med, _ := Stats(vals)
	t.target(name, vals, fmt.Sprintf("< %g %s", limit, unit), med < limit)
}

// AtLeast writes a row whose median must reach limit (">= 0.85").
func (t *Table) AtLeast(name string, vals []float64, limit float64, unit string) {
	_, med, _ := Stats(vals)
	t.target(name, vals, strings.TrimSpace(fmt.Sprintf(">= %g %s", limit, unit)), med >= limit)
}

// AtMost writes a row whose median must not exceed limit ("<= 5 ms").
func (t *Table) AtMost(name string, vals []float64, limit float64, unit string) {
	_, med, _ := Stats(vals)
	t.target(name, vals, fmt.Sprintf("<= %g %s", limit, unit), med <= limit)
}

func (t *Table) target(name string, vals []float64, target string, pass bool) {
	verdict := "FAIL"
	if pass {
		verdict = "PASS"
	}
	t.row(name, vals, fmt.Sprintf(" %10s  %s (median)", target, verdict))
}

// Info writes a row without a target.
func (t *Table) Info(name string, vals []float64) {
	if t.targets {
		t.row(name, vals, fmt.Sprintf(" %10s  information", "-"))
		return
	}
	t.row(name, vals, "")
}

func (t *Table) row(name string, vals []float64, tail string) {
	lo, med, hi := Stats(vals)
	t.r.Printf("%-*s %*.2f %*.2f %*.2f%s\n", t.name, name, t.num, lo, t.num, med, t.num, hi, tail)
}
