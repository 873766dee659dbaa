package tenantdb

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"strings"
	"syscall"

	"github.com/jackc/pgx/v5/pgconn"
)

// FailureKind classifies why a connection failed.
type FailureKind int

const (
	// FailureOther is any failure not classified below.
	FailureOther FailureKind = iota
	// FailureAuthentication means the server refused the credentials.
	FailureAuthentication
	// FailureUnreachable means the server did not answer (refused, timed out, DNS).
	FailureUnreachable
	// FailureDatabaseNotFound means the server has no database of that name.
	FailureDatabaseNotFound
	// FailureTLS means the TLS handshake failed: the server's certificate
	// did not verify, the server refused TLS or the client certificate.
	FailureTLS
)

// ConnectError is a classified connection failure. Its message names no
// credential and no connection string.
type ConnectError struct {
	Kind FailureKind
	msg  string
	err  error
}

func (e *ConnectError) Error() string { return e.msg }
func (e *ConnectError) Unwrap() error { return e.err }

// Classify turns a connection error into a ConnectError with a message safe
// for status and events.
func Classify(err error) *ConnectError {
	if err == nil {
		return nil
	}
	var ce *ConnectError
	if errors.As(err, &ce) {
		return ce
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch pgErr.Code {
		case "28P01", "28000":
			return &ConnectError{Kind: FailureAuthentication, err: err,
				msg: fmt.Sprintf("the server refused the credentials (SQLSTATE %s)", pgErr.Code)}
		case "3D000":
			return &ConnectError{Kind: FailureDatabaseNotFound, err: err,
				msg: "the server has no database of the name in the secret (SQLSTATE 3D000)"}
		default:
			return &ConnectError{Kind: FailureOther, err: err,
				msg: fmt.Sprintf("the server refused the connection (SQLSTATE %s)", pgErr.Code)}
		}
	}
	if ce := classifyTLS(err); ce != nil {
		return ce
	}
	var (
		dnsErr *net.DNSError
		opErr  *net.OpError
	)
	switch {
	case errors.As(err, &dnsErr):
		return &ConnectError{Kind: FailureUnreachable, err: err, msg: "the host name does not resolve"}
	case errors.Is(err, syscall.ECONNREFUSED):
		return &ConnectError{Kind: FailureUnreachable, err: err, msg: "connection refused"}
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, syscall.ETIMEDOUT), pgconn.Timeout(err):
		return &ConnectError{Kind: FailureUnreachable, err: err, msg: "connection timed out"}
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		return &ConnectError{Kind: FailureUnreachable, err: err, msg: "no route to host"}
	case errors.As(err, &opErr):
		return &ConnectError{Kind: FailureUnreachable, err: err, msg: "network error: " + opErr.Err.Error()}
	}
	return &ConnectError{Kind: FailureOther, err: err, msg: "the connection failed"}
}

// classifyTLS recognizes a failed TLS handshake. Its messages are its own:
// Go's x509 errors quote the certificates' names, and no certificate's
// content goes to status.
func classifyTLS(err error) *ConnectError {
	tlsFailure := func(msg string) *ConnectError { return &ConnectError{Kind: FailureTLS, err: err, msg: msg} }
	var (
		unknown  x509.UnknownAuthorityError
		hostname x509.HostnameError
		invalid  x509.CertificateInvalidError
		system   x509.SystemRootsError
		record   tls.RecordHeaderError
		opErr    *net.OpError
	)
	switch {
	case errors.As(err, &unknown):
		return tlsFailure("the server's certificate is not signed by the CA in ca.crt (or, without ca.crt, by one the system trusts)")
	case errors.As(err, &hostname):
		return tlsFailure("the server's certificate is not issued for the host connected to (sslmode verify-full checks the name): " +
			"connect by a name the certificate holds, or use sslmode verify-ca")
	case errors.As(err, &invalid):
		if invalid.Reason == x509.Expired {
			return tlsFailure("the server's certificate has expired or is not valid yet")
		}
		return tlsFailure("the server's certificate is not valid for a server")
	case errors.As(err, &system):
		return tlsFailure("the system has no CA certificates to verify the server with: give the server's CA in ca.crt")
	case errors.As(err, &record):
		return tlsFailure("the server did not answer in TLS")
	case strings.Contains(err.Error(), "server refused TLS connection"):
		return tlsFailure("the server does not accept TLS connections, and the sslmode asks for TLS")
	case errors.As(err, &opErr) && opErr.Op == "remote error":
		// An alert the server sent: its name only (for example "tls:
		// unknown certificate authority" for a client certificate it does
		// not trust).
		return tlsFailure("the server ended the TLS handshake: " + opErr.Err.Error() + " (check tls.crt and tls.key)")
	}
	return nil
}

// SafeError describes an error without anything that may hold row values.
// A PostgreSQL error in the chain is replaced by its SQLSTATE, its message
// only when that class of error never quotes input, and the names of the
// table, column and constraint involved (PgError's Detail, which quotes
// keys, is never used); the operator's own context around it is kept.
func SafeError(err error) string {
	if err == nil {
		return ""
	}
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		if ce := Classify(err); ce.Kind != FailureOther {
			return ce.Error()
		}
		return err.Error()
	}
	msg := "SQLSTATE " + pgErr.Code
	// Class 23 (integrity constraints), 40 (transaction rollback), 42
	// (syntax, undefined objects) and 57 (operator intervention) messages
	// name objects only; others (22: data exceptions) may quote input.
	if c := pgErr.Code[:2]; c == "23" || c == "42" || c == "40" || c == "57" {
		msg += ": " + pgErr.Message
	}
	var where []string
	if pgErr.SchemaName != "" && pgErr.TableName != "" {
		where = append(where, "table "+pgErr.SchemaName+"."+pgErr.TableName)
	}
	if pgErr.ColumnName != "" {
		where = append(where, "column "+pgErr.ColumnName)
	}
	if pgErr.ConstraintName != "" {
		where = append(where, "constraint "+pgErr.ConstraintName)
	}
	if len(where) > 0 {
		msg += " (" + strings.Join(where, ", ") + ")"
	}
	full := err.Error()
	if i := strings.Index(full, pgErr.Error()); i >= 0 {
		return full[:i] + msg
	}
	return msg
}

// Permanent says an error cannot heal by waiting: the database refused what
// was asked, and asking again the same way fails the same way. These are
// integrity and data errors (SQLSTATE classes 23 and 22: a constraint, NOT
// NULL, a CHECK, a unique key, a value out of range), errors of syntax or
// access (class 42: an undefined table 42P01 or column 42703, insufficient
// privilege 42501), cardinality violations (21), features not supported
// (0A) and WITH CHECK OPTION violations (44). Everything else is taken as
// transient (connection loss, class 08; serialization failures and
// deadlocks, 40; lock and statement timeouts, 55P03 and 57014; too many
// connections, 53; a server shutting down, 57P), and so are errors that
// are not the server's answer (the network, a deadline).
func Permanent(err error) bool {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || len(pgErr.Code) < 2 {
		return false
	}
	switch pgErr.Code[:2] {
	case "22", "23", "42", "21", "0A", "44":
		return true
	}
	return false
}
