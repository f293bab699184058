package main

import (
	"bufio"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"hotline/internal/e2e"
	"hotline/internal/proctest"
	hsip "hotline/sip"
)

// TestMain lets the test binary act as the hotline command, so tests can
// run it as a real process (signals, exit codes).
func TestMain(m *testing.M) {
	if hsip.IsDoorProcess() { // a Hotline run by a test started it (sip.overload.door_process)
		os.Exit(hsip.RunDoorProcess())
	}
	if os.Getenv("HOTLINE_TEST_AS_MAIN") == "1" {
		os.Exit(run(strings.Fields(os.Getenv("HOTLINE_TEST_ARGS")), stdio{in: os.Stdin, out: os.Stdout, err: os.Stderr}))
	}
	os.Exit(m.Run())
}

// hotlineProcess runs Hotline as a child process with a config file.
type hotlineProcess struct {
	cmd  *exec.Cmd
	logs *syncBuffer
	done chan error
	// config is the configuration file it runs on.
	config string
}

// processWorkDir is the working directory of a Hotline process started
// by a test: what the configuration leaves at its defaults (data/records,
// data/state, ...) lands there, never in the package directory shared by
// every test. The same test starting the same configuration again (a
// restart) gets the same directory, so what the first process kept is
// there for the second; processes of other tests, or with another
// configuration (the nodes of a cluster), get their own.
func processWorkDir(t *testing.T, configYAML string) string {
	t.Helper()
	sum := sha256.Sum256([]byte(configYAML))
	name := strings.Map(func(r rune) rune {
		if r == '/' || r == os.PathSeparator || r == ' ' {
			return '_'
		}
		return r
	}, t.Name())
	dir := filepath.Join(os.TempDir(), fmt.Sprintf("hotline-e2e-%d-%s-%x", os.Getpid(), name, sum[:6]))
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	return dir
}

// processConfig is the configuration startProcess runs: overload
// control off unless the test set it up.
func processConfig(configYAML string) string {
	if !strings.Contains(configYAML, "\nsip:\n  overload:") {
		configYAML = strings.Replace(configYAML, "\nsip:\n", processOverloadOff, 1)
	}
	return configYAML
}

func startProcess(t *testing.T, configYAML string) *hotlineProcess {
	t.Helper()
	if !strings.Contains(configYAML, "\nsip:\n") {
		t.Fatal("startProcess: the configuration needs a sip: section (processOverloadOff goes there)")
	}
	path := filepath.Join(t.TempDir(), "hotline.yaml")
	configYAML = processConfig(configYAML)
	if err := os.WriteFile(path, []byte(configYAML), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "HOTLINE_TEST_AS_MAIN=1", "HOTLINE_TEST_ARGS=-config "+path)
	cmd.Dir = processWorkDir(t, configYAML)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &hotlineProcess{cmd: cmd, logs: &syncBuffer{}, done: make(chan error, 1), config: path}
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stderr)
		signalled := false
		for sc.Scan() {
			line := sc.Text()
			fmt.Fprintln(p.logs, line)
			if !signalled && strings.Contains(line, "hotline ready") {
				signalled = true
				close(ready)
			}
		}
		_, _ = io.Copy(io.Discard, stderr)
		p.done <- cmd.Wait()
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		if t.Failed() {
			t.Logf("hotline process log:\n%s", tail(p.logs.String(), 80))
		}
	})
	select {
	case <-ready:
	case <-time.After(10 * time.Second):
		t.Fatalf("hotline did not start:\n%s", p.logs.String())
	}
	return p
}

// logAttr returns the value of attribute attr of the first log line with
// message msg (text log format).
func (p *hotlineProcess) logAttr(t *testing.T, msg, attr string) string {
	t.Helper()
	for _, line := range strings.Split(p.logs.String(), "\n") {
		if !strings.Contains(line, "msg=\""+msg+"\"") {
			continue
		}
		for _, f := range strings.Fields(line) {
			if v, ok := strings.CutPrefix(f, attr+"="); ok {
				return v
			}
		}
	}
	t.Fatalf("no log line %q with %s=", msg, attr)
	return ""
}

// kill ends the process with SIGKILL (a crash: nothing is cleaned up)
// and waits for it to exit.
func (p *hotlineProcess) kill(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-p.done:
		t.Logf("hotline killed: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("hotline still running 10 s after SIGKILL")
	}
}

// stop sends SIGTERM and checks that the process exits 0.
func (p *hotlineProcess) stop(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-p.done:
		if err != nil {
			t.Errorf("hotline exited with %v after SIGTERM, want 0", err)
		}
	case <-time.After(15 * time.Second):
		t.Error("hotline did not exit after SIGTERM")
	}
}

// TestE2ESIGTERMDrains: on SIGTERM a running Hotline refuses new calls with
// 503 and Retry-After, answers /healthz 503 "draining", lets the call in
// progress finish, then exits 0.
func TestE2ESIGTERMDrains(t *testing.T) {
	skipShort(t)
	port := freeSIPPort(t)
	addr := "127.0.0.1:" + port
	dir := t.TempDir()
	rtpMin, rtpMax := proctest.FreeUDPRange(t, 200)
	p := startProcess(t, fmt.Sprintf(`
sip:
  listen:
    - {transport: udp, addr: "%s"}
  drain_timeout: 30s
  retry_after: 7s
rtp: {ip: 127.0.0.1, port_min: %d, port_max: %d}
queue: {login_on_register: true}
hotlines: [{number: "1900"}]
agents: [{username: alice, password: alice-secret}]
api: {listen: "127.0.0.1:0"}
metrics: {listen: "127.0.0.1:0"}
recording:
  spool_dir: %s
  file: {dir: %s}
`, addr, rtpMin, rtpMax, filepath.Join(dir, "spool"), filepath.Join(dir, "recordings")))
	agent := e2e.StartBaresip(t, e2e.BaresipOptions{User: "alice", Password: "alice-secret", Registrar: addr, ToneHz: agentHz, Record: true, AutoAnswer: true})
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	if err := agent.WaitRegistered(ctx); err != nil {
		t.Fatal(err)
	}
	caller := e2e.StartSIPp(t, e2e.SIPpOptions{
		Target:   addr,
		Service:  "1900",
		Scenario: e2e.UACPlayPCAP(tonePCAP(t, 4*time.Second), 5*time.Second),
	})
	if _, err := agent.WaitEvent(ctx, e2e.EventCallEstablished); err != nil {
		t.Fatalf("call not established: %v", err)
	}
	health := "http://" + p.logAttr(t, "API listening", "addr") + "/healthz"
	if code := httpJSON(t, "GET", health, "", nil); code != 200 {
		t.Fatalf("GET /healthz before SIGTERM: %d, want 200", code)
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "drain to start", func() bool { return strings.Contains(p.logs.String(), "draining") })
	var h struct{ Status string }
	if code := httpJSON(t, "GET", health, "", &h); code != 503 || h.Status != "draining" {
		t.Errorf("GET /healthz while draining: %d %q, want 503 draining", code, h.Status)
	}

	// A new call during the drain: 503 with Retry-After.
	res := inviteOnce(t, ctx, addr)
	if res.StatusCode != 503 {
		t.Fatalf("new call during drain got %d %s, want 503", res.StatusCode, res.Reason)
	}
	if h := res.GetHeader("Retry-After"); h == nil || h.Value() != "7" {
		t.Fatalf("503 without Retry-After: 7 (%v)", h)
	}
	select {
	case err := <-p.done:
		t.Fatalf("hotline exited before the call in progress ended: %v", err)
	default:
	}

	// The call in progress carries on to its normal end.
	cres, err := caller.Wait(ctx)
	if err != nil {
		t.Fatal(err)
	}
	cres.RequireCalls(t, 1, 0)
	if tone, active := heard(t, agent); tone != callerHz || active < 3*time.Second {
		t.Errorf("agent heard %v Hz for %s across the SIGTERM, want the whole call", tone, active)
	}
	select {
	case err := <-p.done:
		if err != nil {
			t.Fatalf("hotline exited with %v, want 0", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("hotline did not exit after its last call ended")
	}
}

// inviteOnce sends one INVITE with a PCMU offer and returns the final response.
func inviteOnce(t *testing.T, ctx context.Context, addr string) *sip.Response {
	t.Helper()
	ua, err := sipgo.NewUA(sipgo.WithUserAgent("drain-test"))
	if err != nil {
		t.Fatal(err)
	}
	defer ua.Close()
	client, err := sipgo.NewClient(ua, sipgo.WithClientHostname("127.0.0.1"))
	if err != nil {
		t.Fatal(err)
	}
	host, port, _ := strings.Cut(addr, ":")
	var pn int
	fmt.Sscan(port, &pn)
	req := sip.NewRequest(sip.INVITE, sip.Uri{Scheme: "sip", User: "1900", Host: host, Port: pn})
	req.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	req.AppendHeader(&sip.ContactHeader{Address: sip.Uri{Scheme: "sip", User: "t", Host: "127.0.0.1", Port: 9}})
	req.SetBody([]byte("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 9 RTP/AVP 0\r\n"))
	rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	res, err := client.Do(rctx, req)
	if err != nil {
		t.Fatalf("INVITE: %v", err)
	}
	return res
}
