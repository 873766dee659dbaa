package localenv

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// ErrExited is returned by Manager.Stop when the manager had ended on its own.
var ErrExited = errors.New("the manager had already exited")

// Manager is a running manager process.
type Manager struct {
	// LogPath is the file its stdout and stderr go to.
	LogPath string

	cmd      *exec.Cmd
	log      *os.File
	exited   chan struct{}
	waitErr  error
	stopOnce sync.Once
	stopErr  error
}

// StartManager runs the manager binary with KUBECONFIG set to the
// environment's kubeconfig, the metrics and health endpoints disabled (args
// may override them: the last occurrence of a flag wins) and its output
// appended to <Dir>/manager.log (a manager started again after a crash
// writes after the one before).
func (e *Env) StartManager(ctx context.Context, managerBin string, args ...string) (*Manager, error) {
	bin, err := filepath.Abs(managerBin)
	if err != nil {
		return nil, err
	}
	if fi, err := os.Stat(bin); err != nil || fi.IsDir() || fi.Mode()&0o111 == 0 {
		return nil, fmt.Errorf("manager binary %s not found or not executable: build it with `go build -o bin/manager .`", managerBin)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	logPath := filepath.Join(e.Dir, "manager.log")
	logFile, err := os.OpenFile(logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600) // #nosec G304 -- our own work directory
	if err != nil {
		return nil, err
	}
	// The local API server has no webhook configurations: nothing would
	// call the webhooks, and nothing provides their certificate.
	full := append([]string{"--metrics-bind-address=0", "--health-probe-bind-address=0", "--webhooks=false"}, args...)
	cmd := exec.Command(bin, full...) // #nosec G204 -- the manager binary the caller named
	cmd.Dir = e.Dir
	cmd.Env = append(withoutEnv(os.Environ(), "KUBECONFIG"), "KUBECONFIG="+e.KubeconfigPath)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	// The manager goes when we go, even if we are killed; in its own process
	// group, a Ctrl-C in the terminal reaches only us, and Stop stops it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM, Setpgid: true}
	if err := cmd.Start(); err != nil {
		_ = logFile.Close()
		return nil, fmt.Errorf("start the manager: %w", err)
	}
	m := &Manager{LogPath: logPath, cmd: cmd, log: logFile, exited: make(chan struct{})}
	go func() {
		m.waitErr = cmd.Wait()
		_ = logFile.Close()
		close(m.exited)
	}()
	return m, nil
}

// Pid is the manager's process id.
func (m *Manager) Pid() int { return m.cmd.Process.Pid }

// Exited is closed when the manager process has ended.
func (m *Manager) Exited() <-chan struct{} { return m.exited }

// ExitError is how the process ended, once Exited is closed.
func (m *Manager) ExitError() error {
	select {
	case <-m.exited:
		return m.waitErr
	default:
		return nil
	}
}

// PeakRSS is the manager's peak resident set size in bytes: VmHWM from
// /proc/<pid>/status while it runs, its rusage maximum after it ended.
func (m *Manager) PeakRSS() (int64, error) {
	select {
	case <-m.exited:
		if ps := m.cmd.ProcessState; ps != nil {
			if ru, ok := ps.SysUsage().(*syscall.Rusage); ok {
				return ru.Maxrss * 1024, nil // kilobytes on Linux
			}
		}
		return 0, errors.New("the manager has exited and its resource usage is unknown")
	default:
	}
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", m.cmd.Process.Pid))
	if err != nil {
		return 0, err
	}
	defer func() { _ = f.Close() }()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "VmHWM:") {
			continue
		}
		fields := strings.Fields(strings.TrimPrefix(line, "VmHWM:"))
		if len(fields) != 2 || fields[1] != "kB" {
			return 0, fmt.Errorf("unexpected line in /proc status: %q", line)
		}
		kb, err := strconv.ParseInt(fields[0], 10, 64)
		if err != nil {
			return 0, err
		}
		return kb * 1024, nil
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, errors.New("no VmHWM in /proc status")
}

// Stop sends SIGTERM and waits for the manager to end, killing it after 10 s.
// It returns an error wrapping ErrExited if the manager had ended on its own,
// and an error if it failed on SIGTERM or had to be killed.
func (m *Manager) Stop() error {
	m.stopOnce.Do(func() {
		if m.stopErr = m.endedOnItsOwn(); m.stopErr != nil {
			return
		}
		_ = m.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-m.exited:
			if m.waitErr != nil && !signaled(m.waitErr, syscall.SIGTERM) {
				m.stopErr = fmt.Errorf("the manager stopped with an error: %w", m.waitErr)
			}
		case <-time.After(10 * time.Second):
			_ = m.cmd.Process.Kill()
			<-m.exited
			m.stopErr = errors.New("the manager did not stop within 10s of SIGTERM and was killed")
		}
	})
	return m.stopErr
}

// Kill ends the manager with SIGKILL, as a node failure or the kernel's
// out-of-memory killer would: it gets no chance to finish a batch, close a
// connection or write status. It waits until the process is gone and
// returns an error wrapping ErrExited if the manager had ended on its own.
// Stop after Kill does nothing.
func (m *Manager) Kill() error {
	m.stopOnce.Do(func() {
		if m.stopErr = m.endedOnItsOwn(); m.stopErr != nil {
			return
		}
		_ = m.cmd.Process.Kill()
		<-m.exited
	})
	return m.stopErr
}

// endedOnItsOwn is an error wrapping ErrExited if the process has ended,
// else nil: a manager that ends by itself is an error worth reporting.
func (m *Manager) endedOnItsOwn() error {
	select {
	case <-m.exited:
		if m.waitErr != nil {
			return fmt.Errorf("%w: %w", ErrExited, m.waitErr)
		}
		return ErrExited
	default:
		return nil
	}
}

// signaled says whether err is the exit of a process killed by sig.
func signaled(err error, sig syscall.Signal) bool {
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		return false
	}
	ws, ok := ee.Sys().(syscall.WaitStatus)
	return ok && ws.Signaled() && ws.Signal() == sig
}
