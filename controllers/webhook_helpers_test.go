package controllers

import (
	"crypto/tls"
	"fmt"
	"net"
	"slices"
	"strconv"
	"sync"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/controller-runtime/pkg/webhook"

	privacyv1alpha1 "github.com/lethe-dev/lethe/api/v1alpha1"
)

// startWebhooks adds the webhook server, on envtest's host, port and
// certificates, to the manager.
func startWebhooks(mgr ctrl.Manager) *envtest.WebhookInstallOptions {
	GinkgoHelper()
	o := &testEnv.WebhookInstallOptions
	server := webhook.NewServer(webhook.Options{Host: o.LocalServingHost, Port: o.LocalServingPort, CertDir: o.LocalServingCertDir})
	SetupWebhooks(mgr, server, clock.RealClock{})
	Expect(mgr.Add(server)).To(Succeed())
	return o
}

// waitForWebhooks waits until the webhook server accepts TLS connections.
func waitForWebhooks(o *envtest.WebhookInstallOptions) {
	GinkgoHelper()
	addr := net.JoinHostPort(o.LocalServingHost, strconv.Itoa(o.LocalServingPort))
	Eventually(func() error {
		conn, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true}) // #nosec G402 -- a local readiness probe
		if err != nil {
			return err
		}
		return conn.Close()
	}, timeout, interval).Should(Succeed())
}

// Test users, impersonated by the suite's admin, with rights granted by
// real ClusterRoles and bindings.
const (
	// editorRole may do everything to Lethe objects but approve.
	editorRole = "lethe-test-editor"
	// approverRole may approve data subject requests.
	approverRole = "lethe-test-approver"
)

var testRBAC sync.Once

// ensureTestRBAC creates the test ClusterRoles once.
func ensureTestRBAC() {
	GinkgoHelper()
	testRBAC.Do(func() {
		all := []string{"get", "list", "watch", "create", "update", "patch", "delete"}
		for _, cr := range []*rbacv1.ClusterRole{
			{ObjectMeta: metav1.ObjectMeta{Name: editorRole}, Rules: []rbacv1.PolicyRule{
				{APIGroups: []string{privacyv1alpha1.GroupVersion.Group}, Resources: []string{rbacv1.ResourceAll}, Verbs: all},
				{APIGroups: []string{""}, Resources: []string{"secrets"}, Verbs: all},
			}},
			{ObjectMeta: metav1.ObjectMeta{Name: approverRole}, Rules: []rbacv1.PolicyRule{
				{APIGroups: []string{privacyv1alpha1.GroupVersion.Group}, Resources: []string{"datasubjectrequests"}, Verbs: []string{VerbApprove}},
			}},
		} {
			Expect(client.IgnoreAlreadyExists(k8s.Create(ctx, cr))).To(Succeed())
		}
	})
}

// userClient returns a client acting as the user, bound to the given
// ClusterRoles in every namespace.
func userClient(user string, clusterRoles ...string) client.Client {
	GinkgoHelper()
	ensureTestRBAC()
	for _, role := range clusterRoles {
		b := &rbacv1.ClusterRoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("lethe-test-%s-%s", user, role)},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role},
			Subjects:   []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.UserKind, Name: user}},
		}
		Expect(client.IgnoreAlreadyExists(k8s.Create(ctx, b))).To(Succeed())
	}
	c := rest.CopyConfig(cfg)
	c.Impersonate = rest.ImpersonationConfig{UserName: user, UID: "uid-" + user, Groups: []string{"lethe-testers", "system:authenticated"}}
	uc, err := client.New(c, client.Options{Scheme: k8s.Scheme()})
	Expect(err).NotTo(HaveOccurred())
	return uc
}

// approver is a second user who may approve data subject requests.
func approver() client.Client {
	GinkgoHelper()
	return userClient("dpo-approver", editorRole, approverRole)
}

// updateAs changes an object as a user, retrying on conflicts.
func updateAs[T client.Object](c client.Client, obj T, change func(T)) error {
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		if err := k8s.Get(ctx, client.ObjectKeyFromObject(obj), obj); err != nil {
			return err
		}
		change(obj)
		return c.Update(ctx, obj)
	})
}

// validatingConfiguration is the name of config/webhook's
// ValidatingWebhookConfiguration as envtest installs it.
const validatingConfiguration = "validating-webhook-configuration"

// withoutValidatingWebhook takes one webhook out of the validating
// configuration, as if it were bypassed, and returns a function that puts it
// back (also run at the end of the spec). The suite runs its specs one at a
// time, so no other spec sees the gap.
func withoutValidatingWebhook(name string) func() {
	GinkgoHelper()
	var conf admissionregistrationv1.ValidatingWebhookConfiguration
	Expect(k8s.Get(ctx, client.ObjectKey{Name: validatingConfiguration}, &conf)).To(Succeed())
	saved := conf.DeepCopy()
	conf.Webhooks = slices.DeleteFunc(conf.Webhooks, func(w admissionregistrationv1.ValidatingWebhook) bool { return w.Name == name })
	Expect(conf.Webhooks).To(HaveLen(len(saved.Webhooks)-1), "webhook %s", name)
	Expect(k8s.Update(ctx, &conf)).To(Succeed())
	var once sync.Once
	restore := func() {
		once.Do(func() {
			Expect(retry.RetryOnConflict(retry.DefaultRetry, func() error {
				var cur admissionregistrationv1.ValidatingWebhookConfiguration
				if err := k8s.Get(ctx, client.ObjectKey{Name: validatingConfiguration}, &cur); err != nil {
					return err
				}
				cur.Webhooks = saved.Webhooks
				return k8s.Update(ctx, &cur)
			})).To(Succeed())
		})
	}
	DeferCleanup(restore)
	return restore
}

// mutatingConfiguration is the name of config/webhook's
// MutatingWebhookConfiguration as envtest installs it.
const mutatingConfiguration = "mutating-webhook-configuration"

// withoutIdentityWebhook takes the identity webhook out of the mutating
// configuration, as in a cluster where the manager runs without its
// webhooks, and puts it back at the end of the spec.
func withoutIdentityWebhook() {
	GinkgoHelper()
	var conf admissionregistrationv1.MutatingWebhookConfiguration
	Expect(k8s.Get(ctx, client.ObjectKey{Name: mutatingConfiguration}, &conf)).To(Succeed())
	saved := conf.DeepCopy()
	conf.Webhooks = slices.DeleteFunc(conf.Webhooks, func(w admissionregistrationv1.MutatingWebhook) bool { return w.Name == "identity.privacy.lethe.dev" })
	Expect(conf.Webhooks).To(HaveLen(len(saved.Webhooks) - 1))
	Expect(k8s.Update(ctx, &conf)).To(Succeed())
	DeferCleanup(func() {
		Expect(retry.RetryOnConflict(retry.DefaultRetry, func() error {
			var cur admissionregistrationv1.MutatingWebhookConfiguration
			if err := k8s.Get(ctx, client.ObjectKey{Name: mutatingConfiguration}, &cur); err != nil {
				return err
			}
			cur.Webhooks = saved.Webhooks
			return k8s.Update(ctx, &cur)
		})).To(Succeed())
	})
}
