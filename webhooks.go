package main

import (
	"crypto/tls"
	"flag"
	"fmt"
	"os"

	"github.com/open-policy-agent/cert-controller/pkg/rotator"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/webhook"

	"github.com/lethe-dev/lethe/controllers"
)

// The cert rotator keeps the serving certificate in a Secret of the
// manager's namespace and the CA in the webhook configurations.
// +kubebuilder:rbac:groups=admissionregistration.k8s.io,resources=mutatingwebhookconfigurations;validatingwebhookconfigurations,verbs=get;list;watch;update

// webhookOptions are the flags of the admission webhook server.
type webhookOptions struct {
	enabled    bool
	port       int
	certDir    string
	rotate     bool
	service    string
	secret     string
	mutating   string
	validating string
}

// namespaceEnv holds the manager's namespace, from the downward API.
const namespaceEnv = "POD_NAMESPACE"

func (o *webhookOptions) bindFlags(fs *flag.FlagSet) {
	fs.BoolVar(&o.enabled, "webhooks", true, "Serve the admission webhooks (identity, four-eyes approval, guards). Turn off only for a local run without webhook configurations.")
	fs.IntVar(&o.port, "webhook-port", 9443, "Port of the admission webhook server.")
	fs.StringVar(&o.certDir, "webhook-cert-dir", "/tmp/k8s-webhook-server/serving-certs", "Directory of the webhook server's tls.crt and tls.key.")
	fs.BoolVar(&o.rotate, "webhook-cert-rotation", true, "Provision and rotate the webhook serving certificate in --webhook-secret and inject its CA into the webhook configurations; turn off when cert-manager provides the certificate.")
	fs.StringVar(&o.service, "webhook-service", "lethe-webhook-service", "Name of the Service in front of the webhook server (the certificate's DNS name).")
	fs.StringVar(&o.secret, "webhook-secret", "lethe-webhook-server-cert", "Name of the Secret, in the manager's namespace, holding the webhook serving certificate.")
	fs.StringVar(&o.mutating, "mutating-webhook-configuration", "lethe-mutating-webhook-configuration", "Name of the MutatingWebhookConfiguration to inject the CA into.")
	fs.StringVar(&o.validating, "validating-webhook-configuration", "lethe-validating-webhook-configuration", "Name of the ValidatingWebhookConfiguration to inject the CA into.")
}

// setup registers the webhooks and starts their server once its
// certificate is in place; the manager is not ready until it serves.
func (o *webhookOptions) setup(mgr ctrl.Manager) error {
	if !o.enabled {
		return nil
	}
	server := webhook.NewServer(webhook.Options{Port: o.port, CertDir: o.certDir, TLSOpts: []func(*tls.Config){
		// HTTP/1.1 only: the API server needs nothing more, and HTTP/2's
		// stream resets (CVE-2023-44487) stay out of reach.
		func(c *tls.Config) { c.NextProtos = []string{"http/1.1"} },
	}})
	controllers.SetupWebhooks(mgr, server, clock.RealClock{})
	if err := mgr.AddReadyzCheck("webhooks", server.StartedChecker()); err != nil {
		return err
	}
	if !o.rotate {
		return mgr.Add(server)
	}
	ns := os.Getenv(namespaceEnv)
	if ns == "" {
		return fmt.Errorf("--webhook-cert-rotation needs the manager's namespace in $%s", namespaceEnv)
	}
	ready := make(chan struct{})
	if err := rotator.AddRotator(mgr, &rotator.CertRotator{
		SecretKey:      types.NamespacedName{Namespace: ns, Name: o.secret},
		CertDir:        o.certDir,
		CAName:         "lethe-webhook-ca",
		CAOrganization: "lethe",
		DNSName:        fmt.Sprintf("%s.%s.svc", o.service, ns),
		ExtraDNSNames:  []string{fmt.Sprintf("%s.%s.svc.cluster.local", o.service, ns)},
		IsReady:        ready,
		Webhooks: []rotator.WebhookInfo{
			{Name: o.mutating, Type: rotator.Mutating},
			{Name: o.validating, Type: rotator.Validating},
		},
	}); err != nil {
		return err
	}
	// The server reads its certificate when it starts: start it once the
	// rotator has written one.
	go func() {
		<-ready
		if err := mgr.Add(server); err != nil {
			ctrl.Log.WithName("setup").Error(err, "cannot start the webhook server")
			os.Exit(1)
		}
	}()
	return nil
}
