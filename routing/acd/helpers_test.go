package acd

import (
	"context"
	"fmt"
	"testing"
	"time"

	"hotline/routing/config"
	"hotline/routing/config/configtest"
	"hotline/routing/internal/routingtest"
)

type acdFixture struct {
	t   testing.TB
	clk *routingtest.Clock
	acd *ACD
	// peers are the other replicas of a replicated backend (see
	// backend_test.go); empty on one node. probed: the test changed
	// the first replica's internals, the others cannot match it.
	peers  []*ACD
	probed bool
	// join starts one more replica from a snapshot (nil on one node).
	join func() *ACD
}

// newACD builds an ACD of c with every agent registered and logged in.
func newACD(t testing.TB, c *config.Config, opts ...func(*Options)) *acdFixture {
	t.Helper()
	configtest.MustValid(t, c)
	clk := routingtest.NewClock()
	o := Options{Now: clk.Now, Seed: 1}
	for _, f := range opts {
		f(&o)
	}
	a, peers, join := buildACDJoin(t, c, o)
	f := &acdFixture{t: t, clk: clk, acd: a, peers: peers, join: join}
	f.checkPeersAtEnd()
	for _, ag := range c.Agents {
		if err := a.SetRegistered(ag.Username, true); err != nil {
			t.Fatal(err)
		}
		if err := a.Login(ag.Username); err != nil {
			t.Fatal(err)
		}
		clk.Add(time.Second) // distinct idle times, in configuration order
	}
	return f
}

func (f *acdFixture) enqueue(r CallRequest) *QueuedCall {
	f.t.Helper()
	if r.Queue == "" {
		r.Queue = f.acd.queues[0].def.Name
	}
	c, err := f.acd.Enqueue(r)
	if err != nil {
		f.t.Fatalf("Enqueue(%s): %v", r.ID, err)
	}
	return c
}

// offer returns the call's pending offer, or fails if there is none.
func (f *acdFixture) offer(c *QueuedCall) Offer {
	f.t.Helper()
	o, ok := f.tryOffer(c)
	if !ok {
		f.t.Fatalf("call %s has no offer (status %+v)", c.ID(), c.Status())
	}
	return o
}

// tryOffer returns the call's pending offer without waiting.
func (f *acdFixture) tryOffer(c *QueuedCall) (Offer, bool) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	o, err := c.Next(ctx)
	if err != nil {
		return Offer{}, false
	}
	return o, true
}

func (f *acdFixture) noOffer(c *QueuedCall) {
	f.t.Helper()
	if o, ok := f.tryOffer(c); ok {
		f.t.Fatalf("call %s was offered %v, want no offer", c.ID(), o.Agents)
	}
}

func (f *acdFixture) state(agent string) AgentState {
	f.t.Helper()
	i, ok := f.acd.Agent(agent)
	if !ok {
		f.t.Fatalf("no agent %s", agent)
	}
	return i.State
}

func (f *acdFixture) wantState(agent string, want AgentState) {
	f.t.Helper()
	if got := f.state(agent); got != want {
		f.t.Fatalf("agent %s is %s, want %s", agent, got, want)
	}
}

// answerAndHangup connects the call to agent and ends it after talk.
func (f *acdFixture) answerAndHangup(c *QueuedCall, agent string, talk time.Duration) {
	f.t.Helper()
	if err := c.Answered(agent); err != nil {
		f.t.Fatalf("Answered(%s): %v", agent, err)
	}
	f.clk.Add(talk)
	if err := c.Hangup(); err != nil {
		f.t.Fatal(err)
	}
}

func callID(i int) string { return fmt.Sprintf("call-%d", i) }
