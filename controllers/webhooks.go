package controllers

import (
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/webhook"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"
)

// Webhook paths, as in config/webhook/manifests.yaml (generated from the
// +kubebuilder:webhook markers of the *_webhook.go files).
const (
	PathIdentity           = "/mutate-identity"
	PathDataSubjectRequest = "/validate-datasubjectrequest"
)

// SetupWebhooks registers every admission webhook on the server.
func SetupWebhooks(mgr ctrl.Manager, server webhook.Server, clk clock.PassiveClock) {
	decoder := admission.NewDecoder(mgr.GetScheme())
	server.Register(PathIdentity, &webhook.Admission{Handler: &IdentityWebhook{Clock: clk}})
	server.Register(PathDataSubjectRequest, &webhook.Admission{Handler: &DataSubjectRequestWebhook{Client: mgr.GetClient(), Decoder: decoder}})
}
