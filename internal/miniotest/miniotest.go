// Package miniotest runs a real MinIO server on the loopback interface for
// tests: Start finds the minio binary, starts it on free 127.0.0.1 ports
// with a temporary data directory, waits until it is ready and stops it
// when the test ends. Stop and Restart (same port and data) let tests
// simulate an outage.
package miniotest

import (
	"errors"
	"fmt"
	"hotline/internal/proctest"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// InstallCommand installs the MinIO server version the project tests with.
const InstallCommand = "go install github.com/minio/minio@v0.0.0-20260212201848-7aac2a2c5b7c"

// Credentials of the root user of every test server.
const (
	AccessKey = "hotline-test"
	SecretKey = "hotline-test-secret"
)

// Server is a running (or stopped) MinIO test server.
type Server struct {
	// Endpoint is host:port of the S3 API (127.0.0.1 only).
	Endpoint string
	// Dir is the data directory.
	Dir string

	bin     string
	console string
	mu      sync.Mutex
	cmd     *exec.Cmd
	exited  chan struct{}
	logs    *proctest.Buffer
}

// Binary returns the path of the minio binary: from PATH, else from
// $(go env GOPATH)/bin.
func Binary() (string, error) {
	if p, err := exec.LookPath("minio"); err == nil {
		return p, nil
	}
	var dirs []string
	if gp := os.Getenv("GOPATH"); gp != "" {
		dirs = append(dirs, filepath.SplitList(gp)...)
	}
	if out, err := exec.Command("go", "env", "GOPATH").Output(); err == nil {
		dirs = append(dirs, filepath.SplitList(strings.TrimSpace(string(out)))...)
	}
	if home, err := os.UserHomeDir(); err == nil {
		dirs = append(dirs, filepath.Join(home, "go"))
	}
	for _, d := range dirs {
		p := filepath.Join(d, "bin", "minio")
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return p, nil
		}
	}
	return "", errors.New("minio binary not found in PATH nor in $(go env GOPATH)/bin; install it with: " + InstallCommand)
}

// Start starts a MinIO server for t and stops it when t ends. A missing
// binary fails the test (with the install command): it is never skipped.
func Start(t testing.TB) *Server {
	t.Helper()
	bin, err := Binary()
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{bin: bin, Dir: t.TempDir(), logs: &proctest.Buffer{}}
	var last error
	for attempt := 0; attempt < 3; attempt++ { // a free port may be taken meanwhile
		s.Endpoint, s.console = freeAddr(t), freeAddr(t)
		if last = s.start(); last == nil {
			t.Cleanup(s.Stop)
			return s
		}
	}
	t.Fatalf("minio did not start: %v\n%s", last, s.Logs())
	return nil
}

// freeAddr is a free 127.0.0.1 TCP address.
func freeAddr(t testing.TB) string {
	t.Helper()
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(proctest.FreeTCPPort(t)))
}

func (s *Server) start() error {
	cmd := exec.Command(s.bin, "server", "--quiet", "--address", s.Endpoint, "--console-address", s.console, s.Dir)
	cmd.Env = append(os.Environ(),
		"MINIO_ROOT_USER="+AccessKey,
		"MINIO_ROOT_PASSWORD="+SecretKey,
		"MINIO_BROWSER=off",
		"MINIO_UPDATE=off",
	)
	cmd.Stdout = s.logs
	cmd.Stderr = s.logs
	killWithParent(cmd)
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan struct{})
	go func() {
		cmd.Wait()
		close(exited)
	}()
	s.mu.Lock()
	s.cmd, s.exited = cmd, exited
	s.mu.Unlock()
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return fmt.Errorf("minio exited: %v", cmd.ProcessState)
		default:
		}
		resp, err := client.Get("http://" + s.Endpoint + "/minio/health/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	s.Stop()
	return errors.New("minio not ready after 30s")
}

// Stop stops the server (SIGTERM, SIGKILL after 10 s) and waits for it
// to exit. Stopping a stopped server does nothing.
func (s *Server) Stop() {
	s.mu.Lock()
	cmd, exited := s.cmd, s.exited
	s.cmd = nil
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(10 * time.Second):
		cmd.Process.Kill()
		<-exited
	}
}

// Restart starts a stopped server again with the same address and data.
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	s.Stop()
	var err error
	for attempt := 0; attempt < 20; attempt++ { // the port may linger briefly
		if err = s.start(); err == nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("minio did not restart: %v\n%s", err, s.Logs())
}

// Logs returns what the server printed.
func (s *Server) Logs() string { return s.logs.String() }
