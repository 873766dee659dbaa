package cli

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"

	privacyv1alpha1 "github.com/lethe-dev/lethe/api/v1alpha1"
	"github.com/lethe-dev/lethe/internal/export"
)

func exportRequest(ctx context.Context, name string, args []string, env Env) error {
	var k kubeFlags
	var output string
	fset := newFlags(name, "DATASUBJECTREQUEST -o FILE [-n NAMESPACE]", fmt.Sprintf(`Downloads the access export of a completed Access request from its Secret (key
export.zip) into FILE, after checking it: its SHA-256 is the one the operator wrote
into status.export, and every file of the zip has the size and SHA-256 its
manifest.json lists, with no file left out or added. Nothing is written when a
check fails. The export holds the person's data: FILE is created readable by you
only, and an existing FILE is not overwritten. -o - writes it to standard output.

  %s access-customer -n shop -o access-customer.zip
`, name), env.Stderr)
	k.register(fset)
	for _, n := range []string{"o", "output"} {
		fset.StringVar(&output, n, "", "the file to write the zip to (- for standard output)")
	}
	pos, err := parseArgs(fset, args, 1, 1, "the name of a DataSubjectRequest")
	if err != nil {
		return err
	}
	if output == "" {
		return usagef("name the file to write the export to with -o FILE")
	}
	c, err := connect(k)
	if err != nil {
		return err
	}
	var r privacyv1alpha1.DataSubjectRequest
	if err := c.get(ctx, "datasubjectrequests", pos[0], &r); err != nil {
		return err
	}
	what := fmt.Sprintf("DataSubjectRequest %s/%s", c.ns, r.Name)
	ex := r.Status.Export
	switch {
	case r.Spec.Type != privacyv1alpha1.RequestAccess:
		return fmt.Errorf("%s is an %s request; only Access requests have an export", what, r.Spec.Type)
	case ex == nil || ex.SecretRef == nil:
		return fmt.Errorf("%s has no export yet: it is %s", what, orNone(string(r.Status.Phase)))
	case ex.Expired:
		return fmt.Errorf("%s: its export was deleted at %s, after spec.export.ttl", what, when(ex.ExpiresAt))
	}
	data, err := c.secretData(ctx, ex.SecretRef.Name)
	if err != nil {
		return err
	}
	zip, ok := data[privacyv1alpha1.ExportSecretKey]
	if !ok {
		return fmt.Errorf("secret %s has no key %s", ex.SecretRef.Name, privacyv1alpha1.ExportSecretKey)
	}
	sum := sha256.Sum256(zip)
	if got := hex.EncodeToString(sum[:]); ex.SHA256 != "" && got != ex.SHA256 {
		return fmt.Errorf("the export in secret %s has SHA-256 %s, and %s's status.export.sha256 is %s: it changed after the operator wrote it; nothing was written",
			ex.SecretRef.Name, got, what, ex.SHA256)
	}
	m, err := export.Verify(zip)
	if err != nil {
		return fmt.Errorf("the export in secret %s does not match its manifest: %w; nothing was written", ex.SecretRef.Name, err)
	}
	if err := writeNew(output, zip, env); err != nil {
		return err
	}
	rows := 0
	for _, e := range m.Entities {
		rows += e.Rows
	}
	where := output
	if output == "-" {
		where = "standard output"
	}
	_, _ = fmt.Fprintf(env.Stderr, "wrote the access export of %s (subject %s, generated %s) to %s: %d rows of %d entities from tenants %s; "+
		"its SHA-256 and all %d files match status.export and manifest.json\n",
		what, short(m.SubjectDigest, 19), m.GeneratedAt.UTC().Format("2006-01-02T15:04:05Z"), where, rows, len(m.Entities),
		dash(strings.Join(m.Tenants, ", ")), len(m.Files))
	return nil
}

// writeNew writes data to a file that must not exist yet, readable by its
// owner only, or to standard output for "-".
func writeNew(path string, data []byte, env Env) error {
	if path == "-" {
		_, err := env.Stdout.Write(data)
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600) // #nosec G304 -- the user's own file
	if errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("%s exists: remove it or name another file", path)
	}
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
}
