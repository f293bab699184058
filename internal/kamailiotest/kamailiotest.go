// Package kamailiotest runs the shipped Kamailio edge
// (deploy/kamailio/kamailio.cfg, that very file) on the loopback interface
// for tests: Start writes a dispatcher list of the given Hotline nodes,
// starts kamailio in the foreground on a free 127.0.0.1 UDP port with its
// runtime files in a temporary directory, waits until it answers OPTIONS
// and stops it by PID when the test ends. Restart and Kill simulate the
// "Kamailio restarts" fault.
package kamailiotest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"hotline/internal/probe"
	"hotline/internal/proctest"
)

// DebianPackage provides kamailio and every module the shipped
// configuration loads (dispatcher, path, rr, tm, ctl, ...).
const DebianPackage = "kamailio"

// Options parameterise the edge.
type Options struct {
	// Nodes are the Hotline nodes' SIP addresses (host:port, UDP).
	Nodes []string
	// Defines are extra pre-processor defines (kamailio -A NAME=value),
	// e.g. PING_INTERVAL; string values must carry their quotes.
	Defines map[string]string
}

// Edge is a running (or stopped) Kamailio.
type Edge struct {
	// Addr is the UDP address Kamailio listens on (127.0.0.1:port).
	Addr string
	// Dir holds the dispatcher list and the runtime files.
	Dir string

	bin, kamcmd, cfg string
	opts             Options
	logs             *proctest.Buffer
	cur              proctest.Current
}

// ConfigPath is the path of deploy/kamailio/kamailio.cfg in this source tree.
func ConfigPath() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "deploy", "kamailio", "kamailio.cfg")
}

// Start starts Kamailio with the shipped configuration in front of
// opts.Nodes and stops it when t ends. A missing kamailio fails the test
// (naming the package): it is never skipped.
func Start(t testing.TB, opts Options) *Edge {
	t.Helper()
	bin, err := lookKamailio("kamailio")
	if err != nil {
		t.Fatal(err)
	}
	kamcmd, err := lookKamailio("kamcmd")
	if err != nil {
		t.Fatal(err)
	}
	e := &Edge{bin: bin, kamcmd: kamcmd, cfg: ConfigPath(), opts: opts, Dir: t.TempDir(), logs: &proctest.Buffer{}}
	if err := e.writeList(opts.Nodes); err != nil {
		t.Fatal(err)
	}
	var last error
	for attempt := 0; attempt < 3; attempt++ { // a free port may be taken meanwhile
		e.Addr = "127.0.0.1:" + strconv.Itoa(proctest.FreeUDPPort(t))
		if last = e.start(); last == nil {
			t.Cleanup(e.Stop)
			return e
		}
	}
	t.Fatalf("kamailio did not start: %v\n%s", last, e.Logs())
	return nil
}

// lookKamailio finds kamailio or kamcmd in PATH or /usr/sbin (where
// Debian installs them, not always in a user's PATH).
func lookKamailio(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	p := filepath.Join("/usr/sbin", name)
	if st, err := os.Stat(p); err == nil && !st.IsDir() {
		return p, nil
	}
	return proctest.LookPath(name, DebianPackage)
}

func (e *Edge) listPath() string  { return filepath.Join(e.Dir, "dispatcher.list") }
func (e *Edge) ctlSocket() string { return "unix:" + filepath.Join(e.Dir, "ctl.sock") }

func (e *Edge) writeList(nodes []string) error {
	var b strings.Builder
	for _, n := range nodes {
		fmt.Fprintf(&b, "1 sip:%s 8 0\n", n)
	}
	return os.WriteFile(e.listPath(), []byte(b.String()), 0o644)
}

func (e *Edge) start() error {
	args := []string{
		"-f", e.cfg,
		"-DD", "-E", // foreground, log to stderr
		"-Y", e.Dir, // runtime directory
		"-P", filepath.Join(e.Dir, "kamailio.pid"),
		"-w", e.Dir,
		"-m", "64", "-M", "8",
		"-A", "LISTEN=udp:" + e.Addr,
		"-A", `DISPATCHER_LIST="` + e.listPath() + `"`,
		"-A", `CTL_SOCKET="` + e.ctlSocket() + `"`,
		"-A", "CHILDREN=2",
	}
	for k, v := range e.opts.Defines {
		args = append(args, "-A", k+"="+v)
	}
	cmd := exec.Command(e.bin, args...)
	cmd.Dir = e.Dir
	p, err := proctest.Start(cmd, e.logs)
	if err != nil {
		return err
	}
	if err := p.WaitReady(15*time.Second, func() error { return probe.SIPOptions(e.Addr) }); err != nil {
		p.Stop(5 * time.Second)
		return err
	}
	e.cur.Set(p)
	return nil
}

// Stop stops Kamailio (SIGTERM, SIGKILL after 5 s). Stopping a stopped
// edge does nothing.
func (e *Edge) Stop() {
	e.cur.Stop(5 * time.Second)
}

// Kill kills Kamailio's main process with SIGKILL, as a crash would (its
// children follow it).
func (e *Edge) Kill() {
	e.cur.Kill()
}

// Restart stops Kamailio if it runs and starts it again on the same
// address with the same nodes.
func (e *Edge) Restart(t testing.TB) {
	t.Helper()
	e.Stop()
	proctest.Restart(t, "kamailio", e.start, e.Logs)
}

// SetNodes rewrites the dispatcher list and makes the running Kamailio
// reload it (kamcmd dispatcher.reload), as an operator adding or removing
// a node does.
func (e *Edge) SetNodes(nodes []string) error {
	e.opts.Nodes = nodes
	if err := e.writeList(nodes); err != nil {
		return err
	}
	return e.Command("dispatcher.reload")
}

// Command runs a kamcmd command against the running Kamailio.
func (e *Edge) Command(args ...string) error {
	_, err := e.Output(args...)
	return err
}

// Output runs a kamcmd command and returns what it printed.
func (e *Edge) Output(args ...string) (string, error) {
	out, err := exec.Command(e.kamcmd, append([]string{"-s", e.ctlSocket()}, args...)...).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("kamcmd %s: %w: %s", strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

// Logs returns what Kamailio printed.
func (e *Edge) Logs() string { return e.logs.String() }
