// Package redistest runs a real redis-server on the loopback interface for
// tests: Start starts it on a free 127.0.0.1 port in a temporary directory
// without persistence, waits until it answers PING and stops it by PID
// when the test ends. Stop, Kill and Restart (same port, empty data, as a
// restarted Redis without persistence comes back) let tests simulate the
// "Redis restarts" fault.
package redistest

import (
	"net"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"hotline/internal/probe"
	"hotline/internal/proctest"
)

// DebianPackage provides redis-server.
const DebianPackage = "redis-server"

// Server is a running (or stopped) redis-server.
type Server struct {
	// Addr is 127.0.0.1:port.
	Addr string
	// Dir is the server's working directory.
	Dir string

	bin  string
	logs *proctest.Buffer
	cur  proctest.Current
}

// Start starts a redis-server for t and stops it when t ends. A missing
// redis-server fails the test (naming the package): it is never skipped.
func Start(t testing.TB) *Server {
	t.Helper()
	bin, err := proctest.LookPath("redis-server", DebianPackage)
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{bin: bin, Dir: t.TempDir(), logs: &proctest.Buffer{}}
	var last error
	for attempt := 0; attempt < 3; attempt++ { // a free port may be taken meanwhile
		s.Addr = "127.0.0.1:" + strconv.Itoa(proctest.FreeTCPPort(t))
		if last = s.start(); last == nil {
			t.Cleanup(s.Stop)
			return s
		}
	}
	t.Fatalf("redis-server did not start: %v\n%s", last, s.Logs())
	return nil
}

// URL is the redis:// URL of the server.
func (s *Server) URL() string { return "redis://" + s.Addr + "/0" }

func (s *Server) start() error {
	_, port, _ := net.SplitHostPort(s.Addr)
	cmd := exec.Command(s.bin,
		"--bind", "127.0.0.1",
		"--port", port,
		"--dir", s.Dir,
		"--save", "",
		"--appendonly", "no",
		"--daemonize", "no",
		"--protected-mode", "yes",
		"--loglevel", "warning",
	)
	cmd.Dir = s.Dir
	p, err := proctest.Start(cmd, s.logs)
	if err != nil {
		return err
	}
	if err := p.WaitReady(10*time.Second, func() error { return probe.RedisPing(s.Addr) }); err != nil {
		p.Stop(5 * time.Second)
		return err
	}
	s.cur.Set(p)
	return nil
}

// Stop stops the server (SIGTERM, SIGKILL after 5 s). Stopping a stopped
// server does nothing.
func (s *Server) Stop() {
	s.cur.Stop(5 * time.Second)
}

// Kill kills the server with SIGKILL, as a crash would.
func (s *Server) Kill() {
	s.cur.Kill()
}

// PID is the server's process id, 0 when it is stopped.
func (s *Server) PID() int { return s.cur.PID() }

// Restart stops the server if it runs and starts it again on the same
// address. Without persistence it comes back empty, as a restarted
// production Redis without persistence does.
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	s.Stop()
	proctest.Restart(t, "redis-server", s.start, s.Logs)
}

// Logs returns what the server printed.
func (s *Server) Logs() string { return s.logs.String() }
