package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// child is a process the benchmark started.
type child struct {
	name    string
	cmd     *exec.Cmd
	exited  chan struct{}
	logPath string
	logFile *os.File
	stdin   io.Closer
}

// PID is the child's process id.
func (c *child) PID() int { return c.cmd.Process.Pid }

// alive reports whether the child is still running.
func (c *child) alive() bool {
	select {
	case <-c.exited:
		return false
	default:
		return true
	}
}

// stop sends SIGTERM, then SIGKILL after grace, and waits for the exit.
func (c *child) stop(grace time.Duration) {
	if c.stdin != nil {
		_ = c.stdin.Close()
	}
	if c.alive() {
		_ = c.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-c.exited:
		case <-time.After(grace):
			_ = c.cmd.Process.Kill()
			<-c.exited
		}
	}
	if c.logFile != nil {
		_ = c.logFile.Close()
	}
}

// logTail returns the end of the child's log.
func (c *child) logTail(n int) string {
	data, err := os.ReadFile(c.logPath)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// procs tracks the children so that every one is stopped, by PID, however
// the benchmark ends.
type procs struct {
	mu   sync.Mutex
	list []*child
}

// start starts cmd with its output in logPath; the child is killed if
// this process dies (Pdeathsig).
func (p *procs) start(name string, cmd *exec.Cmd, logPath string) (*child, error) {
	f, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	if cmd.Stdout == nil { // StdoutPipe sets it
		cmd.Stdout = f
	}
	cmd.Stderr = f
	dieWithParent(cmd)
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	c := &child{name: name, cmd: cmd, exited: make(chan struct{}), logPath: logPath, logFile: f}
	go func() {
		_ = cmd.Wait()
		close(c.exited)
	}()
	p.mu.Lock()
	p.list = append(p.list, c)
	p.mu.Unlock()
	return c, nil
}

// stopAll stops every child still running, newest first.
func (p *procs) stopAll() {
	p.mu.Lock()
	list := p.list
	p.list = nil
	p.mu.Unlock()
	for i := len(list) - 1; i >= 0; i-- {
		list[i].stop(10 * time.Second)
	}
}

// freeTCPPort and freeUDPPort return a loopback port that was free a moment ago.
func freeTCPPort() (int, error) {
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func freeUDPPort() (int, error) {
	c, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port, nil
}

// waitHTTP polls url until it answers 200, the child exits or bound passes.
func waitHTTP(ctx context.Context, url string, c *child, bound time.Duration) error {
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(bound)
	for time.Now().Before(deadline) {
		if !c.alive() {
			return fmt.Errorf("%s exited: %s", c.name, c.logTail(20))
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		resp, err := client.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("%s not ready after %s: %s", c.name, bound, c.logTail(20))
}

// minioBinary finds minio in PATH or $(go env GOPATH)/bin.
func minioBinary() (string, error) {
	if p, err := exec.LookPath("minio"); err == nil {
		return p, nil
	}
	var dirs []string
	if out, err := exec.Command("go", "env", "GOPATH").Output(); err == nil {
		dirs = filepath.SplitList(strings.TrimSpace(string(out)))
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
	return "", errors.New("minio not found in PATH nor in $(go env GOPATH)/bin (make deps installs it)")
}

// MinIO credentials of the benchmark's throw-away server.
const (
	minioUser   = "hotline-bench"
	minioSecret = "hotline-bench-secret"
)

// startMinIO starts a MinIO server on a free loopback port with its data in dir.
func startMinIO(ctx context.Context, pr *procs, dir string) (*child, string, error) {
	bin, err := minioBinary()
	if err != nil {
		return nil, "", err
	}
	port, err := freeTCPPort()
	if err != nil {
		return nil, "", err
	}
	console, err := freeTCPPort()
	if err != nil {
		return nil, "", err
	}
	endpoint := fmt.Sprintf("127.0.0.1:%d", port)
	cmd := exec.Command(bin, "server", "--quiet", "--address", endpoint,
		"--console-address", fmt.Sprintf("127.0.0.1:%d", console), filepath.Join(dir, "data"))
	cmd.Env = append(os.Environ(), "MINIO_ROOT_USER="+minioUser, "MINIO_ROOT_PASSWORD="+minioSecret,
		"MINIO_BROWSER=off", "MINIO_UPDATE=off")
	c, err := pr.start("minio", cmd, filepath.Join(dir, "minio.log"))
	if err != nil {
		return nil, "", err
	}
	if err := waitHTTP(ctx, "http://"+endpoint+"/minio/health/ready", c, 60*time.Second); err != nil {
		c.stop(5 * time.Second)
		return nil, "", err
	}
	return c, endpoint, nil
}
