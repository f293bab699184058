package acd

import (
	"errors"
	"os"
	"slices"
	"testing"
	"time"

	"hotline/routing/config"
	"hotline/routing/config/configtest"
)

func listedAgents(a *ACD) []string {
	var out []string
	for _, i := range a.Agents() {
		out = append(out, i.Username)
	}
	return out
}

// TestACDReconfigure: agents and queues change while calls go on: the
// calls in progress carry on, waiting callers keep their places and go to
// the agents the new configuration makes eligible, a removed agent
// finishes their call, a removed queue serves the callers it holds and
// takes no new one.
func TestACDReconfigure(t *testing.T) {
	c := configtest.BaseConfig(config.Agent{Username: "alice", Queues: []string{"main"}}, config.Agent{Username: "bob", Queues: []string{"main"}})
	c.Queues = []config.QueueDef{{Name: "main"}}
	f := newACD(t, c)
	// alice and bob on calls; two callers wait, w1 first.
	onAlice := f.enqueue(CallRequest{ID: "on-alice"})
	f.offer(onAlice)
	if err := onAlice.Answered("alice"); err != nil {
		t.Fatal(err)
	}
	onBob := f.enqueue(CallRequest{ID: "on-bob"})
	f.offer(onBob)
	if err := onBob.Answered("bob"); err != nil {
		t.Fatal(err)
	}
	f.clk.Add(time.Second)
	w1 := f.enqueue(CallRequest{ID: "w1"})
	f.clk.Add(time.Second)
	w2 := f.enqueue(CallRequest{ID: "w2"})
	f.noOffer(w1)

	// bob leaves the configuration, carol joins main, dave a new queue.
	n := configtest.BaseConfig(config.Agent{Username: "alice", Queues: []string{"main"}},
		config.Agent{Username: "carol", Queues: []string{"main"}, Skills: map[string]int{"french": 3}},
		config.Agent{Username: "dave", Queues: []string{"vip"}})
	n.Queues = []config.QueueDef{{Name: "main", WrapUp: time.Minute}, {Name: "vip"}}
	configtest.MustValid(t, n)
	if os.Getenv(acdBackendEnv) != "" {
		// Replicas would each have to apply it at the same point of the
		// shared log: refused, the ACD unchanged.
		if err := f.acd.Reconfigure(n); !errors.Is(err, ErrReplicatedReconfigure) {
			t.Fatalf("Reconfigure of a replicated ACD: %v, want ErrReplicatedReconfigure", err)
		}
		if got := listedAgents(f.acd); !slices.Equal(got, []string{"alice", "bob"}) {
			t.Errorf("agents after a refused reconfigure: %v", got)
		}
		return
	}
	if err := f.acd.Reconfigure(n); err != nil {
		t.Fatal(err)
	}
	if got := listedAgents(f.acd); !slices.Equal(got, []string{"alice", "carol", "dave"}) {
		t.Errorf("agents after reconfigure: %v", got)
	}
	f.wantState("alice", StateOnCall)
	if st := w1.Status(); st.State != "waiting" || st.Position != 0 || w2.Status().Position != 1 {
		t.Fatalf("w1 %+v, w2 %+v: want both waiting, w1 first", st, w2.Status())
	}
	// carol (new: logged out) logs in: the first waiting caller is hers.
	if err := f.acd.SetRegistered("carol", true); err != nil {
		t.Fatal(err)
	}
	if err := f.acd.Login("carol"); err != nil {
		t.Fatal(err)
	}
	if o := f.offer(w1); o.Agents[0] != "carol" {
		t.Fatalf("w1 offered to %v, want carol", o.Agents)
	}
	f.noOffer(w2)
	// bob's call goes on to its end; bob takes no further call.
	if err := onBob.Hangup(); err != nil {
		t.Fatalf("bob's call after his removal: %v", err)
	}
	f.noOffer(w2)

	// main is removed while w2 waits in it: w2 is served by alice (a
	// former member) when she is free; main takes no new caller.
	n2 := configtest.BaseConfig(config.Agent{Username: "alice", Queues: []string{"vip"}}, config.Agent{Username: "dave", Queues: []string{"vip"}})
	n2.Queues = []config.QueueDef{{Name: "vip"}}
	configtest.MustValid(t, n2)
	if err := f.acd.Reconfigure(n2); err != nil {
		t.Fatal(err)
	}
	if _, err := f.acd.Enqueue(CallRequest{ID: "late", Queue: "main"}); !errors.Is(err, ErrUnknownQueue) {
		t.Errorf("Enqueue in a removed queue: %v, want ErrUnknownQueue", err)
	}
	if err := onAlice.Hangup(); err != nil {
		t.Fatal(err)
	}
	f.clk.Add(2 * time.Minute) // main's new wrap-up applied to alice's call
	f.acd.Tick()
	if o := f.offer(w2); o.Agents[0] != "alice" {
		t.Fatalf("w2 offered to %v, want alice", o.Agents)
	}
	if err := w2.Answered("alice"); err != nil {
		t.Fatal(err)
	}
	// A new vip caller goes to dave (logged out: none), then to nobody
	// else: alice is busy.
	v := f.enqueue(CallRequest{ID: "v", Queue: "vip"})
	f.noOffer(v)

	// A configuration naming an unknown queue is refused whole.
	bad := configtest.BaseConfig(config.Agent{Username: "alice", Queues: []string{"nope"}})
	bad.Queues = []config.QueueDef{{Name: "vip"}}
	if err := f.acd.Reconfigure(bad); !errors.Is(err, ErrUnknownQueue) {
		t.Errorf("Reconfigure with an unknown queue: %v", err)
	}
	if got := listedAgents(f.acd); !slices.Equal(got, []string{"alice", "dave"}) {
		t.Errorf("agents after a refused reconfigure: %v", got)
	}
}
