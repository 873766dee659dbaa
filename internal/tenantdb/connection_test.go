package tenantdb

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/lethe-dev/lethe/internal/testutil/pgtest"
)

// The Secrets below have the keys the PostgreSQL operators write, as their
// code writes them (CloudNativePG pkg/specs/secrets.go; Crunchy PGO
// internal/controller/postgrescluster/postgres.go; Zalando postgres-operator
// writes username and password only).
func cloudNativePGSecret() map[string][]byte {
	return map[string][]byte{
		"username": []byte("app"), "user": []byte("app"), "password": []byte("pw:with@chars"),
		"dbname": []byte("app"), "host": []byte("pg-rw"), "port": []byte("5432"),
		"pgpass":        []byte("pg-rw:5432:app:app:pw:with@chars\n"),
		"uri":           []byte("postgresql://app:pw%3Awith%40chars@pg-rw.tenants:5432/app"),
		"jdbc-uri":      []byte("jdbc:postgresql://pg-rw.tenants:5432/app?password=pw%3Awith%40chars&user=app"),
		"fqdn-uri":      []byte("postgresql://app:pw%3Awith%40chars@pg-rw.tenants.svc.cluster.local:5432/app"),
		"fqdn-jdbc-uri": []byte("jdbc:postgresql://pg-rw.tenants.svc.cluster.local:5432/app?password=pw%3Awith%40chars&user=app"),
	}
}

func crunchySecret() map[string][]byte {
	return map[string][]byte{
		"user": []byte("hippo"), "password": []byte("pw"), "dbname": []byte("hippo"), "port": []byte("5432"),
		"host":           []byte("hippo-primary.tenants.svc"),
		"uri":            []byte("postgresql://hippo:pw@hippo-primary.tenants.svc:5432/hippo"),
		"jdbc-uri":       []byte("jdbc:postgresql://hippo-primary.tenants.svc:5432/hippo?password=pw&user=hippo"),
		"verifier":       []byte("SCRAM-SHA-256$4096:..."),
		"pgbouncer-host": []byte("hippo-pgbouncer.tenants.svc"), "pgbouncer-port": []byte("5432"),
		"pgbouncer-uri":      []byte("postgresql://hippo:pw@hippo-pgbouncer.tenants.svc:5432/hippo"),
		"pgbouncer-jdbc-uri": []byte("jdbc:postgresql://hippo-pgbouncer.tenants.svc:5432/hippo?password=pw&prepareThreshold=0&user=hippo"),
	}
}

func TestOperatorsSecretsAreRead(t *testing.T) {
	tests := []struct {
		name                 string
		conn                 Connection
		host, db, user, pass string
	}{
		{name: "CloudNativePG: the uri, whose host carries the namespace", conn: Connection{Secret: cloudNativePGSecret()}, // #nosec G101 -- a test fixture
			host: "pg-rw.tenants", db: "app", user: "app", pass: "pw:with@chars"},
		{name: "Crunchy PGO", conn: Connection{Secret: crunchySecret()},
			host: "hippo-primary.tenants.svc", db: "hippo", user: "hippo", pass: "pw"},
		{name: "Zalando: credentials only, the rest from the TenantDatabase",
			conn: Connection{Secret: map[string][]byte{"username": []byte("zalando"), "password": []byte("pw")},
				Host: "acid-minimal-cluster.tenants", Database: "foo"},
			host: "acid-minimal-cluster.tenants", db: "foo", user: "zalando", pass: "pw"},
		{name: "the TenantDatabase's settings win over the Secret's", conn: Connection{Secret: cloudNativePGSecret(), // #nosec G101 -- a test fixture
			Host: "pg-ro.tenants", Port: 6432, Database: "other"},
			host: "pg-ro.tenants", db: "other", user: "app", pass: "pw:with@chars"},
		{name: "a uri without password takes the password key", conn: Connection{Secret: map[string][]byte{
			"uri": []byte("postgres://lethe@db:5432/acme"), "password": []byte("s3cret")}},
			host: "db", db: "acme", user: "lethe", pass: "s3cret"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := tt.conn.Config()
			if err != nil {
				t.Fatal(err)
			}
			cc := cfg.Pool.ConnConfig
			if cc.Host != tt.host || cc.Database != tt.db || cc.User != tt.user || cc.Password != tt.pass {
				t.Errorf("got host %q db %q user %q, want %q %q %q (password matches: %v)",
					cc.Host, cc.Database, cc.User, tt.host, tt.db, tt.user, cc.Password == tt.pass)
			}
			if len(cfg.IgnoredKeys) != 0 {
				t.Errorf("keys of the operator's Secret are known, got ignored %v", cfg.IgnoredKeys)
			}
			if tt.conn.Port != 0 && int32(cc.Port) != tt.conn.Port {
				t.Errorf("port %d, want %d", cc.Port, tt.conn.Port)
			}
		})
	}
}

func TestUnknownKeysAreIgnoredAndListed(t *testing.T) {
	d := discrete()
	d["passwd"] = []byte("x")
	d["DB_HOST"] = []byte("y")
	cfg, err := Connection{Secret: d, TLS: map[string][]byte{"ca.key": []byte("k"), "ca.pem": []byte("c")}}.Config()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(cfg.IgnoredKeys, []string{"DB_HOST", "passwd"}) {
		t.Errorf("ignored keys %v", cfg.IgnoredKeys)
	}
	if !slices.Equal(cfg.IgnoredTLSKeys, []string{"ca.pem"}) {
		t.Errorf("ignored TLS keys %v (ca.key is CloudNativePG's and known)", cfg.IgnoredTLSKeys)
	}
}

func TestTLSSettings(t *testing.T) {
	ca, err := pgtest.NewCA("test CA")
	if err != nil {
		t.Fatal(err)
	}
	other, err := pgtest.NewCA("other CA")
	if err != nil {
		t.Fatal(err)
	}
	crt, key, err := ca.Issue(pgtest.CertUser)
	if err != nil {
		t.Fatal(err)
	}
	_, otherKey, err := other.Issue(pgtest.CertUser)
	if err != nil {
		t.Fatal(err)
	}
	with := func(kv ...string) map[string][]byte {
		d := discrete()
		delete(d, "sslmode")
		for i := 0; i+1 < len(kv); i += 2 {
			d[kv[i]] = []byte(kv[i+1])
		}
		return d
	}
	tests := []struct {
		name    string
		conn    Connection
		mode    string
		invalid string
		in      Origin
	}{
		{name: "no material: libpq's prefer", conn: Connection{Secret: with()}, mode: "prefer"},
		{name: "a CA means verify-full", conn: Connection{Secret: with("ca.crt", string(ca.CertPEM))}, mode: "verify-full"},
		{name: "a CA from the TLS secret", conn: Connection{Secret: with(), TLS: map[string][]byte{"ca.crt": ca.CertPEM}}, mode: "verify-full"},
		{name: "a client certificate alone means require",
			conn: Connection{Secret: with(), TLS: map[string][]byte{"tls.crt": crt, "tls.key": key}}, mode: "require"},
		{name: "verify-ca kept", conn: Connection{Secret: with("ca.crt", string(ca.CertPEM), "sslmode", "verify-ca")}, mode: "verify-ca"},
		{name: "the TenantDatabase's sslmode wins", conn: Connection{Secret: with("ca.crt", string(ca.CertPEM), "sslmode", "require"),
			SSLMode: "verify-ca"}, mode: "verify-ca"},
		{name: "a CA with prefer is refused", conn: Connection{Secret: with("ca.crt", string(ca.CertPEM), "sslmode", "prefer")},
			invalid: "sslmode prefer never checks the server's certificate"},
		{name: "a CA with disable from the TenantDatabase is refused",
			conn:    Connection{Secret: with(), TLS: map[string][]byte{"ca.crt": ca.CertPEM}, SSLMode: "disable"},
			invalid: "sslmode disable never checks", in: InTLSSecret},
		{name: "a client certificate with allow is refused",
			conn:    Connection{Secret: with("sslmode", "allow"), TLS: map[string][]byte{"tls.crt": crt, "tls.key": key}},
			invalid: "may connect without TLS", in: InTLSSecret},
		{name: "ca.crt that is no certificate", conn: Connection{Secret: with("ca.crt", "not a certificate")},
			invalid: `key "ca.crt" holds no PEM-encoded certificate`},
		{name: "a certificate without its key", conn: Connection{Secret: with(), TLS: map[string][]byte{"tls.crt": crt}},
			invalid: `has "tls.crt" but no "tls.key"`, in: InTLSSecret},
		{name: "a key without its certificate", conn: Connection{Secret: with("tls.key", string(key))},
			invalid: `has "tls.key" but no "tls.crt"`},
		{name: "a certificate with another key", conn: Connection{Secret: with(), TLS: map[string][]byte{"tls.crt": crt, "tls.key": otherKey}},
			invalid: "are not a PEM-encoded certificate and its private key", in: InTLSSecret},
		{name: "ca.crt in both secrets, different",
			conn:    Connection{Secret: with("ca.crt", string(ca.CertPEM)), TLS: map[string][]byte{"ca.crt": other.CertPEM}},
			invalid: `holds a key "ca.crt" that differs from the connection secret's`, in: InTLSSecret},
		{name: "ca.crt in both secrets, the same",
			conn: Connection{Secret: with("ca.crt", string(ca.CertPEM)), TLS: map[string][]byte{"ca.crt": ca.CertPEM}}, mode: "verify-full"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := tt.conn.Config()
			if tt.invalid != "" {
				var inv *InvalidSecretError
				if !errors.As(err, &inv) || !strings.Contains(err.Error(), tt.invalid) || inv.In != tt.in {
					t.Fatalf("want invalid %q in %d, got %v (%#v)", tt.invalid, tt.in, err, inv)
				}
				if strings.Contains(err.Error(), "BEGIN") {
					t.Errorf("error %q quotes a certificate", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if cfg.SSLMode != tt.mode {
				t.Errorf("sslmode %q, want %q", cfg.SSLMode, tt.mode)
			}
			tc := cfg.Pool.ConnConfig.TLSConfig
			switch tt.mode {
			case "verify-full":
				if tc == nil || tc.RootCAs == nil || tc.InsecureSkipVerify {
					t.Errorf("verify-full must check the chain against the CA and the name: %+v", tc)
				}
			case "verify-ca":
				if tc == nil || tc.VerifyConnection == nil || tc.VerifyPeerCertificate != nil {
					t.Error("verify-ca must check the chain against the CA given, on resumed sessions too")
				}
			}
			if tt.conn.TLS["tls.crt"] != nil && (tc == nil || len(tc.Certificates) != 1) {
				t.Error("the client certificate must be offered")
			}
		})
	}
}

func TestFingerprintChangesWithTheTLSSecretAndTheSettings(t *testing.T) {
	base := Connection{Secret: discrete(), MaxConns: 2}
	fp := func(c Connection) string {
		t.Helper()
		cfg, err := c.Config()
		if err != nil {
			t.Fatal(err)
		}
		return cfg.Fingerprint
	}
	a := fp(base)
	ca, err := pgtest.NewCA("test CA")
	if err != nil {
		t.Fatal(err)
	}
	withTLS := base
	withTLS.TLS = map[string][]byte{"ca.crt": ca.CertPEM}
	withTLS.SSLMode = "verify-ca"
	withHost := base
	withHost.Host = "elsewhere"
	for name, c := range map[string]Connection{"TLS secret": withTLS, "host": withHost} {
		if fp(c) == a {
			t.Errorf("a changed %s must change the fingerprint", name)
		}
	}
}
