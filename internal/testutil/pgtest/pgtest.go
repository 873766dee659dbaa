// Package pgtest starts a throwaway PostgreSQL server on loopback for tests,
// the demo and the benchmarks, and hands out fresh databases on it.
//
// The server runs from Debian's server binaries (/usr/lib/postgresql/*/bin,
// installed by hack/ensure-postgres.sh), as the postgres system user when the
// caller is root (initdb refuses root). It listens on 127.0.0.1 on a free
// port, and on a unix socket in its own temporary directory; local socket
// connections are trusted (the admin path), TCP connections need a password
// (so wrong credentials really fail). The server is a child of the calling
// process and is told to shut down when that process dies.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// AppUser is the login role that owns the databases NewDatabase creates; it is
// what the operator connects as in tests and the demo.
const AppUser = "lethe_app"

// Options tune the server.
type Options struct {
	// Durable keeps PostgreSQL's default durability settings (benchmarks).
	// Without it fsync and full_page_writes are off, which makes tests much
	// faster.
	Durable bool
	// MaxConnections is the server's max_connections (default 200).
	MaxConnections int
	// LogPath, when set, is where the server log is copied on Stop.
	LogPath string
	// TLS serves TLS too, with a certificate for 127.0.0.1 and localhost
	// issued by a private CA made at start (Server.CA), and lets CertUser
	// log in by client certificate. Clients choose: sslmode disable still
	// connects in plain text.
	TLS bool
}

// Server is a running PostgreSQL server.
type Server struct {
	Port        int
	SocketDir   string
	AppPassword string
	// CA issued the server's certificate (Options.TLS), else nil.
	CA *CA

	dir     string
	data    string
	opts    Options
	extra   []string
	binDir  string
	cred    *syscall.Credential
	cmd     *exec.Cmd
	exited  chan struct{}
	logPath string
	seq     atomic.Int64
	stopped sync.Once
}

// BinDir finds the PostgreSQL server binaries: $PG_BIN, the newest
// /usr/lib/postgresql/*/bin, or the PATH.
func BinDir() (string, error) {
	if d := os.Getenv("PG_BIN"); d != "" {
		return d, nil
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return majorOf(dirs[i]) > majorOf(dirs[j]) })
	for _, d := range dirs {
		if isExec(filepath.Join(d, "initdb")) && isExec(filepath.Join(d, "postgres")) {
			return d, nil
		}
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		return filepath.Dir(p), nil
	}
	return "", errors.New("PostgreSQL server binaries not found: run hack/ensure-postgres.sh " +
		"(installs Debian's postgresql package) or set PG_BIN")
}

func majorOf(dir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(dir)))
	return n
}

func isExec(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode()&0o111 != 0
}

// Start initialises a cluster in a new temporary directory and starts it.
func Start(opts Options) (*Server, error) {
	binDir, err := BinDir()
	if err != nil {
		return nil, err
	}
	if opts.MaxConnections == 0 {
		opts.MaxConnections = 200
	}
	s := &Server{binDir: binDir, logPath: opts.LogPath, exited: make(chan struct{})}
	if s.dir, err = os.MkdirTemp("", "lethe-pg-"); err != nil {
		return nil, err
	}
	ok := false
	defer func() {
		if !ok {
			_ = os.RemoveAll(s.dir)
		}
	}()
	if os.Geteuid() == 0 {
		if s.cred, err = postgresCredential(); err != nil {
			return nil, err
		}
	}
	s.SocketDir = filepath.Join(s.dir, "sock")
	data := filepath.Join(s.dir, "data")
	for _, d := range []string{s.SocketDir, data} {
		if err := os.Mkdir(d, 0o700); err != nil {
			return nil, err
		}
	}
	if err := s.chown(s.dir, s.SocketDir, data); err != nil {
		return nil, err
	}
	s.AppPassword = randomHex(12)
	pwfile := filepath.Join(s.dir, "pwfile")
	if err := os.WriteFile(pwfile, []byte(randomHex(12)+"\n"), 0o600); err != nil {
		return nil, err
	}
	if err := s.chown(pwfile); err != nil {
		return nil, err
	}
	initdb := s.command(filepath.Join(binDir, "initdb"), "-D", data, "-U", "postgres", "--pwfile", pwfile,
		"--auth-local=trust", "--auth-host=scram-sha-256", "-E", "UTF8", "--locale=C", "--no-sync")
	if out, err := initdb.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("initdb: %v: %s", err, out)
	}
	_ = os.Remove(pwfile)
	var extra []string
	if opts.TLS {
		if extra, err = s.setupTLS(data); err != nil {
			return nil, fmt.Errorf("set up TLS: %w", err)
		}
	}

	s.data, s.opts, s.extra = data, opts, extra
	var lastErr error
	for attempt := 0; attempt < 5; attempt++ {
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		if lastErr = s.start(port); lastErr == nil {
			break
		}
	}
	if lastErr != nil {
		return nil, lastErr
	}
	ok = true
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.Exec(ctx, "postgres", fmt.Sprintf("CREATE ROLE %s LOGIN PASSWORD '%s'", AppUser, s.AppPassword)); err != nil {
		_ = s.Stop()
		return nil, err
	}
	if opts.TLS {
		if err := s.createCertUser(func(sql string) error { return s.Exec(ctx, "postgres", sql) }); err != nil {
			_ = s.Stop()
			return nil, err
		}
	}
	return s, nil
}

func (s *Server) start(port int) error {
	data, opts, extra := s.data, s.opts, s.extra
	args := []string{"-D", data, "-p", strconv.Itoa(port), "-k", s.SocketDir,
		"-c", "listen_addresses=127.0.0.1", "-c", "max_connections=" + strconv.Itoa(opts.MaxConnections),
		"-c", "logging_collector=off", "-c", "log_min_messages=warning"}
	if !opts.Durable {
		// A commit still reaches the operating system before it is
		// acknowledged, so a crash of the server (Restart) loses nothing
		// acknowledged; only a crash of the host would.
		args = append(args, "-c", "fsync=off", "-c", "full_page_writes=off")
	}
	args = append(args, extra...)
	// A server started again after Restart logs after the one before.
	logFile, err := os.OpenFile(filepath.Join(s.dir, "postgres.log"), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	cmd := s.command(filepath.Join(s.binDir, "postgres"), args...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	// SIGINT is PostgreSQL's fast shutdown: the server goes when we go.
	cmd.SysProcAttr.Pdeathsig = syscall.SIGINT
	cmd.SysProcAttr.Setpgid = true
	if err := cmd.Start(); err != nil {
		_ = logFile.Close()
		return err
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); _ = logFile.Close(); close(exited) }()
	s.cmd, s.exited, s.Port = cmd, exited, port

	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			log, _ := os.ReadFile(filepath.Join(s.dir, "postgres.log"))
			return fmt.Errorf("postgres exited during start-up: %s", lastLines(string(log), 5))
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		conn, err := pgx.Connect(ctx, s.AdminDSN("postgres"))
		cancel()
		if err == nil {
			_ = conn.Close(context.Background())
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	_ = cmd.Process.Signal(syscall.SIGINT)
	<-exited
	return errors.New("postgres did not accept connections within 30s")
}

// Stop shuts the server down (fast mode) and removes its files.
func (s *Server) Stop() error {
	var err error
	s.stopped.Do(func() {
		if s.cmd != nil && s.cmd.Process != nil {
			_ = s.Thaw()
			_ = s.cmd.Process.Signal(syscall.SIGINT)
			select {
			case <-s.exited:
			case <-time.After(20 * time.Second):
				_ = s.cmd.Process.Kill()
				<-s.exited
			}
		}
		if s.logPath != "" {
			if b, rerr := os.ReadFile(filepath.Join(s.dir, "postgres.log")); rerr == nil {
				_ = os.WriteFile(s.logPath, b, 0o600) // #nosec G703 -- a path the caller chose for the log
			}
		}
		err = os.RemoveAll(s.dir)
	})
	return err
}

// AdminDSN is a superuser connection string over the unix socket.
func (s *Server) AdminDSN(db string) string {
	return fmt.Sprintf("host=%s port=%d user=postgres dbname=%s sslmode=disable", s.SocketDir, s.Port, db)
}

// Exec runs statements as the superuser in database db.
func (s *Server) Exec(ctx context.Context, db, sql string, args ...any) error {
	conn, err := pgx.Connect(ctx, s.AdminDSN(db))
	if err != nil {
		return err
	}
	defer func() { _ = conn.Close(context.Background()) }()
	_, err = conn.Exec(ctx, sql, args...)
	return err
}

// Database is a database on the server, owned by AppUser.
type Database struct {
	Name     string
	Host     string
	Port     int
	User     string
	Password string
}

// URI is a postgres:// URI for the app user over TCP.
func (d Database) URI() string {
	u := url.URL{Scheme: "postgres", User: url.UserPassword(d.User, d.Password),
		Host: net.JoinHostPort(d.Host, strconv.Itoa(d.Port)), Path: "/" + d.Name, RawQuery: "sslmode=disable"}
	return u.String()
}

// SecretData is the content of a connection Secret for the database, in the
// discrete-keys form.
func (d Database) SecretData() map[string][]byte {
	return map[string][]byte{
		"host": []byte(d.Host), "port": []byte(strconv.Itoa(d.Port)), "dbname": []byte(d.Name),
		"user": []byte(d.User), "password": []byte(d.Password), "sslmode": []byte("disable"),
	}
}

// CreateDatabase creates a database owned by AppUser. An empty name picks a
// fresh one.
func (s *Server) CreateDatabase(ctx context.Context, name string) (Database, error) {
	if name == "" {
		name = fmt.Sprintf("db_%d_%s", s.seq.Add(1), randomHex(3))
	}
	if err := s.Exec(ctx, "postgres", fmt.Sprintf("CREATE DATABASE %s OWNER %s",
		pgx.Identifier{name}.Sanitize(), AppUser)); err != nil {
		return Database{}, fmt.Errorf("create database %s: %w", name, err)
	}
	return Database{Name: name, Host: "127.0.0.1", Port: s.Port, User: AppUser, Password: s.AppPassword}, nil
}

// CopyDatabase creates a fresh database owned by AppUser as a copy of
// template (CREATE DATABASE ... TEMPLATE): a schema loaded once is cheap to
// give each test a database of its own. Nobody may be connected to
// template meanwhile.
func (s *Server) CopyDatabase(ctx context.Context, template string) (Database, error) {
	name := fmt.Sprintf("db_%d_%s", s.seq.Add(1), randomHex(3))
	if err := s.Exec(ctx, "postgres", fmt.Sprintf("CREATE DATABASE %s TEMPLATE %s OWNER %s",
		pgx.Identifier{name}.Sanitize(), pgx.Identifier{template}.Sanitize(), AppUser)); err != nil {
		return Database{}, fmt.Errorf("create database %s from %s: %w", name, template, err)
	}
	return Database{Name: name, Host: "127.0.0.1", Port: s.Port, User: AppUser, Password: s.AppPassword}, nil
}

// AppConn connects to a database as AppUser.
func (s *Server) AppConn(ctx context.Context, db Database) (*pgx.Conn, error) {
	return pgx.Connect(ctx, db.URI())
}

func (s *Server) command(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(name, args...) // #nosec G204 -- PostgreSQL binaries from a fixed directory
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: s.cred}
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	cmd.Dir = s.dir
	return cmd
}

func (s *Server) chown(paths ...string) error {
	if s.cred == nil {
		return nil
	}
	for _, p := range paths {
		if err := os.Chown(p, int(s.cred.Uid), int(s.cred.Gid)); err != nil {
			return err
		}
	}
	return nil
}

func postgresCredential() (*syscall.Credential, error) {
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, errors.New("running as root needs the postgres system user (created by Debian's postgresql package)")
	}
	uid, _ := strconv.ParseUint(u.Uid, 10, 32)
	gid, _ := strconv.ParseUint(u.Gid, 10, 32)
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer func() { _ = l.Close() }()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
