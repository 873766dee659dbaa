package promrules

import (
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"

	"github.com/lethe-dev/lethe/controllers"
)

var root = filepath.Join("..", "..")

// exported is the set of metric names the manager exports, each histogram
// with its _bucket, _sum and _count series.
func exported() map[string]bool {
	names := map[string]bool{}
	for _, n := range controllers.MetricNames() {
		names[n] = true
		for _, suffix := range []string{"_bucket", "_sum", "_count"} {
			names[n+suffix] = true
		}
	}
	return names
}

// metricsOf lists the metric names an expression selects, and fails when
// it does not parse.
func metricsOf(t *testing.T, p parser.Parser, where, expr string) []string {
	t.Helper()
	e, err := p.ParseExpr(expr)
	if err != nil {
		t.Errorf("%s: %q does not parse: %v", where, expr, err)
		return nil
	}
	var names []string
	parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
		if vs, ok := n.(*parser.VectorSelector); ok {
			name := vs.Name
			for _, m := range vs.LabelMatchers {
				if m.Name == model.MetricNameLabel {
					name = m.Value
				}
			}
			names = append(names, name)
		}
		return nil
	})
	if len(names) == 0 {
		t.Errorf("%s: %q selects no metric", where, expr)
	}
	return names
}

func checkNames(t *testing.T, where string, names []string, known map[string]bool) {
	t.Helper()
	for _, n := range names {
		if !known[n] {
			t.Errorf("%s: metric %q is not one Lethe exports", where, n)
		}
	}
}

func TestExportedMetricsAreLethes(t *testing.T) {
	names := controllers.MetricNames()
	if len(names) < 10 {
		t.Fatalf("only %d metrics described: %v", len(names), names)
	}
	for _, n := range names {
		if !strings.HasPrefix(n, "lethe_") {
			t.Errorf("metric %q does not start with lethe_", n)
		}
	}
}

func TestAlertingRules(t *testing.T) {
	path := filepath.Join(root, "charts", "lethe", "files", "prometheus-rules.yaml")
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	p := parser.NewParser(parser.Options{})
	groups, errs := rulefmt.Parse(raw, false, model.UTF8Validation, p, slog.Default())
	for _, err := range errs {
		t.Errorf("%s: %v", path, err)
	}
	if groups == nil {
		t.FailNow()
	}
	known := exported()
	var alerts []string
	for _, g := range groups.Groups {
		for _, r := range g.Rules {
			where := g.Name + "/" + r.Alert + r.Record
			checkNames(t, where, metricsOf(t, p, where, r.Expr), known)
			if r.Alert == "" {
				continue
			}
			alerts = append(alerts, r.Alert)
			if s := r.Labels["severity"]; s != "warning" && s != "critical" {
				t.Errorf("%s: severity %q, want warning or critical", where, s)
			}
			url := r.Annotations["runbook_url"]
			const base = "https://github.com/lethe-dev/lethe/blob/main/"
			if !strings.HasPrefix(url, base) || !strings.HasSuffix(url, "/"+r.Alert+".md") {
				t.Errorf("%s: runbook_url %q, want %sdocs/runbooks/%s.md", where, url, base, r.Alert)
				continue
			}
			if _, err := os.Stat(filepath.Join(root, filepath.FromSlash(strings.TrimPrefix(url, base)))); err != nil {
				t.Errorf("%s: runbook: %v", where, err)
			}
		}
	}
	// The alerts the issue asks for: a request near or past its deadline,
	// a run failed, an audit chain broken, a tenant unreachable, uncovered
	// personal data.
	for _, want := range []string{"LetheRequestOverdue", "LetheRequestDeadlineNear", "LetheRetentionRunFailed",
		"LetheAuditChainBroken", "LetheTenantUnreachable", "LetheUncoveredPersonalData"} {
		if !slices.Contains(alerts, want) {
			t.Errorf("no alert %s", want)
		}
	}
	// Every runbook belongs to an alert.
	runbooks, _ := filepath.Glob(filepath.Join(root, "docs", "runbooks", "*.md"))
	for _, rb := range runbooks {
		if name := strings.TrimSuffix(filepath.Base(rb), ".md"); name != "README" && !slices.Contains(alerts, name) {
			t.Errorf("runbook %s has no alert", rb)
		}
	}
}

// grafanaVariable is a dashboard variable reference: $name, ${name} or
// ${name:format}, and Grafana's $__interval kind.
var grafanaVariable = regexp.MustCompile(`\$\{?(__\w+|\w+)(:\w+)?\}?`)

// asPromQL replaces the dashboard's variables with what Grafana would put
// in: a duration for the interval variables, a regular expression for the
// rest (used with =~).
func asPromQL(expr string) string {
	return grafanaVariable.ReplaceAllStringFunc(expr, func(v string) string {
		if strings.Contains(v, "__") {
			return "5m"
		}
		return ".*"
	})
}

// labelValues matches a variable's query label_values(metric, label).
var labelValues = regexp.MustCompile(`^label_values\((.*),\s*\w+\)$`)

func TestGrafanaDashboard(t *testing.T) {
	path := filepath.Join(root, "charts", "lethe", "files", "grafana-dashboard.json")
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Title  string `json:"title"`
		UID    string `json:"uid"`
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
		Templating struct {
			List []struct {
				Name  string `json:"name"`
				Type  string `json:"type"`
				Query any    `json:"query"`
			} `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(raw, &dash); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if dash.Title == "" || dash.UID == "" {
		t.Errorf("the dashboard needs a title and a uid")
	}
	p := parser.NewParser(parser.Options{})
	known := exported()
	exprs := 0
	for _, panel := range dash.Panels {
		for _, target := range panel.Targets {
			if target.Expr == "" {
				continue
			}
			exprs++
			where := "panel " + panel.Title
			checkNames(t, where, metricsOf(t, p, where, asPromQL(target.Expr)), known)
		}
	}
	if exprs < 8 {
		t.Errorf("the dashboard has %d queries; want one per metric at least", exprs)
	}
	for _, v := range dash.Templating.List {
		if v.Type != "query" {
			continue
		}
		q, _ := v.Query.(string)
		if m, ok := v.Query.(map[string]any); ok {
			q, _ = m["query"].(string)
		}
		sm := labelValues.FindStringSubmatch(q)
		if sm == nil {
			t.Errorf("variable %s: query %q is not label_values(metric, label)", v.Name, q)
			continue
		}
		where := "variable " + v.Name
		checkNames(t, where, metricsOf(t, p, where, asPromQL(sm[1])), known)
	}
}
