//go:build linux

package main

import (
	"context"
	"encoding/json"
	"errors"
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

	"hotline/internal/e2e"
	"hotline/internal/proctest"
	"hotline/records"
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
	u.send(addr, u.inviteMsg(addr, number, callID, 9))
}

// inviteMsg is a new call's INVITE to number at addr, its audio at
// mediaPort: the same bytes each time, as a retransmission is (Call-ID,
// From tag, CSeq and branch from callID).
func (u *doorUA) inviteMsg(addr, number, callID string, mediaPort int) []byte {
	port := u.c.LocalAddr().(*net.UDPAddr).Port
	sdp := fmt.Sprintf("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio %d RTP/AVP 0\r\n", mediaPort)
	return fmt.Appendf(nil, "INVITE sip:%s@%s SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bK%s;rport\r\n"+
		"From: <sip:5550100@127.0.0.1>;tag=t%s\r\nTo: <sip:%s@%s>\r\nCall-ID: %s\r\nCSeq: 1 INVITE\r\n"+
		"Contact: <sip:5550100@127.0.0.1:%d>\r\nMax-Forwards: 70\r\nContent-Type: application/sdp\r\nContent-Length: %d\r\n\r\n%s",
		number, addr, port, callID, callID, number, addr, callID, port, len(sdp), sdp)
}

// send sends a datagram to addr from the UA's socket.
func (u *doorUA) send(addr string, msg []byte) {
	u.t.Helper()
	ua, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		u.t.Fatal(err)
	}
	if _, err := u.c.WriteToUDP(msg, ua); err != nil {
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

// doorCall is what a caller read of one of its calls.
type doorCall struct {
	provisional int            // 1xx to the INVITE
	ok          int            // 2xx to the INVITE (Hotline sends the 200 again until the ACK)
	okTags      map[string]int // their To tags: one dialog, one tag
	answer      *sip.Response  // the first 2xx
	others      []string       // any other final response to the INVITE
	byeStatus   int            // the final response to the BYE
	requests    []string       // requests Hotline sent the caller
}

// doorCaller is a caller's UA (doorUA's socket) that keeps, by Call-ID,
// what it read of each of its calls.
type doorCaller struct {
	*doorUA
	calls map[string]*doorCall
	stray []string // what came for none of its calls
}

// read reads what comes until done holds (nil: for d) or d passes
// (false).
func (c *doorCaller) read(d time.Duration, done func() bool) bool {
	c.t.Helper()
	buf := make([]byte, 65536)
	deadline := time.Now().Add(d)
	for done == nil || !done() {
		_ = c.c.SetReadDeadline(deadline)
		n, err := c.c.Read(buf)
		if ne := (net.Error)(nil); errors.As(err, &ne) && ne.Timeout() {
			return done == nil
		}
		if err != nil {
			c.t.Fatal(err)
		}
		m, err := sip.ParseMessage(append([]byte(nil), buf[:n]...))
		if err != nil {
			c.t.Fatalf("unreadable message: %v\n%s", err, buf[:n])
		}
		call := c.calls[m.CallID().Value()]
		if call == nil {
			line := strings.SplitN(m.String(), "\r\n", 2)[0]
			c.stray = append(c.stray, line+" (Call-ID "+m.CallID().Value()+")")
			continue
		}
		switch m := m.(type) {
		case *sip.Request:
			call.requests = append(call.requests, m.StartLine())
		case *sip.Response:
			switch method := m.CSeq().MethodName; {
			case method == sip.INVITE && m.StatusCode < 200:
				call.provisional++
			case method == sip.INVITE && m.StatusCode < 300:
				call.ok++
				tag, _ := m.To().Params.Get("tag")
				call.okTags[tag]++
				if call.answer == nil {
					call.answer = m
				}
			case method == sip.INVITE:
				tag, _ := m.To().Params.Get("tag")
				call.others = append(call.others, fmt.Sprintf("%d %s (To tag %q)", m.StatusCode, m.Reason, tag))
			case method == sip.BYE && m.StatusCode >= 200:
				call.byeStatus = m.StatusCode
			}
		}
	}
	return true
}

// inDialog is a request of method within the dialog res (a 2xx to the
// INVITE) set up: to its Contact, with its To tag, on a branch of its own.
func (c *doorCaller) inDialog(method, callID string, cseq int, res *sip.Response) []byte {
	c.t.Helper()
	contact := res.Contact()
	if contact == nil {
		c.t.Fatalf("%s: 2xx without a Contact", callID)
	}
	port := c.c.LocalAddr().(*net.UDPAddr).Port
	return fmt.Appendf(nil, "%s %s SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bK%s-%d;rport\r\n"+
		"From: <sip:5550100@127.0.0.1>;tag=t%s\r\nTo: %s\r\nCall-ID: %s\r\nCSeq: %d %s\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
		method, contact.Address.String(), port, callID, cseq, callID, res.To().Value(), callID, cseq, method)
}

// dayFileCalls returns the call records the records file backend holds
// in its day files under dir, by Call-ID: every line written (the
// backend reads a record stored twice once; this does not).
func dayFileCalls(t *testing.T, dir string) map[string][]records.Call {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]records.Call{}
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.SplitAfter(string(raw), "\n")
		for _, l := range lines {
			if !strings.HasSuffix(l, "\n") {
				break // a line being written
			}
			var rec struct {
				Call *records.Call `json:"call"`
			}
			if err := json.Unmarshal([]byte(l), &rec); err != nil {
				t.Fatalf("%s: %v: %q", f, err, l)
			}
			if rec.Call != nil {
				out[rec.Call.CallID] = append(out[rec.Call.CallID], *rec.Call)
			}
		}
	}
	return out
}

// TestE2EDoorProcessAdmitsOnce: with sip.overload.door_process, a call
// whose INVITE its caller sends five times (twice at once, before
// Hotline's 100 Trying; again once a 1xx came; once the 200 came; once
// the ACK went: the same datagram from the same socket each time) is
// one call, as its caller, its agent and its records see it, five calls
// in a row: the agent's phone rings once a call, the caller gets one
// dialog (its 200 may come again until the ACK, with the same To tag)
// and no other final response, Hotline logs the call once, and its
// records hold one call record and one recording a Call-ID.
//
// The door process admits each call (it reads the INVITE socket while
// it runs, and it runs throughout: Hotline then reads the INVITEs only
// through the link), and judges it once: max_cps 1 leaves it one token
// a second (bursts of one), and each call's first INVITE comes more
// than a token's time after the last's, its retransmissions well within
// it, so a retransmission judged as a new call (by the door process, or
// by Hotline's door after it) would find none, and its caller a 503. A retransmission that reached Hotline's call handling as
// a new call would get its caller a 482 while the call lasts, or a
// second dialog, ring the agent again, or leave a second record.
func TestE2EDoorProcessAdmitsOnce(t *testing.T) {
	skipShort(t)
	const (
		calls      = 5
		tokenEvery = 1500 * time.Millisecond // max_cps 1: a token a second, and a margin
	)
	port := freeSIPPort(t)
	addr := "127.0.0.1:" + port
	dir := t.TempDir()
	recordsDir, recordingsDir := filepath.Join(dir, "records"), filepath.Join(dir, "recordings")
	rtpMin, rtpMax := proctest.FreeUDPRange(t, 100)
	p := startProcess(t, fmt.Sprintf(`
sip:
  overload: {door_process: true, max_cps: 1, scheduling_lag: -1ms, socket_backlog: -1, cpu: -1, recorder_drops: -1, max_setups: -1, socket_delay: -1ms}
  listen:
    - {transport: udp, addr: "%s"}
rtp: {ip: 127.0.0.1, port_min: %d, port_max: %d}
queue: {login_on_register: true}
hotlines: [{number: "1900"}]
agents: [{username: alice, password: alice-secret}]
api: {listen: "127.0.0.1:0"}
metrics: {listen: "127.0.0.1:0"}
records:
  backend: file
  flush_interval: 50ms
  spool_dir: %s
  state_dir: %s
  file: {dir: %s}
recording:
  spool_dir: %s
  file: {dir: %s}
`, addr, rtpMin, rtpMax, filepath.Join(dir, "records-spool"), filepath.Join(dir, "state"), recordsDir,
		filepath.Join(dir, "spool"), recordingsDir))
	metricsAddr := p.logAttr(t, "metrics listening", "addr")
	doorPID, err := strconv.Atoi(p.logAttr(t, "door process started", "pid"))
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "the door process reading the INVITE socket", func() bool {
		return strings.Contains(p.logs.String(), "door process reading new INVITEs")
	})
	doorRuns := func(when string) {
		t.Helper()
		if st := processState(doorPID); st == "" || st == "Z" {
			t.Fatalf("%s: door process %d not running (state %q)", when, doorPID, st)
		}
		if l := p.logs.String(); strings.Contains(l, "door process exited") || strings.Contains(l, "door process link failed") {
			t.Fatalf("%s: Hotline reads the INVITE socket itself (the door process exited or its link failed)", when)
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// She answers 300 ms after her phone rings (answered at once, baresip
	// reports no CALL_INCOMING).
	agent := e2e.StartBaresip(t, e2e.BaresipOptions{User: "alice", Password: "alice-secret", Registrar: addr, ToneHz: agentHz,
		AutoAnswer: true, AnswerDelay: 300 * time.Millisecond})
	if err := agent.WaitRegistered(ctx); err != nil {
		t.Fatal(err)
	}
	// rang is how often her phone rang, and how many calls (INVITEs from
	// Hotline) it had.
	rang := func() (int, int) {
		n, ids := 0, map[string]bool{}
		for _, ev := range agent.Events() {
			if ev.Type == e2e.EventCallIncoming {
				n++
			}
			if ev.Class == "call" && ev.ID != "" {
				ids[ev.ID] = true
			}
		}
		return n, len(ids)
	}

	media := e2e.NewUDPRecorder(t)
	caller := &doorCaller{doorUA: newDoorUA(t), calls: map[string]*doorCall{}}
	var ids []string
	var lastInvite time.Time
	for i := 1; i <= calls; i++ {
		doorRuns(fmt.Sprintf("before call %d", i))
		if w := time.Until(lastInvite.Add(tokenEvery)); w > 0 {
			time.Sleep(w) // the door process's max_cps token is back
		}
		id := fmt.Sprintf("door-once-%d-%d-%d", os.Getpid(), time.Now().UnixNano(), i)
		ids = append(ids, id)
		call := &doorCall{okTags: map[string]int{}}
		caller.calls[id] = call
		invite := caller.inviteMsg(addr, "1900", id, media.Port())
		failf := func(format string, args ...any) {
			t.Helper()
			t.Fatalf("call %d (%s): %s; read: %+v", i, id, fmt.Sprintf(format, args...), *call)
		}

		lastInvite = time.Now()
		caller.send(addr, invite)
		caller.send(addr, invite) // at once: before Hotline's 100
		if !caller.read(10*time.Second, func() bool { return call.provisional > 0 || call.ok > 0 || len(call.others) > 0 }) {
			failf("no response to the INVITE in 10 s")
		}
		if call.provisional == 0 || len(call.others) != 0 {
			failf("a final response before any 1xx, or one other than a 2xx")
		}
		caller.send(addr, invite) // once a 1xx came
		if !caller.read(15*time.Second, func() bool { return call.ok > 0 || len(call.others) > 0 }) {
			failf("no final response in 15 s")
		}
		if call.ok == 0 || len(call.others) != 0 {
			failf("a final response other than a 2xx")
		}
		answered := time.Since(lastInvite)
		caller.send(addr, invite) // once the 200 came
		caller.send(addr, caller.inDialog("ACK", id, 1, call.answer))
		caller.send(addr, invite) // once the ACK went
		if _, err := agent.WaitEvent(ctx, e2e.EventCallEstablished); err != nil {
			failf("the agent never had the call: %v", err)
		}
		caller.read(time.Second, nil) // talking
		caller.send(addr, caller.inDialog("BYE", id, 2, call.answer))
		if !caller.read(10*time.Second, func() bool { return call.byeStatus != 0 }) {
			failf("no answer to the BYE in 10 s")
		}
		if _, err := agent.WaitEvent(ctx, e2e.EventCallClosed); err != nil {
			failf("the agent's leg was not torn down: %v", err)
		}
		caller.read(time.Second, nil) // whatever comes late

		if call.byeStatus != 200 {
			failf("BYE answered %d", call.byeStatus)
		}
		if len(call.okTags) != 1 || len(call.others) != 0 {
			failf("%d dialogs (To tags %v) and other final responses %v, want one dialog and nothing else", len(call.okTags), call.okTags, call.others)
		}
		if len(call.requests) != 0 {
			failf("Hotline sent the caller %v", call.requests)
		}
		if n, legs := rang(); n != i || legs != i {
			failf("the agent's phone rang %d times (%d calls) in %d calls", n, legs, i)
		}
		t.Logf("call %d: answered after %s, %d 1xx, %d 2xx (one To tag)", i, answered.Round(time.Millisecond), call.provisional, call.ok)
	}
	doorRuns("after the calls")

	// Nothing rings the agent later (a second call with a Call-ID would
	// have waited in the queue for her).
	time.Sleep(time.Second)
	caller.read(100*time.Millisecond, nil)
	if n, legs := rang(); n != calls || legs != calls {
		t.Errorf("the agent's phone rang %d times (%d calls) for %d calls", n, legs, calls)
	}
	if len(caller.stray) != 0 {
		t.Errorf("the caller read messages of no call of its: %v", caller.stray)
	}
	for i, id := range ids {
		if c := caller.calls[id]; len(c.okTags) != 1 || len(c.others) != 0 || len(c.requests) != 0 {
			t.Errorf("call %d (%s) by the end: To tags %v, other final responses %v, requests %v", i+1, id, c.okTags, c.others, c.requests)
		}
	}

	// Hotline's records: one call record a Call-ID, answered by alice;
	// one recording a Call-ID.
	var recs map[string][]records.Call
	waitFor(t, 15*time.Second, "every call's record", func() bool {
		recs = dayFileCalls(t, recordsDir)
		for _, id := range ids {
			if len(recs[id]) == 0 {
				return false
			}
		}
		return true
	})
	var stored []string
	waitFor(t, 15*time.Second, "every call's recording", func() bool {
		stored = storedFiles(t, recordingsDir)
		return len(stored) >= calls
	})
	time.Sleep(500 * time.Millisecond) // a second record or recording would come as soon
	recs, stored = dayFileCalls(t, recordsDir), storedFiles(t, recordingsDir)
	if len(recs) != calls {
		t.Errorf("records of %d Call-IDs, want %d: %v", len(recs), calls, recs)
	}
	recorded := map[string]int{}
	for _, wav := range stored {
		recorded[readRecord(t, wav).CallID]++
	}
	logs := p.logs.String()
	handled, storedLog := map[string]int{}, map[string]int{}
	for _, r := range logLines(logs, "incoming call") {
		handled[r["call_id"]]++
	}
	for _, r := range logLines(logs, "recording stored") {
		storedLog[r["call_id"]]++
	}
	for i, id := range ids {
		if rs := recs[id]; len(rs) != 1 || rs[0].Outcome != "answered" || rs[0].Agent != "alice" {
			t.Errorf("call %d (%s): call records %+v, want one, answered by alice", i+1, id, rs)
		}
		if recorded[id] != 1 || storedLog[id] != 1 {
			t.Errorf("call %d (%s): %d recordings stored, %d logged stored, want 1", i+1, id, recorded[id], storedLog[id])
		}
		if handled[id] != 1 {
			t.Errorf("call %d (%s): Hotline logged %d incoming calls, want 1", i+1, id, handled[id])
		}
	}
	if len(stored) != calls || len(handled) != calls {
		t.Errorf("%d recordings and %d incoming calls logged for %d calls", len(stored), len(handled), calls)
	}
	if n := metricSum(t, metricsAddr, "hotline_calls_refused_total", nil); n != 0 {
		t.Errorf("hotline_calls_refused_total = %v, want 0: a call refused", n)
	}
	p.stop(t)
}
