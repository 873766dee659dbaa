package pgtest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// CertUser is the login role a TLS server (Options.TLS) authenticates by
// client certificate alone: a certificate whose common name is CertUser,
// issued by the server's CA, logs in without a password. It is a member
// of AppUser, so it works in the databases NewDatabase creates.
const CertUser = "lethe_cert"

// CA is a private certificate authority made at test time.
type CA struct {
	// CertPEM is the CA's certificate, PEM-encoded: what a client puts in
	// ca.crt to verify servers the CA issued certificates to.
	CertPEM []byte
	cert    *x509.Certificate
	key     *ecdsa.PrivateKey
}

// NewCA makes a self-signed CA named name, valid for a day.
func NewCA(name string) (*CA, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: name, Organization: []string{"Lethe tests"}},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &CA{CertPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), cert: cert, key: key}, nil
}

// Issue makes a certificate and its key, PEM-encoded, for common name cn,
// usable by a server (for the hosts given: DNS names or IP addresses) and
// by a client (PostgreSQL's cert authentication matches cn to the user).
func (ca *CA) Issue(cn string, hosts ...string) (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		return nil, nil, err
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), nil
}

func serial() *big.Int {
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	return n
}

// setupTLS makes the server's CA and certificate (for 127.0.0.1,
// localhost and ::1), writes them where the server reads them (the key
// owned by the server's user, mode 0600, as PostgreSQL demands), lets
// CertUser log in by certificate over TLS, and returns the server's
// settings.
func (s *Server) setupTLS(data string) ([]string, error) {
	ca, err := NewCA("Lethe test CA")
	if err != nil {
		return nil, err
	}
	crt, key, err := ca.Issue("localhost", "127.0.0.1", "localhost", "::1")
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(s.dir, "tls")
	if err := os.Mkdir(dir, 0o700); err != nil {
		return nil, err
	}
	files := map[string][]byte{"server.crt": crt, "server.key": key, "ca.crt": ca.CertPEM}
	paths := []string{dir}
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, content, 0o600); err != nil {
			return nil, err
		}
		paths = append(paths, p)
	}
	if err := s.chown(paths...); err != nil {
		return nil, err
	}
	// Certificate authentication for CertUser comes first; everyone else
	// keeps the password rules initdb wrote.
	hba := filepath.Join(data, "pg_hba.conf")
	rules, err := os.ReadFile(hba) // #nosec G304 -- the server's own file in its temporary directory
	if err != nil {
		return nil, err
	}
	line := fmt.Sprintf("hostssl all %s 127.0.0.1/32 cert\nhostssl all %s ::1/128 cert\n", CertUser, CertUser)
	if err := os.WriteFile(hba, []byte(line+string(rules)), 0o600); err != nil { // #nosec G703 -- the server's own file in its temporary directory
		return nil, err
	}
	s.CA = ca
	return []string{"-c", "ssl=on",
		"-c", "ssl_cert_file=" + filepath.Join(dir, "server.crt"),
		"-c", "ssl_key_file=" + filepath.Join(dir, "server.key"),
		"-c", "ssl_ca_file=" + filepath.Join(dir, "ca.crt")}, nil
}

// createCertUser creates CertUser, a member of AppUser.
func (s *Server) createCertUser(exec func(sql string) error) error {
	return exec(strings.Join([]string{
		fmt.Sprintf("CREATE ROLE %s LOGIN", CertUser),
		fmt.Sprintf("GRANT %s TO %s", AppUser, CertUser),
	}, "; "))
}
