package controllers

import (
	"context"
	"fmt"
	"net/url"

	"github.com/jackc/pgx/v5"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	privacyv1alpha1 "github.com/lethe-dev/lethe/api/v1alpha1"
	"github.com/lethe-dev/lethe/internal/testutil/pgtest"
)

// cloudNativePGSecret is a database's connection as CloudNativePG writes
// its application Secret (<cluster>-app): every key, the URIs without
// sslmode.
func cloudNativePGSecret(db pgtest.Database) map[string][]byte {
	pw := url.QueryEscape(db.Password)
	hostPort := fmt.Sprintf("%s:%d", db.Host, db.Port)
	return map[string][]byte{
		"username": []byte(db.User), "user": []byte(db.User), "password": []byte(db.Password),
		"dbname": []byte(db.Name), "host": []byte(db.Host), "port": []byte(fmt.Sprint(db.Port)),
		"pgpass":        []byte(fmt.Sprintf("%s:%s:%s:%s\n", hostPort, db.Name, db.User, db.Password)),
		"uri":           []byte(fmt.Sprintf("postgresql://%s:%s@%s/%s", db.User, pw, hostPort, db.Name)),
		"jdbc-uri":      []byte(fmt.Sprintf("jdbc:postgresql://%s/%s?password=%s&user=%s", hostPort, db.Name, pw, db.User)),
		"fqdn-uri":      []byte(fmt.Sprintf("postgresql://%s:%s@%s/%s", db.User, pw, hostPort, db.Name)),
		"fqdn-jdbc-uri": []byte(fmt.Sprintf("jdbc:postgresql://%s/%s?password=%s&user=%s", hostPort, db.Name, pw, db.User)),
	}
}

// tlsTenant sets up a namespace with the sample inventory, a sample
// database, its CloudNativePG-style Secret "db-app", a CA Secret "db-ca"
// holding caPEM (as CloudNativePG's <cluster>-ca does, with the CA's key),
// and a TenantDatabase reading both.
func tlsTenant(caPEM []byte) (string, pgtest.Database) {
	ns := newNamespace()
	db := sampleDatabase()
	Expect(k8s.Create(ctx, sampleInventory(ns))).To(Succeed())
	Expect(k8s.Create(ctx, secret(ns, "db-app", cloudNativePGSecret(db)))).To(Succeed())
	Expect(k8s.Create(ctx, secret(ns, "db-ca", map[string][]byte{"ca.crt": caPEM, "ca.key": []byte("not read by Lethe")}))).To(Succeed())
	tdb := tenantDatabase(ns, "tenant", "db-app", "customer-service")
	tdb.Spec.Connection.TLSSecretRef = &privacyv1alpha1.LocalObjectReference{Name: "db-ca"}
	Expect(k8s.Create(ctx, tdb)).To(Succeed())
	return ns, db
}

var _ = Describe("TenantDatabase connections", func() {
	It("reads CloudNativePG's application Secret as it is, without warnings", func() {
		ns := newNamespace()
		db := sampleDatabase()
		Expect(k8s.Create(ctx, sampleInventory(ns))).To(Succeed())
		Expect(k8s.Create(ctx, secret(ns, "db-app", cloudNativePGSecret(db)))).To(Succeed())
		Expect(k8s.Create(ctx, tenantDatabase(ns, "tenant", "db-app", "customer-service"))).To(Succeed())
		expectCondition(ns, "tenant", privacyv1alpha1.ConditionReady, metav1.ConditionTrue, privacyv1alpha1.ReasonSucceeded)
		Expect(eventsOf(ns, "tenant")).NotTo(ContainSubstring(privacyv1alpha1.ReasonSecretKeysIgnored))
	})

	It("ignores an unknown Secret key with a Warning event naming the key, not its value", func() {
		ns, _ := tenantWithSecret(func(data map[string][]byte) {
			data["passwd"] = []byte("a-value-4711")
		})
		expectCondition(ns, "tenant", privacyv1alpha1.ConditionReady, metav1.ConditionTrue, privacyv1alpha1.ReasonSucceeded)
		Eventually(func() string { return eventsOf(ns, "tenant") }, timeout, interval).Should(
			MatchRegexp(`Warning SecretKeysIgnored secret db has keys Lethe does not read, ignored: passwd`))
		Expect(statusText(ns, "tenant")).NotTo(ContainSubstring("a-value-4711"))
	})

	It("is Ready over verify-full with the private CA from a TLS Secret", func() {
		ns, db := tlsTenant(pg.CA.CertPEM)
		expectCondition(ns, "tenant", privacyv1alpha1.ConditionReady, metav1.ConditionTrue, privacyv1alpha1.ReasonSucceeded)
		Expect(eventsOf(ns, "tenant")).NotTo(ContainSubstring(privacyv1alpha1.ReasonSecretKeysIgnored), "ca.key of CloudNativePG is known")

		By("encrypting the operator's connections")
		admin, err := pgx.Connect(ctx, pg.AdminDSN("postgres"))
		Expect(err).NotTo(HaveOccurred())
		defer func() { _ = admin.Close(context.Background()) }()
		var plain, encrypted int
		Expect(admin.QueryRow(ctx, `SELECT count(*) FILTER (WHERE NOT s.ssl), count(*) FILTER (WHERE s.ssl)
			FROM pg_catalog.pg_stat_ssl s JOIN pg_catalog.pg_stat_activity a USING (pid)
			WHERE a.datname = $1 AND a.usename = $2`, db.Name, db.User).Scan(&plain, &encrypted)).To(Succeed())
		Expect(encrypted).To(BeNumerically(">=", 1))
		Expect(plain).To(BeZero())
	})

	It("fails closed with TLSVerificationFailed under another CA, and heals when the TLS Secret holds the right one", func() {
		other, err := pgtest.NewCA("Impostor CA")
		Expect(err).NotTo(HaveOccurred())
		ns, _ := tlsTenant(other.CertPEM)
		c := expectCondition(ns, "tenant", privacyv1alpha1.ConditionReady, metav1.ConditionFalse, privacyv1alpha1.ReasonTLSVerificationFailed)
		Expect(c.Message).To(ContainSubstring("secrets db-app and db-ca"))
		Expect(c.Message).To(ContainSubstring("sslmode verify-full"))
		Expect(c.Message).To(ContainSubstring("not signed by the CA in ca.crt"))
		expectCondition(ns, "tenant", privacyv1alpha1.ConditionConnected, metav1.ConditionFalse, privacyv1alpha1.ReasonTLSVerificationFailed)
		expectCondition(ns, "tenant", privacyv1alpha1.ConditionStalled, metav1.ConditionTrue, privacyv1alpha1.ReasonTLSVerificationFailed)
		text := statusText(ns, "tenant")
		for _, leak := range []string{"Impostor", "Lethe test CA", "BEGIN CERTIFICATE"} {
			Expect(text).NotTo(ContainSubstring(leak))
		}

		updateSecret(ns, "db-ca", func(d map[string][]byte) { d["ca.crt"] = pg.CA.CertPEM })
		expectCondition(ns, "tenant", privacyv1alpha1.ConditionReady, metav1.ConditionTrue, privacyv1alpha1.ReasonSucceeded)
	})

	It("waits for a missing TLS Secret, naming it, and heals when it appears", func() {
		ns := newNamespace()
		db := sampleDatabase()
		Expect(k8s.Create(ctx, sampleInventory(ns))).To(Succeed())
		Expect(k8s.Create(ctx, secret(ns, "db-app", cloudNativePGSecret(db)))).To(Succeed())
		tdb := tenantDatabase(ns, "tenant", "db-app", "customer-service")
		tdb.Spec.Connection.TLSSecretRef = &privacyv1alpha1.LocalObjectReference{Name: "db-ca"}
		Expect(k8s.Create(ctx, tdb)).To(Succeed())
		c := expectCondition(ns, "tenant", privacyv1alpha1.ConditionReady, metav1.ConditionFalse, privacyv1alpha1.ReasonSecretNotFound)
		Expect(c.Message).To(ContainSubstring("TLS secret db-ca not found"))

		Expect(k8s.Create(ctx, secret(ns, "db-ca", map[string][]byte{"ca.crt": pg.CA.CertPEM}))).To(Succeed())
		expectCondition(ns, "tenant", privacyv1alpha1.ConditionReady, metav1.ConditionTrue, privacyv1alpha1.ReasonSucceeded)
	})

	It("refuses a tlsSecretRef naming the connection Secret, at admission", func() {
		ns := newNamespace()
		tdb := tenantDatabase(ns, "tenant", "db", "customer-service")
		tdb.Spec.Connection.TLSSecretRef = &privacyv1alpha1.LocalObjectReference{Name: "db"}
		err := k8s.Create(ctx, tdb)
		Expect(err).To(MatchError(ContainSubstring("names the connection Secret itself")))
	})
})
