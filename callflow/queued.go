package callflow

import (
	"context"
	"time"

	"hotline/routing/acd"
	"hotline/routing/callbacks"
)

// QueuedCall is a call's place in the ACD, as the signalling layer sees
// it: it rings the agents an Offer names and reports back whether one
// answered. The ACD behind it is callflow's (Routes.ACD); sip never sees
// an ACD type.
type QueuedCall struct{ qc *acd.QueuedCall }

// queued wraps qc (nil stays nil).
func queued(qc *acd.QueuedCall) *QueuedCall {
	if qc == nil {
		return nil
	}
	return &QueuedCall{qc: qc}
}

// Offer is the ACD's offer of a queued call to agents: ring them all for
// RingTimeout; the first to answer takes the call.
type Offer struct {
	Agents      []string
	Queue       string
	RingTimeout time.Duration
	// Preferred is set when the agent is the customer's last agent.
	Preferred bool
}

func offerOf(o acd.Offer) Offer {
	return Offer{Agents: o.Agents, Queue: o.Queue, RingTimeout: o.RingTimeout, Preferred: o.Preferred}
}

// ID is the call's id in the ACD.
func (q *QueuedCall) ID() string { return q.qc.ID() }

// Next waits for the ACD's next offer of the call.
func (q *QueuedCall) Next(ctx context.Context) (Offer, error) {
	o, err := q.qc.Next(ctx)
	return offerOf(o), err
}

// Answered reports that agent answered the offer.
func (q *QueuedCall) Answered(agent string) error { return q.qc.Answered(agent) }

// NoAnswer reports that agent did not answer the offer.
func (q *QueuedCall) NoAnswer(agent string) error { return q.qc.NoAnswer(agent) }

// Withdraw reports that agent's offer ended because her reservation was
// lost to another offer (several nodes): not counted as unanswered.
func (q *QueuedCall) Withdraw(agent string) error { return q.qc.Withdraw(agent) }

// Hangup reports that the connected call ended (its agent goes to
// wrap-up).
func (q *QueuedCall) Hangup() error { return q.qc.Hangup() }

// Close takes the call out of the ACD if it is still there.
func (q *QueuedCall) Close() { q.qc.Close() }

func (q *QueuedCall) status() acd.CallStatus { return q.qc.Status() }

func (q *QueuedCall) requeue(queue string, front bool) error { return q.qc.Requeue(queue, front) }

func (q *QueuedCall) requestCallback(number string) (callbacks.Callback, error) {
	return q.qc.RequestCallback(number)
}
