// Package localenv is the local environment the demo and the benchmarks run
// in: a throwaway PostgreSQL (internal/testutil/pgtest), a real Kubernetes API
// server with etcd (controller-runtime's envtest, the binaries under
// KUBEBUILDER_ASSETS) with Lethe's CRDs installed, a kubeconfig for kubectl,
// and the manager binary run as a child process.
//
// Every process it starts is its own child and is stopped by Stop; PostgreSQL
// and the manager are also told to go when the calling process dies.
package localenv

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/client-go/discovery"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	privacyv1alpha1 "github.com/lethe-dev/lethe/api/v1alpha1"
	"github.com/lethe-dev/lethe/internal/testutil/pgtest"
	"github.com/lethe-dev/lethe/internal/testutil/sampleapp"
)

// ModulePath is the module whose root Start looks for.
const ModulePath = "github.com/lethe-dev/lethe"

// Options configure Start.
type Options struct {
	// Dir is the work directory: the kubeconfig, the manager's log and the
	// API server's and PostgreSQL's logs go there. It is created if missing.
	Dir string
	// DurablePostgres keeps PostgreSQL's default durability settings
	// (benchmarks); without it writes skip fsync.
	DurablePostgres bool
	// MaxConnections is PostgreSQL's max_connections (default 200).
	MaxConnections int
	// AssetsDir holds kube-apiserver, etcd and kubectl. Default:
	// $KUBEBUILDER_ASSETS, else the newest <repo>/bin/k8s/*.
	AssetsDir string
}

// Env is a running local environment.
type Env struct {
	// Dir is the work directory.
	Dir string
	// RepoRoot is the root of the Lethe module.
	RepoRoot string
	// AssetsDir holds kube-apiserver, etcd and kubectl.
	AssetsDir string
	// KubeconfigPath is the admin kubeconfig for kubectl and the manager.
	KubeconfigPath string
	// KubectlPath is the kubectl Kubectl runs; default <AssetsDir>/kubectl.
	KubectlPath string

	// Postgres is the PostgreSQL server.
	Postgres *pgtest.Server
	// TestEnv is the API server and etcd.
	TestEnv *envtest.Environment
	// Config is the admin REST config.
	Config *rest.Config
	// Scheme has the client-go and Lethe types.
	Scheme *runtime.Scheme
	// Client is a controller-runtime client for the API server (no cache).
	Client client.Client

	apiLog   *os.File
	stopOnce sync.Once
	stopErr  error
}

var quietLog sync.Once

// Start starts PostgreSQL and the API server, installs the CRDs from
// <repo>/config/crd/bases, writes <Dir>/kubeconfig and builds a client.
func Start(ctx context.Context, opts Options) (_ *Env, err error) {
	// envtest logs through controller-runtime's logger; without one it
	// complains after 30 s. Its messages are not needed here.
	quietLog.Do(func() { ctrllog.SetLogger(zap.New(zap.WriteTo(io.Discard))) })

	if opts.Dir == "" {
		return nil, errors.New("localenv: Options.Dir is required")
	}
	dir, err := filepath.Abs(opts.Dir)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	root, err := FindRepoRoot()
	if err != nil {
		return nil, err
	}
	assets, err := findAssets(opts.AssetsDir, root)
	if err != nil {
		return nil, err
	}
	e := &Env{Dir: dir, RepoRoot: root, AssetsDir: assets, KubectlPath: filepath.Join(assets, "kubectl"),
		KubeconfigPath: filepath.Join(dir, "kubeconfig")}
	defer func() {
		if err != nil {
			_ = e.Stop() // the start-up error is the one to report
		}
	}()

	e.Scheme = runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(e.Scheme))
	utilruntime.Must(privacyv1alpha1.AddToScheme(e.Scheme))

	if err := ctx.Err(); err != nil {
		return nil, err
	}
	e.Postgres, err = pgtest.Start(pgtest.Options{Durable: opts.DurablePostgres, MaxConnections: opts.MaxConnections,
		LogPath: filepath.Join(dir, "postgres.log")})
	if err != nil {
		return nil, fmt.Errorf("start PostgreSQL: %w", err)
	}

	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if e.apiLog, err = os.Create(filepath.Join(dir, "kube-apiserver.log")); err != nil {
		return nil, err
	}
	te := &envtest.Environment{
		CRDDirectoryPaths:     []string{filepath.Join(root, "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
		BinaryAssetsDirectory: assets,
		Scheme:                e.Scheme,
		// Never touch whatever cluster the caller's kubeconfig points at.
		UseExistingCluster: ptr.To(false),
	}
	if os.Getenv("KUBEBUILDER_CONTROLPLANE_START_TIMEOUT") == "" {
		// Two cores shared with PostgreSQL and a compiler: be patient.
		te.ControlPlaneStartTimeout = 60 * time.Second
	}
	api := te.ControlPlane.GetAPIServer()
	api.Out, api.Err = e.apiLog, e.apiLog
	// A certificate directory of our own survives StopAPIServer, so the API
	// server comes back with the certificates every kubeconfig trusts.
	api.CertDir = filepath.Join(dir, "kube-apiserver")
	if err := os.MkdirAll(api.CertDir, 0o700); err != nil {
		return nil, err
	}
	// Start fills TestEnv before it can fail, so Stop cleans up what did
	// start.
	e.TestEnv = te
	cfg, err := te.Start()
	if err != nil {
		return nil, fmt.Errorf("start the Kubernetes API server (assets in %s): %w", assets, err)
	}
	e.Config = rest.CopyConfig(cfg)

	admin, err := te.AddUser(envtest.User{Name: "admin", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return nil, fmt.Errorf("add the admin user: %w", err)
	}
	kubeconfig, err := admin.KubeConfig()
	if err != nil {
		return nil, fmt.Errorf("admin kubeconfig: %w", err)
	}
	if err := os.WriteFile(e.KubeconfigPath, kubeconfig, 0o600); err != nil {
		return nil, err
	}
	if e.Client, err = client.New(e.Config, client.Options{Scheme: e.Scheme}); err != nil {
		return nil, fmt.Errorf("client: %w", err)
	}
	return e, nil
}

// Stop stops the API server, etcd and PostgreSQL. It is safe to call more
// than once; it does not stop managers started by StartManager.
func (e *Env) Stop() error {
	e.stopOnce.Do(func() {
		var errs []error
		if e.TestEnv != nil {
			if err := e.TestEnv.Stop(); err != nil {
				errs = append(errs, fmt.Errorf("stop the API server: %w", err))
			}
		}
		if e.apiLog != nil {
			_ = e.apiLog.Close()
		}
		if e.Postgres != nil {
			if err := e.Postgres.Stop(); err != nil {
				errs = append(errs, fmt.Errorf("stop PostgreSQL: %w", err))
			}
		}
		e.stopErr = errors.Join(errs...)
	})
	return e.stopErr
}

// StopAPIServer kills the API server (SIGKILL), as a crash of the control
// plane would; etcd, and with it every object, stays. Clients get
// connection errors until StartAPIServer.
func (e *Env) StopAPIServer() error {
	api := e.TestEnv.ControlPlane.GetAPIServer()
	pid, err := processWith("kube-apiserver", api.CertDir)
	if err != nil {
		return err
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		return fmt.Errorf("kill the API server (pid %d): %w", pid, err)
	}
	// Stop only forgets the process once envtest has seen it exit.
	deadline := time.Now().Add(10 * time.Second)
	for {
		if err = api.Stop(); err == nil || time.Now().After(deadline) {
			return err
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// processWith finds the process whose executable is named name and whose
// command line mentions mark (a directory of ours): the one we started.
func processWith(name, mark string) (int, error) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return 0, err
	}
	for _, en := range entries {
		pid, err := strconv.Atoi(en.Name())
		if err != nil {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", en.Name(), "cmdline")) // #nosec G304 -- /proc
		if err != nil {
			continue
		}
		args := strings.Split(string(cmdline), "\x00")
		if filepath.Base(args[0]) == name && strings.Contains(string(cmdline), mark) {
			return pid, nil
		}
	}
	return 0, fmt.Errorf("no %s process of this environment (%s) is running", name, mark)
}

// StartAPIServer starts the API server that StopAPIServer stopped, on the
// same address with the same certificates, and waits until it is healthy.
func (e *Env) StartAPIServer() error {
	if err := e.TestEnv.ControlPlane.GetAPIServer().Start(); err != nil {
		return fmt.Errorf("start the API server again: %w", err)
	}
	return nil
}

// EnsureNamespace creates the namespace unless it exists.
func (e *Env) EnsureNamespace(ctx context.Context, name string) error {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if err := e.Client.Create(ctx, ns); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create namespace %s: %w", name, err)
	}
	return nil
}

// CreateTenant creates the database tenant, loads the sample application into
// it as the application user, and creates (or replaces the data of) the
// connection Secret secretName in namespace, creating the namespace if
// missing. opts.Tenant defaults to tenant.
func (e *Env) CreateTenant(ctx context.Context, namespace, secretName, tenant string,
	opts sampleapp.Options) (pgtest.Database, error) {
	if opts.Tenant == "" {
		opts.Tenant = tenant
	}
	return e.CreateTenantWith(ctx, namespace, secretName, tenant, "the sample application",
		func(ctx context.Context, conn *pgx.Conn) error { return sampleapp.Load(ctx, conn, opts) })
}

// CreateTenantWith is CreateTenant with another schema: load, named what in
// errors, fills the new database over a connection as the application user.
func (e *Env) CreateTenantWith(ctx context.Context, namespace, secretName, tenant, what string,
	load func(context.Context, *pgx.Conn) error) (pgtest.Database, error) {
	db, err := e.Postgres.CreateDatabase(ctx, tenant)
	if err != nil {
		return pgtest.Database{}, err
	}
	conn, err := e.Postgres.AppConn(ctx, db)
	if err != nil {
		return pgtest.Database{}, fmt.Errorf("connect to database %s: %w", db.Name, err)
	}
	err = load(ctx, conn)
	_ = conn.Close(context.Background())
	if err != nil {
		return pgtest.Database{}, fmt.Errorf("load %s into %s: %w", what, db.Name, err)
	}
	if err := e.EnsureNamespace(ctx, namespace); err != nil {
		return pgtest.Database{}, err
	}
	secret := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: secretName, Namespace: namespace,
			Labels: map[string]string{"app.kubernetes.io/part-of": "lethe-local"}},
		Type: corev1.SecretTypeOpaque,
		Data: db.SecretData(),
	}
	if err := e.Client.Create(ctx, secret); err != nil {
		if !apierrors.IsAlreadyExists(err) {
			return pgtest.Database{}, fmt.Errorf("create Secret %s/%s: %w", namespace, secretName, err)
		}
		old := &corev1.Secret{}
		if err := e.Client.Get(ctx, client.ObjectKeyFromObject(secret), old); err != nil {
			return pgtest.Database{}, err
		}
		old.Data, old.StringData = secret.Data, nil
		if err := e.Client.Update(ctx, old); err != nil {
			return pgtest.Database{}, fmt.Errorf("update Secret %s/%s: %w", namespace, secretName, err)
		}
	}
	return db, nil
}

// Kubectl is a kubectl command for the environment's API server, run from the
// repository root (so paths such as config/samples work).
func (e *Env) Kubectl(args ...string) *exec.Cmd {
	return e.KubectlContext(context.Background(), args...)
}

// KubectlContext is Kubectl, killed when ctx is done.
func (e *Env) KubectlContext(ctx context.Context, args ...string) *exec.Cmd {
	full := append([]string{"--kubeconfig", e.KubeconfigPath, "--cache-dir", filepath.Join(e.Dir, "kube-cache")}, args...)
	cmd := exec.CommandContext(ctx, e.KubectlPath, full...) // #nosec G204 -- our own kubectl and arguments
	cmd.Dir = e.RepoRoot
	cmd.Env = append(withoutEnv(os.Environ(), "KUBECONFIG"), "KUBECONFIG="+e.KubeconfigPath)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	return cmd
}

// Versions of the environment's servers.
type Versions struct {
	Kubernetes string
	PostgreSQL string
	// Etcd is the version the etcd binary reports ("3.7.3"), or "unknown".
	Etcd string
}

// ServerVersions asks the API server, PostgreSQL and the etcd binary for
// their versions.
func (e *Env) ServerVersions(ctx context.Context) (Versions, error) {
	v := Versions{Etcd: etcdVersion(e.AssetsDir)}
	dc, err := discovery.NewDiscoveryClientForConfig(e.Config)
	if err != nil {
		return v, err
	}
	info, err := dc.ServerVersion()
	if err != nil {
		return v, fmt.Errorf("kubernetes version: %w", err)
	}
	v.Kubernetes = info.GitVersion
	conn, err := e.Postgres.AppConn(ctx, pgtest.Database{Name: "postgres", Host: "127.0.0.1",
		Port: e.Postgres.Port, User: pgtest.AppUser, Password: e.Postgres.AppPassword})
	if err != nil {
		return v, fmt.Errorf("PostgreSQL version: %w", err)
	}
	defer func() { _ = conn.Close(context.Background()) }()
	if err := conn.QueryRow(ctx, "SHOW server_version").Scan(&v.PostgreSQL); err != nil {
		return v, fmt.Errorf("PostgreSQL version: %w", err)
	}
	return v, nil
}

// etcdVersion asks the etcd binary in assets for its version.
func etcdVersion(assets string) string {
	out, err := exec.Command(filepath.Join(assets, "etcd"), "--version").Output() // #nosec G204 -- the envtest etcd
	if err != nil {
		return "unknown"
	}
	for _, line := range strings.Split(string(out), "\n") {
		if v, ok := strings.CutPrefix(line, "etcd Version: "); ok {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}

// TailFile returns the last n lines of a file, with every occurrence of the
// secrets replaced by "<redacted>".
func TailFile(path string, n int, secrets ...string) (string, error) {
	b, err := os.ReadFile(path) // #nosec G304 -- a log file we wrote
	if err != nil {
		return "", err
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return Redact(strings.Join(lines, "\n"), secrets...), nil
}

// Redact replaces every non-empty secret in s with "<redacted>".
func Redact(s string, secrets ...string) string {
	for _, sec := range secrets {
		if sec != "" {
			s = strings.ReplaceAll(s, sec, "<redacted>")
		}
	}
	return s
}

// FindRepoRoot walks up from the working directory to the directory whose
// go.mod declares the Lethe module.
func FindRepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if b, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil && declaresModule(b, ModulePath) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("not inside the %s module: run from the repository root", ModulePath)
		}
		dir = parent
	}
}

func declaresModule(gomod []byte, path string) bool {
	for _, line := range bytes.Split(gomod, []byte("\n")) {
		f := strings.Fields(string(line))
		if len(f) >= 2 && f[0] == "module" && strings.Trim(f[1], `"`) == path {
			return true
		}
	}
	return false
}

// findAssets picks the directory with kube-apiserver, etcd and kubectl.
func findAssets(explicit, root string) (string, error) {
	candidates := []string{explicit, os.Getenv("KUBEBUILDER_ASSETS")}
	found, _ := filepath.Glob(filepath.Join(root, "bin", "k8s", "*"))
	sort.Sort(sort.Reverse(sort.StringSlice(found)))
	candidates = append(candidates, found...)
	for _, d := range candidates {
		if d == "" {
			continue
		}
		if hasAssets(d) {
			return filepath.Abs(d)
		}
		if d == explicit || d == os.Getenv("KUBEBUILDER_ASSETS") {
			return "", fmt.Errorf("%s lacks kube-apiserver, etcd or kubectl: run `make envtest`", d)
		}
	}
	return "", errors.New("no kube-apiserver, etcd and kubectl found: set KUBEBUILDER_ASSETS or run `make envtest`")
}

func hasAssets(dir string) bool {
	for _, name := range []string{"kube-apiserver", "etcd", "kubectl"} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil || fi.IsDir() || fi.Mode()&0o111 == 0 {
			return false
		}
	}
	return true
}

func withoutEnv(env []string, key string) []string {
	out := env[:0:0]
	for _, kv := range env {
		if !strings.HasPrefix(kv, key+"=") {
			out = append(out, kv)
		}
	}
	return out
}
