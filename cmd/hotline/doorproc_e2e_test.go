//go:build linux

package main

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"hotline/internal/proctest"
)

// doorUA sends raw INVITEs over UDP and reads the responses.
type doorUA struct {
	t *testing.T
	c *net.UDPConn
}

func newDoorUA(t *testing.T) *doorUA {
	t.Helper()
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return &doorUA{t: t, c: c}
}

// invite sends a new call's INVITE to number at addr.
func (u *doorUA) invite(addr, number, callID string) {
	u.t.Helper()
	port := u.c.LocalAddr().(*net.UDPAddr).Port
	sdp := "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 9 RTP/AVP 0\r\n"
	msg := fmt.Sprintf("INVITE sip:%s@%s SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bK%s;rport\r\n"+
		"From: <sip:5550100@127.0.0.1>;tag=t%s\r\nTo: <sip:%s@%s>\r\nCall-ID: %s\r\nCSeq: 1 INVITE\r\n"+
		"Contact: <sip:5550100@127.0.0.1:%d>\r\nMax-Forwards: 70\r\nContent-Type: application/sdp\r\nContent-Length: %d\r\n\r\n%s",
		number, addr, port, callID, callID, number, addr, callID, port, len(sdp), sdp)
	ua, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		u.t.Fatal(err)
	}
	if _, err := u.c.WriteToUDP([]byte(msg), ua); err != nil {
		u.t.Fatal(err)
	}
}

// final returns the next final response to callID within d (nil: none).
func (u *doorUA) final(callID string, d time.Duration) *sip.Response {
	u.t.Helper()
	buf := make([]byte, 65536)
	deadline := time.Now().Add(d)
	for {
		_ = u.c.SetReadDeadline(deadline)
		n, err := u.c.Read(buf)
		if err != nil {
			return nil
		}
		m, err := sip.ParseMessage(append([]byte(nil), buf[:n]...))
		if err != nil {
			u.t.Fatalf("unreadable message: %v\n%s", err, buf[:n])
		}
		if res, ok := m.(*sip.Response); ok && res.StatusCode >= 200 && res.CallID().Value() == callID {
			return res
		}
	}
}

// processState is the state letter of /proc/<pid>/stat ("" once gone).
func processState(pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return ""
	}
	s := string(b)
	if i := strings.LastIndexByte(s, ')'); i >= 0 && i+2 < len(s) {
		return s[i+2 : i+3]
	}
	return ""
}

// TestE2EDoorProcessAnswersWhileHotlineIsStopped: with
// sip.overload.door_process, new callers get their 503 at once even
// while Hotline's own process gets no CPU at all (here: stopped with
// SIGSTOP; a long garbage collection or a starved machine look the same
// from outside). The INVITE that came first and waited is not lost: once
// Hotline runs again it answers it. The refusals count in Hotline's
// metrics. Should the door process die, Hotline reads the socket
// itself: calls are answered as without it.
func TestE2EDoorProcessAnswersWhileHotlineIsStopped(t *testing.T) {
	skipShort(t)
	port := freeSIPPort(t)
	addr := "127.0.0.1:" + port
	dir := t.TempDir()
	rtpMin, rtpMax := proctest.FreeUDPRange(t, 100)
	p := startProcess(t, fmt.Sprintf(`
sip:
  overload: {door_process: true, scheduling_lag: -1ms, socket_backlog: -1, cpu: -1, recorder_drops: -1, max_setups: -1, rtp_delay: -1ms, socket_delay: 50ms, interval: 100ms, retry_after: 4s}
  listen:
    - {transport: udp, addr: "%s"}
rtp: {ip: 127.0.0.1, port_min: %d, port_max: %d}
hotlines: [{number: "1900"}]
agents: [{username: alice, password: alice-secret}]
metrics: {listen: "127.0.0.1:0"}
recording:
  spool_dir: %s
  file: {dir: %s}
`, addr, rtpMin, rtpMax, filepath.Join(dir, "spool"), filepath.Join(dir, "recordings")))
	metricsAddr := p.logAttr(t, "metrics listening", "addr")
	doorPID, err := strconv.Atoi(p.logAttr(t, "door process started", "pid"))
	if err != nil {
		t.Fatal(err)
	}
	// Its own log line reaches Hotline's log.
	waitFor(t, 5*time.Second, "the door process's log line", func() bool {
		return strings.Contains(p.logs.String(), "door process reading new INVITEs")
	})
	if st := processState(doorPID); st == "" || st == "Z" {
		t.Fatalf("door process %d not running (state %q)", doorPID, st)
	}

	u := newDoorUA(t)
	// Hotline running: an unknown number is answered by Hotline (404).
	u.invite(addr, "1999", "door-e2e-0")
	if res := u.final("door-e2e-0", 5*time.Second); res == nil || res.StatusCode != 404 {
		t.Fatalf("INVITE to an unknown number: %v, want Hotline's 404", res)
	}

	// Hotline stopped.
	hotline := p.cmd.Process.Pid
	if err := syscall.Kill(hotline, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = syscall.Kill(hotline, syscall.SIGCONT) })
	waitFor(t, 5*time.Second, "Hotline stopped", func() bool { return processState(hotline) == "T" })
	u.invite(addr, "1999", "door-e2e-1") // passed on to Hotline, which does not read it
	time.Sleep(300 * time.Millisecond)   // socket_delay and an interval, twice
	t0 := time.Now()
	u.invite(addr, "1900", "door-e2e-2")
	res := u.final("door-e2e-2", 5*time.Second)
	took := time.Since(t0)
	if res == nil {
		t.Fatal("new call while Hotline is stopped: no answer in 5 s, want the door process's 503")
	}
	tag, _ := res.To().Params.Get("tag")
	if res.StatusCode != 503 || res.GetHeader("Retry-After") == nil || res.GetHeader("Retry-After").Value() != "4" || !strings.HasPrefix(tag, "hl503") {
		t.Fatalf("new call while Hotline is stopped: %d %s (To tag %q, Retry-After %v), want the door's 503 with Retry-After 4",
			res.StatusCode, res.Reason, tag, res.GetHeader("Retry-After"))
	}
	if st := processState(hotline); st != "T" {
		t.Fatalf("Hotline's state %q when the 503 came, want stopped (T): the 503 must be the door process's", st)
	}
	t.Logf("503 after %s with Hotline stopped", took)

	// Hotline runs again: the INVITE that waited is answered, and the
	// refusal is in its metrics.
	if err := syscall.Kill(hotline, syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	if res := u.final("door-e2e-1", 5*time.Second); res == nil || res.StatusCode != 404 {
		t.Fatalf("the INVITE that waited while Hotline was stopped: %v, want Hotline's 404 once it runs", res)
	}
	waitFor(t, 5*time.Second, "the door's refusal in the metrics", func() bool {
		return metricSum(t, metricsAddr, "hotline_calls_refused_total", map[string]string{"reason": "socket_delay"}) == 1
	})
	waitFor(t, 5*time.Second, "the door's log of the refusals", func() bool {
		return strings.Contains(p.logs.String(), "overloaded: new calls are refused") && strings.Contains(p.logs.String(), "component=door")
	})

	// The door process killed: Hotline reads the socket itself.
	if err := syscall.Kill(doorPID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "Hotline to notice", func() bool {
		return strings.Contains(p.logs.String(), "door process exited")
	})
	u.invite(addr, "1999", "door-e2e-3")
	if res := u.final("door-e2e-3", 5*time.Second); res == nil || res.StatusCode != 404 {
		t.Fatalf("INVITE once the door process died: %v, want Hotline's 404", res)
	}
	p.stop(t)
}

// TestE2EDoorProcessDiesWithHotline: a Hotline that crashes leaves no
// door process holding its port.
func TestE2EDoorProcessDiesWithHotline(t *testing.T) {
	skipShort(t)
	port := freeSIPPort(t)
	dir := t.TempDir()
	rtpMin, rtpMax := proctest.FreeUDPRange(t, 100)
	p := startProcess(t, fmt.Sprintf(`
sip:
  overload: {door_process: true}
  listen:
    - {transport: udp, addr: "127.0.0.1:%s"}
rtp: {ip: 127.0.0.1, port_min: %d, port_max: %d}
hotlines: [{number: "1900"}]
recording:
  spool_dir: %s
  file: {dir: %s}
`, port, rtpMin, rtpMax, filepath.Join(dir, "spool"), filepath.Join(dir, "recordings")))
	doorPID, err := strconv.Atoi(p.logAttr(t, "door process started", "pid"))
	if err != nil {
		t.Fatal(err)
	}
	p.kill(t)
	waitFor(t, 5*time.Second, "the door process to end with Hotline", func() bool {
		st := processState(doorPID)
		return st == "" || st == "Z"
	})
	// The port is free again.
	c, err := net.ListenPacket("udp", "127.0.0.1:"+port)
	if err != nil {
		t.Fatalf("SIP port still taken after Hotline died: %v", err)
	}
	_ = c.Close()
}
