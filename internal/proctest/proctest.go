// Package proctest runs a real server process for tests: it starts the
// command with its output captured, stops it by PID (SIGTERM, then SIGKILL)
// or kills it outright to simulate a crash, and makes the kernel kill it
// if the test process dies first. internal/redistest and
// internal/kamailiotest build on it.
package proctest

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os/exec"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Proc is one running server process.
type Proc struct {
	cmd    *exec.Cmd
	exited chan struct{}
	logs   *Buffer
}

// Start starts cmd, its stdout and stderr going to logs.
func Start(cmd *exec.Cmd, logs *Buffer) (*Proc, error) {
	cmd.Stdout = logs
	cmd.Stderr = logs
	killWithParent(cmd)
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", cmd.Path, err)
	}
	p := &Proc{cmd: cmd, exited: make(chan struct{}), logs: logs}
	go func() {
		cmd.Wait()
		close(p.exited)
	}()
	return p, nil
}

// PID is the process id.
func (p *Proc) PID() int { return p.cmd.Process.Pid }

// Exited is closed when the process has exited.
func (p *Proc) Exited() <-chan struct{} { return p.exited }

// ExitError describes how the process ended; nil while it runs.
func (p *Proc) ExitError() error {
	select {
	case <-p.exited:
		return fmt.Errorf("%s exited: %v", p.cmd.Path, p.cmd.ProcessState)
	default:
		return nil
	}
}

// Stop sends SIGTERM, then SIGKILL after grace, and waits for the exit.
func (p *Proc) Stop(grace time.Duration) {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(grace):
		_ = p.cmd.Process.Kill()
		<-p.exited
	}
}

// Kill sends SIGKILL (a crash: nothing is cleaned up) and waits for the exit.
func (p *Proc) Kill() {
	_ = p.cmd.Process.Kill()
	<-p.exited
}

// WaitReady calls ready every 50 ms until it returns nil, the process
// exits or timeout passes.
func (p *Proc) WaitReady(timeout time.Duration, ready func() error) error {
	deadline := time.Now().Add(timeout)
	var last error
	for {
		select {
		case <-p.exited:
			return p.ExitError()
		default:
		}
		if last = ready(); last == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not ready after %s: %w", timeout, last)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// FreeTCPPort returns a 127.0.0.1 TCP port that was free a moment ago.
func FreeTCPPort(t testing.TB) int {
	t.Helper()
	p, err := TCPPort()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TCPPort is FreeTCPPort for callers without a test (a server restarted
// by a helper): a 127.0.0.1 TCP port that was free a moment ago.
func TCPPort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// FreeUDPPort returns a 127.0.0.1 UDP port that was free a moment ago.
func FreeUDPPort(t testing.TB) int {
	t.Helper()
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port
}

// LookPath finds a tool the tests need; a missing tool is an error naming
// the Debian package that provides it (the Makefile's apt-deps installs it).
func LookPath(name, debianPackage string) (string, error) {
	p, err := exec.LookPath(name)
	if err != nil {
		return "", errors.New(name + " not found in PATH; install the Debian package " + debianPackage + " (make apt-deps)")
	}
	return p, nil
}

// Buffer is a bytes.Buffer safe for concurrent writes and reads.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *Buffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *Buffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// Current holds the running process of a server that tests stop, kill
// and restart; its zero value holds none. It is safe for concurrent use.
type Current struct {
	mu sync.Mutex
	p  *Proc
}

// Set makes p the running process.
func (c *Current) Set(p *Proc) {
	c.mu.Lock()
	c.p = p
	c.mu.Unlock()
}

func (c *Current) take() *Proc {
	c.mu.Lock()
	defer c.mu.Unlock()
	p := c.p
	c.p = nil
	return p
}

// Stop stops the running process (SIGTERM, SIGKILL after grace); with
// none running it does nothing.
func (c *Current) Stop(grace time.Duration) {
	if p := c.take(); p != nil {
		p.Stop(grace)
	}
}

// Kill kills the running process with SIGKILL, as a crash would.
func (c *Current) Kill() {
	if p := c.take(); p != nil {
		p.Kill()
	}
}

// PID is the running process's id, 0 when none runs.
func (c *Current) PID() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.p == nil {
		return 0
	}
	return c.p.PID()
}

// Restart calls start until it succeeds, up to 40 times 100 ms apart
// (a port just released may linger), and fails t with logs otherwise.
func Restart(t testing.TB, what string, start func() error, logs func() string) {
	t.Helper()
	var err error
	for attempt := 0; attempt < 40; attempt++ {
		if err = start(); err == nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s did not restart: %v\n%s", what, err, logs())
}
