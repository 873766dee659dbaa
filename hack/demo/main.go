// Command demo runs Lethe on a laptop with no cluster: it starts a local
// PostgreSQL and a local Kubernetes API server (envtest's kube-apiserver and
// etcd), loads the sample customer-service application into two tenant
// databases, runs the manager, applies config/samples and shows what the
// operator did.
//
//	go run ./hack/demo -manager bin/manager -kubectl bin/k8s/<version>/kubectl
//
// With DEMO_KEEP=1 it leaves everything running until Ctrl-C, so the objects
// can be explored with kubectl. It never prints a password or a connection
// string.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/jackc/pgx/v5"
	"sigs.k8s.io/controller-runtime/pkg/client"

	privacyv1alpha1 "github.com/lethe-dev/lethe/api/v1alpha1"
	"github.com/lethe-dev/lethe/hack/localenv"
	"github.com/lethe-dev/lethe/internal/testutil/pgtest"
	"github.com/lethe-dev/lethe/internal/testutil/sampleapp"
)

const namespace = "lethe-demo"

// errManagerExited ends the demo when the manager process ends on its own.
var errManagerExited = errors.New("the manager process ended")

// tenants are the sample tenants: their names match config/samples.
var tenants = []struct {
	name      string
	customers int
	seed      int64
}{
	{"acme", 200, 1},
	{"globex", 120, 2},
}

type demo struct {
	managerBin string
	kubectl    string
	dir        string
	keep       bool

	env     *localenv.Env
	manager *localenv.Manager
	// metricsAddr is where the manager serves its metrics.
	metricsAddr string
	dbs         map[string]pgtest.Database
	secrets     []string
}

func main() {
	os.Exit(mainCode())
}

// mainCode runs the demo and returns the exit code, so deferred clean-up runs.
func mainCode() int {
	d := &demo{keep: os.Getenv("DEMO_KEEP") == "1", dbs: map[string]pgtest.Database{}}
	flag.StringVar(&d.managerBin, "manager", "bin/manager", "the manager binary (build it with `go build -o bin/manager .`)")
	flag.StringVar(&d.kubectl, "kubectl", defaultKubectl(), "the kubectl to run (default: $KUBEBUILDER_ASSETS/kubectl, else the newest bin/k8s/*/kubectl)")
	flag.StringVar(&d.dir, "dir", "", "work directory for the kubeconfig and logs (default: a new temporary directory)")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	tempDir := d.dir == ""
	if tempDir {
		var err error
		if d.dir, err = os.MkdirTemp("", "lethe-demo-"); err != nil {
			fmt.Fprintln(os.Stderr, "demo:", err)
			return 1
		}
	}

	err := d.run(ctx)
	if err != nil {
		fmt.Println()
		fmt.Println("FAILED:", d.redact(err.Error()))
		d.printManagerLog(40)
		fmt.Printf("Logs are kept in %s\n", d.dir)
	}
	if cerr := d.cleanup(); cerr != nil && (err == nil || !errors.Is(cerr, localenv.ErrExited)) {
		fmt.Fprintln(os.Stderr, "demo: clean-up:", cerr)
		if err == nil {
			err = cerr
		}
	}
	if err != nil {
		return 1
	}
	if tempDir {
		_ = os.RemoveAll(d.dir)
	}
	return 0
}

func (d *demo) run(ctx context.Context) error {
	heading("Starting PostgreSQL and the Kubernetes API server")
	start := time.Now()
	var err error
	d.env, err = localenv.Start(ctx, localenv.Options{Dir: d.dir, AssetsDir: assetsOf(d.kubectl)})
	if err != nil {
		return err
	}
	if d.kubectl != "" {
		if d.env.KubectlPath, err = filepath.Abs(d.kubectl); err != nil {
			return err
		}
	}
	d.secrets = append(d.secrets, d.env.Postgres.AppPassword)
	v, err := d.env.ServerVersions(ctx)
	if err != nil {
		return err
	}
	fmt.Printf("PostgreSQL %s on 127.0.0.1:%d, Kubernetes %s, ready in %.1fs\n",
		v.PostgreSQL, d.env.Postgres.Port, v.Kubernetes, time.Since(start).Seconds())
	fmt.Printf("Work directory: %s\n", d.dir)

	heading("Creating namespace " + namespace)
	if err := d.env.EnsureNamespace(ctx, namespace); err != nil {
		return err
	}
	fmt.Printf("namespace/%s created\n", namespace)

	heading("Creating the tenant databases and their connection Secrets")
	for _, t := range tenants {
		secret := t.name + "-db"
		db, err := d.env.CreateTenant(ctx, namespace, secret, t.name,
			sampleapp.Options{Tenant: t.name, Seed: t.seed, Customers: t.customers})
		if err != nil {
			return err
		}
		d.dbs[t.name] = db
		fmt.Printf("database %-7s sample application with %d customers; Secret %s/%s (keys host, port, dbname, user, password, sslmode)\n",
			db.Name, t.customers, namespace, secret)
	}

	heading("Starting the manager")
	if d.metricsAddr, err = freeLoopbackAddress(); err != nil {
		return err
	}
	d.manager, err = d.env.StartManager(ctx, d.managerBin, "--metrics-bind-address="+d.metricsAddr)
	if err != nil {
		return err
	}
	fmt.Printf("%s running as pid %d, log in %s\n", d.managerBin, d.manager.Pid(), d.manager.LogPath)
	// From here on, a manager that dies ends the demo at once rather than
	// after kubectl wait's timeout.
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	go func() {
		select {
		case <-d.manager.Exited():
			cancel(fmt.Errorf("%w: %v", errManagerExited, d.manager.ExitError()))
		case <-ctx.Done():
		}
	}()
	return d.withManager(ctx)
}

// withManager runs the steps that need the manager; ctx ends if it exits.
func (d *demo) withManager(ctx context.Context) (err error) {
	defer func() {
		if cause := context.Cause(ctx); err != nil && errors.Is(cause, errManagerExited) {
			err = cause
		}
	}()

	heading("kubectl apply -k config/samples -n " + namespace)
	if err := d.kubectlRun(ctx, "apply", "-k", "config/samples", "-n", namespace); err != nil {
		return err
	}

	heading("Waiting until every DataInventory and TenantDatabase is Ready")
	for _, kind := range []string{"datainventory", "tenantdatabase"} {
		if err := d.kubectlRun(ctx, "wait", "--for=condition=Ready", kind, "--all", "-n", namespace, "--timeout=120s"); err != nil {
			_ = d.printConditions(ctx) // best effort: the error below matters more
			return fmt.Errorf("%s objects did not become Ready: %w", kind, err)
		}
	}
	if err := d.managerAlive(); err != nil {
		return err
	}

	heading("kubectl get privacy -A")
	if err := d.kubectlRun(ctx, "get", "privacy", "-A"); err != nil {
		return err
	}
	heading("kubectl get privacy -A -o wide")
	if err := d.kubectlRun(ctx, "get", "privacy", "-A", "-o", "wide"); err != nil {
		return err
	}

	heading("kubectl explain tenantdatabase.spec")
	if err := d.kubectlRun(ctx, "explain", "tenantdatabase.spec"); err != nil {
		return err
	}

	heading("TenantDatabase status")
	if err := d.printConditions(ctx); err != nil {
		return err
	}

	if err := d.runDraft(ctx); err != nil {
		return err
	}

	heading("kubectl get events -n " + namespace)
	// The recorder sends events asynchronously: give the last ones a moment.
	if err := sleep(ctx, time.Second); err != nil {
		return err
	}
	if err := d.kubectlRun(ctx, "get", "events", "-n", namespace, "--sort-by=.metadata.creationTimestamp"); err != nil {
		return err
	}

	heading("Rows per table in tenant database acme")
	if err := d.printRowCounts(ctx, "acme"); err != nil {
		return err
	}

	if err := d.runRequests(ctx); err != nil {
		return err
	}
	if err := d.runPseudonymization(ctx); err != nil {
		return err
	}
	if err := d.runRetention(ctx); err != nil {
		return err
	}
	if err := d.printMetrics(ctx); err != nil {
		return err
	}

	heading("Latest audit records in tenant database acme (lethe.audit_log)")
	if err := d.printAudit(ctx, "acme", 12); err != nil {
		return err
	}
	if err := d.managerAlive(); err != nil {
		return err
	}

	heading("Done")
	fmt.Printf("%d TenantDatabases Ready in namespace %s.\n", len(tenants), namespace)
	if !d.keep {
		fmt.Println("Stopping the manager, the API server and PostgreSQL (set DEMO_KEEP=1 to keep them running).")
		return nil
	}
	rel := d.env.KubectlPath
	if r, err := filepath.Rel(d.env.RepoRoot, rel); err == nil && !strings.HasPrefix(r, "..") {
		rel = r
	}
	fmt.Printf("Everything keeps running. Kubeconfig: %s\n", d.env.KubeconfigPath)
	fmt.Printf("Try:\n  KUBECONFIG=%s %s get tdb -n %s\n", d.env.KubeconfigPath, rel, namespace)
	fmt.Println("Press Ctrl-C to stop and clean up.")
	<-ctx.Done()
	if cause := context.Cause(ctx); errors.Is(cause, errManagerExited) {
		return cause
	}
	fmt.Println()
	fmt.Println("Stopping.")
	return nil
}

// cleanup stops the manager before the API server, and the API server before
// PostgreSQL.
func (d *demo) cleanup() error {
	var errs []error
	if d.manager != nil {
		if err := d.manager.Stop(); err != nil {
			errs = append(errs, err)
		}
	}
	if d.env != nil {
		if err := d.env.Stop(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (d *demo) managerAlive() error {
	select {
	case <-d.manager.Exited():
		if err := d.manager.ExitError(); err != nil {
			return fmt.Errorf("the manager exited: %w", err)
		}
		return errors.New("the manager exited")
	default:
		return nil
	}
}

// kubectlRun runs kubectl and prints its output, redacted.
func (d *demo) kubectlRun(ctx context.Context, args ...string) error {
	out, err := d.env.KubectlContext(ctx, args...).CombinedOutput()
	fmt.Print(d.redact(string(out)))
	if err != nil {
		return fmt.Errorf("kubectl %s: %w", strings.Join(args, " "), err)
	}
	return nil
}

// printConditions prints each TenantDatabase's conditions and observations.
func (d *demo) printConditions(ctx context.Context) error {
	var list privacyv1alpha1.TenantDatabaseList
	if err := d.env.Client.List(ctx, &list, client.InNamespace(namespace)); err != nil {
		return err
	}
	for i, tdb := range list.Items {
		if i > 0 {
			fmt.Println()
		}
		s := tdb.Status
		fmt.Printf("TenantDatabase %s/%s (tenant %s): serverVersion %q, schemaVersion %d, auditRecords %d, observedGeneration %d/%d\n",
			tdb.Namespace, tdb.Name, tdb.Spec.Tenant, s.ServerVersion, s.SchemaVersion, s.AuditRecords,
			s.ObservedGeneration, tdb.Generation)
		for _, u := range s.UncoveredColumns {
			var why []string
			for _, r := range u.Reasons {
				why = append(why, r.Detail)
			}
			fmt.Printf("uncovered: %s (%s): %s\n", u.Column, u.Category, strings.Join(why, "; "))
		}
		tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
		_, _ = fmt.Fprintln(tw, "  TYPE\tSTATUS\tREASON\tMESSAGE")
		for _, c := range s.Conditions {
			_, _ = fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", c.Type, c.Status, c.Reason, d.redact(oneLine(c.Message)))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	if len(list.Items) == 0 {
		fmt.Println("(no TenantDatabases)")
	}
	return nil
}

func (d *demo) conn(ctx context.Context, tenant string) (*pgx.Conn, error) {
	db, ok := d.dbs[tenant]
	if !ok {
		return nil, fmt.Errorf("no database for tenant %s", tenant)
	}
	conn, err := d.env.Postgres.AppConn(ctx, db)
	if err != nil {
		return nil, fmt.Errorf("connect to database %s: %w", db.Name, err)
	}
	return conn, nil
}

func (d *demo) printRowCounts(ctx context.Context, tenant string) error {
	conn, err := d.conn(ctx, tenant)
	if err != nil {
		return err
	}
	defer func() { _ = conn.Close(context.Background()) }()
	const row = "%-24s %7s\n"
	fmt.Printf(row, "TABLE", "ROWS")
	var total int64
	for _, table := range sampleapp.Tables() {
		var n int64
		// Table names come from sampleapp's own fixed list.
		if err := conn.QueryRow(ctx, "SELECT count(*) FROM "+table).Scan(&n); err != nil {
			return fmt.Errorf("count %s: %w", table, err)
		}
		total += n
		fmt.Printf(row, table, fmt.Sprint(n))
	}
	fmt.Printf(row, "total", fmt.Sprint(total))
	return nil
}

func (d *demo) printAudit(ctx context.Context, tenant string, limit int) error {
	conn, err := d.conn(ctx, tenant)
	if err != nil {
		return err
	}
	defer func() { _ = conn.Close(context.Background()) }()
	var total int64
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM lethe.audit_log").Scan(&total); err != nil {
		return fmt.Errorf("read lethe.audit_log: %w", err)
	}
	rows, err := conn.Query(ctx, `SELECT id, recorded_at, actor,
			object_kind || '/' || object_namespace || '/' || object_name, action, left(entity, 40), rows_affected,
			left(encode(hash, 'hex'), 12)
		FROM (SELECT * FROM lethe.audit_log ORDER BY id DESC LIMIT $1) latest ORDER BY id`, limit)
	if err != nil {
		return fmt.Errorf("read lethe.audit_log: %w", err)
	}
	defer rows.Close()
	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	_, _ = fmt.Fprintln(tw, "ID\tRECORDED AT\tACTOR\tOBJECT\tACTION\tENTITY\tROWS\tHASH")
	for rows.Next() {
		var (
			id, n                               int64
			at                                  time.Time
			actor, object, action, entity, hash string
		)
		if err := rows.Scan(&id, &at, &actor, &object, &action, &entity, &n, &hash); err != nil {
			return err
		}
		_, _ = fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%d\t%s…\n", id, at.UTC().Format(time.RFC3339), actor, object,
			action, dash(entity), n, hash)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if total == 0 {
		fmt.Println("(no audit records yet)")
	} else if total > int64(limit) {
		fmt.Printf("(%d of %d records)\n", limit, total)
	}
	return nil
}

func (d *demo) printManagerLog(n int) {
	if d.manager == nil {
		return
	}
	tail, err := localenv.TailFile(d.manager.LogPath, n, d.secrets...)
	if err != nil {
		fmt.Println("cannot read the manager log:", err)
		return
	}
	fmt.Printf("\n--- last %d lines of the manager log (%s) ---\n%s\n--- end of the manager log ---\n", n, d.manager.LogPath, tail)
}

func (d *demo) redact(s string) string { return localenv.Redact(s, d.secrets...) }

func heading(s string) {
	fmt.Printf("\n==> %s\n", s)
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// defaultKubectl is $KUBEBUILDER_ASSETS/kubectl, else the newest
// bin/k8s/*/kubectl, else empty (localenv then finds one).
func defaultKubectl() string {
	if a := os.Getenv("KUBEBUILDER_ASSETS"); a != "" {
		return filepath.Join(a, "kubectl")
	}
	found, _ := filepath.Glob(filepath.Join("bin", "k8s", "*", "kubectl"))
	if len(found) > 0 {
		return found[len(found)-1]
	}
	return ""
}

// assetsOf uses the kubectl's directory as the envtest assets when it holds
// kube-apiserver too and KUBEBUILDER_ASSETS is not set.
func assetsOf(kubectl string) string {
	if kubectl == "" || os.Getenv("KUBEBUILDER_ASSETS") != "" {
		return ""
	}
	dir := filepath.Dir(kubectl)
	if _, err := os.Stat(filepath.Join(dir, "kube-apiserver")); err == nil {
		return dir
	}
	return ""
}
