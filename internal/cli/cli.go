// Package cli is the lethe command, run on the machines of the people who
// operate Lethe and map their databases' personal data; installed as
// `kubectl-lethe` on the PATH it is the kubectl plugin `kubectl lethe`, and
// its help and messages say so. It acts as the kubeconfig's user, so the API
// server's RBAC and Lethe's admission webhooks (four eyes) apply to it:
//
//   - status: one screen per TenantDatabase: conditions, warnings,
//     uncovered columns and the last runs of what targets it;
//   - approve: approve a DataSubjectRequest;
//   - export: download an access export and check it against its manifest;
//   - run-now: start a RetentionPolicy's run at once;
//   - audit verify: re-check a tenant database's audit chain through its
//     connection Secret and print the latest records;
//   - inventory draft: draft a DataInventory from a live database, as a
//     TenantDatabase with the annotation privacy.lethe.dev/draft-inventory
//     does.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"strings"
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
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		printHelp(env.Stdout, prog)
		return nil
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "version":
		_, err := fmt.Fprintf(env.Stdout, "lethe %s\n", env.Version)
		return err
	case "status":
		return status(ctx, prog+" status", rest, env)
	case "approve":
		return approve(ctx, prog+" approve", rest, env)
	case "export":
		return exportRequest(ctx, prog+" export", rest, env)
	case "run-now":
		return runNow(ctx, prog+" run-now", rest, env)
	case "audit":
		if len(rest) > 0 && rest[0] == "verify" {
			return verifyAudit(ctx, prog+" audit verify", rest[1:], env)
		}
		return usagef("audit: want a subcommand: verify")
	case "inventory":
		if len(rest) > 0 && rest[0] == "draft" {
			return draftInventory(ctx, prog+" inventory draft", rest[1:], env)
		}
		return usagef("inventory: want a subcommand: draft")
	}
	return usagef("unknown command %q", cmd)
}

func printHelp(w io.Writer, prog string) {
	_, _ = fmt.Fprintf(w, `%[1]s: operate Lethe and map a database's personal data.

Usage:
  %[1]s status [TENANTDATABASE]            conditions, warnings, uncovered columns and last runs of tenant databases
  %[1]s approve DATASUBJECTREQUEST         approve a request as you (four eyes: not as its requester)
  %[1]s export DATASUBJECTREQUEST -o FILE  download an access export, checking every SHA-256 of its manifest
  %[1]s run-now RETENTIONPOLICY [--wait]   start a run of a retention policy now
  %[1]s audit verify TENANTDATABASE        re-check a tenant database's audit chain and print its latest records
  %[1]s inventory draft                    draft a DataInventory from a live database
  %[1]s version                            print the version

Every command but version takes -n NAMESPACE, --kubeconfig and --context, as kubectl does,
and acts as the kubeconfig's user. '%[1]s COMMAND -h' tells more.
`, prog)
}

// newFlags makes a command's flag set, its usage the synopsis and text
// given, then the flags.
func newFlags(name, synopsis, text string, out io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(out)
	fs.Usage = func() {
		_, _ = fmt.Fprintf(out, "Usage: %s %s\n\n%s\nFlags:\n", name, synopsis, text)
		fs.PrintDefaults()
	}
	return fs
}

// parseArgs parses flags anywhere among the arguments, as kubectl does
// (`approve erase-customer -n shop`), and checks the number of the others.
func parseArgs(fs *flag.FlagSet, args []string, min, max int, what string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, usageError{err.Error()}
		}
		args = fs.Args()
		if len(args) == 0 {
			break
		}
		if args[0] == "--" {
			pos = append(pos, args[1:]...)
			break
		}
		pos, args = append(pos, args[0]), args[1:]
	}
	switch {
	case len(pos) < min:
		return nil, usagef("want %s", what)
	case len(pos) > max:
		return nil, usagef("unexpected argument %q", pos[max])
	}
	return pos, nil
}
