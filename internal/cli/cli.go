// Package cli is the lethe command: tools for the people who map a
// database's personal data, run on their own machine. Today it has one,
// `lethe inventory draft`, which drafts a DataInventory from a live
// database, as a TenantDatabase with the annotation
// privacy.lethe.dev/draft-inventory does.
//
// The program's name does not matter: installed as `kubectl-lethe` on the
// PATH it is `kubectl lethe inventory draft`, and its help says so.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/lethe-dev/lethe/internal/classify"
	"github.com/lethe-dev/lethe/internal/draft"
	"github.com/lethe-dev/lethe/internal/tenantdb"
)

// Env is what the command reads and writes besides its arguments.
type Env struct {
	Stdout, Stderr io.Writer
	// Getenv reads an environment variable (os.Getenv).
	Getenv func(string) string
	// Version is the build's version, for `lethe version`.
	Version string
}

// Main runs the command; args[0] is the program's name as invoked. It
// returns the exit code: 0, 1 for a failure, 2 for a usage error.
func Main(ctx context.Context, args []string, env Env) int {
	prog := programName(args[0])
	err := run(ctx, prog, args[1:], env)
	var usage usageError
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &usage):
		_, _ = fmt.Fprintf(env.Stderr, "%s: %s\nRun '%s help' for usage.\n", prog, usage.msg, prog)
		return 2
	}
	_, _ = fmt.Fprintf(env.Stderr, "%s: %s\n", prog, err)
	return 1
}

// programName is how the user invoked the program: `kubectl lethe` for a
// kubectl plugin (kubectl-lethe), the file's name otherwise.
func programName(arg0 string) string {
	base := strings.TrimSuffix(filepath.Base(arg0), ".exe")
	if plugin, ok := strings.CutPrefix(base, "kubectl-"); ok {
		return "kubectl " + strings.ReplaceAll(plugin, "_", "-")
	}
	if base == "" || base == "." {
		return "lethe"
	}
	return base
}

type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, a ...any) error { return usageError{fmt.Sprintf(format, a...)} }

func run(ctx context.Context, prog string, args []string, env Env) error {
	switch {
	case len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help":
		printHelp(env.Stdout, prog)
		return nil
	case args[0] == "version":
		_, err := fmt.Fprintf(env.Stdout, "lethe %s\n", env.Version)
		return err
	case args[0] == "inventory" && len(args) > 1 && args[1] == "draft":
		return draftInventory(ctx, prog+" inventory draft", args[2:], env)
	case args[0] == "inventory":
		return usagef("inventory: want a subcommand: draft")
	}
	return usagef("unknown command %q", args[0])
}

func printHelp(w io.Writer, prog string) {
	_, _ = fmt.Fprintf(w, `%[1]s: tools for mapping a database's personal data with Lethe.

Usage:
  %[1]s inventory draft   draft a DataInventory from a live database (see '%[1]s inventory draft -h')
  %[1]s version           print the version
`, prog)
}

// draftOptions are the flags of `inventory draft`.
type draftOptions struct {
	tenantDatabase, secret, uriEnv string
	namespace, kubeconfig, context string
	output, name                   string
	sampleRows                     int
	timeout                        time.Duration
}

func draftFlags(name string, o *draftOptions, out io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(out)
	fs.StringVar(&o.tenantDatabase, "tenantdatabase", "", "a TenantDatabase: its connection Secret is read with the current kubeconfig")
	fs.StringVar(&o.secret, "secret", "", "a connection Secret (key uri, or host, port, dbname, user, password, sslmode), read with the current kubeconfig")
	fs.StringVar(&o.uriEnv, "uri-env", "", "an environment variable holding a postgres:// URI (kept out of the shell history and the process list)")
	for _, n := range []string{"n", "namespace"} {
		fs.StringVar(&o.namespace, n, "", "the namespace of the TenantDatabase or Secret (default: the kubeconfig context's)")
	}
	fs.StringVar(&o.kubeconfig, "kubeconfig", "", "the kubeconfig file (default: $KUBECONFIG or ~/.kube/config)")
	fs.StringVar(&o.context, "context", "", "the kubeconfig context (default: the current one)")
	for _, n := range []string{"o", "output"} {
		fs.StringVar(&o.output, n, "", "the file to write the draft to (default: standard output)")
	}
	fs.StringVar(&o.name, "name", "", "the DataInventory's name (default: the TenantDatabase's spec.inventoryRef, or the database's name)")
	fs.IntVar(&o.sampleRows, "sample-rows", classify.DefaultSampleRows, fmt.Sprintf("rows of each table whose content is sampled, 1 to %d", classify.MaxSampleRows))
	fs.DurationVar(&o.timeout, "timeout", 2*time.Minute, "how long the whole draft may take")
	fs.Usage = func() {
		_, _ = fmt.Fprintf(out, `Usage: %[1]s (--tenantdatabase NAME | --secret NAME | --uri-env VAR) [-n NAMESPACE] [-o FILE]

Drafts a DataInventory of a live PostgreSQL database for you to review and apply:
subject types, entities related through foreign keys, personal columns with a
masking strategy each column can take, reporting columns, and comments saying
why. It only reads: the catalog, and a bounded sample of each table's content
in read-only transactions, of which only counts of matching values leave the
database. The draft holds names of tables and columns, never a value.

  %[1]s --tenantdatabase acme -n shop -o acme-inventory.yaml
  LETHE_DATABASE_URI=postgres://... %[1]s --uri-env LETHE_DATABASE_URI

Flags:
`, name)
		fs.PrintDefaults()
	}
	return fs
}

func draftInventory(ctx context.Context, name string, args []string, env Env) error {
	var o draftOptions
	fs := draftFlags(name, &o, env.Stderr)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{err.Error()}
	}
	if fs.NArg() > 0 {
		return usagef("unexpected argument %q (flags go after the command)", fs.Arg(0))
	}
	sources := 0
	for _, s := range []string{o.tenantDatabase, o.secret, o.uriEnv} {
		if s != "" {
			sources++
		}
	}
	if sources != 1 {
		return usagef("name the database with exactly one of --tenantdatabase, --secret or --uri-env")
	}
	if o.sampleRows < 1 || o.sampleRows > classify.MaxSampleRows {
		return usagef("--sample-rows must be 1 to %d, got %d", classify.MaxSampleRows, o.sampleRows)
	}
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()

	src, err := resolveSource(ctx, o, env)
	if err != nil {
		return err
	}
	src.conn.MaxConns = 2
	cfg, err := src.conn.Config()
	if err != nil {
		return fmt.Errorf("%s %w", src.what, err)
	}
	if o.name == "" {
		o.name = src.name
	}
	if o.name == "" {
		o.name = cfg.Pool.ConnConfig.Database
	}
	pools := tenantdb.NewPools()
	defer pools.CloseAll()
	pool, err := pools.Get(ctx, "lethe", cfg)
	if err != nil {
		return fmt.Errorf("connect with %s: %s", src.what, tenantdb.SafeError(err))
	}
	cat, err := tenantdb.ReadCatalog(ctx, pool)
	if err != nil {
		return fmt.Errorf("read the catalog of %s: %s", src.what, tenantdb.SafeError(err))
	}
	res, err := classify.Classify(ctx, pool, cat, classify.Options{SampleRows: o.sampleRows})
	if err != nil {
		return fmt.Errorf("sample the tables of %s: %s", src.what, tenantdb.SafeError(err))
	}
	d, err := draft.New(ctx, pool, cat, res, draft.Options{Name: inventoryName(o.name), Source: src.what})
	if err != nil {
		return err
	}
	out, err := d.YAML()
	if err != nil {
		return err
	}
	where := "standard output"
	if o.output == "" || o.output == "-" {
		if _, err := env.Stdout.Write(out); err != nil {
			return err
		}
	} else {
		if err := os.WriteFile(o.output, out, 0o600); err != nil {
			return err
		}
		where = o.output
	}
	spec := &d.Inventory.Spec
	for _, t := range res.Tables {
		if t.SampleError != "" {
			_, _ = fmt.Fprintf(env.Stderr, "note: %s; its columns were judged by names and types\n", t.SampleError)
		}
	}
	_, _ = fmt.Fprintf(env.Stderr, "drafted DataInventory %s from %s into %s: %d subject types, %d entities, %d personal columns; review it, then apply it\n",
		d.Inventory.Name, src.what, where, len(spec.Subjects), len(spec.Entities), d.PersonalColumns)
	return nil
}

// inventoryName makes a database or object name a Kubernetes object name:
// lower case, with characters other than letters, digits, '-' and '.'
// turned into '-'.
func inventoryName(s string) string {
	s = strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '-', r == '.':
			return r
		case r >= 'A' && r <= 'Z':
			return r + 'a' - 'A'
		}
		return '-'
	}, s)
	s = strings.Trim(s, "-.")
	if s == "" {
		return draft.DefaultName
	}
	return s
}
