// Package tenantdb connects the operator to tenant databases: it turns a
// connection Secret into a bounded pool, caches one pool per TenantDatabase,
// classifies connection failures, migrates the operator's own `lethe` schema
// and reads the live catalog.
//
// It knows nothing of Kubernetes: callers hand it a Secret's data as a map.
package tenantdb

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// Secret keys, kept in step with the API's ConnectionKey* constants.
const (
	keyURI      = "uri"
	keyHost     = "host"
	keyPort     = "port"
	keyDBName   = "dbname"
	keyUser     = "user"
	keyUsername = "username"
	keyPassword = "password"
	keySSLMode  = "sslmode"
	keyCACert   = "ca.crt"
	keyTLSCert  = "tls.crt"
	keyTLSKey   = "tls.key"
)

// SearchPath is pinned on every operator connection. Every statement the
// operator sends names its schema, so a tenant's `ALTER ROLE ... SET
// search_path` cannot steer it to look-alike objects.
const SearchPath = "pg_catalog"

var (
	// connectionKeys are the keys of a connection Secret that Lethe reads.
	connectionKeys = []string{keyURI, keyHost, keyPort, keyDBName, keyUser, keyUsername, keyPassword, keySSLMode,
		keyCACert, keyTLSCert, keyTLSKey}
	// tlsKeys are the keys of a TLS Secret that Lethe reads.
	tlsKeys = []string{keyCACert, keyTLSCert, keyTLSKey}
	// operatorKeys are keys the Secrets of PostgreSQL operators hold beside
	// those Lethe reads. They say the same connection again (or a pooler's,
	// or a SCRAM verifier) and are accepted without being read:
	// CloudNativePG's application Secret (jdbc-uri, fqdn-uri,
	// fqdn-jdbc-uri, pgpass), Crunchy PGO's and Percona's user Secret
	// (verifier, pgbouncer-*), and CloudNativePG's CA Secret (ca.key, the
	// CA's private key, which Lethe never needs).
	operatorKeys = []string{"jdbc-uri", "fqdn-uri", "fqdn-jdbc-uri", "pgpass",
		"verifier", "pgbouncer-host", "pgbouncer-port", "pgbouncer-uri", "pgbouncer-jdbc-uri"}
	tlsOperatorKeys = []string{"ca.key"}

	sslModes      = []string{"disable", "allow", "prefer", "require", "verify-ca", "verify-full"}
	uriParameters = map[string]bool{keySSLMode: true, "connect_timeout": true, "application_name": true}
)

// KeyMissingError says a connection lacks a setting it needs.
type KeyMissingError struct{ Key string }

func (e *KeyMissingError) Error() string {
	return fmt.Sprintf("has no key %q (it needs %q, or %q, %q and %q)", e.Key, keyURI, keyHost, keyDBName, keyUser)
}

// Origin says which part of a connection a problem is in.
type Origin int

const (
	// InConnectionSecret is the connection Secret.
	InConnectionSecret Origin = iota
	// InTLSSecret is the separate TLS Secret.
	InTLSSecret
)

// InvalidSecretError says a Secret holds a value that cannot be used, or
// settings that contradict each other. Its message never repeats a value.
type InvalidSecretError struct {
	Problem string
	In      Origin
}

func (e *InvalidSecretError) Error() string { return e.Problem }

// Connection is everything that says how to reach one tenant database:
// the connection Secret's data, the data of a separate TLS Secret, and the
// settings that override the Secret's (a TenantDatabase's
// spec.connection).
type Connection struct {
	// Secret is the connection Secret's data.
	Secret map[string][]byte
	// TLS is the data of a separate Secret holding ca.crt, tls.crt and
	// tls.key, or nil.
	TLS map[string][]byte
	// Host, Port, Database and SSLMode, where set, override the Secret's.
	Host     string
	Port     int32
	Database string
	SSLMode  string
	// MaxConns bounds the pool (at least 1).
	MaxConns int32
}

// Config is a parsed connection: pool settings and a fingerprint that changes
// whenever anything that should reopen the pool changes.
type Config struct {
	Pool        *pgxpool.Config
	Fingerprint string
	// SSLMode is the sslmode in effect.
	SSLMode string
	// IgnoredKeys are keys of the connection Secret that Lethe neither
	// reads nor knows from a PostgreSQL operator's Secret, sorted; they
	// were left aside (a typo, or a key of a tool Lethe does not know).
	IgnoredKeys []string
	// IgnoredTLSKeys are such keys of the TLS Secret.
	IgnoredTLSKeys []string
	// CAFrom and CertFrom say which Secret gave ca.crt and tls.crt, when
	// one did.
	CAFrom, CertFrom *Origin
}

// ParseSecret builds a pool configuration from a connection Secret's data
// alone. maxConns bounds the pool.
func ParseSecret(data map[string][]byte, maxConns int32) (*Config, error) {
	return Connection{Secret: data, MaxConns: maxConns}.Config()
}

// settings are the libpq keywords a connection is made of.
type settings map[string]string

// Config builds the pool configuration. The connection Secret holds either
// `uri`, or the discrete keys, or both as the PostgreSQL operators write
// them: the URI's parts win, and the discrete keys fill what it leaves out.
// The Connection's own settings win over both. ca.crt, tls.crt and tls.key
// come from either Secret.
func (c Connection) Config() (*Config, error) {
	s, err := secretSettings(c.Secret)
	if err != nil {
		return nil, err
	}
	if c.Host != "" {
		s[keyHost] = c.Host
	}
	if c.Port != 0 {
		s[keyPort] = strconv.Itoa(int(c.Port))
	}
	if c.Database != "" {
		s[keyDBName] = c.Database
	}
	if c.SSLMode != "" {
		s[keySSLMode] = c.SSLMode
	}
	for _, k := range []string{keyHost, keyDBName, keyUser} {
		if s[k] == "" {
			return nil, &KeyMissingError{Key: k}
		}
	}
	if strings.HasPrefix(s[keyHost], "/") {
		return nil, &InvalidSecretError{Problem: "names a unix socket; give a network host name or address"}
	}
	if !slices.Contains(sslModes, s[keySSLMode]) && s[keySSLMode] != "" {
		return nil, &InvalidSecretError{Problem: "has an unknown sslmode; use one of " + strings.Join(sslModes, ", ")}
	}
	m, err := readTLSMaterial(c.Secret, c.TLS)
	if err != nil {
		return nil, err
	}
	mode, err := m.sslMode(s[keySSLMode])
	if err != nil {
		return nil, err
	}
	s[keySSLMode] = mode

	cfg, err := pgxpool.ParseConfig(s.dsn())
	if err != nil {
		// pgx may echo the connection string; say only which part is wrong.
		return nil, &InvalidSecretError{Problem: "has a connection setting PostgreSQL cannot parse"}
	}
	maxConns := c.MaxConns
	if maxConns < 1 {
		maxConns = 1
	}
	cfg.MaxConns = maxConns
	cfg.MinConns = 0
	cfg.MaxConnIdleTime = 5 * time.Minute
	cfg.HealthCheckPeriod = time.Minute
	if cfg.ConnConfig.ConnectTimeout == 0 || cfg.ConnConfig.ConnectTimeout > 10*time.Second {
		cfg.ConnConfig.ConnectTimeout = 10 * time.Second
	}
	cfg.ConnConfig.RuntimeParams["search_path"] = SearchPath
	// Keys travel as text (a row's key, a checkpoint, the ledger): the
	// same row must print the same way on every connection, whatever the
	// tenant's own settings.
	cfg.ConnConfig.RuntimeParams["TimeZone"] = "UTC"
	cfg.ConnConfig.RuntimeParams["DateStyle"] = "ISO, YMD"
	cfg.ConnConfig.RuntimeParams["IntervalStyle"] = "postgres"
	cfg.ConnConfig.RuntimeParams["extra_float_digits"] = "3"
	if cfg.ConnConfig.RuntimeParams["application_name"] == "" {
		cfg.ConnConfig.RuntimeParams["application_name"] = "lethe-operator"
	}
	for _, fc := range cfg.ConnConfig.Fallbacks {
		if strings.HasPrefix(fc.Host, "/") {
			return nil, &InvalidSecretError{Problem: "names a unix socket; give a network host name or address"}
		}
	}
	m.apply(&cfg.ConnConfig.Config, mode)

	h := sha256.New()
	for _, part := range []map[string][]byte{c.Secret, c.TLS} {
		keys := sortedKeys(part)
		for _, k := range keys {
			h.Write([]byte(k))
			h.Write([]byte{0})
			h.Write(part[k])
			h.Write([]byte{0})
		}
		h.Write([]byte{1})
	}
	fmt.Fprintf(h, "%s\x00%d\x00%s\x00%s\x00%d", c.Host, c.Port, c.Database, c.SSLMode, maxConns)
	return &Config{
		Pool:           cfg,
		Fingerprint:    hex.EncodeToString(h.Sum(nil)),
		SSLMode:        mode,
		IgnoredKeys:    ignored(c.Secret, connectionKeys, operatorKeys),
		IgnoredTLSKeys: ignored(c.TLS, tlsKeys, tlsOperatorKeys),
		CAFrom:         m.caFrom,
		CertFrom:       m.certFrom,
	}, nil
}

// secretSettings reads the connection Secret's discrete keys, then lays
// the parts of its URI over them.
func secretSettings(data map[string][]byte) (settings, error) {
	s := settings{}
	for _, k := range []string{keyHost, keyPort, keyDBName, keyUser, keySSLMode} {
		if v := strings.TrimSpace(string(data[k])); v != "" {
			s[k] = v
		}
	}
	if u := strings.TrimSpace(string(data[keyUsername])); u != "" {
		if s[keyUser] != "" && s[keyUser] != u {
			return nil, &InvalidSecretError{Problem: fmt.Sprintf("has keys %q and %q that differ: keep one", keyUser, keyUsername)}
		}
		s[keyUser] = u
	}
	if pw, ok := data[keyPassword]; ok {
		s[keyPassword] = string(pw)
	}
	if p, ok := s[keyPort]; ok {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return nil, &InvalidSecretError{Problem: fmt.Sprintf("key %q is not a port number (1-65535)", keyPort)}
		}
	}
	if raw := strings.TrimSpace(string(data[keyURI])); raw != "" {
		if err := s.layURI(raw); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// layURI sets what a postgres:// URI says over s. Its parameters are held
// to those that name no file on the manager's disk.
func (s settings) layURI(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") || u.Host == "" {
		return &InvalidSecretError{Problem: fmt.Sprintf("key %q is not a postgres://user:password@host:port/dbname URI", keyURI)}
	}
	q := u.Query()
	for p := range q {
		if !uriParameters[p] {
			return &InvalidSecretError{Problem: fmt.Sprintf("key %q has parameter %q; allowed: sslmode, connect_timeout, application_name", keyURI, p)}
		}
	}
	if h := u.Hostname(); h != "" {
		s[keyHost] = h
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return &InvalidSecretError{Problem: fmt.Sprintf("key %q has a port that is not a number (1-65535)", keyURI)}
		}
		s[keyPort] = p
	}
	if db := strings.TrimPrefix(u.Path, "/"); db != "" {
		s[keyDBName] = db
	}
	if u.User != nil {
		if n := u.User.Username(); n != "" {
			s[keyUser] = n
		}
		if pw, ok := u.User.Password(); ok {
			s[keyPassword] = pw
		}
	}
	for p := range uriParameters {
		if v := q.Get(p); v != "" {
			s[p] = v
		}
	}
	return nil
}

// dsn writes the settings as a keyword/value connection string.
func (s settings) dsn() string {
	keys := make([]string, 0, len(s))
	for k := range s {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, k+"="+quote(s[k]))
	}
	return strings.Join(parts, " ")
}

// ignored lists the keys of data that are neither read nor known.
func ignored(data map[string][]byte, read, known []string) []string {
	var out []string
	for _, k := range sortedKeys(data) {
		if !slices.Contains(read, k) && !slices.Contains(known, k) {
			out = append(out, k)
		}
	}
	return out
}

func sortedKeys(data map[string][]byte) []string {
	keys := make([]string, 0, len(data))
	for k := range data {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// quote makes a keyword/value connection-string value.
func quote(v string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(v) + "'"
}
