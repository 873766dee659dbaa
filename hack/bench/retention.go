package main

// The retention scenario: internal/retention's rules through the one
// executor, against one set-based UPDATE of the same rows in the same
// database, at several sizes of a table keyed by one column and on a
// table with a composite key partitioned by month (measurements in
// retention_measure.go).

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/lethe-dev/lethe/hack/internal/benchutil"
	"github.com/lethe-dev/lethe/hack/localenv"
)

// defaultBatch is a RetentionPolicy's default batchSize.
const defaultBatch = 1000

// Targets of the retention scenario. A ratio is the set-based statement's
// time over the executor's.
const (
	targetPlainRatio = 1.5
	targetHashRatio  = 1.0
	// targetLinearity bounds the executor's time per row at the largest
	// size over the smallest: see the report's notes for why 1.25.
	targetLinearity = 1.25
	targetBatchP99  = 250 // ms, at defaultBatch
	// targetMonthly bounds the monthly table's ratios over the
	// single-column table's at the same size.
	targetMonthly = 0.9
)

type retentionConfig struct {
	sizes       []int
	monthlyRows int
	batch       int
	workers     int
}

// sizesFlag is -retention-sizes: row counts separated by commas.
type sizesFlag struct{ c *retentionConfig }

func (f sizesFlag) String() string {
	if f.c == nil {
		return ""
	}
	parts := make([]string, len(f.c.sizes))
	for i, n := range f.c.sizes {
		parts[i] = strconv.Itoa(n)
	}
	return strings.Join(parts, ",")
}

func (f sizesFlag) Set(s string) error {
	var sizes []int
	for _, p := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(p))
		if err != nil {
			return fmt.Errorf("%q is not a row count", p)
		}
		sizes = append(sizes, n)
	}
	f.c.sizes = sizes
	return nil
}

func (c *retentionConfig) validate(config) error {
	if len(c.sizes) == 0 {
		return errors.New("-retention-sizes needs at least one size")
	}
	for i, n := range c.sizes {
		if n < 1000 {
			return errors.New("-retention-sizes must be at least 1000 rows each")
		}
		if i > 0 && n <= c.sizes[i-1] {
			return errors.New("-retention-sizes must grow from one size to the next")
		}
	}
	if c.monthlyRows < 1000 {
		return errors.New("-retention-monthly-rows must be at least 1000")
	}
	if c.workers < 1 || c.workers > 8 {
		return errors.New("-retention-workers must be 1 to 8")
	}
	if c.batch < 1 || c.batch > 50000 {
		return errors.New("-retention-batch must be 1 to 50000")
	}
	return nil
}

func runRetentionScenario(ctx context.Context, cfg config, rc *retentionConfig) {
	started := time.Now()
	load := benchutil.LoadAverage()
	what := fmt.Sprintf("%s rows, and %s rows by month", sizesFlag{rc}, strconv.Itoa(rc.monthlyRows))
	runs, _ := benchutil.Repeat("retention", cfg.runs, what, func(i int) (retentionRun, localenv.Versions, error) {
		r, err := measureRetention(ctx, cfg, rc, i)
		return r, localenv.Versions{}, err
	}, func(r retentionRun) string {
		last := r.single[len(r.single)-1]
		return fmt.Sprintf("%d rows: Replace/Nullify ratio %.2f, Hash ratio %.2f; by month: %.2f and %.2f", last.rows,
			ratio(last.setPlain, last.execPlain), ratio(last.setHash, last.execHash),
			ratio(r.monthly.setPlain, r.monthly.execPlain), ratio(r.monthly.setHash, r.monthly.execHash))
	})
	benchutil.Publish(cfg.out, "retention.txt", formatRetention(cfg, rc, started, [2]string{load, benchutil.LoadAverage()}, runs))
}

func ratio(set, exec time.Duration) float64 {
	if exec <= 0 {
		return 0
	}
	return set.Seconds() / exec.Seconds()
}

func maxOf(v []float64) float64 {
	m := 0.0
	for _, x := range v {
		m = max(m, x)
	}
	return m
}

// perRow is the executor's time per eligible row, in microseconds.
func perRow(d time.Duration, eligible int64) float64 {
	return float64(d.Microseconds()) / float64(max(eligible, 1))
}

func formatRetention(cfg config, rc *retentionConfig, started time.Time, load [2]string, runs []retentionRun) string {
	rep := benchutil.NewReport("retention", started)
	r0 := runs[0]
	rep.Printf("load:        1-minute load average %s at the start, %s at the end (other work on the machine\n", load[0], load[1])
	rep.Printf("             shares its cores with the benchmark)\n")
	rep.Printf("go:          %s\n", runtime.Version())
	rep.Printf("postgresql:  %s (local, default settings: every commit is flushed to disk, shared_buffers %s,\n", r0.postgres, r0.sharedBuffers)
	rep.Printf("             max_wal_size %s)\n", r0.maxWAL)
	rep.Printf("runs:        %d, each in a fresh PostgreSQL\n\n", cfg.runs)
	rep.Printf("tables:      %s, at %s rows;\n", singleTable.what, sizesFlag{rc})
	rep.Printf("             %s (%d partitions),\n", monthlyTable.what, len(monthsOf(started)))
	rep.Printf("             at %s rows; both with closed_at, name, email, note, the same rows: half of them closed\n", rowsLabel(rc.monthlyRows))
	rep.Printf("             more than a year before the run, spread evenly over the key of the first, the first\n")
	rep.Printf("             half of the key of the second\n")
	rep.Printf("rules:       age closed_at olderThan 1y; Replace/Nullify: Anonymize (name Replace, email Nullify);\n")
	rep.Printf("             keyed Hash: Pseudonymize email with an HMAC-SHA-256 key\n")
	rep.Printf("executor:    internal/engine through internal/retention, %d workers (each its own part of the rows\n", rc.workers)
	rep.Printf("             the rule selects, as the controller runs it); each batch one statement in one transaction:\n")
	rep.Printf("             the next rows in key order, their change, ledger row with their keys, checkpoint and\n")
	rep.Printf("             audit record, committed without waiting for the WAL flush except a part's last;\n")
	rep.Printf("             ratios at batchSize %d; the batch times at batchSize %d too (the RetentionPolicy default)\n", rc.batch, defaultBatch)
	rep.Printf("baselines:   one UPDATE ... WHERE closed_at < cut-off of the same rows with the same SQL\n")
	rep.Printf("             expressions, in one transaction, timed in the same run on the same data (the table\n")
	rep.Printf("             is restored, vacuumed, analysed and checkpointed before each measurement); and, to\n")
	rep.Printf("             show what two writers at once can do here, the Replace/Nullify UPDATE cut in two\n")
	rep.Printf("             halves of the rows it changes, both run at once on two connections (\"two set-based\n")
	rep.Printf("             halves at once\": one UPDATE's time over theirs)\n\n")

	first, last := 0, len(rc.sizes)-1
	single := func(i int, f func(tableRun) float64) []float64 {
		return benchutil.Column(runs, func(r retentionRun) float64 { return f(r.single[i]) })
	}
	monthly := func(f func(tableRun) float64) []float64 {
		return benchutil.Column(runs, func(r retentionRun) float64 { return f(r.monthly) })
	}
	plainRatio := func(t tableRun) float64 { return ratio(t.setPlain, t.execPlain) }
	hashRatio := func(t tableRun) float64 { return ratio(t.setHash, t.execHash) }
	// same is the single-column size the monthly table compares with.
	same := -1
	for i, n := range rc.sizes {
		if n == rc.monthlyRows {
			same = i
		}
	}

	t := rep.TargetTable(52)
	for i, n := range rc.sizes {
		t.AtLeast(fmt.Sprintf("Replace/Nullify ratio, %s rows", rowsLabel(n)), single(i, plainRatio), targetPlainRatio, "")
	}
	for i, n := range rc.sizes {
		t.AtLeast(fmt.Sprintf("keyed Hash ratio, %s rows", rowsLabel(n)), single(i, hashRatio), targetHashRatio, "")
	}
	if last > first {
		span := fmt.Sprintf("%s over %s", rowsLabel(rc.sizes[last]), rowsLabel(rc.sizes[first]))
		t.AtMost("time per row, "+span+", Replace/Nullify", benchutil.Column(runs, func(r retentionRun) float64 {
			return perRow(r.single[last].execPlain, r.single[last].eligible) / perRow(r.single[first].execPlain, r.single[first].eligible)
		}), targetLinearity, "")
		t.AtMost("time per row, "+span+", keyed Hash", benchutil.Column(runs, func(r retentionRun) float64 {
			return perRow(r.single[last].execHash, r.single[last].eligible) / perRow(r.single[first].execHash, r.single[first].eligible)
		}), targetLinearity, "")
	}
	p99 := func(t tableRun) float64 {
		if t.small != nil {
			return benchutil.Percentile(t.small.batches, 99)
		}
		return benchutil.Percentile(t.batches, 99)
	}
	for i, n := range rc.sizes {
		t.AtMost(fmt.Sprintf("batch p99 at batchSize %d, %s rows (ms)", defaultBatch, rowsLabel(n)), single(i, p99), targetBatchP99, "ms")
	}
	for i, n := range rc.sizes {
		t.Info(fmt.Sprintf("two set-based halves at once, %s rows", rowsLabel(n)), single(i, func(t tableRun) float64 { return ratio(t.setPlain, t.halves) }))
	}
	mLabel := "by month, " + rowsLabel(rc.monthlyRows) + " rows: "
	t.Info(mLabel+"Replace/Nullify ratio", monthly(plainRatio))
	t.Info(mLabel+"keyed Hash ratio", monthly(hashRatio))
	if same >= 0 {
		t.AtLeast(mLabel+"Replace/Nullify, over one-column", benchutil.Column(runs, func(r retentionRun) float64 {
			return plainRatio(r.monthly) / plainRatio(r.single[same])
		}), targetMonthly, "")
		t.AtLeast(mLabel+"keyed Hash, over one-column", benchutil.Column(runs, func(r retentionRun) float64 {
			return hashRatio(r.monthly) / hashRatio(r.single[same])
		}), targetMonthly, "")
	}
	t.AtMost(mLabel+fmt.Sprintf("batch p99 at batchSize %d (ms)", defaultBatch), monthly(p99), targetBatchP99, "ms")

	writeRetentionSizes(rep, rc, runs)
	writeRetentionRuns(rep, rc, runs)
	rep.Printf("\nnotes:\n")
	rep.Printf("  - a ratio is the set-based UPDATE's time over the executor's on the same rows: 1.0 is as fast\n")
	rep.Printf("    as one statement, 2.0 twice as fast (%d workers on the machine's cores; the statement has one)\n", rc.workers)
	rep.Printf("  - two writers at once do not go twice as fast here: the two halves of the set-based UPDATE, run\n")
	rep.Printf("    at once with nothing of the executor's, are the ceiling the executor's two workers share\n")
	rep.Printf("    (both write one WAL, through the default 4 MB of WAL buffers, and extend the same table)\n")
	rep.Printf("  - the executor's time includes every batch's selection, change, ledger row, checkpoint, audit\n")
	rep.Printf("    record and commit; the set-based UPDATE has none of them and holds every row lock until it ends\n")
	rep.Printf("  - time per row is the executor's time over the rows it changed; the target of %.2f at the largest\n", targetLinearity)
	rep.Printf("    size over the smallest allows for what grows with the table whoever changes it: at the largest\n")
	rep.Printf("    sizes the table no longer fits in shared_buffers, and the WAL of the change passes half of\n")
	rep.Printf("    max_wal_size, which starts a checkpoint and its full-page writes (the set-based UPDATE's own\n")
	rep.Printf("    time per row, in the table above, shows how much of it is the database's)\n")
	rep.Printf("  - batch times are each batch transaction's, from its BEGIN to its COMMIT, both rules together;\n")
	rep.Printf("    the workers' transactions overlap\n")
	rep.Printf("  - the monthly table's eligible rows are its first half in key order: its workers split them,\n")
	rep.Printf("    not the key range, by a sample of the rows the rule selects\n")
	return rep.String()
}

// writeRetentionSizes is the table of times per size (medians over runs).
func writeRetentionSizes(rep *benchutil.Report, rc *retentionConfig, runs []retentionRun) {
	rep.Printf("\nper size (median over runs; times in s, rows per second of the executor in thousands,\n")
	rep.Printf("time per row in µs; ratios at batchSize %d also shown at %d):\n", rc.batch, defaultBatch)
	rep.Printf("  %-18s %-16s %6s %6s %7s %6s %6s %6s %6s %7s %6s %6s\n", "table", "rule", "set", "exec", "krows/s",
		"µs/row", "set/r", "ratio", "exec", "krows/s", "ratio", "p99")
	rep.Printf("  %-18s %-16s %6s %6s %7s %6s %6s %6s %6s %7s %6s %6s\n", "", "", "", "", "", "", "", "", fmt.Sprint(defaultBatch), "", "", "ms")
	line := func(name string, get func(retentionRun) tableRun) {
		for _, rule := range []string{"Replace/Nullify", "keyed Hash"} {
			med := func(f func(tableRun) float64) float64 {
				_, m, _ := benchutil.Stats(benchutil.Column(runs, func(r retentionRun) float64 { return f(get(r)) }))
				return m
			}
			set, exec := func(t tableRun) time.Duration { return t.setPlain }, func(t tableRun) time.Duration { return t.execPlain }
			small := func(t tableRun) time.Duration {
				if t.small == nil {
					return t.execPlain
				}
				return t.small.execPlain
			}
			if rule == "keyed Hash" {
				set, exec = func(t tableRun) time.Duration { return t.setHash }, func(t tableRun) time.Duration { return t.execHash }
				small = func(t tableRun) time.Duration {
					if t.small == nil {
						return t.execHash
					}
					return t.small.execHash
				}
			}
			rep.Printf("  %-18s %-16s %6.2f %6.2f %7.0f %6.2f %6.2f %6.2f %6.2f %7.0f %6.2f %6.1f\n", name, rule,
				med(func(t tableRun) float64 { return set(t).Seconds() }),
				med(func(t tableRun) float64 { return exec(t).Seconds() }),
				med(func(t tableRun) float64 { return float64(t.eligible) / exec(t).Seconds() / 1000 }),
				med(func(t tableRun) float64 { return perRow(exec(t), t.eligible) }),
				med(func(t tableRun) float64 { return perRow(set(t), t.eligible) }),
				med(func(t tableRun) float64 { return ratio(set(t), exec(t)) }),
				med(func(t tableRun) float64 { return small(t).Seconds() }),
				med(func(t tableRun) float64 { return float64(t.eligible) / small(t).Seconds() / 1000 }),
				med(func(t tableRun) float64 { return ratio(set(t), small(t)) }),
				med(func(t tableRun) float64 {
					if t.small == nil {
						return benchutil.Percentile(t.batches, 99)
					}
					return benchutil.Percentile(t.small.batches, 99)
				}))
		}
	}
	for i, n := range rc.sizes {
		line(fmt.Sprintf("one-column %s", rowsLabel(n)), func(r retentionRun) tableRun { return r.single[i] })
	}
	line(fmt.Sprintf("by month %s", rowsLabel(rc.monthlyRows)), func(r retentionRun) tableRun { return r.monthly })
}

// writeRetentionRuns lists what each run changed and its batches.
func writeRetentionRuns(rep *benchutil.Report, rc *retentionConfig, runs []retentionRun) {
	rep.Printf("\nper run (eligible rows; changed by Replace/Nullify and keyed Hash; a second Replace/Nullify run;\n")
	rep.Printf("batches at batchSize %d: count, p50, p99, max in ms):\n", rc.batch)
	for i, r := range runs {
		rep.Printf("  run %d:\n", i+1)
		all := append(append([]tableRun{}, r.single...), r.monthly)
		for j, t := range all {
			name := "one-column " + rowsLabel(int(t.rows))
			if j == len(all)-1 {
				name = "by month " + rowsLabel(int(t.rows))
			}
			rep.Printf("    %-18s %8d eligible; changed %8d and %8d; again %d; %5d batches, %6.1f / %6.1f / %6.1f ms; loaded in %.1f s\n",
				name, t.eligible, t.changedPlain, t.changedHash, t.again, len(t.batches), benchutil.Percentile(t.batches, 50),
				benchutil.Percentile(t.batches, 99), maxOf(t.batches), t.load.Seconds())
		}
	}
}
