package acd

import (
	"errors"

	"hotline/routing/config"
	"testing"
	"time"

	"hotline/routing/config/configtest"
)

// A caller sent back to the queue at the front (a transfer nobody took)
// is served before every other waiting caller, higher priority or
// earlier arrival included; callers at the front are served among
// themselves by priority, then arrival.
func TestACDFrontOfQueue(t *testing.T) {
	f := newACD(t, configtest.BaseConfig(configtest.Agents("alice")...))
	busy := f.enqueue(CallRequest{ID: "busy"})
	if err := busy.Answered(f.offer(busy).Agents[0]); err != nil {
		t.Fatal(err)
	}
	old := f.enqueue(CallRequest{ID: "old", Priority: 0})
	f.clk.Add(time.Second)
	vip := f.enqueue(CallRequest{ID: "vip", Priority: 10})
	f.clk.Add(time.Second)
	back := f.enqueue(CallRequest{ID: "back", Priority: 0, Front: true})
	f.clk.Add(time.Second)
	backVIP := f.enqueue(CallRequest{ID: "back-vip", Priority: 5, Front: true})
	want := []*QueuedCall{backVIP, back, vip, old}
	for i, c := range want {
		if p := c.Status().Position; p != i {
			t.Errorf("%s at position %d, want %d", c.ID(), p, i)
		}
	}
	for _, c := range want {
		if err := f.acd.byName["alice"].call.Hangup(); err != nil {
			t.Fatal(err)
		}
		if err := c.Answered(f.offer(c).Agents[0]); err != nil {
			t.Fatal(err)
		}
	}
}

// A call for one agent (a transfer to bob) rings bob only, even when bob
// does not answer its queue and others are free; bob not answering
// leaves it waiting for nobody until Requeue sends it back to its queue
// at the front, where the free agent gets it.
func TestACDCallForOneAgentAndRequeue(t *testing.T) {
	c := configtest.BaseConfig(configtest.Agents("alice", "bob", "carol")...)
	c.Queues = []config.QueueDef{{Name: "general"}, {Name: "experts"}}
	c.Agents[0].Queues = []string{"general"}
	c.Agents[1].Queues = []string{"experts"}
	c.Agents[2].Queues = []string{"general"}
	f := newACD(t, c)
	busy := f.enqueue(CallRequest{ID: "busy", Queue: "general"})
	if err := busy.Answered(f.offer(busy).Agents[0]); err != nil { // alice, idle longest
		t.Fatal(err)
	}
	waiting := f.enqueue(CallRequest{ID: "waiting", Queue: "general", Agent: "", Priority: 3})
	if err := waiting.Answered(f.offer(waiting).Agents[0]); err != nil { // carol
		t.Fatal(err)
	}
	moved := f.enqueue(CallRequest{ID: "moved", Queue: "general", Agent: "bob"})
	if o := f.offer(moved); len(o.Agents) != 1 || o.Agents[0] != "bob" {
		t.Fatalf("transfer to bob offered to %v", o.Agents)
	}
	if err := moved.NoAnswer("bob"); err != nil {
		t.Fatal(err)
	}
	// carol hangs up: she is free, but the call is bob's only; the next
	// caller gets her.
	if err := waiting.Hangup(); err != nil {
		t.Fatal(err)
	}
	f.noOffer(moved)
	other := f.enqueue(CallRequest{ID: "other", Queue: "general"})
	if o := f.offer(other); o.Agents[0] != "carol" {
		t.Fatalf("the next caller offered to %v, want carol", o.Agents)
	}
	if err := other.Answered("carol"); err != nil {
		t.Fatal(err)
	}
	// Back to general, first in line: alice, once free, takes it before a
	// priority-9 caller who waited.
	late := f.enqueue(CallRequest{ID: "late", Queue: "general", Priority: 9})
	if err := moved.Requeue("general", true); err != nil {
		t.Fatal(err)
	}
	if p := moved.Status().Position; p != 0 {
		t.Errorf("requeued call at position %d, want 0", p)
	}
	if err := busy.Hangup(); err != nil {
		t.Fatal(err)
	}
	if o := f.offer(moved); o.Agents[0] != "alice" {
		t.Errorf("requeued call offered to %v, want alice", o.Agents)
	}
	f.noOffer(late)

	// Refusals.
	if _, err := f.acd.Enqueue(CallRequest{ID: "x", Queue: "general", Agent: "alice"}); !errors.Is(err, ErrAgentUnavailable) {
		t.Errorf("a call for alice, who is being offered a call: %v", err)
	}
	if _, err := f.acd.Enqueue(CallRequest{ID: "y", Queue: "general", Agent: "zed"}); !errors.Is(err, ErrUnknownAgent) {
		t.Errorf("a call for an unknown agent: %v", err)
	}
	if err := moved.Requeue("general", true); !errors.Is(err, ErrNotWaiting) {
		t.Errorf("Requeue of an offered call: %v", err)
	}
	if err := late.Requeue("nowhere", false); !errors.Is(err, ErrUnknownQueue) {
		t.Errorf("Requeue to an unknown queue: %v", err)
	}
}
