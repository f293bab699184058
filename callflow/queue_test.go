package callflow

import (
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"hotline/audio"
	"hotline/routing/acd"
	"hotline/routing/config"
	"hotline/routing/config/configtest"
	"hotline/routing/rules"
)

// agentLeg is an agent's phone that took the call.
type agentLeg struct{ name string }

func (l *agentLeg) Peer() string          { return l.name }
func (l *agentLeg) Codec() audio.Codec    { return audio.PCMU() }
func (l *agentLeg) Play(src audio.Reader) {}

// fakeOrder is an accepted transfer: blind to agent to, or attended to
// the consultation's target to.
type fakeOrder struct {
	to       string
	attended bool
}

func (o fakeOrder) Attended() bool { return o.attended }

// fakeInbound is an inbound call in the ACD: agents take it as takes
// says; what the loop did is noted.
type fakeInbound struct {
	*fakeQueueCall
	acd       *acd.ACD
	takes     func(agent string) bool
	agentGone chan struct{}
	transfers chan TransferOrder

	mu        sync.Mutex
	queued    []time.Time
	offered   int
	connected []string // agents bridged, in order
	detached  int
	surveyed  bool
	returnTo  string
	counted   []string // transfers counted: kind target outcome
	bridged   chan string
}

func newInbound(t *testing.T, agents ...string) *fakeInbound {
	t.Helper()
	rc := configtest.MustValid(t, configtest.BaseConfig(configtest.Agents(agents...)...))
	a, err := acd.New(rc, acd.Options{LoginOnRegister: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, ag := range agents {
		if err := a.SetRegistered(ag, true); err != nil {
			t.Fatal(err)
		}
	}
	ac := newActionCall(nil)
	t.Cleanup(func() { ac.cancel(errors.New("test over")) })
	return &fakeInbound{
		fakeQueueCall: &fakeQueueCall{fakeKeypadCall: &fakeKeypadCall{fakeActionCall: ac, routing: rc},
			decision: rules.Decision{Action: config.ActionQueue, Queue: config.DefaultQueueName}},
		acd: a, takes: func(string) bool { return true }, agentGone: make(chan struct{}),
		transfers: make(chan TransferOrder, 1), bridged: make(chan string, 8)}
}

func (c *fakeInbound) Request() acd.CallRequest {
	return acd.RequestFor("call-1", c.Decision(), c.Customer())
}
func (c *fakeInbound) Enqueue(r acd.CallRequest) (*QueuedCall, error) {
	qc, err := c.acd.Enqueue(r)
	return queued(qc), err
}
func (c *fakeInbound) Queued(at time.Time) {
	c.mu.Lock()
	c.queued = append(c.queued, at)
	c.mu.Unlock()
}
func (c *fakeInbound) Offered() { c.mu.Lock(); c.offered++; c.mu.Unlock() }

func (c *fakeInbound) RingAgents(qc *QueuedCall, off Offer) Leg {
	for _, a := range off.Agents {
		if !c.takes(a) {
			_ = qc.NoAnswer(a)
			continue
		}
		if err := qc.Answered(a); err == nil {
			return &agentLeg{a}
		}
	}
	return nil
}

func (c *fakeInbound) Connect(a Leg) error {
	c.mu.Lock()
	c.connected = append(c.connected, a.Peer())
	c.mu.Unlock()
	c.bridged <- a.Peer()
	return nil
}
func (c *fakeInbound) AgentGone() <-chan struct{}      { return c.agentGone }
func (c *fakeInbound) DetachAgent()                    { c.mu.Lock(); c.detached++; c.mu.Unlock() }
func (c *fakeInbound) Survey()                         { c.mu.Lock(); c.surveyed = true; c.mu.Unlock() }
func (c *fakeInbound) Transfers() <-chan TransferOrder { return c.transfers }

func (c *fakeInbound) CountTransfer(kind, target, outcome string) {
	c.mu.Lock()
	c.counted = append(c.counted, kind+" "+target+" "+outcome)
	c.mu.Unlock()
}
func (c *fakeInbound) ReturnTo(queue string) { c.mu.Lock(); c.returnTo = queue; c.mu.Unlock() }
func (c *fakeInbound) TakeReturnTo() (queue, kind string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	queue, c.returnTo = c.returnTo, ""
	return queue, "blind"
}

// CompleteAttended bridges the consultation's target instead of a.
func (c *fakeInbound) CompleteAttended(qc *QueuedCall, a Leg, o TransferOrder) (*QueuedCall, Leg) {
	b := &agentLeg{o.(fakeOrder).to}
	c.mu.Lock()
	c.connected = append(c.connected, b.name)
	c.mu.Unlock()
	c.bridged <- b.name
	return qc, b
}

// Transfer queues the call again for one agent (Requeue), from the
// queue it was in.
func (c *fakeInbound) Transfer(qc *QueuedCall, a Leg, o TransferOrder) (*QueuedCall, error) {
	c.DetachAgent()
	from := qc.status().Queue
	_ = qc.Hangup()
	qc.Close()
	next, _, err := Requeue(c, "blind", TransferToAgent, o.(fakeOrder).to, from)
	return next, err
}

func (c *fakeInbound) waitBridged(t *testing.T, want string) {
	t.Helper()
	select {
	case got := <-c.bridged:
		if got != want {
			t.Fatalf("bridged %s, want %s", got, want)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("%s never bridged", want)
	}
}

func runQueue(c *fakeInbound) chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		Queue(c)
	}()
	return done
}

func waitDone(t *testing.T, done chan struct{}) {
	t.Helper()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the queue loop did not return")
	}
}

// TestQueueAgentHangsUp: an offer ready at once rings the agent without
// answering the caller; the agent is bridged, and when they hang up the
// caller is unbridged and asked the survey, the agent's call ends in
// the ACD and the call ends with ErrAgentHangup.
func TestQueueAgentHangsUp(t *testing.T) {
	c := newInbound(t, "alice")
	done := runQueue(c)
	c.waitBridged(t, "alice")
	if c.answered {
		t.Error("the caller was answered before the agent: an offer ready at once rings without answering")
	}
	close(c.agentGone)
	waitDone(t, done)
	if !errors.Is(c.cause(), ErrAgentHangup) || !c.surveyed || c.detached != 1 || c.offered != 1 {
		t.Errorf("cause %v, surveyed %v, detached %d, offered %d; want the agent's hang-up, the survey, one detach, one offer",
			c.cause(), c.surveyed, c.detached, c.offered)
	}
	if last, err := c.acd.LastCall("alice"); err != nil || last.CallID != "call-1" {
		t.Errorf("alice's last call %+v (%v); want call-1 finished (hung up in the ACD)", last, err)
	}
	if q := c.acd.Queues()[0]; q.Waiting != 0 || q.Answered != 1 {
		t.Errorf("queue: %d waiting, %d answered; want the call answered and gone", q.Waiting, q.Answered)
	}
}

// TestQueueNoAnswerThenNext: an agent who does not take the call is
// reported, the loop asks the ACD again and the next agent gets it.
func TestQueueNoAnswerThenNext(t *testing.T) {
	c := newInbound(t, "alice", "bob")
	var mu sync.Mutex
	var rang []string
	c.takes = func(a string) bool {
		mu.Lock()
		defer mu.Unlock()
		rang = append(rang, a)
		return len(rang) > 1 // the first agent offered does not answer
	}
	done := runQueue(c)
	select {
	case got := <-c.bridged:
		mu.Lock()
		first := rang[0]
		mu.Unlock()
		if got == first {
			t.Fatalf("%s bridged after not answering", got)
		}
		if ai, _ := c.acd.Agent(first); ai.MissedInRow != 1 {
			t.Errorf("%s missed %d offers in a row; want 1 (reported NoAnswer)", first, ai.MissedInRow)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("nobody bridged")
	}
	c.End(ErrCallerHangup)
	waitDone(t, done)
}

// TestQueueTransfers: a blind transfer queues the caller again (here for
// bob), who is rung and bridged; an attended transfer bridges the
// consultation's target instead, and the loop goes on waiting for a
// hang-up.
func TestQueueTransfers(t *testing.T) {
	c := newInbound(t, "alice", "bob")
	c.takes = func(a string) bool { return a == "alice" || c.connectedTo("alice") }
	done := runQueue(c)
	c.waitBridged(t, "alice")
	c.transfers <- fakeOrder{to: "bob"}
	c.waitBridged(t, "bob")
	c.transfers <- fakeOrder{to: "carol", attended: true}
	c.waitBridged(t, "carol")
	close(c.agentGone)
	waitDone(t, done)
	c.mu.Lock()
	defer c.mu.Unlock()
	if !slices.Equal(c.connected, []string{"alice", "bob", "carol"}) || !errors.Is(c.cause(), ErrAgentHangup) || !c.surveyed {
		t.Errorf("bridged %v, cause %v, surveyed %v; want alice, bob, carol, then the survey", c.connected, c.cause(), c.surveyed)
	}
	if last, err := c.acd.LastCall("alice"); err != nil || last.CallID != "call-1" {
		t.Errorf("alice's last call %+v (%v) after transferring; want call-1 finished", last, err)
	}
}

func (c *fakeInbound) connectedTo(agent string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Contains(c.connected, agent)
}

// TestQueueTransferReturns: a caller transferred to an agent who does
// not take the call goes back to their queue, and another agent gets it;
// the transfer counts as returned.
func TestQueueTransferReturns(t *testing.T) {
	c := newInbound(t, "alice", "bob")
	c.takes = func(a string) bool { return a == "alice" }
	done := runQueue(c)
	c.waitBridged(t, "alice")
	c.transfers <- fakeOrder{to: "bob"}
	c.waitBridged(t, "alice")
	c.End(ErrCallerHangup)
	waitDone(t, done)
	c.mu.Lock()
	defer c.mu.Unlock()
	if !slices.Equal(c.counted, []string{"blind agent returned"}) {
		t.Errorf("transfers counted %q; want one returned", c.counted)
	}
	if ai, _ := c.acd.Agent("bob"); ai.MissedInRow != 1 {
		t.Errorf("bob missed %d offers; want 1 (the transfer's offer, reported)", ai.MissedInRow)
	}
}
