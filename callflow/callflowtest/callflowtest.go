// Package callflowtest holds test doubles of the SIP side the call
// scripts (callflow) run against: legs that note what they were played,
// and a callback line whose calls are answered, refused or left as a
// test says, without a network.
package callflowtest

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"hotline/audio"
	"hotline/callflow"
	"hotline/routing/callbacks"
	"hotline/routing/directory"
)

// Leg is a callflow.Leg that notes what it was played.
type Leg struct {
	Name string

	mu     sync.Mutex
	played int // non-nil sources played
	now    audio.Reader
}

var _ callflow.Leg = (*Leg)(nil)

// Peer is the leg's name.
func (l *Leg) Peer() string { return l.Name }

// Codec is PCMU.
func (l *Leg) Codec() audio.Codec { return audio.PCMU() }

// Play notes src.
func (l *Leg) Play(src audio.Reader) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if src != nil {
		l.played++
	}
	l.now = src
}

// Played is how many sources the leg was played.
func (l *Leg) Played() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.played
}

// Line is a callflow.CallbackLine whose calls never leave the process:
// the first agent of each offer takes it (AgentTakes), and Dial answers
// as DialResult says.
type Line struct {
	// Clock is the line's clock; time.Now when nil.
	Clock func() time.Time
	// AdmitErr, when set, keeps every callback waiting.
	AdmitErr error
	// AgentTakes says whether agent takes an offered callback; nil: yes.
	AgentTakes func(agent string) bool
	// AgentLeavesAtTake makes the agent hang up as soon as they take
	// the callback, before the customer is called.
	AgentLeavesAtTake bool
	// DialResult is what calling number gives: nil, the customer
	// answers (and hangs up at once after the bridge).
	DialResult func(number string) error

	wg    sync.WaitGroup
	mu    sync.Mutex
	calls []*Call
}

var _ callflow.CallbackLine = (*Line)(nil)

// Started is true.
func (l *Line) Started() bool { return true }

// Admit returns AdmitErr.
func (l *Line) Admit() error { return l.AdmitErr }

// Now is Clock's time.
func (l *Line) Now() time.Time {
	if l.Clock != nil {
		return l.Clock()
	}
	return time.Now()
}

// Go runs f; Wait waits for it.
func (l *Line) Go(f func()) {
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		f()
	}()
}

// Wait waits for everything Go started.
func (l *Line) Wait() { l.wg.Wait() }

// NewCallback makes a Call.
func (l *Line) NewCallback(p callflow.CallbackPlan) callflow.CallbackCall {
	cb := p.Callback()
	c := &Call{line: l, Callback: cb, Customer: p.Customer(), agentGone: make(chan struct{})}
	c.ctx, c.cancel = context.WithCancelCause(context.Background())
	l.mu.Lock()
	c.id = fmt.Sprintf("callback-%s-%d", cb.ID, len(l.calls))
	l.calls = append(l.calls, c)
	l.mu.Unlock()
	return c
}

// Calls are the calls made so far.
func (l *Line) Calls() []*Call {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]*Call(nil), l.calls...)
}

// Call is one callback's call on a Line.
type Call struct {
	Callback callbacks.Callback
	Customer directory.Customer

	line      *Line
	id        string
	ctx       context.Context
	cancel    context.CancelCauseFunc
	agentGone chan struct{}
	goneOnce  sync.Once

	mu        sync.Mutex
	agent     *Leg
	customer  *Leg
	dialled   []string
	connected bool
	closed    bool
	cause     error
}

var _ callflow.CallbackCall = (*Call)(nil)

func (c *Call) ID() string                 { return c.id }
func (c *Call) Log() *slog.Logger          { return slog.New(slog.DiscardHandler) }
func (c *Call) Context() context.Context   { return c.ctx }
func (c *Call) End(cause error)            { c.cancel(cause) }
func (c *Call) AgentGone() <-chan struct{} { return c.agentGone }

// Close ends the call and notes its cause.
func (c *Call) Close(cause error) {
	c.cancel(cause)
	c.mu.Lock()
	c.closed, c.cause = true, context.Cause(c.ctx)
	c.mu.Unlock()
}

// HangUpAgent makes the agent hang up.
func (c *Call) HangUpAgent() { c.goneOnce.Do(func() { close(c.agentGone) }) }

// RingAgents gives the call to the offer's first agent who takes it.
func (c *Call) RingAgents(qc *callflow.QueuedCall, off callflow.Offer) callflow.Leg {
	for _, a := range off.Agents {
		if f := c.line.AgentTakes; f != nil && !f(a) {
			_ = qc.NoAnswer(a)
			continue
		}
		if err := qc.Answered(a); err != nil {
			continue
		}
		l := &Leg{Name: a}
		c.mu.Lock()
		c.agent = l
		c.mu.Unlock()
		return l
	}
	return nil
}

// OpenCustomer makes the customer's leg.
func (c *Call) OpenCustomer(number string) (callflow.Leg, error) {
	l := &Leg{Name: number}
	c.mu.Lock()
	c.customer = l
	c.mu.Unlock()
	return l, nil
}

// Take notes nothing but AgentLeavesAtTake.
func (c *Call) Take(cust, a callflow.Leg) {
	if c.line.AgentLeavesAtTake {
		c.HangUpAgent()
	}
}

// Dial answers as the line's DialResult says.
func (c *Call) Dial(ctx context.Context, cust, a callflow.Leg) error {
	c.mu.Lock()
	c.dialled = append(c.dialled, cust.Peer())
	c.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return context.Cause(ctx)
	}
	if f := c.line.DialResult; f != nil {
		return f(cust.Peer())
	}
	return nil
}

// Connect bridges; the customer hangs up at once.
func (c *Call) Connect(cust, a callflow.Leg) {
	c.mu.Lock()
	c.connected = true
	c.mu.Unlock()
	c.End(callflow.ErrCustomerHangup)
}

// State is what happened to a call.
type State struct {
	Agent     *Leg // nil until an agent took it
	Dialled   []string
	Connected bool
	Closed    bool
	Cause     error
}

// State returns what happened to the call so far.
func (c *Call) State() State {
	c.mu.Lock()
	defer c.mu.Unlock()
	return State{Agent: c.agent, Dialled: append([]string(nil), c.dialled...), Connected: c.connected,
		Closed: c.closed, Cause: c.cause}
}
