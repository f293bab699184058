package main

// End-to-end tests of the callback dialer: a baresip agent, SIPp as the
// customer's phone behind the outbound gateway (on loopback), Hotline's
// clock moved across opening hours.

import (
	"context"
	"io"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"hotline/api"
	"hotline/internal/e2e"
	"hotline/metrics"
	"hotline/routing/callbacks"
	"hotline/routing/config"
	"hotline/routing/schedule"
	"hotline/sip"
)

// simClock is Hotline's clock in these tests: real time shifted so that
// it reads a chosen time of day (UTC) today; it only moves forward.
type simClock struct {
	day    time.Time
	offset atomic.Int64
}

func newSimClock() *simClock {
	return &simClock{day: time.Now().UTC()}
}

func (c *simClock) now() time.Time { return time.Now().Add(time.Duration(c.offset.Load())) }

// at makes the clock read hh:mm today (UTC).
func (c *simClock) at(hh, mm int) {
	target := time.Date(c.day.Year(), c.day.Month(), c.day.Day(), hh, mm, 0, 0, time.UTC)
	c.offset.Store(int64(time.Until(target)))
}

// callbackApp starts Hotline with one queue open 08:00-20:00 UTC every
// day (after hours: the callback action), the customer directory, and the
// outbound gateway at gateway.
func callbackApp(t *testing.T, clock *simClock, gateway string, mutate func(c *Config)) *testApp {
	t.Helper()
	customers := writeCustomers(t)
	day := []string{"08:00-20:00"}
	return startAppClock(t, func(c *Config) {
		c.Directory.File = customers
		c.Schedules = []schedule.Config{{Name: "office", Zone: "UTC", Weekly: schedule.WeeklyHours{
			Mon: day, Tue: day, Wed: day, Thu: day, Fri: day, Sat: day, Sun: day}}}
		c.Queues = []config.QueueDef{{Name: "general", Schedule: "office",
			AfterHours: config.ActionConfig{Type: config.ActionCallback}}}
		c.Rules = []config.RuleConfig{{Name: "default", Queue: "general"}}
		c.Callbacks.Queue = "general"
		off := false
		c.Survey.Enabled = &off
		// The clock jumps ahead: registrations must outlive the jumps.
		c.SIP.Registrar.MaxExpires = 48 * time.Hour
		c.SIP.Outbound = sip.Outbound{Gateway: gateway, From: "1900", Interval: 200 * time.Millisecond,
			RingTimeout: 10 * time.Second}
		if mutate != nil {
			mutate(c)
		}
		c.SIP.SetDefaults()
		c.Config.SetDefaults()
		if err := c.SIP.Validate(); err != nil {
			t.Fatal(err)
		}
		if err := c.Config.Validate(); err != nil {
			t.Fatal(err)
		}
	}, clock.now)
}

// listCallbacks is GET /api/v1/callbacks.
func listCallbacks(t *testing.T, a *testApp) []api.Callback {
	t.Helper()
	var cbs []api.Callback
	if code := httpJSON(t, "GET", a.apiURL("/api/v1/callbacks"), "", &cbs); code != 200 {
		t.Fatalf("GET /api/v1/callbacks: %d", code)
	}
	return cbs
}

// waitCallback polls GET /api/v1/callbacks until the only callback
// satisfies cond.
func waitCallback(t *testing.T, a *testApp, what string, cond func(api.Callback) bool) api.Callback {
	t.Helper()
	var last []api.Callback
	deadline := time.Now().Add(20 * time.Second)
	for {
		last = listCallbacks(t, a)
		if len(last) == 1 && cond(last[0]) {
			return last[0]
		}
		if time.Now().After(deadline) {
			t.Fatalf("callbacks %+v, want one %s", last, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// sippGotInvite says whether SIPp's message trace shows an INVITE
// received.
func sippGotInvite(t *testing.T, p *e2e.SIPp) bool {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(p.Dir(), "*_messages.log"))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(b), "INVITE sip:") {
			return true
		}
	}
	return false
}

// counter returns the value of a hotline counter with the given labels
// (0 if the series does not exist).
func counter(t *testing.T, a *testApp, name string, labels map[string]string) float64 {
	t.Helper()
	mfs, err := a.metrics.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name && mf.GetName()+"_total" != name {
			continue
		}
	series:
		for _, m := range mf.GetMetric() {
			got := map[string]string{}
			for _, l := range m.GetLabel() {
				got[l.GetName()] = l.GetValue()
			}
			for k, v := range labels {
				if got[k] != v {
					continue series
				}
			}
			return m.GetCounter().GetValue()
		}
	}
	return 0
}

// TestE2ECallbackAgentFirstThenCustomer: at 07:00 the queue is closed and
// a caller gets the callback action; nothing is dialled before the 08:00
// opening. Then the agent's phone rings first and the customer's phone
// (SIPp behind the gateway) gets no INVITE until the agent answers; the
// customer then hears the agent and the agent the customer, the agent
// hangs up, the customer gets the BYE, the callback is completed in
// GET /api/v1/callbacks and the call's recording holds the customer on
// the left and the agent on the right.
func TestE2ECallbackAgentFirstThenCustomer(t *testing.T) {
	skipShort(t)
	clock := newSimClock()
	clock.at(7, 0)
	rec := e2e.NewUDPRecorder(t) // the customer's media
	customer := e2e.StartSIPp(t, e2e.SIPpOptions{
		Scenario: e2e.UASAnswer(e2e.UASAnswerOptions{}).WithMediaPort(rec.Port()),
		Timeout:  90 * time.Second,
	})
	a := callbackApp(t, clock, customer.Addr(), nil)
	agent := startAgent(t, a, "alice", e2e.BaresipOptions{ToneHz: agentHz, Record: true, RegisterInterval: 24 * time.Hour})

	ctx, cancel := context.WithTimeout(context.Background(), 80*time.Second)
	defer cancel()
	// 07:00: closed; the caller is told they will be called back.
	res := e2e.RunSIPp(ctx, t, e2e.SIPpOptions{
		Target:   a.sipAddr("udp"),
		Service:  "1900",
		Caller:   "+84912000111",
		Scenario: e2e.UACRemoteBye("", 30*time.Second),
	})
	res.RequireCalls(t, 1, 0)
	waitIdle(t, a)
	cb := waitCallback(t, a, "pending for the opening", func(c api.Callback) bool { return c.Status == callbacks.Pending })
	opening := time.Date(clock.day.Year(), clock.day.Month(), clock.day.Day(), 8, 0, 0, 0, time.UTC)
	if cb.Number != "+84912000111" || cb.CustomerID != "L1" || !cb.Due.Equal(opening) {
		t.Fatalf("callback %+v, want L1's number due at %v", cb, opening)
	}
	time.Sleep(time.Second) // several dialer rounds while closed
	if agent.HasEvent(e2e.EventCallIncoming) || sippGotInvite(t, customer) {
		t.Fatal("a callback was dialled while the queue is closed")
	}

	// 08:00: the agent rings first.
	clock.at(8, 0)
	ev, err := agent.WaitEvent(ctx, e2e.EventCallIncoming)
	if err != nil {
		t.Fatalf("the agent's phone did not ring for the callback: %v", err)
	}
	if !strings.Contains(ev.PeerURI, "+84912000111") {
		t.Errorf("agent sees the callback from %q, want the customer's number", ev.PeerURI)
	}
	time.Sleep(500 * time.Millisecond) // the agent lets it ring a moment
	if sippGotInvite(t, customer) {
		t.Fatal("the customer was called before the agent answered")
	}
	if err := agent.Answer(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := agent.WaitEvent(ctx, e2e.EventCallEstablished); err != nil {
		t.Fatal(err)
	}
	// The customer answers; Hotline bridges: the agent's tone reaches the
	// customer, and the customer (symmetric RTP) talks back.
	if err := rec.WaitPackets(ctx, 5); err != nil {
		t.Fatalf("the customer got no audio: %v", err)
	}
	if !sippGotInvite(t, customer) {
		t.Error("no INVITE in the customer's trace")
	}
	if err := rec.SendTone(ctx, netip.AddrPort{}, callerHz, 3*time.Second, e2e.PayloadPCMU); err != nil {
		t.Fatal(err)
	}
	var calls []api.Call
	if code := httpJSON(t, "GET", a.apiURL("/api/v1/calls"), "", &calls); code != 200 || len(calls) != 1 ||
		calls[0].Agent != "alice" || calls[0].From != "+84912000111" {
		t.Errorf("GET /api/v1/calls: %d %+v, want the callback with alice", code, calls)
	}
	if err := agent.Hangup(ctx); err != nil {
		t.Fatal(err)
	}
	ures, err := customer.Wait(ctx) // the customer's phone got the BYE
	if err != nil {
		t.Fatal(err)
	}
	ures.RequireCalls(t, 1, 0)
	if _, err := agent.WaitEvent(ctx, e2e.EventCallClosed); err != nil {
		t.Fatal(err)
	}
	if got := e2e.DominantTone(rec.Samples(), 8000, tones); got != agentHz {
		t.Errorf("the customer heard %v Hz, want the agent's %v Hz (%+v)", got, agentHz, rec.Stats())
	}
	if tone, active := heard(t, agent); tone != callerHz || active < 2*time.Second {
		t.Errorf("the agent heard %v Hz for %s, want the customer's %v Hz", tone, active, callerHz)
	}
	waitIdle(t, a)

	done := waitCallback(t, a, "completed", func(c api.Callback) bool { return c.Status == callbacks.Completed })
	if done.Attempts != 1 || done.LastCallID == "" || done.LastResult != "answered" {
		t.Errorf("completed callback %+v", done)
	}
	if got := counter(t, a, metrics.NameCallbackAttempts, map[string]string{"queue": "general", "result": "answered"}); got != 1 {
		t.Errorf("answered attempts: %v, want 1", got)
	}
	if got := counter(t, a, metrics.NameCallbacksCompleted, map[string]string{"queue": "general", "kind": "queued"}); got != 1 {
		t.Errorf("completed callbacks: %v, want 1", got)
	}

	// The recording of the callback call: customer left, agent right.
	var wav []byte
	waitFor(t, 20*time.Second, "the callback's recording", func() bool {
		// ?redirect=1: the WAV itself (through a signed download URL
		// where the API serves one).
		resp, err := http.Get(a.apiURL("/api/v1/recordings/" + done.LastCallID + "?redirect=1"))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != 200 {
			return false
		}
		wav, err = io.ReadAll(resp.Body)
		return err == nil
	})
	path := filepath.Join(t.TempDir(), "callback.wav")
	if err := os.WriteFile(path, wav, 0o600); err != nil {
		t.Fatal(err)
	}
	left, info, err := e2e.ReadWAVChannel(path, 0)
	if err != nil {
		t.Fatal(err)
	}
	right, _, err := e2e.ReadWAVChannel(path, 1)
	if err != nil {
		t.Fatal(err)
	}
	if info.Channels != 2 {
		t.Fatalf("recording %+v, want stereo", info)
	}
	if got := e2e.DominantTone(left, 8000, tones); got != callerHz {
		t.Errorf("left channel carries %v Hz, want the customer's %v Hz", got, callerHz)
	}
	if got := e2e.DominantTone(right, 8000, tones); got != agentHz {
		t.Errorf("right channel carries %v Hz, want the agent's %v Hz", got, agentHz)
	}
}

// TestE2ECallbackBusyCustomerRetried: the customer's phone answers 486
// Busy Here. The agent who took the callback is hung up on; the callback
// stays pending with one attempt, due after the retry delay, and nothing
// is dialled before. An hour later it is tried again, busy again, and,
// attempts exhausted, listed as failed. The metrics count both attempts
// and the failure.
func TestE2ECallbackBusyCustomerRetried(t *testing.T) {
	skipShort(t)
	clock := newSimClock()
	clock.at(10, 0)
	customer := e2e.StartSIPp(t, e2e.SIPpOptions{Scenario: e2e.UASRespond(486), Calls: 2, Timeout: 90 * time.Second})
	a := callbackApp(t, clock, customer.Addr(), func(c *Config) {
		c.SIP.Outbound.MaxAttempts = 2
		c.SIP.Outbound.RetryDelay = time.Hour
	})
	agent := startAgent(t, a, "alice", e2e.BaresipOptions{ToneHz: agentHz, AutoAnswer: true, RegisterInterval: 24 * time.Hour})
	ctx, cancel := context.WithTimeout(context.Background(), 80*time.Second)
	defer cancel()

	// A caller's callback request (as the queue's callback key stores it).
	cb, err := a.callbacks.Add(callbacks.Callback{Kind: callbacks.Queued, Number: "+84912000222", CustomerID: "R1",
		Queue: "general", Reason: "caller asked"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := agent.WaitEvent(ctx, e2e.EventCallEstablished); err != nil {
		t.Fatalf("the agent did not get the callback: %v", err)
	}
	if _, err := agent.WaitEvent(ctx, e2e.EventCallClosed); err != nil {
		t.Fatalf("the agent was not hung up on after the busy customer: %v", err)
	}
	first := waitCallback(t, a, "pending after a busy customer", func(c api.Callback) bool {
		return c.Attempts == 1 && !c.Claimed && c.LastResult == "busy"
	})
	if first.ID != cb.ID || first.Status != callbacks.Pending || first.Due.Sub(first.LastAttempt) < 59*time.Minute {
		t.Errorf("after one busy attempt: %+v, want pending, due an hour later", first)
	}
	if got := counter(t, a, metrics.NameCallbackAttempts, map[string]string{"queue": "general", "result": "busy"}); got != 1 {
		t.Errorf("busy attempts: %v, want 1", got)
	}
	time.Sleep(time.Second) // several dialer rounds before the retry time
	if n := len(eventsOf(agent, e2e.EventCallEstablished)); n != 1 {
		t.Fatalf("the agent had %d callback calls before the retry time, want 1", n)
	}

	clock.at(11, 1)
	waitFor(t, 20*time.Second, "the second attempt", func() bool { return len(eventsOf(agent, e2e.EventCallClosed)) == 2 })
	failed := waitCallback(t, a, "failed", func(c api.Callback) bool { return c.Status == callbacks.Failed })
	if failed.Attempts != 2 || failed.LastResult != "busy" {
		t.Errorf("failed callback %+v, want 2 busy attempts", failed)
	}
	if got := counter(t, a, metrics.NameCallbackAttempts, map[string]string{"queue": "general", "result": "busy"}); got != 2 {
		t.Errorf("busy attempts: %v, want 2", got)
	}
	if got := counter(t, a, metrics.NameCallbacksFailed, map[string]string{"queue": "general", "reason": "attempts"}); got != 1 {
		t.Errorf("failed callbacks: %v, want 1", got)
	}
	res, err := customer.Wait(ctx)
	if err != nil {
		t.Fatal(err)
	}
	res.RequireCalls(t, 2, 0)
	waitIdle(t, a)
}

func eventsOf(b *e2e.Baresip, typ string) []e2e.Event {
	var out []e2e.Event
	for _, ev := range b.Events() {
		if ev.Type == typ {
			out = append(out, ev)
		}
	}
	return out
}

// TestE2ECallbackNotPlacedAfterClosing: a callback an agent takes only
// after closing time (it rang at 19:59, the agent answers at 20:00) does
// not call the customer: the agent hears a tone and is hung up on, and the
// callback waits, with no attempt counted, for the next opening.
func TestE2ECallbackNotPlacedAfterClosing(t *testing.T) {
	skipShort(t)
	clock := newSimClock()
	clock.at(19, 59)
	customer := e2e.StartSIPp(t, e2e.SIPpOptions{Scenario: e2e.UASAnswer(e2e.UASAnswerOptions{}), Timeout: 60 * time.Second})
	a := callbackApp(t, clock, customer.Addr(), nil)
	agent := startAgent(t, a, "alice", e2e.BaresipOptions{ToneHz: agentHz, RegisterInterval: 24 * time.Hour})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	cb, err := a.callbacks.Add(callbacks.Callback{Kind: callbacks.Queued, Number: "+84912000111", Queue: "general"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := agent.WaitEvent(ctx, e2e.EventCallIncoming); err != nil {
		t.Fatalf("the agent's phone did not ring: %v", err)
	}
	clock.at(20, 0) // closing time while it rings
	if err := agent.Answer(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := agent.WaitEvent(ctx, e2e.EventCallClosed); err != nil {
		t.Fatalf("the agent was not hung up on: %v", err)
	}
	tomorrow := time.Date(clock.day.Year(), clock.day.Month(), clock.day.Day()+1, 8, 0, 0, 0, time.UTC)
	got := waitCallback(t, a, "pending for tomorrow", func(c api.Callback) bool { return !c.Claimed && c.Due.Equal(tomorrow) })
	if got.ID != cb.ID || got.Status != callbacks.Pending || got.Attempts != 0 {
		t.Errorf("callback %+v, want pending with no attempt", got)
	}
	time.Sleep(time.Second) // dialer rounds after closing
	if sippGotInvite(t, customer) {
		t.Error("the customer was called after closing time")
	}
	waitIdle(t, a)
}
