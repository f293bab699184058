package acd

import (
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
