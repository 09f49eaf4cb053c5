package redistest

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Binary is the server program looked up on PATH.
const Binary = "redis-server"

// StartTimeout bounds how long Start and Restart wait for PING to answer.
const StartTimeout = 10 * time.Second

// Option configures [Start].
type Option interface{ apply(config) config }

type config struct{ durable, cluster bool }

type optionFunc func(config) config

func (f optionFunc) apply(c config) config { return f(c) }

// WithDurable makes the server log every write to an append-only file and
// fsync it before replying (appendonly yes, appendfsync always), so that a
// [Server.Kill] loses no acknowledged write and [Server.Restart] brings the
// data back. Without it the server persists nothing and a restart starts
// empty.
func WithDurable() Option {
	return optionFunc(func(c config) config { c.durable = true; return c })
}

// RequireEnv is the environment variable that, when set to any value,
// turns a missing redis-server from a skip into a test failure.
const RequireEnv = "KPIKIT_REQUIRE_REDIS"

// Server is one redis-server process owned by a test.
type Server struct {
	tb   testing.TB
	cfg  config
	port int
	dir  string

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{} // closed when cmd has exited
}

// Start runs redis-server on a free loopback port with a data directory of
// its own, waits until it answers PING and stops it when the test ends. It
// skips the test when redis-server is not on PATH, or fails it when the
// environment variable [RequireEnv] is set (as continuous integration does,
// so that a machine without Redis cannot pass having tested nothing of it),
// and fails it when the server does not start.
func Start(tb testing.TB, opts ...Option) *Server {
	tb.Helper()
	if _, err := exec.LookPath(Binary); err != nil {
		if os.Getenv(RequireEnv) != "" {
			tb.Fatalf("%s not found on PATH and %s is set: %v", Binary, RequireEnv, err)
		}
		tb.Skipf("%s not found on PATH (install the redis-server package to run this test): %v", Binary, err)
	}
	var c config
	for _, o := range opts {
		if o != nil {
			c = o.apply(c)
		}
	}
	s := &Server{tb: tb, cfg: c, dir: tb.TempDir()}
	tb.Cleanup(s.Kill)
	var err error
	for range 3 { // a free port may be taken by someone else before the server binds it
		if s.port, err = freePort(c.cluster); err != nil {
			break
		}
		if err = s.start(); err == nil {
			return s
		}
	}
	tb.Fatalf("redistest: %v", err)
	return nil
}

// Addr returns the server's host:port.
func (s *Server) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port)) }

// Port returns the server's TCP port; it stays the same across restarts.
func (s *Server) Port() int { return s.port }

// Dir returns the server's data directory.
func (s *Server) Dir() string { return s.dir }

// Running reports whether the server process is running.
func (s *Server) Running() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.runningLocked()
}

func (s *Server) runningLocked() bool {
	if s.done == nil {
		return false
	}
	select {
	case <-s.done:
		return false
	default:
		return true
	}
}

// Stop ends the server with SIGTERM and waits for it to exit; clients then
// get connection errors until [Server.Restart]. Stopping a stopped server
// does nothing.
func (s *Server) Stop() { s.signal(syscall.SIGTERM) }

// Kill ends the server with SIGKILL, as a crash would, and waits for it to
// exit. Without [WithDurable] its data is lost.
func (s *Server) Kill() { s.signal(syscall.SIGKILL) }

func (s *Server) signal(sig os.Signal) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.runningLocked() {
		return
	}
	_ = s.cmd.Process.Signal(sig)
	select {
	case <-s.done:
	case <-time.After(StartTimeout):
		_ = s.cmd.Process.Kill()
		<-s.done
	}
}

// Restart starts a stopped server again on the same port and data
// directory and waits until it answers PING; it stops a running one first.
func (s *Server) Restart() {
	s.tb.Helper()
	s.Stop()
	if err := s.start(); err != nil {
		s.tb.Fatalf("redistest: restart: %v", err)
	}
}

func (s *Server) start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	args := []string{
		"--port", strconv.Itoa(s.port), "--bind", "127.0.0.1", "--dir", s.dir,
		"--save", "", "--daemonize", "no", "--protected-mode", "no",
		"--logfile", "", "--loglevel", "warning",
	}
	if s.cfg.cluster {
		args = append(args, "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
			"--cluster-node-timeout", "5000")
	}
	if s.cfg.durable {
		args = append(args, "--appendonly", "yes", "--appendfsync", "always")
	} else {
		args = append(args, "--appendonly", "no")
	}
	logPath := filepath.Join(s.dir, "server.log")
	log, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	cmd := exec.Command(Binary, args...)
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		_ = log.Close()
		return fmt.Errorf("start %s: %w", Binary, err)
	}
	_ = log.Close() // the child holds its own descriptor
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	s.cmd, s.done = cmd, done

	deadline := time.Now().Add(StartTimeout)
	for {
		if err := ping(s.Addr()); err == nil {
			return nil
		} else if !s.runningLocked() || time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			<-done
			out, _ := os.ReadFile(logPath)
			return fmt.Errorf("%s on port %d did not answer PING (%v); log:\n%s", Binary, s.port, err, out)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// ping sends one inline PING and expects +PONG.
func ping(addr string) error {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if line != "+PONG\r\n" {
		return errors.New("unexpected reply " + strconv.Quote(line))
	}
	return nil
}

// freePort returns a free loopback port; for a cluster node also one whose
// cluster bus port (port + 10000) is free.
func freePort(cluster bool) (int, error) {
	for range 100 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		port := l.Addr().(*net.TCPAddr).Port
		if !cluster {
			_ = l.Close()
			return port, nil
		}
		if port+10000 > 65535 {
			_ = l.Close()
			continue
		}
		bus, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port+10000)))
		_ = l.Close()
		if err != nil {
			continue
		}
		_ = bus.Close()
		return port, nil
	}
	return 0, errors.New("no free port pair for a cluster node")
}
