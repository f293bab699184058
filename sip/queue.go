package sip

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"hotline/audio"
	"hotline/callflow"
)

// errAnsweredElsewhere stops the other phones of a ring-all offer once
// one agent has taken the call.
var errAnsweredElsewhere = errors.New("another agent answered")

// errReservationLost stops the phone of an agent whose reservation for
// the call was lost to another offer (ReservationLost).
var errReservationLost = errors.New("the agent's reservation was lost to another offer")

// The call's life in the ACD is callflow.Queue: the loop and its
// decisions are callflow's; ringing agents (ringAll), taking an agent's
// answer (take), bridging (connect) and hanging up are here.

var _ callflow.InboundCall = scriptCall{}

// The call's request to the ACD, its enqueueing and its counting as
// offered are callflow.CallRouting's (embedded in scriptCall).

// RingAgents rings the agents of an offer (ringAll).
func (sc scriptCall) RingAgents(qc *callflow.QueuedCall, off callflow.Offer) callflow.Leg {
	if a := sc.c.ringAll(qc, off); a != nil {
		return a
	}
	return nil
}

// Connect bridges the caller with the agent who took the call (connect).
func (sc scriptCall) Connect(a callflow.Leg) error { return sc.c.connect(a.(*Leg)) }

func (sc scriptCall) AgentGone() <-chan struct{}               { return sc.c.state.AgentGone() }
func (sc scriptCall) DetachAgent()                             { sc.c.detachAgent() }
func (sc scriptCall) Survey()                                  { sc.c.runSurvey() }
func (sc scriptCall) Transfers() <-chan callflow.TransferOrder { return sc.c.state.Transfers() }

// CompleteAttended completes an attended transfer (completeAttended).
func (sc scriptCall) CompleteAttended(qc *callflow.QueuedCall, a callflow.Leg, o callflow.TransferOrder) (*callflow.QueuedCall, callflow.Leg) {
	next, b := sc.c.completeAttended(qc, a.(*Leg), o.(transferOrder))
	if b == nil { // not a nil *Leg in the interface
		return next, nil
	}
	return next, b
}

// Transfer carries out a blind transfer (transfer).
func (sc scriptCall) Transfer(qc *callflow.QueuedCall, a callflow.Leg, o callflow.TransferOrder) (*callflow.QueuedCall, error) {
	return sc.c.transfer(qc, a.(*Leg), o.(transferOrder))
}

type ringResult struct {
	agent string
	leg   *Leg
	err   error
	lost  bool // stopped by ReservationLost
}

// ringAll rings every agent of an offer at once for its ring timeout. The
// first to answer gets the call (reported Answered, the others are
// cancelled); each agent who fails is reported NoAnswer. It returns the
// answered agent's leg, or nil when nobody took the call.
func (c *call) ringAll(qc *callflow.QueuedCall, off callflow.Offer) *Leg {
	c.endSetup() // the agents' INVITEs go out: the call's setup is over
	ctx, cancel := context.WithCancelCause(c.ctx)
	defer cancel(nil)
	results := make(chan ringResult, len(off.Agents))
	for _, agent := range off.Agents {
		go func() {
			actx, stop := c.s.rings.add(ctx, qc.ID(), agent)
			defer stop()
			a, err := c.dial(actx, agent, off.RingTimeout)
			results <- ringResult{agent, a, err, errors.Is(context.Cause(actx), errReservationLost)}
		}()
	}
	var won *Leg
	for range off.Agents {
		r := <-results
		switch {
		case r.err == nil && won == nil:
			if err := c.take(qc, r.leg); err != nil {
				c.log.Warn("agent's answer not taken", "agent", r.agent, "error", err)
				continue
			}
			won = r.leg
			cancel(errAnsweredElsewhere)
		case r.err == nil:
			c.log.Info("agent answered after another; hanging up", "agent", r.agent)
			c.dropAgent(r.leg)
		case r.lost: // failed (an answer is taken above)
			if err := qc.Withdraw(r.agent); err != nil {
				c.log.Warn("offer not withdrawn", "agent", r.agent, "error", err)
			}
			c.log.Warn("stopped ringing: the agent's reservation was lost to another offer", "agent", r.agent)
		case won == nil && c.ctx.Err() == nil:
			_ = qc.NoAnswer(r.agent)
			c.log.Info("agent did not take the call", "agent", r.agent, "reason", r.err)
			c.s.callMetrics().agentNoAnswer(c.queueName(), callflow.NoAnswerReason(r.err))
		}
	}
	return won
}

// take makes the first agent who answered the call's agent: the leg is
// the call's from here on (listed, hung up with the call), its 200 OK is
// acknowledged and the ACD told. On failure the leg is hung up and the
// agent reported as not having taken the call.
func (c *call) take(qc *callflow.QueuedCall, a *Leg) error {
	c.addLeg(a)
	release := func() { c.removeLeg(a) }
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := a.cli.Ack(ctx); err != nil {
		release()
		c.s.unregister(a.callID)
		_ = a.media.Close()
		_ = qc.NoAnswer(a.peer)
		c.s.callMetrics().agentNoAnswer(c.queueName(), callflow.NoAnswerReason(err))
		return fmt.Errorf("ACK to agent: %w", err)
	}
	a.acked = true
	if err := qc.Answered(a.peer); err != nil {
		release()
		c.dropAgent(a)
		return err
	}
	return nil
}

// dial rings one agent until it answers, fails, the ring timeout passes
// or ctx ends. On success the agent has answered with usable SDP (its
// media address is set) but the 200 OK is not acknowledged yet: take or
// dropAgent does that.
func (c *call) dial(ctx context.Context, agent string, ringTimeout time.Duration) (*Leg, error) {
	s := c.s
	bindings := s.agentBindings(agent)
	if len(bindings) == 0 {
		return nil, errUnreachable
	}
	b := bindings[0]
	a, err := s.newLeg(RoleAgent, agent)
	if err != nil {
		return nil, err
	}
	prefer := audio.PCMU()
	if c.caller != nil {
		prefer = c.caller.Codec()
	}
	info := c.offerInfo() // offer_call.go
	// A phone registered through the edge is reached through its Path
	// (RFC 3327): the request goes to the first Route, not to the source.
	dest := b.Source
	if len(b.Path) > 0 {
		dest = ""
	}
	ua, req := s.inviteFor(a, outboundInvite{target: b.Contact, transport: b.Transport, dest: dest,
		routes: b.RouteSet(), user: c.state.Identity().Caller, name: s.offers.DisplayName(info), prefer: prefer,
		to: sip.Uri{Scheme: "sip", User: agent, Host: b.Contact.Host, Port: b.Contact.Port}})
	req.AppendHeader(sip.NewHeader("Subject", "Hotline "+c.state.Hotline().Number))
	for _, h := range s.offers.Headers(info) {
		req.AppendHeader(h)
	}

	cleanup := func() {
		s.unregister(a.callID)
		_ = a.media.Close()
	}
	var sentAt, answeredAt time.Time
	_, err = s.ringOut(ctx, invite{ua: ua, req: req, timeout: ringTimeout, ringing: c.agentRinging, cleanup: cleanup,
		answered: func() {
			if answeredAt.IsZero() {
				answeredAt = time.Now()
			}
		},
		sent: func(dlg *sipgo.DialogClientSession) {
			sentAt = time.Now()
			a.cli = dlg
			a.callID = req.CallID().Value()
			s.register(a.callID, &dialogRef{call: c, leg: a})
			c.log.Info("ringing agent", "agent", agent, "agent_call_id", a.callID, "contact", b.Contact.String())
		}})
	if err != nil {
		return nil, err
	}

	// Answered.
	if !answeredAt.IsZero() {
		a.answerTook = answeredAt.Sub(sentAt)
	}
	if err := a.takeAnswer(); err != nil {
		c.log.Warn("agent's answer has no usable SDP", "agent", agent, "error", err)
		ackCtx, cancelAck := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancelAck()
		_ = a.cli.Ack(ackCtx)
		_ = a.cli.Bye(ackCtx)
		cleanup()
		return nil, fmt.Errorf("agent SDP: %w", err)
	}
	a.media.OnDTMF(func(d rune) { c.log.Info("agent pressed a key", "digit", string(d)) })
	return a, nil
}

// dropAgent hangs up an answered agent leg that will not be bridged
// (acknowledging its 200 OK first if need be).
func (c *call) dropAgent(a *Leg) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if !a.acked {
		_ = a.cli.Ack(ctx)
	}
	_ = a.cli.Bye(ctx)
	c.s.unregister(a.callID)
	_ = a.media.Close()
}

// connect bridges the caller with an agent who answered: the caller is
// answered if still ringing, media flows both ways, recording starts.
func (c *call) connect(a *Leg) error {
	s := c.s
	c.mu.Lock()
	direct := !c.answered // the agent's answer answers the caller
	c.mu.Unlock()
	if err := c.answer(); err != nil {
		c.log.Info("caller left as the agent answered", "agent", a.peer)
		c.removeLeg(a)
		c.dropAgent(a)
		return err
	}
	if direct {
		c.observeAnswerDelay(a)
	}
	a.media.Start()
	c.caller.media.Start()
	c.join(c.caller, a)
	// a.peer is the last agent (CSAT is credited to them); a transferred
	// call keeps its first bridge (wait and talk count from it).
	bridged := c.state.NoteConnected(a.peer, s.now())
	c.startRecording(a.peer, a) // with the call's reason (callflow.Call.Record)
	waitFrom := c.state.Queued()
	// The same definitions as the call record (callflow.Build) and the
	// metrics: wait from entering the queue, time to answer from the INVITE.
	arrived := c.state.Identity().Arrived
	if waitFrom.IsZero() {
		waitFrom = arrived
	}
	c.log.Info("bridged", "agent", a.peer, "caller_codec", c.caller.Codec().Name, "agent_codec", a.Codec().Name,
		"wait", bridged.Sub(waitFrom).Round(time.Millisecond), "answer", bridged.Sub(arrived).Round(time.Millisecond))

	c.watchAgent(a)
	return nil
}

// watchAgent ends the call's agent side when the agent's phone hangs up
// or its media times out, until the call ends (callflow.WatchAgent).
func (c *call) watchAgent(a *Leg) { callflow.WatchAgent(c.script(), a) }

// observeAnswerDelay counts the time Hotline itself took to answer a
// caller agent leg a answered directly (metrics.NameAnswerDelay): from the
// INVITE's handler to the caller's 200 OK, less the agent phone's time
// from Hotline's INVITE to its 200 (which includes reading that 200).
func (c *call) observeAnswerDelay(a *Leg) {
	c.mu.Lock()
	began, at := c.began, c.answerAt
	c.mu.Unlock()
	if began.IsZero() || at.IsZero() || a.answerTook <= 0 {
		return
	}
	c.s.deps.Metrics.AnswerDelay(at.Sub(began) - a.answerTook)
}

// ringKey names one agent's ringing for one queued call.
type ringKey struct{ call, agent string }

// rings are the agents being rung for queued calls, so that a lost
// reservation (several nodes) can stop one of them.
type rings struct {
	mu sync.Mutex
	m  map[ringKey]context.CancelCauseFunc
}

// add registers agent's ringing for call: the returned context ends
// with ctx, or with errReservationLost; stop unregisters it.
func (r *rings) add(ctx context.Context, call, agent string) (context.Context, func()) {
	actx, cancel := context.WithCancelCause(ctx)
	k := ringKey{call, agent}
	r.mu.Lock()
	if r.m == nil {
		r.m = map[ringKey]context.CancelCauseFunc{}
	}
	r.m[k] = cancel
	r.mu.Unlock()
	return actx, func() {
		r.mu.Lock()
		delete(r.m, k)
		r.mu.Unlock()
		cancel(nil)
	}
}

// stop ends agent's ringing for call with cause; false when she is not
// being rung for it.
func (r *rings) stop(call, agent string, cause error) bool {
	r.mu.Lock()
	cancel, ok := r.m[ringKey{call, agent}]
	r.mu.Unlock()
	if ok {
		cancel(cause)
	}
	return ok
}

// ReservationLost is told (by the cluster node) that the reservation of
// agent for the queued call with id call was found taken by another
// offer, after Redis was out of reach for longer than a reservation's
// lease: another node may ring her now. If she is still being rung for
// the call, her phone is cancelled and the offer withdrawn without
// counting it as unanswered (the caller waits for another agent, or for
// her again a second later); if she has answered already, the call goes
// on (her phone is busy with it, the other offer will find that out).
func (s *Server) ReservationLost(agent, call string) {
	if s.rings.stop(call, agent, errReservationLost) {
		return
	}
	s.log.Warn("reservation lost for a call not ringing the agent: nothing to stop", "call_id", call, "agent", agent)
}
