package tenantdb

import (
	"errors"
	"strings"
	"testing"
)

func discrete() map[string][]byte {
	return map[string][]byte{
		"host": []byte("db.example.internal"), "port": []byte("5433"), "dbname": []byte("acme"),
		"user": []byte("lethe"), "password": []byte("s3cr'et\\pw"), "sslmode": []byte("require"),
	}
}

func TestParseSecret(t *testing.T) {
	tests := []struct {
		name    string
		data    func() map[string][]byte
		missing string // KeyMissingError key
		invalid string // part of an InvalidSecretError message
	}{
		{name: "discrete keys", data: discrete},
		{name: "uri", data: func() map[string][]byte {
			return map[string][]byte{"uri": []byte("postgres://lethe:pw@db:5432/acme?sslmode=disable")}
		}},
		{name: "port and sslmode default", data: func() map[string][]byte {
			d := discrete()
			delete(d, "port")
			delete(d, "sslmode")
			return d
		}},
		{name: "no host", data: func() map[string][]byte { d := discrete(); delete(d, "host"); return d }, missing: "host"},
		{name: "no dbname", data: func() map[string][]byte { d := discrete(); delete(d, "dbname"); return d }, missing: "dbname"},
		{name: "empty user", data: func() map[string][]byte { d := discrete(); d["user"] = []byte(" "); return d }, missing: "user"},
		{name: "uri without database", data: func() map[string][]byte {
			return map[string][]byte{"uri": []byte("postgres://lethe:pw@db:5432")}
		}, missing: "dbname"},
		{name: "user and username differ", data: func() map[string][]byte { d := discrete(); d["username"] = []byte("other"); return d },
			invalid: `keys "user" and "username" that differ`},
		{name: "unknown sslmode in the uri", data: func() map[string][]byte {
			return map[string][]byte{"uri": []byte("postgres://lethe:pw@db/acme?sslmode=sometimes")}
		}, invalid: "has an unknown sslmode"},
		{name: "bad port", data: func() map[string][]byte { d := discrete(); d["port"] = []byte("99999"); return d }, invalid: "not a port number"},
		{name: "bad sslmode", data: func() map[string][]byte { d := discrete(); d["sslmode"] = []byte("sometimes"); return d }, invalid: "has an unknown sslmode; use one of disable, allow"},
		{name: "uri with other scheme", data: func() map[string][]byte {
			return map[string][]byte{"uri": []byte("mysql://lethe:pw@db/acme")}
		}, invalid: "is not a postgres://"},
		{name: "uri with a file parameter", data: func() map[string][]byte {
			return map[string][]byte{"uri": []byte("postgres://lethe:pw@db/acme?sslrootcert=/etc/passwd")}
		}, invalid: `parameter "sslrootcert"`},
		{name: "unix socket", data: func() map[string][]byte { d := discrete(); d["host"] = []byte("/var/run/postgresql"); return d }, invalid: "unix socket"},
		{name: "uri with a bad port", data: func() map[string][]byte {
			return map[string][]byte{"uri": []byte("postgres://lethe:pw@db:0/acme")}
		}, invalid: "port that is not a number"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := tt.data()
			cfg, err := ParseSecret(data, 3)
			var km *KeyMissingError
			var inv *InvalidSecretError
			switch {
			case tt.missing != "":
				if !errors.As(err, &km) || km.Key != tt.missing {
					t.Fatalf("want missing key %q, got %v", tt.missing, err)
				}
			case tt.invalid != "":
				if !errors.As(err, &inv) || !strings.Contains(err.Error(), tt.invalid) {
					t.Fatalf("want invalid secret %q, got %v", tt.invalid, err)
				}
			default:
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				if got := cfg.Pool.ConnConfig.RuntimeParams["search_path"]; got != SearchPath {
					t.Errorf("search_path = %q, want %q", got, SearchPath)
				}
				if cfg.Pool.MaxConns != 3 {
					t.Errorf("MaxConns = %d, want 3", cfg.Pool.MaxConns)
				}
			}
			if err != nil {
				for _, v := range data {
					if len(v) > 3 && strings.Contains(err.Error(), string(v)) {
						t.Errorf("error %q repeats a Secret value", err)
					}
				}
			}
		})
	}
}

func TestParseSecretKeepsSpecialCharactersInPassword(t *testing.T) {
	cfg, err := ParseSecret(discrete(), 1)
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.Pool.ConnConfig.Password; got != `s3cr'et\pw` {
		t.Errorf("password = %q", got)
	}
	if cfg.Pool.ConnConfig.Port != 5433 || cfg.Pool.ConnConfig.Database != "acme" {
		t.Errorf("port %d database %q", cfg.Pool.ConnConfig.Port, cfg.Pool.ConnConfig.Database)
	}
}

func TestFingerprintChangesWithTheSecretAndThePoolSize(t *testing.T) {
	a, _ := ParseSecret(discrete(), 2)
	b, _ := ParseSecret(discrete(), 2)
	d := discrete()
	d["password"] = []byte("other")
	c, _ := ParseSecret(d, 2)
	e, _ := ParseSecret(discrete(), 3)
	if a.Fingerprint != b.Fingerprint {
		t.Error("same input, different fingerprints")
	}
	if a.Fingerprint == c.Fingerprint || a.Fingerprint == e.Fingerprint {
		t.Error("a changed password or pool size must change the fingerprint")
	}
}
