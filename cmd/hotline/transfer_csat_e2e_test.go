package main

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"hotline/internal/e2e"
	"hotline/metrics"
)

// TestE2ECSATAfterTransfer: alice blind-transfers her caller to bob
// (baresip's transfer command, REFER); bob talks, then hangs up; the
// caller hears the survey and rates the call 4 by keypad. The stored
// record (history API) keeps both agents in order and the transfer, and
// names bob, the last agent, with the CSAT; the per-agent satisfaction
// metric credits bob's rating to bob, none to alice; the transfer is
// counted as a completed blind transfer to an agent.
func TestE2ECSATAfterTransfer(t *testing.T) {
	skipShort(t)
	a := startTransferApp(t, 0, func(c *Config) {
		on := true
		c.Survey.Enabled = &on
		c.Records.FlushInterval = 50 * time.Millisecond
	})
	alice := startAgent(t, a, "alice", e2e.BaresipOptions{ToneHz: agentHz, AutoAnswer: true})
	caller := startCaller(t, a, "udp")
	callHotline(t, a, caller, alice)
	bob := startAgent(t, a, "bob", e2e.BaresipOptions{ToneHz: agentHz, AutoAnswer: true})

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if _, err := alice.Command(ctx, "transfer", "sip:bob@"+a.sipAddr("udp")); err != nil {
		t.Fatal(err)
	}
	if _, err := alice.WaitEvent(ctx, e2e.EventCallClosed); err != nil {
		t.Fatalf("alice's phone was not taken off the call: %v", err)
	}
	if _, err := bob.WaitEvent(ctx, e2e.EventCallEstablished); err != nil {
		t.Fatalf("bob's phone did not get the transferred caller: %v", err)
	}
	time.Sleep(time.Second)
	if err := bob.Hangup(ctx); err != nil {
		t.Fatal(err)
	}
	// The caller stays on for the survey and answers its question.
	time.Sleep(1500 * time.Millisecond)
	if _, err := caller.Command(ctx, "sndcode", "4"); err != nil {
		t.Fatal(err)
	}
	if _, err := caller.WaitEvent(ctx, e2e.EventCallClosed); err != nil {
		t.Fatalf("Hotline did not end the call after the survey: %v", err)
	}
	waitIdle(t, a)

	var page struct {
		Calls []struct {
			Agent     string          `json:"agent"`
			CSAT      *int            `json:"csat"`
			Legs      json.RawMessage `json:"legs"`
			Transfers []struct {
				Kind   string `json:"kind"`
				By     string `json:"by"`
				Target string `json:"target"`
			} `json:"transfers"`
		} `json:"calls"`
	}
	waitFor(t, 10*time.Second, "the transferred call in the history", func() bool {
		page.Calls = nil
		return httpJSON(t, "GET", a.apiURL("/api/v1/history/calls"), "", &page) == 200 && len(page.Calls) == 1
	})
	c := page.Calls[0]
	if c.Agent != "bob" || c.CSAT == nil || *c.CSAT != 4 {
		t.Errorf("history row: agent %q csat %v, want bob credited with 4", c.Agent, c.CSAT)
	}
	if got, want := string(c.Legs), `[{"role":"agent","agent":"alice"},{"role":"agent","agent":"bob"}]`; got != want {
		t.Errorf("legs %s, want %s", got, want)
	}
	if len(c.Transfers) != 1 || c.Transfers[0].Kind != "blind" || c.Transfers[0].By != "alice" || c.Transfers[0].Target != "agent:bob" {
		t.Errorf("transfers %+v, want alice's blind transfer to agent:bob", c.Transfers)
	}
	if n := a.metric(t, metrics.NameAgentCSAT+"_count", map[string]string{"agent": "bob"}); n != 1 {
		t.Errorf("bob's ratings in %s: %v, want 1", metrics.NameAgentCSAT, n)
	}
	if s := a.metric(t, metrics.NameAgentCSAT+"_sum", map[string]string{"agent": "bob"}); s != 4 {
		t.Errorf("bob's rating sum: %v, want 4", s)
	}
	if n := a.metric(t, metrics.NameAgentCSAT+"_count", map[string]string{"agent": "alice"}); n != 0 {
		t.Errorf("alice's ratings: %v, want none (she transferred the call)", n)
	}
	if n := a.metric(t, metrics.NameTransfers, map[string]string{"kind": "blind", "target": "agent", "outcome": "completed"}); n != 1 {
		t.Errorf("%s{kind=blind,target=agent,outcome=completed} = %v, want 1", metrics.NameTransfers, n)
	}
}
