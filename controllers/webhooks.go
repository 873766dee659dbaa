package controllers

import (
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/webhook"
)

// Webhook paths, as in config/webhook/manifests.yaml (generated from the
// +kubebuilder:webhook markers of the *_webhook.go files).
const (
	PathIdentity = "/mutate-identity"
)

// SetupWebhooks registers every admission webhook on the server.
func SetupWebhooks(_ ctrl.Manager, server webhook.Server, clk clock.PassiveClock) {
	server.Register(PathIdentity, &webhook.Admission{Handler: &IdentityWebhook{Clock: clk}})
}
