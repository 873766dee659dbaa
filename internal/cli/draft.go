package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/lethe-dev/lethe/internal/classify"
	"github.com/lethe-dev/lethe/internal/draft"
	"github.com/lethe-dev/lethe/internal/tenantdb"
)

// draftOptions are the flags of `inventory draft`.
type draftOptions struct {
	kubeFlags
	tenantDatabase, secret, uriEnv string
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
	o.register(fs)
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
	pool, closePool, err := openDatabase(ctx, src)
	if err != nil {
		return err
	}
	defer closePool()
	if o.name == "" {
		o.name = src.name
	}
	if o.name == "" {
		o.name = pool.Config().ConnConfig.Database
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
