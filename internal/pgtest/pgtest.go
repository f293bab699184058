// Package pgtest runs a throwaway PostgreSQL cluster for tests: Start
// finds initdb and postgres (PATH, then /usr/lib/postgresql/<version>/bin),
// creates a cluster in a temporary directory, starts it on a free
// 127.0.0.1 port (no Unix socket) and stops it by PID when the test ends.
// Kill (SIGKILL) and Restart (same port and data) let tests simulate a
// crash.
//
// PostgreSQL refuses to run as root. Under root (CI containers) the
// cluster belongs to the unprivileged "postgres" system user that the
// Debian postgresql package creates (`make apt-deps` installs it), and
// initdb and postgres are started with that user's credentials directly
// (no su, no sudo, no setuid helper).
package pgtest

import (
	"context"
	"errors"
	"fmt"
	"hotline/internal/proctest"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// InstallHint says how to get the binaries.
const InstallHint = "install PostgreSQL (Debian: apt-get install postgresql, which `make apt-deps` does)"

// User is the cluster's superuser (trust authentication on 127.0.0.1).
const User = "hotline"

// Server is a running (or stopped) PostgreSQL test cluster.
type Server struct {
	// Port is the TCP port on 127.0.0.1.
	Port int
	// Dir is the temporary directory holding the cluster (Dir/data).
	Dir string

	bin    string
	cred   *procCred
	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{}
	logs   *proctest.Buffer
}

// BinDir returns the directory of initdb and postgres.
func BinDir() (string, error) {
	if p, err := exec.LookPath("initdb"); err == nil {
		if _, err := exec.LookPath("postgres"); err == nil {
			return filepath.Dir(p), nil
		}
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return version(dirs[i]) > version(dirs[j]) })
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "postgres")); err == nil {
			if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
				return d, nil
			}
		}
	}
	return "", errors.New("pgtest: initdb/postgres not found in PATH nor in /usr/lib/postgresql/*/bin; " + InstallHint)
}

func version(binDir string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return v
}

// credential is who runs the cluster: nil (this user) unless root.
func credential() (*procCred, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("pgtest: running as root and there is no \"postgres\" user to run PostgreSQL as (it refuses root); %s: %w", InstallHint, err)
	}
	uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err := errors.Join(err1, err2); err != nil {
		return nil, fmt.Errorf("pgtest: user postgres: %w", err)
	}
	return newCred(uint32(uid), uint32(gid)), nil
}

// Start creates and starts a cluster for t and removes it when t ends.
// Missing binaries fail the test: it is skipped only with -short (`make
// unit`: no real peers).
func Start(t testing.TB) *Server {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: no real PostgreSQL")
	}
	s, err := start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Remove)
	return s
}

func start() (*Server, error) {
	bin, err := BinDir()
	if err != nil {
		return nil, err
	}
	cred, err := credential()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "pgtest-")
	if err != nil {
		return nil, err
	}
	s := &Server{Dir: dir, bin: bin, cred: cred, logs: &proctest.Buffer{}}
	if err := s.initdb(); err != nil {
		s.Remove()
		return nil, err
	}
	var last error
	for attempt := 0; attempt < 5; attempt++ { // a free port may be taken meanwhile
		if s.Port, last = proctest.TCPPort(); last != nil {
			continue
		}
		if last = s.start(); last == nil {
			return s, nil
		}
	}
	logs := s.Logs()
	s.Remove()
	return nil, fmt.Errorf("pgtest: postgres did not start: %w\n%s", last, logs)
}

func (s *Server) command(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(filepath.Join(s.bin, name), args...)
	cmd.Dir = s.Dir
	cmd.Env = append(os.Environ(), "LC_ALL=C", "LANG=C")
	cmd.Stdout, cmd.Stderr = s.logs, s.logs
	cmd.SysProcAttr = sysProcAttr(s.cred)
	return cmd
}

func (s *Server) initdb() error {
	// The unprivileged user must reach its data directory.
	if err := os.Chmod(s.Dir, 0o755); err != nil {
		return err
	}
	if s.cred != nil {
		if err := os.Chown(s.Dir, int(s.cred.Uid), int(s.cred.Gid)); err != nil {
			return err
		}
	}
	cmd := s.command("initdb", "-D", filepath.Join(s.Dir, "data"), "-U", User, "--auth=trust", "-E", "UTF8", "--locale=C", "--no-sync")
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("pgtest: initdb: %w\n%s", err, s.Logs())
	}
	return nil
}

func (s *Server) start() error {
	cmd := s.command("postgres", "-D", filepath.Join(s.Dir, "data"), "-p", strconv.Itoa(s.Port),
		"-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories=",
		"-c", "fsync=off", "-c", "full_page_writes=off", "-c", "max_connections=50",
		"-c", "shared_buffers=32MB", "-c", "log_min_messages=warning")
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	s.mu.Lock()
	s.cmd, s.exited = cmd, exited
	s.mu.Unlock()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			s.mu.Lock()
			s.cmd = nil
			s.mu.Unlock()
			return fmt.Errorf("postgres exited: %v", cmd.ProcessState)
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		conn, err := pgx.Connect(ctx, s.dsn("postgres"))
		if err == nil {
			_ = conn.Close(ctx)
			cancel()
			return nil
		}
		cancel()
		time.Sleep(50 * time.Millisecond)
	}
	s.Stop()
	return errors.New("postgres not ready after 30s")
}

func (s *Server) dsn(db string) string {
	return fmt.Sprintf("postgres://%s@127.0.0.1:%d/%s?sslmode=disable&connect_timeout=5", User, s.Port, db)
}

// DSN is the connection string of the database "postgres".
func (s *Server) DSN() string { return s.dsn("postgres") }

// NewDatabase creates an empty database and returns its DSN.
func (s *Server) NewDatabase(t testing.TB, name string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, s.DSN())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		t.Fatal(err)
	}
	return s.dsn(name)
}

// PID is the postmaster's process id, 0 when stopped.
func (s *Server) PID() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return 0
	}
	return s.cmd.Process.Pid
}

// Kill kills the postmaster with SIGKILL (a crash) and waits for it.
func (s *Server) Kill() {
	s.signal(syscall.SIGKILL, 0)
}

// Stop shuts the server down (SIGINT: fast shutdown; SIGKILL after
// 10 s) and waits for it. Stopping a stopped server does nothing.
func (s *Server) Stop() {
	s.signal(syscall.SIGINT, 10*time.Second)
}

func (s *Server) signal(sig syscall.Signal, grace time.Duration) {
	s.mu.Lock()
	cmd, exited := s.cmd, s.exited
	s.cmd = nil
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(sig)
	select {
	case <-exited:
	case <-time.After(grace):
		_ = cmd.Process.Kill()
		<-exited
	}
}

// Restart starts a stopped (or killed) server again on the same port and
// data; after a kill its surviving backends may hold the data directory
// for a moment, so it retries for up to 30 s.
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	s.Stop()
	var err error
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		if err = s.start(); err == nil {
			return
		}
	}
	t.Fatalf("pgtest: postgres did not restart: %v\n%s", err, s.Logs())
}

// Remove stops the server and deletes its directory.
func (s *Server) Remove() {
	s.Stop()
	_ = os.RemoveAll(s.Dir)
}

// Logs returns what initdb and postgres printed.
func (s *Server) Logs() string { return s.logs.String() }
