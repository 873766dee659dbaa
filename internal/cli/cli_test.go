package cli

import (
	"bytes"
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	privacyv1alpha1 "github.com/lethe-dev/lethe/api/v1alpha1"
	"github.com/lethe-dev/lethe/internal/testutil/pgtest"
	"github.com/lethe-dev/lethe/internal/testutil/sampleapp"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// runCLI runs the command as a program named prog, with env as its
// environment, and returns its exit code, output and errors.
func runCLI(prog string, env map[string]string, args ...string) (int, string, string) {
	var out, errs bytes.Buffer
	code := Main(context.Background(), append([]string{prog}, args...), Env{Stdout: &out, Stderr: &errs,
		Getenv: func(k string) string { return env[k] }, Version: "test"})
	return code, out.String(), errs.String()
}

// TestDraftsFromAURIInTheEnvironment drafts the sample application's
// inventory from a URI in an environment variable, into a file that
// parses strictly, named after the database; no message shows the
// password.
func TestDraftsFromAURIInTheEnvironment(t *testing.T) {
	ctx := context.Background()
	db := pgtest.NewDatabase(t)
	conn, err := pgtest.Shared().AppConn(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	err = sampleapp.Load(ctx, conn, sampleapp.Options{Seed: 7})
	_ = conn.Close(ctx)
	if err != nil {
		t.Fatal(err)
	}
	uri := fmt.Sprintf("postgres://%s:%s@%s:%d/%s?sslmode=disable", url.PathEscape(db.User), url.PathEscape(db.Password), db.Host, db.Port, db.Name)
	file := filepath.Join(t.TempDir(), "inventory.yaml")

	code, out, errs := runCLI("lethe", map[string]string{"SHOP_DB": uri}, "inventory", "draft", "--uri-env", "SHOP_DB", "-o", file)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	if out != "" {
		t.Errorf("standard output holds %q; the draft goes to the file", out)
	}
	raw, err := os.ReadFile(file) // #nosec G304 -- the test's own file
	if err != nil {
		t.Fatal(err)
	}
	var inv privacyv1alpha1.DataInventory
	if err := yaml.UnmarshalStrict(raw, &inv); err != nil {
		t.Fatalf("the draft does not parse strictly: %v", err)
	}
	if want := strings.ReplaceAll(db.Name, "_", "-"); inv.Name != want {
		t.Errorf("name %q, want the database's, %q", inv.Name, want)
	}
	if len(inv.Spec.Subjects) != 3 || len(inv.Spec.Entities) != 11 {
		t.Errorf("%d subject types and %d entities; want the sample application's 3 and 11", len(inv.Spec.Subjects), len(inv.Spec.Entities))
	}
	if !strings.Contains(errs, "drafted DataInventory "+inv.Name+" from the database of $SHOP_DB into "+file) {
		t.Errorf("standard error: %q", errs)
	}
	if strings.Contains(string(raw)+errs, db.Password) {
		t.Error("the draft or a message holds the password")
	}

	code, out, _ = runCLI("lethe", map[string]string{"SHOP_DB": uri}, "inventory", "draft", "--uri-env", "SHOP_DB", "--name", "shop", "--sample-rows", "20")
	if code != 0 || !strings.Contains(out, "name: shop\n") {
		t.Errorf("exit %d, output to standard output named shop:\n%s", code, out)
	}

	wrong := strings.Replace(uri, url.PathEscape(db.Password), "not-the-password", 1)
	code, _, errs = runCLI("lethe", map[string]string{"SHOP_DB": wrong}, "inventory", "draft", "--uri-env", "SHOP_DB")
	if code != 1 || !strings.Contains(errs, "the database of $SHOP_DB") || strings.Contains(errs, "not-the-password") {
		t.Errorf("a wrong password: exit %d, %q; want a failure naming the variable and not the password", code, errs)
	}
}

// TestSaysWhatIsWrongWithTheCommand checks the usage errors, and that the
// program's name, kubectl's plugin or not, is the one the help shows.
func TestSaysWhatIsWrongWithTheCommand(t *testing.T) {
	for _, c := range []struct {
		name, prog string
		args       []string
		code       int
		says       string
	}{
		{"help as a kubectl plugin", "/usr/local/bin/kubectl-lethe", []string{"help"}, 0, "kubectl lethe inventory draft                    draft a DataInventory"},
		{"help lists the plugin's commands", "kubectl-lethe", []string{"--help"}, 0, "kubectl lethe approve DATASUBJECTREQUEST         approve a request as you"},
		{"approve help", "kubectl-lethe", []string{"approve", "-h"}, 0, "Usage: kubectl lethe approve DATASUBJECTREQUEST [-n NAMESPACE]"},
		{"approve without a name", "kubectl-lethe", []string{"approve", "-n", "shop"}, 2, "kubectl lethe: want the name of a DataSubjectRequest\n"},
		{"approve two", "lethe", []string{"approve", "a", "-n", "shop", "b"}, 2, `unexpected argument "b"`},
		{"export without a file", "lethe", []string{"export", "access", "-n", "shop"}, 2, "name the file to write the export to with -o FILE"},
		{"run-now without a name", "lethe", []string{"run-now", "--wait"}, 2, "want the name of a RetentionPolicy"},
		{"status of two", "lethe", []string{"status", "a", "b"}, 2, `unexpected argument "b"`},
		{"audit without a subcommand", "lethe", []string{"audit", "acme"}, 2, "audit: want a subcommand: verify"},
		{"too many records", "lethe", []string{"audit", "verify", "acme", "--last", "5000"}, 2, "--last must be 0 to 1000, got 5000"},
		{"flags after the name", "lethe", []string{"approve", "erase", "--kubeconfig", "/nonexistent/kubeconfig"}, 1, "load the kubeconfig"},
		{"no command", "lethe", nil, 0, "lethe inventory draft"},
		{"draft help as a plugin", "kubectl-lethe", []string{"inventory", "draft", "-h"}, 0, "Usage: kubectl lethe inventory draft (--tenantdatabase NAME"},
		{"an unknown command", "lethe", []string{"inventories"}, 2, `unknown command "inventories"`},
		{"no subcommand", "lethe", []string{"inventory"}, 2, "want a subcommand: draft"},
		{"no database", "kubectl-lethe", []string{"inventory", "draft"}, 2,
			"kubectl lethe: name the database with exactly one of --tenantdatabase, --secret or --uri-env\nRun 'kubectl lethe help' for usage."},
		{"two databases", "lethe", []string{"inventory", "draft", "--secret", "a", "--uri-env", "B"}, 2, "exactly one of"},
		{"an unknown flag", "lethe", []string{"inventory", "draft", "--tdb", "a"}, 2, "flag provided but not defined: -tdb"},
		{"an argument", "lethe", []string{"inventory", "draft", "--secret", "a", "extra"}, 2, `unexpected argument "extra"`},
		{"too many rows", "lethe", []string{"inventory", "draft", "--secret", "a", "--sample-rows", "20000"}, 2, "--sample-rows must be 1 to 10000"},
		{"an empty variable", "lethe", []string{"inventory", "draft", "--uri-env", "NOPE"}, 1, "environment variable NOPE is empty"},
		{"no kubeconfig", "lethe", []string{"inventory", "draft", "--secret", "db", "--kubeconfig", "/nonexistent/kubeconfig"}, 1, "load the kubeconfig"},
		{"the version", "lethe", []string{"version"}, 0, "lethe test"},
	} {
		t.Run(c.name, func(t *testing.T) {
			code, out, errs := runCLI(c.prog, nil, c.args...)
			if code != c.code || !strings.Contains(out+errs, c.says) {
				t.Errorf("exit %d, output %q, errors %q; want exit %d saying %q", code, out, errs, c.code, c.says)
			}
		})
	}
}
