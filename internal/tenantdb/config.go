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
	keyPassword = "password"
	keySSLMode  = "sslmode"
)

// SearchPath is pinned on every operator connection. Every statement the
// operator sends names its schema, so a tenant's `ALTER ROLE ... SET
// search_path` cannot steer it to look-alike objects.
const SearchPath = "pg_catalog"

var (
	discreteKeys  = []string{keyHost, keyPort, keyDBName, keyUser, keyPassword, keySSLMode}
	requiredKeys  = []string{keyHost, keyDBName, keyUser}
	sslModes      = map[string]bool{"disable": true, "allow": true, "prefer": true, "require": true, "verify-ca": true, "verify-full": true}
	uriParameters = map[string]bool{keySSLMode: true, "connect_timeout": true, "application_name": true}
)

// KeyMissingError says a connection Secret lacks a required key.
type KeyMissingError struct{ Key string }

func (e *KeyMissingError) Error() string {
	return fmt.Sprintf("has no key %q (it needs %q, or %s)", e.Key, keyURI, strings.Join(quoteAll(requiredKeys), ", "))
}

// InvalidSecretError says a connection Secret has an unknown key or a value
// that cannot be used. Its message never repeats a value.
type InvalidSecretError struct{ Problem string }

func (e *InvalidSecretError) Error() string { return e.Problem }

// Config is a parsed connection: pool settings and a fingerprint that changes
// whenever anything that should reopen the pool changes.
type Config struct {
	Pool        *pgxpool.Config
	Fingerprint string
}

// ParseSecret builds a pool configuration from a connection Secret's data. A
// Secret holds either `uri` alone, or the discrete keys. maxConns bounds the
// pool.
func ParseSecret(data map[string][]byte, maxConns int32) (*Config, error) {
	keys := make([]string, 0, len(data))
	for k := range data {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if k != keyURI && !contains(discreteKeys, k) {
			return nil, &InvalidSecretError{Problem: fmt.Sprintf("has unknown key %q (allowed: %q, or %s)",
				k, keyURI, strings.Join(quoteAll(discreteKeys), ", "))}
		}
	}
	var (
		dsn string
		err error
	)
	if _, ok := data[keyURI]; ok {
		for _, k := range discreteKeys {
			if _, both := data[k]; both {
				return nil, &InvalidSecretError{Problem: fmt.Sprintf("has both %q and %q: use one form", keyURI, k)}
			}
		}
		dsn, err = checkURI(strings.TrimSpace(string(data[keyURI])))
	} else {
		dsn, err = discreteDSN(data)
	}
	if err != nil {
		return nil, err
	}
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		// pgx may echo the connection string; say only which part is wrong.
		return nil, &InvalidSecretError{Problem: "has a connection setting PostgreSQL cannot parse"}
	}
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
	if strings.HasPrefix(cfg.ConnConfig.Host, "/") {
		return nil, &InvalidSecretError{Problem: "names a unix socket; give a network host name or address"}
	}

	h := sha256.New()
	for _, k := range keys {
		h.Write([]byte(k))
		h.Write([]byte{0})
		h.Write(data[k])
		h.Write([]byte{0})
	}
	h.Write([]byte(strconv.Itoa(int(maxConns))))
	return &Config{Pool: cfg, Fingerprint: hex.EncodeToString(h.Sum(nil))}, nil
}

func checkURI(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") || u.Host == "" {
		return "", &InvalidSecretError{Problem: fmt.Sprintf("key %q is not a postgres://user:password@host:port/dbname URI", keyURI)}
	}
	if strings.TrimPrefix(u.Path, "/") == "" {
		return "", &KeyMissingError{Key: keyDBName}
	}
	for p := range u.Query() {
		if !uriParameters[p] {
			return "", &InvalidSecretError{Problem: fmt.Sprintf("key %q has parameter %q; allowed: sslmode, connect_timeout, application_name", keyURI, p)}
		}
	}
	if m := u.Query().Get(keySSLMode); m != "" && !sslModes[m] {
		return "", &InvalidSecretError{Problem: "key \"uri\" has an unknown sslmode (use disable, allow, prefer, require, verify-ca or verify-full)"}
	}
	return raw, nil
}

func discreteDSN(data map[string][]byte) (string, error) {
	for _, k := range requiredKeys {
		if strings.TrimSpace(string(data[k])) == "" {
			return "", &KeyMissingError{Key: k}
		}
	}
	port := "5432"
	if p, ok := data[keyPort]; ok {
		port = strings.TrimSpace(string(p))
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return "", &InvalidSecretError{Problem: fmt.Sprintf("key %q is not a port number (1-65535)", keyPort)}
		}
	}
	sslmode := "prefer"
	if m, ok := data[keySSLMode]; ok {
		sslmode = strings.TrimSpace(string(m))
		if !sslModes[sslmode] {
			return "", &InvalidSecretError{Problem: fmt.Sprintf("key %q must be one of disable, allow, prefer, require, verify-ca, verify-full", keySSLMode)}
		}
	}
	parts := []string{
		"host=" + quote(strings.TrimSpace(string(data[keyHost]))),
		"port=" + port,
		"dbname=" + quote(strings.TrimSpace(string(data[keyDBName]))),
		"user=" + quote(strings.TrimSpace(string(data[keyUser]))),
		"sslmode=" + sslmode,
	}
	if pw, ok := data[keyPassword]; ok {
		parts = append(parts, "password="+quote(string(pw)))
	}
	return strings.Join(parts, " "), nil
}

// quote makes a keyword/value connection-string value.
func quote(v string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(v) + "'"
}

func quoteAll(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = strconv.Quote(s)
	}
	return out
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}
