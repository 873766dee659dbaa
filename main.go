// Command manager runs the Lethe controllers.
package main

import (
	"flag"
	"fmt"
	"os"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/controller-runtime/pkg/metrics/filters"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	privacyv1alpha1 "github.com/lethe-dev/lethe/api/v1alpha1"
	"github.com/lethe-dev/lethe/controllers"
	"github.com/lethe-dev/lethe/internal/engine"
	"github.com/lethe-dev/lethe/internal/tenantdb"
)

// version and commit name the build; set with
// -ldflags "-X main.version=... -X main.commit=..." (make image, Dockerfile).
var (
	version = "dev"
	commit  = "dev"
)

func main() {
	os.Exit(run())
}

// run wires the manager and runs it until a signal; it returns the exit code.
func run() int {
	var (
		metricsAddr, probeAddr        string
		metricsCertDir                string
		secureMetrics                 bool
		leaderElect                   bool
		resyncInterval, retryInterval time.Duration
		statementTimeout              time.Duration
		sampleInterval                time.Duration
		maxConcurrentReconciles       int
		maxConcurrentRequests         int
		showVersion                   bool
		requestBatchSize              int
		watchNamespaces               string
	)
	flag.BoolVar(&showVersion, "version", false, "Print the version and commit, and exit.")
	flag.StringVar(&metricsAddr, "metrics-bind-address", ":8443", "Address of the metrics endpoint; 0 disables it.")
	flag.BoolVar(&secureMetrics, "metrics-secure", true, "Serve metrics over HTTPS, to clients whose bearer token may get /metrics "+
		"(TokenReview and SubjectAccessReview); false serves plain HTTP to anyone who reaches the port.")
	flag.StringVar(&metricsCertDir, "metrics-cert-dir", "", "Directory with tls.crt and tls.key for the metrics endpoint; "+
		"empty means a self-signed certificate made at start.")
	flag.StringVar(&probeAddr, "health-probe-bind-address", ":8081", "Address of the /healthz and /readyz endpoints; 0 disables them.")
	flag.BoolVar(&leaderElect, "leader-elect", false, "Elect a leader, so only one replica reconciles at a time.")
	flag.DurationVar(&resyncInterval, "resync-interval", 5*time.Minute, "How often a Ready tenant database is checked again.")
	flag.DurationVar(&retryInterval, "retry-interval", 30*time.Second, "How soon a tenant database that could not be checked is tried again.")
	flag.IntVar(&maxConcurrentReconciles, "max-concurrent-reconciles", 4, "How many objects of one kind are reconciled at once.")
	flag.DurationVar(&sampleInterval, "sample-interval", controllers.DefaultSampleInterval,
		"How often the tables of a tenant database whose schema did not change are sampled again for personal data.")
	var webhooks webhookOptions
	webhooks.bindFlags(flag.CommandLine)
	flag.IntVar(&maxConcurrentRequests, "max-concurrent-requests", 8, "How many DataSubjectRequests are carried out at once: "+
		"a request mostly waits on tenant databases and the API server, and erasures verified at once share their re-scans.")
	flag.IntVar(&requestBatchSize, "request-batch-size", engine.DefaultBatchSize, "How many rows of one table one transaction of a "+
		"DataSubjectRequest changes at most; smaller batches hold row locks for less time.")
	flag.DurationVar(&statementTimeout, "statement-timeout", 5*time.Minute, "How long one statement of a retention run, a "+
		"pseudonymization job or a DataSubjectRequest may run in a tenant database before it is cancelled and its batch retried.")
	flag.StringVar(&watchNamespaces, "watch-namespaces", "", "Namespaces, separated by commas, whose Lethe objects and Secrets the "+
		"manager watches (its RBAC may then be a Role in each); empty watches every namespace.")
	opts := zap.Options{}
	opts.BindFlags(flag.CommandLine)
	flag.Parse()
	if showVersion {
		fmt.Printf("lethe %s (commit %s)\n", version, commit)
		return 0
	}
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&opts)))
	log := ctrl.Log.WithName("setup")
	if requestBatchSize < 1 {
		log.Error(nil, "--request-batch-size must be at least 1", "value", requestBatchSize)
		return 1
	}

	namespaces, err := watchedNamespaces(watchNamespaces)
	if err != nil {
		log.Error(err, "invalid flag")
		return 1
	}

	scheme := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(scheme))
	utilruntime.Must(privacyv1alpha1.AddToScheme(scheme))

	metricsOpts := metricsserver.Options{BindAddress: metricsAddr, SecureServing: secureMetrics, CertDir: metricsCertDir}
	if secureMetrics {
		metricsOpts.FilterProvider = filters.WithAuthenticationAndAuthorization
	}
	mgr, err := ctrl.NewManager(ctrl.GetConfigOrDie(), ctrl.Options{
		Scheme:                        scheme,
		Cache:                         cache.Options{DefaultNamespaces: namespaces},
		Metrics:                       metricsOpts,
		HealthProbeBindAddress:        probeAddr,
		LeaderElection:                leaderElect,
		LeaderElectionID:              "lethe.privacy.lethe.dev",
		LeaderElectionReleaseOnCancel: true,
	})
	if err != nil {
		log.Error(err, "cannot create the manager")
		return 1
	}
	ctx := ctrl.SetupSignalHandler()
	pools := tenantdb.NewPools()
	defer pools.CloseAll()

	if err := (&controllers.TenantDatabaseReconciler{
		Client:                  mgr.GetClient(),
		APIReader:               mgr.GetAPIReader(),
		Recorder:                mgr.GetEventRecorder("lethe-tenantdatabase"),
		Pools:                   pools,
		Clock:                   clock.RealClock{},
		ResyncInterval:          resyncInterval,
		RetryInterval:           retryInterval,
		MaxConcurrentReconciles: maxConcurrentReconciles,
		SampleInterval:          sampleInterval,
	}).SetupWithManager(ctx, mgr); err != nil {
		log.Error(err, "cannot set up the controller", "controller", "TenantDatabase")
		return 1
	}
	if err := (&controllers.DataInventoryReconciler{
		Client:   mgr.GetClient(),
		Recorder: mgr.GetEventRecorder("lethe-datainventory"),
	}).SetupWithManager(mgr); err != nil {
		log.Error(err, "cannot set up the controller", "controller", "DataInventory")
		return 1
	}
	if err := (&controllers.DataSubjectRequestReconciler{
		Client:                  mgr.GetClient(),
		APIReader:               mgr.GetAPIReader(),
		Recorder:                mgr.GetEventRecorder("lethe-datasubjectrequest"),
		Pools:                   pools,
		Clock:                   clock.RealClock{},
		RetryInterval:           retryInterval,
		Engine:                  engine.Options{BatchSize: requestBatchSize, StatementTimeout: statementTimeout},
		MaxConcurrentReconciles: maxConcurrentRequests,
	}).SetupWithManager(mgr); err != nil {
		log.Error(err, "cannot set up the controller", "controller", "DataSubjectRequest")
		return 1
	}
	if err := (&controllers.RetentionPolicyReconciler{
		Client:                  mgr.GetClient(),
		APIReader:               mgr.GetAPIReader(),
		Recorder:                mgr.GetEventRecorder("lethe-retentionpolicy"),
		Pools:                   pools,
		Clock:                   clock.RealClock{},
		RetryInterval:           retryInterval,
		StatementTimeout:        statementTimeout,
		MaxConcurrentReconciles: maxConcurrentReconciles,
	}).SetupWithManager(mgr); err != nil {
		log.Error(err, "cannot set up the controller", "controller", "RetentionPolicy")
		return 1
	}
	if err := (&controllers.PseudonymizationJobReconciler{
		Client:                  mgr.GetClient(),
		APIReader:               mgr.GetAPIReader(),
		Recorder:                mgr.GetEventRecorder("lethe-pseudonymizationjob"),
		Pools:                   pools,
		Clock:                   clock.RealClock{},
		RetryInterval:           retryInterval,
		StatementTimeout:        statementTimeout,
		MaxConcurrentReconciles: maxConcurrentReconciles,
	}).SetupWithManager(mgr); err != nil {
		log.Error(err, "cannot set up the controller", "controller", "PseudonymizationJob")
		return 1
	}
	if err := (&controllers.PermissionCatalogReconciler{
		Client:   mgr.GetClient(),
		Recorder: mgr.GetEventRecorder("lethe-permissioncatalog"),
	}).SetupWithManager(mgr); err != nil {
		log.Error(err, "cannot set up the controller", "controller", "PermissionCatalog")
		return 1
	}
	if err := (&controllers.RoleReconciler{
		Client:                  mgr.GetClient(),
		APIReader:               mgr.GetAPIReader(),
		Recorder:                mgr.GetEventRecorder("lethe-role"),
		Pools:                   pools,
		Clock:                   clock.RealClock{},
		ResyncInterval:          resyncInterval,
		RetryInterval:           retryInterval,
		MaxConcurrentReconciles: maxConcurrentReconciles,
	}).SetupWithManager(ctx, mgr); err != nil {
		log.Error(err, "cannot set up the controller", "controller", "Role")
		return 1
	}
	if err := webhooks.setup(mgr); err != nil {
		log.Error(err, "cannot set up the admission webhooks")
		return 1
	}
	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		log.Error(err, "cannot set up the health check")
		return 1
	}
	if err := mgr.AddReadyzCheck("readyz", healthz.Ping); err != nil {
		log.Error(err, "cannot set up the ready check")
		return 1
	}

	log.Info("starting manager", "version", version, "commit", commit, "watchNamespaces", watchNamespaces)
	if err := mgr.Start(ctx); err != nil {
		log.Error(err, "manager stopped with an error")
		return 1
	}
	return 0
}
