package acd

import (
	"context"
	"errors"
	"testing"
	"time"

	"hotline/routing/config"
	"hotline/routing/config/configtest"
)

// TestACDWhenEmpty: a queue nobody takes calls in (agents logged out or
// paused) turns arriving callers away with when_empty.join, and waiting
// ones with when_empty.leave; an agent on a call still staffs it; the
// default (join, stay) keeps callers waiting.
func TestACDWhenEmpty(t *testing.T) {
	c := configtest.BaseConfig(config.Agent{Username: "alice", Queues: []string{"strict"}}, config.Agent{Username: "bob", Queues: []string{"lenient"}})
	c.Queues = []config.QueueDef{
		{Name: "strict", WhenEmpty: config.EmptyPolicy{Join: config.EmptyRefuse, Leave: config.EmptyAfterHours}},
		{Name: "lenient"},
	}
	f := newACD(t, c)
	if err := f.acd.Pause("alice", "lunch"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.acd.Enqueue(CallRequest{ID: "refused", Queue: "strict"}); !errors.Is(err, ErrQueueEmpty) {
		t.Fatalf("Enqueue with every agent paused: %v, want ErrQueueEmpty", err)
	}
	if err := f.acd.Unpause("alice"); err != nil {
		t.Fatal(err)
	}
	// alice on a call: the queue is staffed, the next caller waits.
	first := f.enqueue(CallRequest{ID: "first", Queue: "strict"})
	f.offer(first)
	if err := first.Answered("alice"); err != nil {
		t.Fatal(err)
	}
	waiting := f.enqueue(CallRequest{ID: "waiting", Queue: "strict"})
	f.acd.Tick()
	f.noOffer(waiting)
	if st := waiting.Status(); st.State != "waiting" {
		t.Fatalf("caller behind alice's call: %+v", st)
	}
	// alice logs out (her call goes on): the waiting caller leaves.
	if err := f.acd.Logout("alice"); err != nil {
		t.Fatal(err)
	}
	f.clk.Add(time.Second)
	f.acd.Tick()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if _, err := waiting.Next(ctx); !errors.Is(err, ErrQueueEmpty) {
		t.Fatalf("waiting caller after the last agent logged out: %v, want ErrQueueEmpty", err)
	}
	// The default policy: bob logged out, callers still join and stay.
	if err := f.acd.Logout("bob"); err != nil {
		t.Fatal(err)
	}
	stays := f.enqueue(CallRequest{ID: "stays", Queue: "lenient"})
	f.clk.Add(time.Minute)
	f.acd.Tick()
	if st := stays.Status(); st.State != "waiting" {
		t.Fatalf("caller of an empty queue with the default policy: %+v, want waiting", st)
	}
}

// TestACDLastCall: an agent's last finished call is known (for its
// wrap-up code) until they are offered another one.
func TestACDLastCall(t *testing.T) {
	c := configtest.BaseConfig(configtest.Agents("alice")...)
	c.Queues = []config.QueueDef{{Name: "q", WrapUp: 30 * time.Second}}
	f := newACD(t, c)
	if _, err := f.acd.LastCall("alice"); !errors.Is(err, ErrNoLastCall) {
		t.Fatalf("before any call: %v", err)
	}
	if _, err := f.acd.LastCall("zoe"); !errors.Is(err, ErrUnknownAgent) {
		t.Fatalf("unknown agent: %v", err)
	}
	call := f.enqueue(CallRequest{ID: "c1"})
	f.offer(call)
	f.answerAndHangup(call, "alice", time.Minute)
	last, err := f.acd.LastCall("alice")
	if err != nil || last.CallID != "c1" || last.Queue != "q" || !last.Ended.Equal(f.clk.Now()) {
		t.Fatalf("after c1: %+v %v", last, err)
	}
	f.clk.Add(30 * time.Second)
	f.acd.Tick()
	next := f.enqueue(CallRequest{ID: "c2"})
	f.offer(next)
	if _, err := f.acd.LastCall("alice"); !errors.Is(err, ErrNoLastCall) {
		t.Fatalf("while offered c2: %v", err)
	}
}
