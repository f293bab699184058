package callflow

import (
	"context"
	"errors"
	"fmt"
	"time"

	"hotline/routing/acd"
)

// InboundCall is a call the rules sent to a queue as the queue loop
// (Queue) sees it: what the loop decides is here, the SIP operations it
// needs (ringing agents, answering, bridging, hanging up) are the call's
// (sip's call).
type InboundCall interface {
	QueueCall
	TransferCall
	// Request is the call's request to the ACD: its id, queue, priority,
	// segment and skills as routed so far.
	Request() acd.CallRequest
	// Queued notes when the call entered its queue (zero: it never did).
	Queued(at time.Time)
	// Offered counts the call as offered to its queue.
	Offered()
	// RingAgents rings the agents of an offer at once; it returns the
	// leg of the one who took the call (told to qc), nil when nobody did
	// (each one who did not is reported to qc).
	RingAgents(qc *QueuedCall, off Offer) Leg
	// Connect bridges the caller with agent a, who took the call: the
	// caller is answered if still ringing, media flows both ways,
	// recording starts and a's hang-up is watched (AgentGone, or the
	// call ends with ErrAgentTimeout when a's media times out). On
	// failure (the caller left) a is hung up.
	Connect(a Leg) error
	// AgentGone is closed when the bridged agent hangs up and the caller
	// is to be asked the survey (without a survey the call ends with
	// ErrAgentHangup).
	AgentGone() <-chan struct{}
	// DetachAgent separates the caller from the agent who hung up.
	DetachAgent()
	// Survey asks the caller the survey.
	Survey()
	// Transfers receives the accepted transfers of the bridged agent.
	Transfers() <-chan TransferOrder
	// CompleteAttended completes attended transfer o of bridged agent a:
	// the consultation's target takes a's place. It returns the call's
	// ACD call and agent from here on (qc and a when the consultation
	// ended meanwhile; a nil agent when a semi-attended transfer's
	// target did not answer and the caller waits in the returned ACD
	// call again, nil too when the call ended).
	CompleteAttended(qc *QueuedCall, a Leg, o TransferOrder) (*QueuedCall, Leg)
	// Transfer carries out blind transfer o of bridged agent a: a is
	// unbridged and hung up, and the call's ACD call from here on is
	// returned (the caller waits in a queue again: Requeue), or the
	// call's end.
	Transfer(qc *QueuedCall, a Leg, o TransferOrder) (*QueuedCall, error)
}

// TransferOrder is an accepted transfer of a call's bridged agent,
// waiting for the queue loop to carry it out.
type TransferOrder interface {
	// Attended says whether a consultation's target takes the agent's
	// place (else the caller is queued again or sent out: blind).
	Attended() bool
}

// Queue is the call's life in the ACD:
//
//	enqueue → [answer + hold music and announcements while no agent is
//	offered; the callback key leaves the queue] → ring the offered agents
//	(in parallel for ring-all) → first answer wins, the others are
//	cancelled → bridge → wait for a hang-up (survey if the agent left
//	first) or a transfer (queued again, or the consultation's target
//	bridged instead of the agent).
//
// Every offered agent is reported to the ACD (Answered or NoAnswer), and
// the ACD call is closed on return; the caller's teardown is the call's.
func Queue(c InboundCall) {
	c.Queued(c.Now())
	// Only calls that queue are offered: each leaves the queue once, with
	// its outcome. A caller an empty queue turns away (when_empty.join)
	// never entered it.
	qc, err := c.Enqueue(c.Request())
	if errors.Is(err, acd.ErrQueueEmpty) {
		c.Queued(time.Time{})
		QueueEmpty(c, true)
		return
	}
	c.Offered()
	if err != nil {
		if errors.Is(err, acd.ErrQueueFull) {
			c.End(ErrQueueFull)
		} else {
			c.End(fmt.Errorf("queueing the call: %w", err))
		}
		return
	}
	defer func() { qc.Close() }() // the call's queued call changes with a transfer
	w := NewWaiting(c, qc)
	ctx := c.Context()
	for ctx.Err() == nil {
		off, err := NextOffer(c, w)
		if errors.Is(err, acd.ErrQueueEmpty) {
			QueueEmpty(c, false) // when_empty.leave
			return
		}
		if err != nil {
			if errors.Is(err, acd.ErrMaxWait) {
				err = ErrMaxWait
			}
			c.End(err) // no-op when the call has already ended
			return
		}
		a := c.RingAgents(qc, off)
		if a == nil {
			TransferReturns(c, qc) // a transfer's target agent did not take the call
			continue               // every agent was reported; the call waits again
		}
		TransferAnswered(c)
		if err := c.Connect(a); err != nil {
			c.End(err)
			return
		}
		// Bridged: wait for either side to hang up. When the agent hangs
		// up first, the caller is asked for a rating. A blind transfer
		// puts the caller back in a queue; an attended one bridges the
		// consultation's target instead of the agent.
	bridged:
		select {
		case <-ctx.Done():
		case <-c.AgentGone():
			c.DetachAgent()
			_ = qc.Hangup() // the agent goes to wrap-up during the survey
			c.Survey()
			c.End(ErrAgentHangup)
		case o := <-c.Transfers():
			if o.Attended() {
				qc, a = c.CompleteAttended(qc, a, o)
				if a == nil { // a semi-attended transfer's target did not answer: the caller waits in qc again
					if qc == nil {
						return
					}
					w = NewWaiting(c, qc)
					continue
				}
				goto bridged
			}
			next, err := c.Transfer(qc, a, o)
			if err != nil {
				c.End(err)
				return
			}
			qc, w = next, NewWaiting(c, next)
			continue
		}
		return
	}
}

// NextOffer returns the call's next offer. An offer ready at once rings
// the agents without answering the caller (they hear ringing); otherwise
// the caller is answered and waits (WaitOffer: hold music, announcements,
// the callback key) until an agent is offered.
func NextOffer(c KeypadCall, w *Waiting) (Offer, error) {
	ctx := c.Context()
	if ctx.Err() != nil {
		return Offer{}, context.Cause(ctx)
	}
	now, cancel := context.WithCancel(ctx)
	cancel()
	if off, err := w.Queued().Next(now); !errors.Is(err, context.Canceled) {
		return off, err
	}
	if err := c.Answer(); err != nil {
		return Offer{}, err
	}
	return WaitOffer(c, w)
}
