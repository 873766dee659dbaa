package tenantdb

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/lethe-dev/lethe/internal/testutil/pgtest"
)

// TestTLSConnections runs PostgreSQL with TLS and a private CA made for
// the test, and connects as the operator does.
func TestTLSConnections(t *testing.T) {
	srv, err := pgtest.Start(pgtest.Options{TLS: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Stop() })
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	db, err := srv.CreateDatabase(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	other, err := pgtest.NewCA("Impostor CA")
	if err != nil {
		t.Fatal(err)
	}
	clientCrt, clientKey, err := srv.CA.Issue(pgtest.CertUser)
	if err != nil {
		t.Fatal(err)
	}
	impostorCrt, impostorKey, err := other.Issue(pgtest.CertUser)
	if err != nil {
		t.Fatal(err)
	}
	secret := func(kv ...string) map[string][]byte {
		d := db.SecretData()
		delete(d, "sslmode")
		for i := 0; i < len(kv); i += 2 {
			d[kv[i]] = []byte(kv[i+1])
		}
		return d
	}
	certOnly := func() map[string][]byte {
		d := secret("user", pgtest.CertUser)
		delete(d, "password")
		return d
	}
	tests := []struct {
		name    string
		conn    Connection
		problem string // part of the failure's message; empty: connects
		kind    FailureKind
	}{
		{name: "verify-full by IP address with the CA", conn: Connection{Secret: secret("ca.crt", string(srv.CA.CertPEM))}},
		{name: "verify-full by name with the CA from a TLS secret",
			conn: Connection{Secret: secret("host", "localhost"), TLS: map[string][]byte{"ca.crt": srv.CA.CertPEM}}},
		{name: "verify-ca with the CA", conn: Connection{Secret: secret("ca.crt", string(srv.CA.CertPEM), "sslmode", "verify-ca")}},
		{name: "require without a CA encrypts without verifying", conn: Connection{Secret: secret("sslmode", "require")}},
		{name: "verify-full with another CA fails closed", conn: Connection{Secret: secret("ca.crt", string(other.CertPEM))},
			problem: "not signed by the CA in ca.crt", kind: FailureTLS},
		{name: "verify-ca with another CA fails closed", conn: Connection{Secret: secret("ca.crt", string(other.CertPEM), "sslmode", "verify-ca")},
			problem: "not signed by the CA in ca.crt", kind: FailureTLS},
		{name: "a client certificate logs in without a password",
			conn: Connection{Secret: certOnly(), TLS: map[string][]byte{"ca.crt": srv.CA.CertPEM, "tls.crt": clientCrt, "tls.key": clientKey}}},
		{name: "a client certificate of another CA is refused",
			conn:    Connection{Secret: certOnly(), TLS: map[string][]byte{"ca.crt": srv.CA.CertPEM, "tls.crt": impostorCrt, "tls.key": impostorKey}},
			problem: "refused the credentials", kind: FailureAuthentication},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.conn.MaxConns = 1
			cfg, err := tt.conn.Config()
			if err != nil {
				t.Fatal(err)
			}
			pools := NewPools()
			defer pools.CloseAll()
			pool, err := pools.Get(ctx, "t", cfg)
			if err != nil {
				t.Fatal(err)
			}
			_, err = Ping(ctx, pool)
			if tt.problem == "" {
				if err != nil {
					t.Fatalf("ping: %v", err)
				}
				var ssl bool
				if err := pool.QueryRow(ctx, "SELECT ssl FROM pg_catalog.pg_stat_ssl WHERE pid = pg_catalog.pg_backend_pid()").Scan(&ssl); err != nil || !ssl {
					t.Errorf("the connection is not encrypted (%v)", err)
				}
				return
			}
			ce := Classify(err)
			if ce == nil || ce.Kind != tt.kind || !strings.Contains(ce.Error(), tt.problem) {
				t.Fatalf("want a failure of kind %d %q, got %v (%v)", tt.kind, tt.problem, ce, err)
			}
			for _, leak := range []string{"Impostor", "Lethe test CA", "BEGIN"} {
				if strings.Contains(ce.Error(), leak) || strings.Contains(SafeError(err), leak) {
					t.Errorf("message %q names a certificate's content (%q)", ce.Error(), leak)
				}
			}
		})
	}
}

// TestRequireAgainstAServerWithoutTLS fails closed: sslmode require never
// falls back to plain text.
func TestRequireAgainstAServerWithoutTLS(t *testing.T) {
	data := pgtest.NewDatabase(t).SecretData()
	data["sslmode"] = []byte("require")
	_, err := Ping(context.Background(), openPool(t, data))
	if ce := Classify(err); ce == nil || ce.Kind != FailureTLS || !strings.Contains(ce.Error(), "does not accept TLS") {
		t.Fatalf("want a TLS failure, got %v (%v)", ce, err)
	}
}
