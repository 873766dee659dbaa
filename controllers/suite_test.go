package controllers

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"go.uber.org/zap/zapcore"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/utils/clock"
	clocktesting "k8s.io/utils/clock/testing"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/controller-runtime/pkg/metrics/filters"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	privacyv1alpha1 "github.com/lethe-dev/lethe/api/v1alpha1"
	"github.com/lethe-dev/lethe/internal/engine"
	"github.com/lethe-dev/lethe/internal/tenantdb"
	"github.com/lethe-dev/lethe/internal/testutil/pgtest"
)

// The suite runs the manager against a real API server (envtest's
// kube-apiserver and etcd, built by hack/envtest-assets.sh) and a real
// PostgreSQL (internal/testutil/pgtest), and asserts through a client that
// reads straight from the API server.
var (
	cfg     *rest.Config
	k8s     client.Client
	testEnv *envtest.Environment
	pg      *pgtest.Server
	pools   *tenantdb.Pools
	ctx     context.Context
	cancel  context.CancelFunc

	// requestClock is the DataSubjectRequest controller's clock, so
	// deadlines are tested without waiting.
	requestClock = clocktesting.NewFakeClock(time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC))
	// requestHook, when set, runs before each batch of a request's changes.
	requestHook atomic.Pointer[func(entity string, batch int) error]
	// retentionClock is the RetentionPolicy controller's clock, so schedules
	// are tested without waiting.
	retentionClock = clocktesting.NewFakeClock(time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC))
	// retentionHook, when set, runs before each batch of a policy's run.
	retentionHook atomic.Pointer[func(rule string, batch int) error]
	// jobClock is the PseudonymizationJob controller's clock: selector ages
	// are measured from a job's start.
	jobClock = clocktesting.NewFakeClock(time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC))
	// jobHook, when set, runs before each batch of a job.
	jobHook atomic.Pointer[func(entity string, batch int) error]
	// managerLog holds everything the manager logged, for the leak tests.
	managerLog syncBuffer
	// metricsURL is the manager's metrics endpoint, served over HTTPS with
	// authentication and authorization as in main.go.
	metricsURL string
)

// syncBuffer is a bytes.Buffer safe for concurrent writers.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Short intervals so healing is seen within a test's patience.
const (
	testResync = 2 * time.Second
	testRetry  = time.Second
)

func TestControllers(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "Controllers")
}

var _ = BeforeSuite(func() {
	logf.SetLogger(zap.New(zap.WriteTo(io.MultiWriter(GinkgoWriter, &managerLog)), zap.UseDevMode(true), zap.Level(zapcore.Level(-2))))
	ctx, cancel = context.WithCancel(context.Background())

	var err error
	// TLS too, for the connection specs: the other specs connect with
	// sslmode disable. Every spec's tenants keep pools open in the one
	// manager: more than the default 200 connections.
	pg, err = pgtest.Start(pgtest.Options{TLS: true, MaxConnections: 400})
	Expect(err).NotTo(HaveOccurred())

	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		dirs, _ := filepath.Glob(filepath.Join("..", "bin", "k8s", "*"))
		Expect(dirs).NotTo(BeEmpty(), "no envtest binaries: run `make envtest` or set KUBEBUILDER_ASSETS")
		Expect(os.Setenv("KUBEBUILDER_ASSETS", dirs[len(dirs)-1])).To(Succeed())
	}
	testEnv = &envtest.Environment{
		CRDDirectoryPaths:     []string{filepath.Join("..", "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
		// The webhook configurations of config/webhook, pointed at the
		// manager's webhook server below.
		WebhookInstallOptions: envtest.WebhookInstallOptions{Paths: []string{filepath.Join("..", "config", "webhook")}},
	}
	cfg, err = testEnv.Start()
	Expect(err).NotTo(HaveOccurred())

	scheme := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(scheme))
	utilruntime.Must(privacyv1alpha1.AddToScheme(scheme))
	k8s, err = client.New(cfg, client.Options{Scheme: scheme})
	Expect(err).NotTo(HaveOccurred())

	metricsAddr := freeLoopbackAddress()
	metricsURL = "https://" + metricsAddr + "/metrics"
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme: scheme,
		Metrics: metricsserver.Options{BindAddress: metricsAddr, SecureServing: true,
			FilterProvider: filters.WithAuthenticationAndAuthorization},
		HealthProbeBindAddress: "0",
	})
	Expect(err).NotTo(HaveOccurred())
	pools = tenantdb.NewPools()
	Expect((&TenantDatabaseReconciler{
		Client:                  mgr.GetClient(),
		APIReader:               mgr.GetAPIReader(),
		Recorder:                mgr.GetEventRecorder("lethe-tenantdatabase"),
		Pools:                   pools,
		Clock:                   clock.RealClock{},
		ResyncInterval:          testResync,
		RetryInterval:           testRetry,
		MaxConcurrentReconciles: 4,
	}).SetupWithManager(ctx, mgr)).To(Succeed())
	Expect((&DataInventoryReconciler{
		Client:   mgr.GetClient(),
		Recorder: mgr.GetEventRecorder("lethe-datainventory"),
	}).SetupWithManager(mgr)).To(Succeed())

	Expect((&DataSubjectRequestReconciler{
		Client:        mgr.GetClient(),
		APIReader:     mgr.GetAPIReader(),
		Recorder:      mgr.GetEventRecorder("lethe-datasubjectrequest"),
		Pools:         pools,
		Clock:         requestClock,
		RetryInterval: testRetry,
		// As main.go's default: a spec steps the clock past it.
		GDPRRequestRetention: DefaultGDPRRequestRetention,
		Engine: engine.Options{BatchSize: 4, BeforeBatch: func(entity string, batch int) error {
			if h := requestHook.Load(); h != nil {
				return (*h)(entity, batch)
			}
			return nil
		}},
		MaxConcurrentReconciles: 4,
	}).SetupWithManager(mgr)).To(Succeed())

	Expect((&RetentionPolicyReconciler{
		Client:         mgr.GetClient(),
		APIReader:      mgr.GetAPIReader(),
		Recorder:       mgr.GetEventRecorder("lethe-retentionpolicy"),
		Pools:          pools,
		Clock:          retentionClock,
		RetryInterval:  testRetry,
		Slice:          time.Second,
		LockRetryDelay: 200 * time.Millisecond,
		LockRetries:    2,
		LockTimeout:    time.Second,
		BeforeBatch: func(rule string, batch int) error {
			if h := retentionHook.Load(); h != nil {
				return (*h)(rule, batch)
			}
			return nil
		},
		MaxConcurrentReconciles: 4,
	}).SetupWithManager(mgr)).To(Succeed())

	Expect((&PseudonymizationJobReconciler{
		Client:        mgr.GetClient(),
		APIReader:     mgr.GetAPIReader(),
		Recorder:      mgr.GetEventRecorder("lethe-pseudonymizationjob"),
		Pools:         pools,
		Clock:         jobClock,
		RetryInterval: testRetry,
		Slice:         time.Second,
		LockRetries:   2,
		LockTimeout:   time.Second,
		BeforeBatch: func(entity string, batch int) error {
			if h := jobHook.Load(); h != nil {
				return (*h)(entity, batch)
			}
			return nil
		},
		MaxConcurrentReconciles: 4,
	}).SetupWithManager(mgr)).To(Succeed())

	Expect((&PermissionCatalogReconciler{
		Client:   mgr.GetClient(),
		Recorder: mgr.GetEventRecorder("lethe-permissioncatalog"),
	}).SetupWithManager(mgr)).To(Succeed())
	Expect((&RoleReconciler{
		Client:                  mgr.GetClient(),
		APIReader:               mgr.GetAPIReader(),
		Recorder:                mgr.GetEventRecorder("lethe-role"),
		Pools:                   pools,
		Clock:                   clock.RealClock{},
		ResyncInterval:          testResync,
		RetryInterval:           testRetry,
		MaxConcurrentReconciles: 4,
	}).SetupWithManager(ctx, mgr)).To(Succeed())

	webhooks := startWebhooks(mgr)

	go func() {
		defer GinkgoRecover()
		Expect(mgr.Start(ctx)).To(Succeed())
	}()
	waitForWebhooks(webhooks)
	waitForListener(metricsAddr)
})

var _ = AfterSuite(func() {
	if cancel != nil {
		cancel()
	}
	if pools != nil {
		pools.CloseAll()
	}
	if testEnv != nil {
		Expect(testEnv.Stop()).To(Succeed())
	}
	if pg != nil {
		Expect(pg.Stop()).To(Succeed())
	}
})
