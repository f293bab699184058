package main

// Fault end-to-end tests with real peers (issue 7): softphones and callers
// that vanish mid-call, agents whose leg cannot be set up, overload, the
// CRM down, a full spool disk, and a crash under load. Recording-store
// faults are in recording_faults_test.go.

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"hotline/api"
	"hotline/callflow"
	"hotline/internal/e2e"
	"hotline/internal/miniotest"
	"hotline/recording"
	"hotline/routing/acd"
	"hotline/routing/config"
	"hotline/routing/directory"
)

// logRecord parses one line of Hotline's text log (slog's key=value
// format, values quoted when they hold spaces or quotes).
func logRecord(line string) map[string]string {
	out := map[string]string{}
	for s := strings.TrimSpace(line); s != ""; s = strings.TrimLeft(s, " ") {
		eq := strings.IndexByte(s, '=')
		if eq <= 0 {
			break
		}
		key := s[:eq]
		s = s[eq+1:]
		if strings.HasPrefix(s, `"`) {
			q, err := strconv.QuotedPrefix(s)
			if err != nil {
				break
			}
			v, _ := strconv.Unquote(q)
			out[key] = v
			s = s[len(q):]
			continue
		}
		end := strings.IndexByte(s, ' ')
		if end < 0 {
			end = len(s)
		}
		out[key] = s[:end]
		s = s[end:]
	}
	return out
}

// callEnded returns the attributes of the "call ended" log line of the
// call callID (nil while there is none).
func callEnded(logs, callID string) map[string]string {
	for _, l := range strings.Split(logs, "\n") {
		if r := logRecord(l); r["msg"] == "call ended" && r["call_id"] == callID {
			return r
		}
	}
	return nil
}

// logLines returns the log lines with message msg.
func logLines(logs, msg string) []map[string]string {
	var out []map[string]string
	for _, l := range strings.Split(logs, "\n") {
		if r := logRecord(l); r["msg"] == msg {
			out = append(out, r)
		}
	}
	return out
}

// metricSum scrapes Hotline's /metrics at addr and returns the sum of the
// samples of name whose labels include every pair of labels.
func metricSum(t *testing.T, addr, name string, labels map[string]string) float64 {
	t.Helper()
	res, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatalf("scrape: %v", err)
	}
	defer res.Body.Close()
	if res.StatusCode != 200 {
		t.Fatalf("scrape: %s", res.Status)
	}
	var sum float64
	sc := bufio.NewScanner(res.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") || !strings.HasPrefix(line, name) {
			continue
		}
		rest := line[len(name):]
		var lbls string
		switch {
		case strings.HasPrefix(rest, "{"):
			end := strings.Index(rest, "} ")
			if end < 0 {
				continue
			}
			lbls, rest = rest[1:end], rest[end+1:]
		case strings.HasPrefix(rest, " "):
		default:
			continue // another metric with this prefix
		}
		match := true
		for k, v := range labels {
			if !strings.Contains(","+lbls+",", ","+k+"="+strconv.Quote(v)+",") {
				match = false
				break
			}
		}
		if !match {
			continue
		}
		fields := strings.Fields(rest)
		if len(fields) == 0 {
			continue
		}
		v, err := strconv.ParseFloat(fields[0], 64)
		if err != nil {
			t.Fatalf("scrape: %q: %v", line, err)
		}
		sum += v
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("scrape: %v", err)
	}
	return sum
}

func (a *testApp) metric(t *testing.T, name string, labels map[string]string) float64 {
	t.Helper()
	return metricSum(t, a.metricsSrv.Addr().String(), name, labels)
}

// storedFiles returns the recordings (.wav) the file backend holds under
// dir whose call record (.json) is stored too: the uploader stores the WAV
// first and its record after it, so a WAV alone is an upload under way.
func storedFiles(t *testing.T, dir string) []string {
	t.Helper()
	files := spoolFiles(t, dir)
	stored := make(map[string]bool, len(files))
	for _, p := range files {
		stored[p] = true
	}
	var out []string
	for _, p := range files {
		if filepath.Ext(p) == ".wav" && stored[strings.TrimSuffix(p, ".wav")+".json"] {
			out = append(out, p)
		}
	}
	return out
}

// readRecord reads the call record stored beside a recording.
func readRecord(t *testing.T, wav string) recording.CallRecord {
	t.Helper()
	raw, err := os.ReadFile(strings.TrimSuffix(wav, ".wav") + ".json")
	if err != nil {
		t.Fatalf("call record of %s: %v", wav, err)
	}
	var rec recording.CallRecord
	if err := json.Unmarshal(raw, &rec); err != nil {
		t.Fatalf("call record of %s: %v\n%s", wav, err, raw)
	}
	return rec
}

// liveCalls returns GET /api/v1/calls.
func (a *testApp) liveCalls(t *testing.T) []liveCall {
	t.Helper()
	var live []liveCall
	if code := httpJSON(t, "GET", a.apiURL("/api/v1/calls"), "", &live); code != 200 {
		t.Fatalf("GET /api/v1/calls: %d", code)
	}
	return live
}

// queueInfo returns the queue's entry of GET /api/v1/queues.
func (a *testApp) queueInfo(t *testing.T, name string) api.Queue {
	t.Helper()
	var qs []api.Queue
	if code := httpJSON(t, "GET", a.apiURL("/api/v1/queues"), "", &qs); code != 200 {
		t.Fatalf("GET /api/v1/queues: %d", code)
	}
	for _, q := range qs {
		if q.Name == name {
			return q
		}
	}
	t.Fatalf("GET /api/v1/queues: no queue %q in %+v", name, qs)
	return api.Queue{}
}

// TestE2EFaultAgentVanishes: the agent's softphone is killed (SIGKILL: no
// BYE, no more RTP) while bridged to a SIPp caller. The media timeout
// ends both legs: the caller gets a BYE, the call ends answered by alice
// with the agent's media timeout as its cause, and its recording is a
// valid WAV holding both sides up to the kill.
func TestE2EFaultAgentVanishes(t *testing.T) {
	skipShort(t)
	a := startApp(t, func(c *Config) { c.RTP.Timeout = 2 * time.Second })
	agent := startAgent(t, a, "alice", e2e.BaresipOptions{ToneHz: agentHz, AutoAnswer: true})

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	// The caller talks for 30 s and waits for Hotline's BYE.
	caller := e2e.StartSIPp(t, e2e.SIPpOptions{
		Target:   a.sipAddr("udp"),
		Service:  "1900",
		Caller:   "0911000777",
		Scenario: e2e.UACRemoteBye(tonePCAP(t, 30*time.Second), 40*time.Second),
		Timeout:  50 * time.Second,
	})
	if _, err := agent.WaitEvent(ctx, e2e.EventCallEstablished); err != nil {
		t.Fatalf("call not established: %v", err)
	}
	live := a.liveCalls(t)
	if len(live) != 1 || live[0].Agent != "alice" {
		t.Fatalf("GET /api/v1/calls: %+v, want one call with alice", live)
	}
	id := live[0].CallID
	time.Sleep(2 * time.Second) // both sides talk
	agent.Kill()

	res, err := caller.Wait(ctx)
	if err != nil {
		t.Fatal(err)
	}
	res.RequireCalls(t, 1, 0) // the caller got Hotline's BYE and answered it
	waitIdle(t, a)
	if live := a.liveCalls(t); len(live) != 0 {
		t.Errorf("GET /api/v1/calls after the call: %+v", live)
	}
	var end map[string]string
	waitFor(t, 5*time.Second, "the call's end in the log", func() bool { end = callEnded(a.logs.String(), id); return end != nil })
	if end["outcome"] != "answered" || end["agent"] != "alice" || end["cause"] != callflow.ErrAgentTimeout.Error() {
		t.Errorf("call ended %v, want answered by alice, cause %q", end, callflow.ErrAgentTimeout.Error())
	}
	// The BYE to the vanished phone goes unanswered; the caller's must
	// still be sent (and retransmitted) until the caller confirms it.
	if failed := logLines(a.logs.String(), "BYE to caller"); len(failed) != 0 {
		t.Errorf("the caller's BYE failed: %v", failed)
	}

	var wavs []string
	waitFor(t, 15*time.Second, "the recording stored", func() bool {
		wavs = storedFiles(t, a.cfg.Recording.File.Dir)
		return len(wavs) == 1 && len(spoolFiles(t, a.cfg.Recording.SpoolDir)) == 0
	})
	raw, err := os.ReadFile(wavs[0])
	if err != nil {
		t.Fatal(err)
	}
	w := checkWAV(t, raw)
	if w.format != 1 || w.bits != 16 || w.channels != 2 || w.rate != 8000 || w.frames == 0 {
		t.Fatalf("recording %s: %+v, want 16-bit PCM stereo 8 kHz", wavs[0], w)
	}
	rec := readRecord(t, wavs[0])
	if rec.CallID != id || rec.Agent != "alice" || rec.Caller != "0911000777" || rec.End.IsZero() || rec.Recovered || rec.Frames != w.frames {
		t.Errorf("call record %+v, want call %s with alice, ended, %d frames", rec, id, w.frames)
	}
	left, _, err := e2e.ReadWAVChannel(wavs[0], 0)
	if err != nil {
		t.Fatal(err)
	}
	right, _, err := e2e.ReadWAVChannel(wavs[0], 1)
	if err != nil {
		t.Fatal(err)
	}
	if tone := e2e.DominantTone(left, 8000, tones); tone != callerHz {
		t.Errorf("left channel carries %v Hz, want the caller's %v Hz", tone, callerHz)
	}
	if tone := e2e.DominantTone(right, 8000, tones); tone != agentHz {
		t.Errorf("right channel carries %v Hz, want the agent's %v Hz", tone, agentHz)
	}
	total := time.Duration(w.frames) * time.Second / 8000
	if active := e2e.ActiveDuration(right, 8000); active < time.Second || active > total-time.Second {
		t.Errorf("agent's side has %s of sound in %s: want the talk before the kill, then silence", active, total)
	}
}

// TestE2EFaultCallerVanishesWhileWaiting: with no agent logged in, a SIPp
// caller waits on hold music, then is killed (no BYE, no more RTP). The
// media timeout takes the call out of the queue (API), and it counts as
// abandoned: in the queue's figures, the metrics and the call's log.
func TestE2EFaultCallerVanishesWhileWaiting(t *testing.T) {
	skipShort(t)
	a := startApp(t, func(c *Config) { c.RTP.Timeout = 2 * time.Second })
	rec := e2e.NewUDPRecorder(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	caller := e2e.StartSIPp(t, e2e.SIPpOptions{
		Target:   a.sipAddr("udp"),
		Service:  "1900",
		Caller:   "0911000888",
		Scenario: e2e.UACRemoteBye("", 50*time.Second).WithMediaPort(rec.Port()),
		Timeout:  55 * time.Second,
	})
	// Answered and on hold: the caller hears the hold tone and talks.
	if err := rec.WaitPackets(ctx, 5); err != nil {
		t.Fatalf("caller on hold got no RTP: %v", err)
	}
	talk, stopTalk := context.WithCancel(ctx)
	defer stopTalk()
	talked := make(chan error, 1)
	go func() { talked <- rec.SendTone(talk, netip.AddrPort{}, callerHz, 40*time.Second, e2e.PayloadPCMU) }()

	var id string
	waitFor(t, 10*time.Second, "the caller waiting in the queue", func() bool {
		live := a.liveCalls(t)
		if len(live) == 1 {
			id = live[0].CallID
		}
		return len(live) == 1 && a.queueInfo(t, "default").Waiting == 1
	})
	time.Sleep(3 * time.Second) // longer than the media timeout: the talking caller stays
	if a.queueInfo(t, "default").Waiting != 1 {
		t.Fatal("the caller left the queue while talking")
	}
	offered := a.metric(t, "hotline_calls_offered_total", nil)

	// The caller vanishes: its SIP and its media stop.
	caller.Kill()
	stopTalk()
	<-talked

	waitFor(t, 15*time.Second, "the vanished caller out of the queue", func() bool {
		return len(a.liveCalls(t)) == 0 && a.queueInfo(t, "default").Waiting == 0
	})
	waitIdle(t, a)
	q := a.queueInfo(t, "default")
	if q.Abandoned != 1 || q.Entered != 1 || q.TimedOut != 0 {
		t.Errorf("queue figures %+v, want the call entered and abandoned", q)
	}
	if offered != 1 {
		t.Errorf("hotline_calls_offered_total = %v, want 1", offered)
	}
	for outcome, want := range map[string]float64{"abandoned": 1, "timeout": 0, "answered": 0, "other": 0} {
		if got := a.metric(t, "hotline_queue_calls_total", map[string]string{"outcome": outcome}); got != want {
			t.Errorf("hotline_queue_calls_total{outcome=%q} = %v, want %v", outcome, got, want)
		}
	}
	end := callEnded(a.logs.String(), id)
	if end["outcome"] != "abandoned" {
		t.Errorf("call ended %v, want abandoned", end)
	}
}

// sippRegister registers user (digest auth) with Hotline's registrar from
// SIPp on port, Contact sip:user@127.0.0.1:port: the address Hotline then
// sends the user's calls to, where the test starts a SIPp callee (or
// nothing, for a phone that is gone).
func sippRegister(ctx context.Context, t *testing.T, a *testApp, user string, port int) {
	t.Helper()
	ag, ok := a.cfg.Agent(user)
	if !ok {
		t.Fatalf("agent %s not configured", user)
	}
	register := func(cseq int, auth string) string {
		return "REGISTER sip:[remote_ip]:[remote_port] SIP/2.0\n" +
			"Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]\n" +
			"From: <sip:" + user + "@[remote_ip]>;tag=[pid]SIPpTag00[call_number]\n" +
			"To: <sip:" + user + "@[remote_ip]>\n" +
			"Call-ID: [call_id]\n" +
			fmt.Sprintf("CSeq: %d REGISTER\n", cseq) +
			"Contact: <sip:" + user + "@[local_ip]:[local_port]>\n" + auth +
			"Expires: 600\n" +
			"Max-Forwards: 70\n" +
			"Content-Length: 0\n"
	}
	xml := "<?xml version=\"1.0\" encoding=\"ISO-8859-1\" ?>\n<scenario name=\"register\">\n" +
		"<send retrans=\"500\"><![CDATA[\n" + register(1, "") + "\n]]></send>\n" +
		"<recv response=\"401\" auth=\"true\"/>\n" +
		"<send retrans=\"500\"><![CDATA[\n" + register(2, fmt.Sprintf("[authentication username=%s password=%s]\n", user, ag.Password)) + "\n]]></send>\n" +
		"<recv response=\"200\"/>\n</scenario>\n"
	res := e2e.RunSIPp(ctx, t, e2e.SIPpOptions{
		Target:    a.sipAddr("udp"),
		Scenario:  e2e.Scenario{Name: "register_" + user, XML: xml},
		LocalPort: port,
		Timeout:   10 * time.Second,
	})
	res.RequireCalls(t, 1, 0)
	waitFor(t, 5*time.Second, "agent "+user+" registered", func() bool {
		info, _ := a.acd.Agent(user)
		return info.Registered && info.State == acd.StateAvailable
	})
}

// agents returns GET /api/v1/agents by username.
func (a *testApp) agents(t *testing.T) map[string]api.Agent {
	t.Helper()
	var list []api.Agent
	if code := httpJSON(t, "GET", a.apiURL("/api/v1/agents"), "", &list); code != 200 {
		t.Fatalf("GET /api/v1/agents: %d", code)
	}
	out := map[string]api.Agent{}
	for _, ag := range list {
		out[ag.Username] = ag
	}
	return out
}

// TestE2EFaultAgentLegFails: the agents offered a call fail to take it in
// every way a leg can fail to set up: alice's phone (SIPp) answers 503,
// bob's registered contact has nothing listening any more, carol's phone
// (SIPp) rings and never answers. The caller is never refused: it waits,
// and a second caller arrives behind it. When dave logs in (baresip), he
// gets the first caller (re-queued at the front, not dropped), then the
// second; both hear each other with dave.
func TestE2EFaultAgentLegFails(t *testing.T) {
	skipShort(t)
	a := startApp(t, func(c *Config) {
		c.Agents = append(c.Agents, config.Agent{Username: "dave", Password: "dave-secret"})
		c.Queues[0].RingTimeout = 2 * time.Second // the default queue's, set from queue.ring_timeout at load
		c.Queue.AutoPauseAfter = 1                // an agent who failed once is paused: no second offer
		off := false
		c.Survey.Enabled = &off
	})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	// Registration order is idle order: alice, bob, then carol are
	// offered the first call.
	alicePort := e2e.FreeUDPTCPPort(t)
	sippRegister(ctx, t, a, "alice", alicePort)
	alice := e2e.StartSIPp(t, e2e.SIPpOptions{Scenario: e2e.UASRespond(503), LocalPort: alicePort, Timeout: 90 * time.Second})
	sippRegister(ctx, t, a, "bob", e2e.FreeUDPTCPPort(t)) // then gone
	carolPort := e2e.FreeUDPTCPPort(t)
	sippRegister(ctx, t, a, "carol", carolPort)
	carol := e2e.StartSIPp(t, e2e.SIPpOptions{Scenario: e2e.UASRingNoAnswer(), LocalPort: carolPort, Timeout: 90 * time.Second})

	callers := []string{"0911000101", "0911000202"}
	var sipps []*e2e.SIPp
	for i, number := range callers {
		sipps = append(sipps, e2e.StartSIPp(t, e2e.SIPpOptions{
			Target:   a.sipAddr("udp"),
			Service:  "1900",
			Caller:   number,
			Scenario: e2e.UACRemoteBye(tonePCAP(t, 60*time.Second), 80*time.Second),
			Timeout:  90 * time.Second,
		}))
		if i == 0 {
			// Every agent failed: the first caller waits, answered, in
			// the queue; alice, bob and carol are paused.
			waitFor(t, 30*time.Second, "the first caller waiting after three failed offers", func() bool {
				ags := a.agents(t)
				for _, u := range []string{"alice", "bob", "carol"} {
					if ags[u].State != api.StatePaused {
						return false
					}
				}
				return a.queueInfo(t, "default").Waiting == 1 && len(a.liveCalls(t)) == 1
			})
		}
	}
	waitFor(t, 10*time.Second, "both callers waiting", func() bool { return a.queueInfo(t, "default").Waiting == 2 })
	byReason := map[string]float64{}
	for _, r := range []string{"error", "timeout", "unreachable", "busy", "declined"} {
		byReason[r] = a.metric(t, "hotline_agent_no_answers_total", map[string]string{"reason": r})
	}
	if byReason["error"] != 1 || byReason["timeout"]+byReason["unreachable"] != 2 || byReason["busy"]+byReason["declined"] != 0 {
		t.Errorf("hotline_agent_no_answers_total by reason %v, want alice's 503 as error, bob and carol as timeout or unreachable", byReason)
	}
	res, err := alice.Wait(ctx)
	if err != nil {
		t.Fatal(err)
	}
	res.RequireCalls(t, 1, 0) // offered once, 503 acknowledged
	res, err = carol.Wait(ctx)
	if err != nil {
		t.Fatal(err)
	}
	res.RequireCalls(t, 1, 0) // rang, then cancelled

	dave := startAgent(t, a, "dave", e2e.BaresipOptions{ToneHz: agentHz, Record: true, AutoAnswer: true})
	for i, number := range callers {
		ev, err := dave.WaitEvent(ctx, e2e.EventCallEstablished)
		if err != nil {
			t.Fatalf("dave's call %d: %v", i+1, err)
		}
		if !strings.Contains(ev.PeerURI, number) {
			t.Errorf("dave's call %d is from %q, want caller %s (first come, first served)", i+1, ev.PeerURI, number)
		}
		time.Sleep(2 * time.Second)
		if err := dave.Hangup(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := dave.WaitEvent(ctx, e2e.EventCallClosed); err != nil {
			t.Fatal(err)
		}
		res, err := sipps[i].Wait(ctx)
		if err != nil {
			t.Fatal(err)
		}
		res.RequireCalls(t, 1, 0) // never refused, hung up by Hotline after dave
	}
	waitIdle(t, a)
	wavs := dave.ReceivedWAVs()
	if len(wavs) != 2 {
		t.Fatalf("dave recorded %d calls, want 2", len(wavs))
	}
	for _, w := range wavs {
		s, rate, err := e2e.ReadWAV(w)
		if err != nil {
			t.Fatal(err)
		}
		if tone, active := e2e.DominantTone(s, rate, tones), e2e.ActiveDuration(s, rate); tone != callerHz || active < time.Second {
			t.Errorf("dave heard %v Hz for %s in %s, want the caller's tone", tone, active, filepath.Base(w))
		}
	}
	for _, l := range logLines(a.logs.String(), "call ended") {
		if l["outcome"] != "answered" || l["agent"] != "dave" {
			t.Errorf("call ended %v, want answered by dave", l)
		}
	}
	if n := len(logLines(a.logs.String(), "call ended")); n != 2 {
		t.Errorf("%d calls ended, want 2", n)
	}
}

// activeSamples keeps the 20 ms frames of samples that are not silent.
func activeSamples(samples []int16) []int16 {
	const frame = 160
	var out []int16
	for off := 0; off+frame <= len(samples); off += frame {
		if e2e.ActiveDuration(samples[off:off+frame], 8000) > 0 {
			out = append(out, samples[off:off+frame]...)
		}
	}
	return out
}

// toneLevels measures each frequency in the sound (non-silent part) of samples.
func toneLevels(samples []int16, freqs []float64) map[float64]float64 {
	active := activeSamples(samples)
	out := map[float64]float64{}
	for _, f := range freqs {
		out[f] = e2e.ToneLevel(active, 8000, f)
	}
	return out
}

// cleanTone checks that samples carry want and no other of freqs: want is
// the strongest, at least minLevel, every other frequency under 5 % of it,
// and sound lasts at least minActive.
func cleanTone(t *testing.T, who string, samples []int16, want float64, freqs []float64, minLevel float64, minActive time.Duration) {
	t.Helper()
	levels := toneLevels(samples, freqs)
	active := e2e.ActiveDuration(samples, 8000)
	ok := levels[want] >= minLevel && active >= minActive
	for _, f := range freqs {
		if f != want && levels[f] > 0.05*levels[want] {
			ok = false
		}
	}
	if !ok {
		t.Errorf("%s: %s of sound, tone levels %v; want %v Hz alone (level >= %v) for at least %s", who, active, levels, want, minLevel, minActive)
	} else {
		t.Logf("%s: %s of sound, %v Hz at level %.3f", who, active, want, levels[want])
	}
}

// TestE2EFaultOverload: with sip.max_calls 3, three callers (SIPp
// signalling, each with its own RTP endpoint) talk with three agents
// (baresip), every party sending its own tone. A fourth call gets 503 with
// Retry-After, from a SIPp caller and a plain SIP client alike; the three
// calls in progress are not disturbed: each side hears its peer's tone
// alone, at its level, for the whole call.
func TestE2EFaultOverload(t *testing.T) {
	skipShort(t)
	a := startApp(t, func(c *Config) {
		c.SIP.MaxCalls = 3
		c.SIP.RetryAfter = 9 * time.Second
		off := false
		c.Survey.Enabled = &off
	})
	// Tones far enough apart to be told apart in 50 ms blocks, and from
	// the hold tone (440 Hz) and the ringback (425 Hz).
	agentTone := map[string]float64{"alice": 520, "bob": 640, "carol": 760}
	callerTones := []float64{1000, 1230, 1470}
	all := append([]float64{425, 440}, callerTones...)
	for _, f := range agentTone {
		all = append(all, f)
	}
	agents := map[string]*e2e.Baresip{}
	for _, u := range []string{"alice", "bob", "carol"} {
		agents[u] = startAgent(t, a, u, e2e.BaresipOptions{ToneHz: agentTone[u], Record: true, AutoAnswer: true})
	}

	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	const talk = 8 * time.Second
	type caller struct {
		tone float64
		rec  *e2e.UDPRecorder
		sipp *e2e.SIPp
		sent chan error
	}
	var callers []*caller
	for i, f := range callerTones {
		c := &caller{tone: f, rec: e2e.NewUDPRecorder(t), sent: make(chan error, 1)}
		c.sipp = e2e.StartSIPp(t, e2e.SIPpOptions{
			Target:   a.sipAddr("udp"),
			Service:  "1900",
			Caller:   fmt.Sprintf("091100030%d", i),
			Scenario: e2e.UACPlayPCAP("", talk+3*time.Second).WithMediaPort(c.rec.Port()),
			Timeout:  60 * time.Second,
		})
		callers = append(callers, c)
	}
	for _, c := range callers {
		// Bridged: the agent's audio arrives; answer from the same socket.
		if err := c.rec.WaitPackets(ctx, 5); err != nil {
			t.Fatalf("caller %v Hz got no RTP: %v", c.tone, err)
		}
		go func() { c.sent <- c.rec.SendTone(ctx, netip.AddrPort{}, c.tone, talk, e2e.PayloadPCMU) }()
	}
	for u, ag := range agents {
		if _, err := ag.WaitEvent(ctx, e2e.EventCallEstablished); err != nil {
			t.Fatalf("%s never got a call: %v", u, err)
		}
	}
	time.Sleep(2 * time.Second) // everyone talking
	if n := a.sip.ActiveCalls(); n != 3 {
		t.Fatalf("%d calls in progress, want 3", n)
	}

	// A fourth caller is turned away, with a time to retry.
	res := e2e.RunSIPp(ctx, t, e2e.SIPpOptions{Target: a.sipAddr("udp"), Service: "1900", Caller: "0911000399", Scenario: e2e.UACExpectStatus(503)})
	res.RequireCalls(t, 1, 0)
	r := inviteOnce(t, ctx, a.sipAddr("udp"))
	if r.StatusCode != 503 {
		t.Errorf("fourth call got %d %s, want 503", r.StatusCode, r.Reason)
	}
	if h := r.GetHeader("Retry-After"); h == nil || h.Value() != "9" {
		t.Errorf("503 without Retry-After: 9 (%v)", h)
	}
	if n := a.sip.ActiveCalls(); n != 3 {
		t.Errorf("%d calls in progress after the refused ones, want 3", n)
	}
	// Counted once the 503 is sent: the caller may read it a moment before.
	refused := func() float64 {
		return a.metric(t, "hotline_sip_responses_total", map[string]string{"method": "INVITE", "status_class": "5xx", "direction": "out"})
	}
	deadline := time.Now().Add(2 * time.Second)
	for refused() < 2 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if got := refused(); got != 2 {
		t.Errorf("hotline_sip_responses_total{INVITE,5xx,out} = %v, want 2", got)
	}

	for _, c := range callers {
		if err := <-c.sent; err != nil {
			t.Fatal(err)
		}
		res, err := c.sipp.Wait(ctx)
		if err != nil {
			t.Fatal(err)
		}
		res.RequireCalls(t, 1, 0)
	}
	heardBy := map[float64]float64{} // caller tone -> agent tone
	for u, ag := range agents {
		if _, err := ag.WaitEvent(ctx, e2e.EventCallClosed); err != nil {
			t.Fatalf("%s's call not torn down: %v", u, err)
		}
		wavs := ag.ReceivedWAVs()
		if len(wavs) != 1 {
			t.Fatalf("%s recorded %d calls, want 1", u, len(wavs))
		}
		s, rate, err := e2e.ReadWAV(wavs[0])
		if err != nil {
			t.Fatal(err)
		}
		if rate != 8000 {
			t.Fatalf("%s's recording is at %d Hz", u, rate)
		}
		from := e2e.DominantTone(s, rate, callerTones)
		heardBy[from] = agentTone[u]
		cleanTone(t, u, s, from, all, 0.2, talk-time.Second)
	}
	if len(heardBy) != 3 {
		t.Errorf("agents heard callers %v, want each caller by one agent", heardBy)
	}
	for _, c := range callers {
		want, ok := heardBy[c.tone]
		if !ok {
			t.Errorf("no agent heard the %v Hz caller", c.tone)
			continue
		}
		cleanTone(t, fmt.Sprintf("caller %v Hz", c.tone), c.rec.Samples(), want, all, 0.05, talk)
	}
	waitIdle(t, a)
}

// TestE2EFaultCRMDown: the customer directory is an HTTP CRM (a test
// server). While it answers, a loyal caller reaches the senior queue
// (alice). When it is slow (never answers within directory.crm.timeout)
// and then down (connection refused), calls keep flowing: the callers are
// routed as unknown to the general queue (bob), Hotline gives up on the
// slow request itself, and the failures show in
// hotline_crm_lookup_failures_total by reason.
func TestE2EFaultCRMDown(t *testing.T) {
	skipShort(t)
	var slow atomic.Bool
	var requests, abandoned atomic.Int32
	release := make(chan struct{})
	crm := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		if slow.Load() {
			select {
			case <-r.Context().Done():
				abandoned.Add(1) // Hotline stopped waiting
			case <-release:
			case <-time.After(30 * time.Second):
			}
			return
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"id":"C-%s","name":"Known","segment":"loyal"}`, r.URL.Query().Get("phone"))
	}))
	defer crm.Close()
	defer close(release)

	a := startApp(t, func(c *Config) {
		c.Directory.CRM = directory.CRMConfig{URL: crm.URL + "/customers?phone={{.Number}}", Timeout: 300 * time.Millisecond, CacheTTL: -1}
		c.Queues = []config.QueueDef{{Name: "general"}, {Name: "senior"}}
		c.Rules = []config.RuleConfig{
			{Name: "loyal", Segments: []string{"loyal"}, Queue: "senior", Priority: 10},
			{Name: "default", Queue: "general"},
		}
		for i := range c.Agents {
			switch c.Agents[i].Username {
			case "alice":
				c.Agents[i].Queues = []string{"senior"}
			default:
				c.Agents[i].Queues = []string{"general"}
			}
		}
		c.Callbacks.Queue = "general"
		off := false
		c.Survey.Enabled = &off
		c.Config.SetDefaults() // queue defaults for the queues set here
		if err := c.Config.Validate(); err != nil {
			t.Fatal(err)
		}
	})
	startAgent(t, a, "alice", e2e.BaresipOptions{ToneHz: agentHz, AutoAnswer: true})
	startAgent(t, a, "bob", e2e.BaresipOptions{ToneHz: agentHz, AutoAnswer: true})
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()

	failures := func() (timeout, other float64) {
		return a.metric(t, "hotline_crm_lookup_failures_total", map[string]string{"reason": "timeout"}),
			a.metric(t, "hotline_crm_lookup_failures_total", map[string]string{"reason": "error"})
	}
	// call places one call and returns who took it and the caller's segment.
	call := func(number string) (agent, segment string) {
		t.Helper()
		callAndHangUp(ctx, t, a, number)
		logs := a.logs.String()
		var id string
		for _, l := range logLines(logs, "incoming call") {
			if l["from"] == number {
				id, segment = l["call_id"], l["segment"]
			}
		}
		end := callEnded(logs, id)
		if end["outcome"] != "answered" {
			t.Errorf("call from %s ended %v, want answered", number, end)
		}
		return end["agent"], segment
	}
	if to, other := failures(); to != 0 || other != 0 {
		t.Fatalf("CRM failures %v timeout, %v error before any call", to, other)
	}

	// The CRM answers: the loyal caller goes to the senior queue.
	if agent, seg := call("0912000111"); agent != "alice" || seg != "loyal" {
		t.Errorf("with the CRM up: %s caller taken by %q, want loyal and alice", seg, agent)
	}
	if requests.Load() != 1 {
		t.Errorf("CRM got %d requests, want 1", requests.Load())
	}

	// The CRM is slow: Hotline gives up on it and routes the caller as unknown.
	slow.Store(true)
	if agent, seg := call("0912000222"); agent != "bob" || seg != "unknown" {
		t.Errorf("with the CRM slow: %s caller taken by %q, want unknown and bob", seg, agent)
	}
	waitFor(t, 5*time.Second, "Hotline to give up its CRM request", func() bool { return abandoned.Load() == 1 })
	if to, other := failures(); to != 1 || other != 0 {
		t.Errorf("CRM failures after a slow CRM: %v timeout, %v error; want 1 timeout", to, other)
	}

	// The CRM is down: connection refused, same routing.
	crm.Close()
	if agent, seg := call("0912000333"); agent != "bob" || seg != "unknown" {
		t.Errorf("with the CRM down: %s caller taken by %q, want unknown and bob", seg, agent)
	}
	if to, other := failures(); to != 1 || other != 1 {
		t.Errorf("CRM failures after the CRM went down: %v timeout, %v error; want 1 and 1", to, other)
	}
	if n := len(logLines(a.logs.String(), "CRM lookup failed; caller treated as unknown")); n != 2 {
		t.Errorf("%d CRM failures logged, want 2", n)
	}
}

// tinySpool mounts a tmpfs of size bytes at a new directory for the
// spool and unmounts it when the test ends (register it before startApp,
// so that Hotline is stopped first). It needs root; without it the test
// is skipped, unless CI is set (then it fails: CI must run it).
func tinySpool(t *testing.T, size int) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "spool")
	if err := os.Mkdir(dir, 0o750); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("mount", "-t", "tmpfs", "-o", fmt.Sprintf("size=%d,mode=0750", size), "tmpfs", dir).CombinedOutput()
	if err != nil {
		msg := fmt.Sprintf("cannot mount a tmpfs for a full spool (needs root; uid %d): %v %s", os.Getuid(), err, out)
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v %s", dir, err, out)
		}
	})
	return dir
}

// fillDisk writes a file in dir until the file system is full and
// returns its path.
func fillDisk(t *testing.T, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "ballast")
	if err := os.MkdirAll(path, 0o750); err != nil {
		t.Fatal(err)
	}
	path = filepath.Join(path, "fill")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 4096)
	for i := 0; i < 1<<16; i++ {
		if _, err := f.Write(buf); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("filling %s: %v", dir, err)
			}
			return path
		}
	}
	t.Fatalf("%s never filled up", dir)
	return ""
}

// TestE2EFaultSpoolFull: the spool is a small file system that fills up.
// Calls go on as usual whatever the spool's state, with the agent hearing
// the caller. A call that starts while it is full is not recorded, and
// Hotline logs why; one whose recording fills it up keeps what fit: a
// valid recording of the call up to then. Once there is room again,
// calls are recorded as before, and every recording is stored.
func TestE2EFaultSpoolFull(t *testing.T) {
	skipShort(t)
	spool := tinySpool(t, 512<<10)
	a := startApp(t, func(c *Config) {
		c.Recording.SpoolDir = spool
		off := false
		c.Survey.Enabled = &off
	})
	agent := startAgent(t, a, "alice", e2e.BaresipOptions{ToneHz: agentHz, Record: true, AutoAnswer: true})
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	stored := func(n int) []string {
		t.Helper()
		var wavs []string
		waitFor(t, 15*time.Second, fmt.Sprintf("%d recordings stored and an empty spool", n), func() bool {
			wavs = storedFiles(t, a.cfg.Recording.File.Dir)
			return len(wavs) == n && len(spoolFiles(t, spool)) == 0
		})
		return wavs
	}
	// talk places a call of d and checks that alice heard the caller.
	talk := func(number string, d time.Duration, during func()) {
		t.Helper()
		p := e2e.StartSIPp(t, e2e.SIPpOptions{
			Target:   a.sipAddr("udp"),
			Service:  "1900",
			Caller:   number,
			Scenario: e2e.UACPlayPCAP(tonePCAP(t, d), d+time.Second),
		})
		if _, err := agent.WaitEvent(ctx, e2e.EventCallEstablished); err != nil {
			t.Fatalf("call from %s not established: %v", number, err)
		}
		if during != nil {
			during()
		}
		res, err := p.Wait(ctx)
		if err != nil {
			t.Fatal(err)
		}
		res.RequireCalls(t, 1, 0)
		if _, err := agent.WaitEvent(ctx, e2e.EventCallClosed); err != nil {
			t.Fatal(err)
		}
		if tone, active := heard(t, agent); tone != callerHz || active < d-time.Second {
			t.Errorf("call from %s: alice heard %v Hz for %s, want the caller's %v Hz for %s", number, tone, active, callerHz, d)
		}
		waitIdle(t, a)
	}

	// Room enough: recorded and stored as usual.
	talk("0911000601", 2*time.Second, nil)
	stored(1)

	// Full before the call: the call goes on unrecorded, and the log says why.
	ballast := fillDisk(t, spool)
	talk("0911000602", 2*time.Second, nil)
	var notStarted []map[string]string
	for _, l := range logLines(a.logs.String(), "recording not started; the call goes on unrecorded") {
		if l["level"] == "ERROR" && strings.Contains(l["error"], "no space left on device") {
			notStarted = append(notStarted, l)
		}
	}
	if len(notStarted) != 1 {
		t.Errorf("%d errors logged for the recording that could not start, want 1 naming the full disk", len(notStarted))
	}
	if err := os.Remove(ballast); err != nil {
		t.Fatal(err)
	}

	// Full during the call: what fit is kept.
	var filledAt time.Duration
	talk("0911000603", 6*time.Second, func() {
		began := time.Now()
		time.Sleep(2 * time.Second)
		ballast = fillDisk(t, spool)
		filledAt = time.Since(began)
	})
	if n := len(logLines(a.logs.String(), "recording write failed; the rest of the call is not recorded")); n != 1 {
		t.Errorf("%d recording write failures logged, want 1", n)
	}
	if err := os.Remove(ballast); err != nil {
		t.Fatal(err)
	}
	stored(2)

	// Room again: recorded as usual.
	talk("0911000604", 2*time.Second, nil)
	all := stored(3)

	byCaller := map[string]string{}
	for _, w := range all {
		byCaller[readRecord(t, w).Caller] = w
	}
	if _, ok := byCaller["0911000602"]; ok || len(byCaller) != 3 {
		t.Errorf("stored recordings of %v, want those of 0911000601, 0911000603 and 0911000604", byCaller)
	}
	for caller, w := range byCaller {
		raw, err := os.ReadFile(w)
		if err != nil {
			t.Fatal(err)
		}
		wf := checkWAV(t, raw)
		rec := readRecord(t, w)
		got := time.Duration(wf.frames) * time.Second / 8000
		t.Logf("%s: %s recorded, record %+v", caller, got, rec)
		if rec.End.IsZero() || rec.Frames != wf.frames {
			t.Errorf("%s: call record %+v does not describe the %d frames stored", caller, rec, wf.frames)
		}
		left, _, err := e2e.ReadWAVChannel(w, 0)
		if err != nil {
			t.Fatal(err)
		}
		if tone := e2e.DominantTone(left, 8000, tones); tone != callerHz {
			t.Errorf("%s: left channel carries %v Hz, want the caller's", caller, tone)
		}
		// What was written before the spool filled up (audio still
		// buffered then is lost), marked as cut short.
		if caller == "0911000603" && (got == 0 || got > filledAt+time.Second || !rec.Recovered) {
			t.Errorf("%s: %s recorded (record recovered: %v), want the call up to the spool filling up after %s, marked recovered",
				caller, got, rec.Recovered, filledAt)
		}
	}
}

// TestE2EFaultRestartUnderLoad: Hotline (a real process, recording to
// MinIO) is killed with SIGKILL while three callers talk with agents, a
// fourth caller, whose agent hung up, has rated the call (CSAT 4) and is
// being asked the NPS question, and a callback request is pending.
// Restarted on the same configuration, it stores every recording cut
// short (valid WAVs, records marked recovered, the rating kept) and still
// lists the callback.
func TestE2EFaultRestartUnderLoad(t *testing.T) {
	skipShort(t)
	m := miniotest.Start(t)
	addr := "127.0.0.1:" + freeSIPPort(t)
	apiAddr := "127.0.0.1:" + freeSIPPort(t)
	dir := t.TempDir()
	spool := filepath.Join(dir, "spool")
	config := s3ProcessConfig(t, addr, spool, m, fmt.Sprintf(`
queue: {login_on_register: true}
hotlines: [{number: "1900"}, {number: "1901"}]
agents:
  - {username: alice, password: alice-secret}
  - {username: bob, password: bob-secret}
  - {username: carol, password: carol-secret}
  - {username: dave, password: dave-secret}
rules:
  - {name: callback, numbers: ["1901"], queue: default, action: {type: callback}}
  - {name: default, queue: default}
callbacks: {file: "%s"}
survey: {enabled: true, nps: true, timeout: 30s, repeats: 0}
api: {listen: "%s"}
metrics: {listen: "127.0.0.1:0"}
`, filepath.Join(dir, "callbacks.json"), apiAddr))
	apiURL := "http://" + apiAddr

	first := startProcess(t, config)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	// Registration order is idle order: dave takes the first call.
	agents := map[string]*e2e.Baresip{}
	for _, u := range []string{"dave", "alice", "bob", "carol"} {
		agents[u] = e2e.StartBaresip(t, e2e.BaresipOptions{User: u, Password: u + "-secret", Registrar: addr, ToneHz: agentHz, AutoAnswer: true})
		if err := agents[u].WaitRegistered(ctx); err != nil {
			t.Fatalf("%s: %v", u, err)
		}
	}

	// A callback request (1901 takes them), stored.
	res := e2e.RunSIPp(ctx, t, e2e.SIPpOptions{
		Target:   addr,
		Service:  "1901",
		Caller:   "0911000700",
		Scenario: e2e.UACRemoteBye("", 30*time.Second),
		Timeout:  40 * time.Second,
	})
	res.RequireCalls(t, 1, 0)
	var before []api.Callback
	if code := httpJSON(t, "GET", apiURL+"/api/v1/callbacks", "", &before); code != 200 || len(before) != 1 {
		t.Fatalf("GET /api/v1/callbacks: %d %+v, want the callback request", code, before)
	}

	// dave talks, hangs up; the caller rates the call 4, then hears the
	// NPS question and does not answer it (yet).
	hangUpAfter(ctx, agents["dave"], 2*time.Second)
	rater := e2e.StartSIPp(t, e2e.SIPpOptions{
		Target:   addr,
		Service:  "1900",
		Caller:   "0911000900",
		Scenario: e2e.UACKeypad(tonePCAP(t, 2*time.Second), 5*time.Second, []string{e2e.DTMFPCAP("4")}, time.Second, 90*time.Second),
		Timeout:  100 * time.Second,
	})
	waitFor(t, 30*time.Second, "the caller's CSAT answer", func() bool {
		for _, l := range logLines(first.logs.String(), "survey answer") {
			if l["question"] == "csat" && l["value"] == "4" {
				return true
			}
		}
		return false
	})

	// Three more callers talk with alice, bob and carol.
	talkers := e2e.StartSIPp(t, e2e.SIPpOptions{
		Target:     addr,
		Service:    "1900",
		Caller:     "0911000800",
		Scenario:   e2e.UACPlayPCAP(tonePCAP(t, 30*time.Second), 30*time.Second),
		Calls:      3,
		Rate:       10,
		Concurrent: 3,
		Timeout:    60 * time.Second,
	})
	for _, u := range []string{"alice", "bob", "carol"} {
		if _, err := agents[u].WaitEvent(ctx, e2e.EventCallEstablished); err != nil {
			t.Fatalf("%s never got a call: %v", u, err)
		}
	}
	time.Sleep(3 * time.Second) // they talk
	var live []liveCall
	if code := httpJSON(t, "GET", apiURL+"/api/v1/calls", "", &live); code != 200 || len(live) != 4 {
		t.Fatalf("GET /api/v1/calls: %d %+v, want 4 calls in progress", code, live)
	}
	agentOf := map[string]string{}
	for _, c := range live {
		agentOf[c.CallID] = c.Agent
	}

	first.kill(t)
	rater.Kill()
	talkers.Kill()
	if recs := spooledRecords(t, spool); len(recs) != 4 {
		t.Fatalf("spool after SIGKILL holds %d call records, want 4", len(recs))
	}

	second := startProcess(t, config)
	cl := minioClient(t, m)
	var keys []string
	waitFor(t, 30*time.Second, "every recording and call record in the bucket", func() bool {
		keys = objects(t, cl)
		return len(keys) == 8 && len(spoolFiles(t, spool)) == 0
	})
	rated := 0
	for _, key := range wavKeys(keys) {
		rec := storedRecord(t, cl, key)
		raw := getObject(t, cl, key)
		w := checkWAV(t, raw)
		if w.format != 1 || w.bits != 16 || w.channels != 2 || w.rate != 8000 || w.frames == 0 {
			t.Errorf("%s: %+v, want 16-bit PCM stereo 8 kHz audio", key, w)
		}
		if !rec.Recovered || rec.End.IsZero() || rec.Frames != w.frames {
			t.Errorf("%s: call record %+v, want recovered with its %d frames", key, rec, w.frames)
		}
		agent, ok := agentOf[rec.CallID]
		if !ok {
			t.Errorf("%s: call record of call %s, not one of the calls in progress %v", key, rec.CallID, agentOf)
		}
		switch rec.Caller {
		case "0911000900":
			rated++
			if rec.CSAT == nil || *rec.CSAT != 4 || rec.Agent != "dave" {
				t.Errorf("%s: the rated call's record %+v, want dave's call with CSAT 4", key, rec)
			}
		case "0911000800":
			if rec.CSAT != nil || rec.Agent != agent {
				t.Errorf("%s: call record %+v, want %s's call without a CSAT", key, rec, agent)
			}
			path := filepath.Join(t.TempDir(), "rec.wav")
			if err := os.WriteFile(path, raw, 0o600); err != nil {
				t.Fatal(err)
			}
			left, _, err := e2e.ReadWAVChannel(path, 0)
			if err != nil {
				t.Fatal(err)
			}
			if tone := e2e.DominantTone(left, 8000, tones); tone != callerHz {
				t.Errorf("%s: left channel carries %v Hz, want the caller's %v Hz", key, tone, callerHz)
			}
		default:
			t.Errorf("%s: call record of caller %q", key, rec.Caller)
		}
	}
	if rated != 1 {
		t.Errorf("%d recordings of the rated call, want 1", rated)
	}
	if n := strings.Count(second.logs.String(), "recovered recording cut short"); n != 4 {
		t.Errorf("restarted hotline logged %d recoveries, want 4", n)
	}

	var after []api.Callback
	if code := httpJSON(t, "GET", apiURL+"/api/v1/callbacks", "", &after); code != 200 || len(after) != 1 ||
		after[0].ID != before[0].ID || after[0].Number != before[0].Number {
		t.Errorf("GET /api/v1/callbacks after the restart: %d %+v, want %+v", code, after, before)
	}
	second.stop(t)
}
