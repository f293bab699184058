package main

// End-to-end tests of routing through SIP: segments and skills pick the
// queue and agent, closed schedules give the after-hours action, and
// agents log out and in with feature codes.

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"hotline/api"
	"hotline/internal/e2e"
	"hotline/routing/acd"
	"hotline/routing/callbacks"
	"hotline/routing/config"
	"hotline/routing/schedule"
)

// writeCustomers writes a customer directory with a loyal and an at_risk
// customer.
func writeCustomers(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "customers.yaml")
	if err := os.WriteFile(p, []byte(`customers:
  - {id: L1, name: Loyal Le, number: "0912000111", segment: loyal}
  - {id: R1, name: Risky Ro, number: "0912000222", segment: at_risk}
`), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// callAndHangUp places one SIPp call that talks for a moment and hangs up.
func callAndHangUp(ctx context.Context, t *testing.T, a *testApp, caller string) {
	t.Helper()
	res := e2e.RunSIPp(ctx, t, e2e.SIPpOptions{
		Target:   a.sipAddr("udp"),
		Service:  "1900",
		Caller:   caller,
		Scenario: e2e.UACPlayPCAP(tonePCAP(t, time.Second), 2*time.Second),
	})
	res.RequireCalls(t, 1, 0)
	waitIdle(t, a)
}

// TestE2ESegmentAndSkillRouting: a loyal caller reaches the senior queue's
// agent (alice), not the general agents; an at_risk caller reaches the
// complaint specialist (bob, complaints level 4), not carol who is in the
// same queue without the skill.
func TestE2ESegmentAndSkillRouting(t *testing.T) {
	skipShort(t)
	customers := writeCustomers(t)
	a := startApp(t, func(c *Config) {
		c.Directory.File = customers
		c.Queues = []config.QueueDef{{Name: "general"}, {Name: "senior"}, {Name: "complaints"}}
		c.Rules = []config.RuleConfig{
			{Name: "loyal", Segments: []string{"loyal"}, Queue: "senior", Priority: 10},
			{Name: "at-risk", Segments: []string{"at_risk"}, Queue: "complaints", Priority: 5, Skills: map[string]int{"complaints": 3}},
			{Name: "default", Queue: "general"},
		}
		for i := range c.Agents {
			switch c.Agents[i].Username {
			case "alice":
				c.Agents[i].Queues = []string{"senior"}
			case "bob":
				c.Agents[i].Queues = []string{"general", "complaints"}
				c.Agents[i].Skills = map[string]int{"complaints": 4}
			case "carol":
				c.Agents[i].Queues = []string{"general", "complaints"}
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
	agents := map[string]*e2e.Baresip{}
	// carol first: idle longest, she would get any call she may take.
	for _, u := range []string{"carol", "bob", "alice"} {
		agents[u] = startAgent(t, a, u, e2e.BaresipOptions{ToneHz: agentHz, AutoAnswer: true})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	calls := func(b *e2e.Baresip) int {
		n := 0
		for _, ev := range b.Events() {
			if ev.Type == e2e.EventCallEstablished {
				n++
			}
		}
		return n
	}
	took := func(want string, before map[string]int) {
		t.Helper()
		for u, b := range agents {
			if got := calls(b) - before[u]; got != map[bool]int{true: 1}[u == want] {
				t.Errorf("agent %s took %d calls, want the call to go to %s", u, got, want)
			}
		}
	}
	count := func() map[string]int {
		m := map[string]int{}
		for u, b := range agents {
			m[u] = calls(b)
		}
		return m
	}
	before := count()
	callAndHangUp(ctx, t, a, "+84912000111") // loyal
	took("alice", before)
	before = count()
	callAndHangUp(ctx, t, a, "+84912000222") // at_risk
	took("bob", before)
}

// TestE2EAfterHoursCallback: with the queue's schedule closed, a caller is
// answered, hears the callback confirmation and is hung up on; the
// callback request is stored (GET /api/v1/callbacks) and no agent rings.
func TestE2EAfterHoursCallback(t *testing.T) {
	skipShort(t)
	customers := writeCustomers(t)
	a := startApp(t, func(c *Config) {
		c.Directory.File = customers
		// A schedule never open: no weekly hours.
		c.Schedules = []schedule.Config{{Name: "closed", Zone: "UTC"}}
		c.Queues = []config.QueueDef{{Name: "general", Schedule: "closed",
			AfterHours: config.ActionConfig{Type: config.ActionCallback}}}
		c.Rules = []config.RuleConfig{{Name: "default", Queue: "general"}}
		c.Callbacks.Queue = "general"
		c.Config.SetDefaults()
		if err := c.Config.Validate(); err != nil {
			t.Fatal(err)
		}
	})
	agent := startAgent(t, a, "alice", e2e.BaresipOptions{ToneHz: agentHz, AutoAnswer: true})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	res := e2e.RunSIPp(ctx, t, e2e.SIPpOptions{
		Target:   a.sipAddr("udp"),
		Service:  "1900",
		Caller:   "+84912000111",
		Scenario: e2e.UACRemoteBye("", 30*time.Second),
		Timeout:  40 * time.Second,
	})
	res.RequireCalls(t, 1, 0) // answered, then BYE from Hotline
	waitIdle(t, a)
	if agent.HasEvent(e2e.EventCallEstablished) || agent.HasEvent(e2e.EventCallIncoming) {
		t.Error("an agent was offered a call while the queue is closed")
	}
	var cbs []api.Callback
	if code := httpJSON(t, "GET", a.apiURL("/api/v1/callbacks"), "", &cbs); code != 200 {
		t.Fatalf("GET /api/v1/callbacks: %d", code)
	}
	if len(cbs) != 1 || cbs[0].Number != "+84912000111" || cbs[0].CustomerID != "L1" ||
		cbs[0].Queue != "general" || cbs[0].Kind != callbacks.Queued {
		t.Fatalf("callbacks %+v, want one queued callback for L1 in general", cbs)
	}
}

// TestE2EFeatureCodesLogOutAndIn: alice dials *22 from her softphone and
// is logged out (a call goes to bob, not her); *21 logs her in again.
func TestE2EFeatureCodesLogOutAndIn(t *testing.T) {
	skipShort(t)
	a := startApp(t, func(c *Config) {
		off := false
		c.Survey.Enabled = &off
	})
	alice := startAgent(t, a, "alice", e2e.BaresipOptions{ToneHz: agentHz, AutoAnswer: true})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	waitFor(t, 5*time.Second, "alice logged in by registering", func() bool { return agentState(a, "alice") == acd.StateAvailable })

	feature := func(code string, want acd.AgentState) {
		t.Helper()
		if err := alice.Dial(ctx, "sip:"+code+"@"+a.sipAddr("udp")); err != nil {
			t.Fatal(err)
		}
		if _, err := alice.WaitEvent(ctx, e2e.EventCallClosed); err != nil {
			t.Fatalf("%s: the feature-code call did not end: %v", code, err)
		}
		waitFor(t, 5*time.Second, "alice "+string(want)+" after "+code, func() bool { return agentState(a, "alice") == want })
	}
	feature("*22", acd.StateLoggedOut)

	bob := startAgent(t, a, "bob", e2e.BaresipOptions{ToneHz: agentHz, AutoAnswer: true})
	callAndHangUp(ctx, t, a, "0912345678")
	if !bob.HasEvent(e2e.EventCallEstablished) {
		t.Error("bob did not get the call")
	}
	if alice.HasEvent(e2e.EventCallIncoming) {
		t.Error("logged-out alice was offered the call")
	}
	feature("*21", acd.StateAvailable)
}
