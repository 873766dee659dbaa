package pgtest

import (
	"errors"
	"fmt"
	"syscall"
	"time"
)

// Faults a disruptive test injects into a running server. They act only on
// the server this package started (its postmaster and the backends it
// forked, which share its process group).

// Restart stops the server in immediate mode (SIGQUIT: no shutdown
// checkpoint, every connection broken, crash recovery at the next start,
// as after a crash of the host's database) and starts it again on the same
// port, so clients reconnect to the same address.
func (s *Server) Restart() error {
	if s.cmd == nil || s.cmd.Process == nil {
		return errors.New("pgtest: the server is not running")
	}
	_ = s.Thaw()
	if err := s.cmd.Process.Signal(syscall.SIGQUIT); err != nil {
		return fmt.Errorf("pgtest: immediate shutdown: %w", err)
	}
	select {
	case <-s.exited:
	case <-time.After(30 * time.Second):
		return errors.New("pgtest: the server did not exit within 30s of an immediate shutdown")
	}
	var err error
	for attempt := 0; attempt < 5; attempt++ {
		if err = s.start(s.Port); err == nil {
			return nil
		}
		time.Sleep(200 * time.Millisecond)
	}
	return fmt.Errorf("pgtest: start again on port %d: %w", s.Port, err)
}

// Freeze stops every process of the server (SIGSTOP): connections stay
// open, and nothing answers until Thaw, as when the database's host stalls.
func (s *Server) Freeze() error { return s.signalGroup(syscall.SIGSTOP) }

// Thaw resumes a server that Freeze stopped; on a running server it does
// nothing.
func (s *Server) Thaw() error { return s.signalGroup(syscall.SIGCONT) }

func (s *Server) signalGroup(sig syscall.Signal) error {
	if s.cmd == nil || s.cmd.Process == nil {
		return errors.New("pgtest: the server is not running")
	}
	select {
	case <-s.exited:
		return errors.New("pgtest: the server has exited")
	default:
	}
	// The postmaster leads its own process group (Setpgid), and its
	// backends inherit it.
	if err := syscall.Kill(-s.cmd.Process.Pid, sig); err != nil {
		return fmt.Errorf("pgtest: signal %v to the server's processes: %w", sig, err)
	}
	return nil
}
