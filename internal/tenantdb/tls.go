package tenantdb

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5/pgconn"
)

// tlsMaterial is the CA and client certificate a connection was given, in
// memory: nothing is written to the manager's disk.
type tlsMaterial struct {
	roots    *x509.CertPool
	cert     *tls.Certificate
	caFrom   *Origin
	certFrom *Origin
}

// readTLSMaterial reads ca.crt, tls.crt and tls.key from the connection
// Secret and the TLS Secret. A key both hold must hold the same bytes.
func readTLSMaterial(secret, tlsSecret map[string][]byte) (*tlsMaterial, error) {
	pick := func(key string) ([]byte, *Origin, error) {
		a, b := secret[key], tlsSecret[key]
		switch {
		case len(a) > 0 && len(b) > 0 && !bytes.Equal(a, b):
			return nil, nil, &InvalidSecretError{In: InTLSSecret,
				Problem: fmt.Sprintf("holds a key %q that differs from the connection secret's: keep it in one of them", key)}
		case len(b) > 0:
			o := InTLSSecret
			return b, &o, nil
		case len(a) > 0:
			o := InConnectionSecret
			return a, &o, nil
		}
		return nil, nil, nil
	}
	m := &tlsMaterial{}
	ca, caFrom, err := pick(keyCACert)
	if err != nil {
		return nil, err
	}
	if ca != nil {
		m.roots, m.caFrom = x509.NewCertPool(), caFrom
		if !m.roots.AppendCertsFromPEM(ca) {
			return nil, &InvalidSecretError{In: *caFrom, Problem: fmt.Sprintf("key %q holds no PEM-encoded certificate", keyCACert)}
		}
	}
	crt, crtFrom, err := pick(keyTLSCert)
	if err != nil {
		return nil, err
	}
	key, keyFrom, err := pick(keyTLSKey)
	if err != nil {
		return nil, err
	}
	switch {
	case crt != nil && key == nil:
		return nil, &InvalidSecretError{In: *crtFrom, Problem: fmt.Sprintf("has %q but no %q: a client certificate needs its key", keyTLSCert, keyTLSKey)}
	case key != nil && crt == nil:
		return nil, &InvalidSecretError{In: *keyFrom, Problem: fmt.Sprintf("has %q but no %q: give the client certificate too", keyTLSKey, keyTLSCert)}
	case crt != nil:
		pair, err := tls.X509KeyPair(crt, key)
		if err != nil {
			return nil, &InvalidSecretError{In: *crtFrom,
				Problem: fmt.Sprintf("keys %q and %q are not a PEM-encoded certificate and its private key", keyTLSCert, keyTLSKey)}
		}
		m.cert, m.certFrom = &pair, crtFrom
	}
	return m, nil
}

// sslMode is the mode to connect with: the one set, or, when none is, the
// one that uses what was given: verify-full with a CA, require with a
// client certificate alone, prefer (libpq's default) with neither. A CA or
// a client certificate with a mode that never uses it is refused rather
// than silently left aside.
func (m *tlsMaterial) sslMode(set string) (string, error) {
	if set == "" {
		switch {
		case m.roots != nil:
			return "verify-full", nil
		case m.cert != nil:
			return "require", nil
		}
		return "prefer", nil
	}
	switch set {
	case "disable", "allow", "prefer":
		if m.roots != nil {
			return "", &InvalidSecretError{In: *m.caFrom, Problem: fmt.Sprintf(
				"has %q, but sslmode %s never checks the server's certificate: use verify-full (the default with a CA), or verify-ca", keyCACert, set)}
		}
		if m.cert != nil && set != "prefer" {
			return "", &InvalidSecretError{In: *m.certFrom, Problem: fmt.Sprintf(
				"has %q, but sslmode %s may connect without TLS: use require, verify-ca or verify-full", keyTLSCert, set)}
		}
	}
	return set, nil
}

// apply puts the CA and the client certificate into every TLS
// configuration pgx made for the connection (one per host, and per
// attempt for sslmode prefer).
func (m *tlsMaterial) apply(cc *pgconn.Config, mode string) {
	configs := []*tls.Config{cc.TLSConfig}
	for _, fb := range cc.Fallbacks {
		configs = append(configs, fb.TLSConfig)
	}
	for _, tc := range configs {
		if tc == nil {
			continue
		}
		if m.cert != nil {
			tc.Certificates = []tls.Certificate{*m.cert}
		}
		if m.roots == nil {
			continue
		}
		switch mode {
		case "verify-full":
			// pgx set ServerName to the host: Go checks the chain and the
			// name.
			tc.RootCAs = m.roots
		case "verify-ca", "require":
			// libpq's verify-ca (and require with a CA): the chain, not the
			// name.
			// VerifyConnection, unlike VerifyPeerCertificate (which pgx
			// sets for verify-ca, against the system's roots), runs on
			// resumed sessions too.
			tc.InsecureSkipVerify = true
			tc.VerifyPeerCertificate = nil
			tc.VerifyConnection = verifyChain(m.roots)
		}
	}
}

// verifyChain checks the server's certificate chain against roots, without
// its host name.
func verifyChain(roots *x509.CertPool) func(tls.ConnectionState) error {
	return func(cs tls.ConnectionState) error {
		if len(cs.PeerCertificates) == 0 {
			return errors.New("the server sent no certificate")
		}
		opts := x509.VerifyOptions{Roots: roots, Intermediates: x509.NewCertPool()}
		for _, c := range cs.PeerCertificates[1:] {
			opts.Intermediates.AddCert(c)
		}
		_, err := cs.PeerCertificates[0].Verify(opts)
		return err
	}
}
