package main

// End-to-end tests: Hotline runs in this process on loopback; the callers
// and agents are real SIP peers (SIPp and baresip) started by the tests.

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"hotline/internal/e2e"
	"hotline/routing/acd"
	"hotline/routing/config"
	"hotline/sip/media"
)

const (
	callerHz = 1000.0 // what callers send
	agentHz  = 440.0  // what agents send
)

var tones = []float64{callerHz, agentHz}

func skipShort(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("end-to-end test: needs SIPp and baresip (make test runs it)")
	}
}

// startAgent starts a baresip softphone registered to Hotline as user.
func startAgent(t *testing.T, a *testApp, user string, opts e2e.BaresipOptions) *e2e.Baresip {
	t.Helper()
	ag, ok := a.cfg.Agent(user)
	if !ok {
		t.Fatalf("agent %s not configured", user)
	}
	opts.User, opts.Password = user, ag.Password
	opts.Registrar = a.sipAddr("udp")
	if opts.Transport == "tcp" {
		opts.Registrar = a.sipAddr("tcp")
	}
	b := e2e.StartBaresip(t, opts)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := b.WaitRegistered(ctx); err != nil {
		t.Fatalf("agent %s did not register: %v", user, err)
	}
	waitFor(t, 5*time.Second, fmt.Sprintf("agent %s registered", user), func() bool {
		info, _ := a.acd.Agent(user)
		return info.Registered
	})
	return b
}

func agentState(a *testApp, user string) acd.AgentState {
	for _, s := range a.acd.Agents() {
		if s.Username == user {
			return s.State
		}
	}
	return ""
}

// waitFor polls cond until it holds or the bound passes.
func waitFor(t *testing.T, bound time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(bound)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", bound, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitCount waits (bounded) until a counter that get reads is want, and
// fails at once should it pass want: the door process's refusals reach
// Hotline's metrics through the ring it drains every 20 ms, not as the
// 503 leaves.
func waitCount(t *testing.T, what string, want float64, get func() float64) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for {
		got := get()
		switch {
		case got == want:
			return
		case got > want:
			t.Errorf("%s = %v, want %v", what, got, want)
			return
		case time.Now().After(deadline):
			t.Errorf("%s = %v after 2s, want %v", what, got, want)
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitIdle waits until Hotline has no call and no RTP port in use.
func waitIdle(t *testing.T, a *testApp) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for a.sip.ActiveCalls() != 0 || a.sip.Ports().InUse() != 0 {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			buf = buf[:runtime.Stack(buf, true)]
			t.Fatalf("still %d calls and %d RTP port pairs in use after 10s; goroutines:\n%s",
				a.sip.ActiveCalls(), a.sip.Ports().InUse(), buf)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// callerTalks is the caller's side of a call SIPp (p) places with its
// media on rec, once connected says the agent has the call: the caller
// waits for Hotline's RTP (the agent's audio, sent to the caller's SDP
// address), answers from the same socket (symmetric RTP) with 3 s of
// callerHz, and SIPp ends the call with its BYE: one successful call.
func callerTalks(ctx context.Context, t *testing.T, p *e2e.SIPp, rec *e2e.UDPRecorder, connected func(context.Context) error) {
	t.Helper()
	if err := connected(ctx); err != nil {
		t.Fatalf("agent never had the call: %v", err)
	}
	if err := rec.WaitPackets(ctx, 5); err != nil {
		t.Fatalf("caller got no RTP: %v", err)
	}
	if err := rec.SendTone(ctx, netip.AddrPort{}, callerHz, 3*time.Second, e2e.PayloadPCMU); err != nil {
		t.Fatal(err)
	}
	res, err := p.Wait(ctx)
	if err != nil {
		t.Fatal(err)
	}
	res.RequireCalls(t, 1, 0)
}

func tonePCAP(t *testing.T, d time.Duration) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "caller.pcap")
	if err := e2e.WriteTonePCAP(p, callerHz, d, e2e.PayloadPCMU); err != nil {
		t.Fatal(err)
	}
	return p
}

// heard reads the newest recording of what a baresip received and returns
// its dominant tone and how long audio was present.
func heard(t *testing.T, b *e2e.Baresip) (float64, time.Duration) {
	t.Helper()
	wavs := b.ReceivedWAVs()
	if len(wavs) == 0 {
		t.Fatalf("%s recorded nothing", b.AOR)
	}
	s, rate, err := e2e.ReadWAV(wavs[len(wavs)-1])
	if err != nil {
		t.Fatal(err)
	}
	return e2e.DominantTone(s, rate, tones), e2e.ActiveDuration(s, rate)
}

// TestE2ESIPpCallerReachesBaresipAgent: a SIPp caller playing a 1000 Hz
// tone from a pcap calls the hotline; the baresip agent, registered with
// its password, auto-answers; the agent hears the caller's tone; the
// caller's BYE tears down the agent's leg too.
func TestE2ESIPpCallerReachesBaresipAgent(t *testing.T) {
	skipShort(t)
	a := startApp(t, nil)
	agent := startAgent(t, a, "alice", e2e.BaresipOptions{ToneHz: agentHz, Record: true, AutoAnswer: true})

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res := e2e.RunSIPp(ctx, t, e2e.SIPpOptions{
		Target:   a.sipAddr("udp"),
		Service:  "1900",
		Caller:   "0912345678",
		Scenario: e2e.UACPlayPCAP(tonePCAP(t, 3*time.Second), 4*time.Second),
	})
	res.RequireCalls(t, 1, 0)

	if _, err := agent.WaitEvent(ctx, e2e.EventCallEstablished); err != nil {
		t.Fatalf("agent never had the call: %v", err)
	}
	ev, err := agent.WaitEvent(ctx, e2e.EventCallClosed)
	if err != nil {
		t.Fatalf("agent leg not torn down after the caller's BYE: %v", err)
	}
	if !strings.Contains(ev.Param, "peer") {
		t.Errorf("agent's call closed with %q, want a BYE from Hotline", ev.Param)
	}
	if !strings.Contains(ev.PeerURI, "0912345678") {
		t.Errorf("agent saw the call from %q, want the caller's number", ev.PeerURI)
	}
	tone, active := heard(t, agent)
	if tone != callerHz || active < 2*time.Second {
		t.Errorf("agent heard %v Hz for %s, want %v Hz for the caller's 3 s", tone, active, callerHz)
	}
	waitIdle(t, a)
	// The agent's answer answered the caller: Hotline's own part of the
	// caller's wait for the 200 is observed once.
	if got := a.metric(t, "hotline_answer_delay_seconds_count", nil); got != 1 {
		t.Errorf("hotline_answer_delay_seconds_count = %v, want 1", got)
	}
}

// TestE2ESIPpCallerHearsAgent: with SIPp signalling and the caller's media
// on a recorder socket, each side hears the other's tone, relayed in user
// space (TestE2EKernelRelay: in the kernel).
func TestE2ESIPpCallerHearsAgent(t *testing.T) {
	skipShort(t)
	a := startApp(t, func(c *Config) { c.RTP.Kernel = media.KernelOff })
	callerHearsAgent(t, a, "bob", "")
	waitIdle(t, a)
}

// callerHearsAgent: a SIPp caller (from caller, or SIPp's default when
// empty), its media on a recorder socket, calls the hotline; agentUser's
// baresip phone answers with agentHz; the caller talks 3 s of callerHz
// and hangs up. Each side must have heard the other's tone.
func callerHearsAgent(t *testing.T, a *testApp, agentUser, caller string) {
	t.Helper()
	agent := startAgent(t, a, agentUser, e2e.BaresipOptions{ToneHz: agentHz, Record: true, AutoAnswer: true})
	rec := e2e.NewUDPRecorder(t)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	p := e2e.StartSIPp(t, e2e.SIPpOptions{
		Target:   a.sipAddr("udp"),
		Service:  "1900",
		Caller:   caller,
		Scenario: e2e.UACPlayPCAP("", 5*time.Second).WithMediaPort(rec.Port()),
	})
	callerTalks(ctx, t, p, rec, func(ctx context.Context) error {
		_, err := agent.WaitEvent(ctx, e2e.EventCallEstablished)
		return err
	})
	if _, err := agent.WaitEvent(ctx, e2e.EventCallClosed); err != nil {
		t.Fatal(err)
	}
	s := rec.Samples()
	if got := e2e.DominantTone(s, 8000, tones); got != agentHz {
		t.Errorf("caller heard %v Hz, want the agent's %v Hz (%+v)", got, agentHz, rec.Stats())
	}
	if tone, active := heard(t, agent); tone != callerHz || active < 2*time.Second {
		t.Errorf("agent heard %v Hz for %s, want %v Hz", tone, active, callerHz)
	}
}

// startCaller starts a baresip caller that does not register: it dials
// Hotline directly, over transport.
func startCaller(t *testing.T, a *testApp, transport string) *e2e.Baresip {
	t.Helper()
	opts := e2e.BaresipOptions{User: "0987654321", ToneHz: callerHz, Record: true}
	if transport == "tcp" {
		opts.Transport = "tcp"
		opts.Outbound = "sip:" + a.sipAddr("tcp") + ";transport=tcp"
	}
	return e2e.StartBaresip(t, opts)
}

// TestE2EBaresipCallerAndAgent: a baresip caller (over TCP) and a baresip
// agent (over UDP) hear each other's tones; the agent hangs up first and
// the caller's leg gets the BYE.
func TestE2EBaresipCallerAndAgent(t *testing.T) {
	skipShort(t)
	a := startApp(t, func(c *Config) {
		off := false
		c.Survey.Enabled = &off // the survey has its own tests
	})
	agent := startAgent(t, a, "carol", e2e.BaresipOptions{ToneHz: agentHz, Record: true, AutoAnswer: true})
	caller := startCaller(t, a, "tcp")

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := caller.Dial(ctx, "sip:1900@"+a.sipAddr("tcp")+";transport=tcp"); err != nil {
		t.Fatal(err)
	}
	if _, err := caller.WaitEvent(ctx, e2e.EventCallEstablished); err != nil {
		t.Fatalf("caller not connected: %v", err)
	}
	if _, err := agent.WaitEvent(ctx, e2e.EventCallEstablished); err != nil {
		t.Fatalf("agent not connected: %v", err)
	}
	time.Sleep(3 * time.Second) // let the tones flow
	if err := agent.Hangup(ctx); err != nil {
		t.Fatal(err)
	}
	ev, err := caller.WaitEvent(ctx, e2e.EventCallClosed)
	if err != nil {
		t.Fatalf("caller's leg not torn down after the agent hung up: %v", err)
	}
	if !strings.Contains(ev.Param, "peer") {
		t.Errorf("caller's call closed with %q, want a BYE from Hotline", ev.Param)
	}
	if _, err := agent.WaitEvent(ctx, e2e.EventCallClosed); err != nil {
		t.Fatal(err)
	}
	if tone, active := heard(t, caller); tone != agentHz || active < 2*time.Second {
		t.Errorf("caller heard %v Hz for %s, want the agent's %v Hz", tone, active, agentHz)
	}
	if tone, active := heard(t, agent); tone != callerHz || active < 2*time.Second {
		t.Errorf("agent heard %v Hz for %s, want the caller's %v Hz", tone, active, callerHz)
	}
	waitIdle(t, a)
}

// TestE2ECallerCancelsWhileAgentRings: the caller gives up while the
// agent's phone rings; the agent's leg is CANCELled.
func TestE2ECallerCancelsWhileAgentRings(t *testing.T) {
	skipShort(t)
	a := startApp(t, nil)
	// Answers only after a minute: it just rings.
	agent := startAgent(t, a, "alice", e2e.BaresipOptions{AutoAnswer: true, AnswerDelay: time.Minute})

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res := e2e.RunSIPp(ctx, t, e2e.SIPpOptions{
		Target:   a.sipAddr("udp"),
		Service:  "1900",
		Scenario: e2e.UACCancelAfter(time.Second),
	})
	res.RequireCalls(t, 1, 0)
	if _, err := agent.WaitEvent(ctx, e2e.EventCallIncoming); err != nil {
		t.Fatalf("agent never rang: %v", err)
	}
	ev, err := agent.WaitEvent(ctx, e2e.EventCallClosed)
	if err != nil {
		t.Fatalf("agent kept ringing after the caller cancelled: %v", err)
	}
	if agent.HasEvent(e2e.EventCallEstablished) {
		t.Error("agent's call was established")
	}
	t.Logf("agent's ringing call closed: %q", ev.Param)
	waitIdle(t, a)
	waitFor(t, 5*time.Second, "alice available again", func() bool { return agentState(a, "alice") == acd.StateAvailable })
}

// TestE2ENextAgentRings: the first agent is busy (486), the second never
// answers (ring timeout, CANCELled), the third answers and gets the call;
// the caller's audio reaches the one who answered.
func TestE2ENextAgentRings(t *testing.T) {
	skipShort(t)
	a := startApp(t, func(c *Config) {
		c.Queue.RingTimeout = 2 * time.Second
		c.Queue.RetryDelay = time.Minute
	})
	// Registration order is idle order: alice, bob, then carol are offered the call.
	busy := startAgent(t, a, "alice", e2e.BaresipOptions{Reject: true})
	silent := startAgent(t, a, "bob", e2e.BaresipOptions{AutoAnswer: true, AnswerDelay: time.Minute})
	answers := startAgent(t, a, "carol", e2e.BaresipOptions{ToneHz: agentHz, Record: true, AutoAnswer: true})

	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	res := e2e.RunSIPp(ctx, t, e2e.SIPpOptions{
		Target:   a.sipAddr("udp"),
		Service:  "1900",
		Scenario: e2e.UACPlayPCAP(tonePCAP(t, 8*time.Second), 9*time.Second),
	})
	res.RequireCalls(t, 1, 0)
	for _, b := range []*e2e.Baresip{busy, silent} {
		if _, err := b.WaitEvent(ctx, e2e.EventCallIncoming); err != nil {
			t.Fatalf("%s never rang: %v", b.AOR, err)
		}
		if _, err := b.WaitEvent(ctx, e2e.EventCallClosed); err != nil {
			t.Fatalf("%s's offer never ended: %v", b.AOR, err)
		}
		if b.HasEvent(e2e.EventCallEstablished) {
			t.Errorf("%s got the call", b.AOR)
		}
	}
	if _, err := answers.WaitEvent(ctx, e2e.EventCallClosed); err != nil {
		t.Fatal(err)
	}
	if !answers.HasEvent(e2e.EventCallEstablished) {
		t.Fatal("carol never got the call")
	}
	if tone, active := heard(t, answers); tone != callerHz || active < time.Second {
		t.Errorf("carol heard %v Hz for %s, want the caller's tone", tone, active)
	}
	waitIdle(t, a)
}

// TestE2EBadRequests: wrong number, no common codec and malformed SDP get
// 404, 488 and 400; a softphone with the wrong password cannot register.
func TestE2EBadRequests(t *testing.T) {
	skipShort(t)
	a := startApp(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, tc := range []struct {
		name     string
		service  string
		scenario e2e.Scenario
	}{
		{"unknown number", "5555", e2e.UACExpectStatus(404)},
		{"no common codec", "1900", e2e.UACNoCommonCodec()},
		{"malformed SDP", "1900", e2e.UACBadSDP()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := e2e.RunSIPp(ctx, t, e2e.SIPpOptions{Target: a.sipAddr("udp"), Service: tc.service, Scenario: tc.scenario})
			res.RequireCalls(t, 1, 0)
		})
	}
	t.Run("wrong password", func(t *testing.T) {
		b := e2e.StartBaresip(t, e2e.BaresipOptions{User: "alice", Password: "not-her-password", Registrar: a.sipAddr("udp")})
		err := b.WaitRegistered(ctx)
		if err == nil {
			t.Fatal("registered with a wrong password")
		}
		if got := a.sip.Registrar().Lookup("alice"); len(got) != 0 {
			t.Fatalf("bindings after a failed REGISTER: %+v", got)
		}
		if !strings.Contains(a.logs.String(), "403") && !strings.Contains(err.Error(), "403") {
			t.Logf("registration error: %v", err)
		}
	})
	waitIdle(t, a)
}

func openFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

// TestE2EConcurrentCallsNoLeaks: 20 callers at once for 5 agents; 15 of
// them wait in the queue. Every call reaches an agent and completes, and
// afterwards Hotline holds no call, RTP port, goroutine or socket more
// than before.
func TestE2EConcurrentCallsNoLeaks(t *testing.T) {
	skipShort(t)
	const calls, agents = 20, 5
	a := startApp(t, func(c *Config) {
		c.Agents = nil
		for i := 1; i <= agents; i++ {
			c.Agents = append(c.Agents, config.Agent{Username: fmt.Sprintf("agent%d", i), Password: fmt.Sprintf("pw-%d", i)})
		}
		c.Queue.MaxWait = 2 * time.Minute
		c.Log.Level = "info"
	})
	var phones []*e2e.Baresip
	for i := 1; i <= agents; i++ {
		phones = append(phones, startAgent(t, a, fmt.Sprintf("agent%d", i), e2e.BaresipOptions{ToneHz: agentHz, AutoAnswer: true}))
	}
	time.Sleep(500 * time.Millisecond) // let registration goroutines settle
	baseGoroutines, baseFDs := runtime.NumGoroutine(), openFDs(t)

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// Each agent talks for a second, then hangs up; Hotline then sends the
	// caller a BYE, which is what each SIPp caller waits for.
	var mu sync.Mutex
	answered := map[string]int{}
	var wg sync.WaitGroup
	for _, p := range phones {
		wg.Add(1)
		go func(p *e2e.Baresip) {
			defer wg.Done()
			for {
				if _, err := p.WaitEvent(ctx, e2e.EventCallEstablished); err != nil {
					return
				}
				mu.Lock()
				answered[p.AOR]++
				mu.Unlock()
				select {
				case <-time.After(time.Second):
				case <-ctx.Done():
					return
				}
				_ = p.Hangup(ctx)
				if _, err := p.WaitEvent(ctx, e2e.EventCallClosed); err != nil {
					return
				}
			}
		}(p)
	}
	res := e2e.RunSIPp(ctx, t, e2e.SIPpOptions{
		Target:     a.sipAddr("udp"),
		Service:    "1900",
		Scenario:   e2e.UACRemoteBye(tonePCAP(t, time.Second), 90*time.Second),
		Calls:      calls,
		Rate:       50,
		Concurrent: calls,
		Timeout:    100 * time.Second,
	})
	res.RequireCalls(t, calls, 0)
	cancel()
	wg.Wait()
	total := 0
	for aor, n := range answered {
		total += n
		t.Logf("%s answered %d calls", aor, n)
	}
	if total != calls {
		t.Errorf("agents answered %d calls, want %d", total, calls)
	}
	waitIdle(t, a)
	deadline := time.Now().Add(10 * time.Second)
	for {
		g, fds := runtime.NumGoroutine(), openFDs(t)
		if g <= baseGoroutines && fds <= baseFDs {
			break
		}
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			buf = buf[:runtime.Stack(buf, true)]
			t.Fatalf("leak: %d goroutines (baseline %d), %d open files (baseline %d)\n%s", g, baseGoroutines, fds, baseFDs, buf)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestE2ECallsOnlyFromTrunks: with trunks configured, a call from another
// address is refused (403), or challenged (401) when authenticated calls
// are allowed; nothing rings.
func TestE2ECallsOnlyFromTrunks(t *testing.T) {
	skipShort(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, tc := range []struct {
		name string
		auth bool
		want int
	}{{"refused", false, 403}, {"challenged", true, 401}} {
		t.Run(tc.name, func(t *testing.T) {
			a := startApp(t, func(c *Config) {
				c.SIP.Trunks = []string{"127.0.0.2/32", "10.20.30.0/24"} // not where SIPp calls from
				c.SIP.AuthenticateCalls = tc.auth
			})
			agent := startAgent(t, a, "alice", e2e.BaresipOptions{AutoAnswer: true})
			res := e2e.RunSIPp(ctx, t, e2e.SIPpOptions{Target: a.sipAddr("udp"), Service: "1900", Scenario: e2e.UACExpectStatus(tc.want)})
			res.RequireCalls(t, 1, 0)
			if agent.HasEvent(e2e.EventCallEstablished) || agent.HasEvent(e2e.EventCallIncoming) {
				t.Error("the agent rang for a call from outside the trunks")
			}
		})
	}
}
