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
	PathRole               = "/validate-role"
	PathDataInventory      = "/validate-datainventory"
	PathTenantDatabase     = "/validate-tenantdatabase"
	PathRetentionPolicy    = "/validate-retentionpolicy"
)

// SetupWebhooks registers every admission webhook on the server. Their
// decisions read from the API server uncached: each must see the change
// admitted just before it.
func SetupWebhooks(mgr ctrl.Manager, server webhook.Server, clk clock.PassiveClock) {
	decoder := admission.NewDecoder(mgr.GetScheme())
	reader := mgr.GetAPIReader()
	server.Register(PathIdentity, &webhook.Admission{Handler: &IdentityWebhook{Clock: clk}})
	server.Register(PathDataSubjectRequest, &webhook.Admission{Handler: &DataSubjectRequestWebhook{Client: mgr.GetClient(), Decoder: decoder}})
	server.Register(PathRole, &webhook.Admission{Handler: &RoleWebhook{Reader: reader, Decoder: decoder}})
	inventory := &webhook.Admission{Handler: &InventoryWebhook{Reader: reader, Decoder: decoder}}
	server.Register(PathDataInventory, inventory)
	server.Register(PathTenantDatabase, inventory)
	server.Register(PathRetentionPolicy, &webhook.Admission{Handler: &RetentionPolicyWebhook{Decoder: decoder}})
}
