package sip

import (
	"context"
	"fmt"
	"time"

	"hotline/callflow"
	"hotline/metrics"
	"hotline/routing/acd"
)

// transferOrder is an accepted blind transfer of the call's bridged
// agent, waiting for the queue loop to carry it out.
type transferOrder struct {
	target   Target
	kind     string // metrics.TransferBlind, ...
	by       string // the agent who transferred
	leg      *Leg   // that agent's leg
	progress *ReferProgress
	at       time.Time
	// accepted is closed once the 202 went out: the first NOTIFY must
	// not overtake it.
	accepted chan struct{}
}

// errTransferBusy refuses a second transfer while one is being carried out.
var errTransferBusy = refuse(491, "Request Pending", "a transfer of this call is in progress")

// errTransferNotBridged refuses a transfer from a leg that is not the
// call's bridged agent (ringing, or already taken away).
var errTransferNotBridged = refuse(481, "Call/Transaction Does Not Exist", "the agent's leg is not bridged to the caller")

// orderTransfer hands an accepted transfer to the call's queue loop.
func (c *call) orderTransfer(o transferOrder) error {
	if c.transferTo == nil || !c.hasLeg(o.leg) {
		return errTransferNotBridged
	}
	select {
	case c.transferTo <- o:
		return nil
	default:
		return errTransferBusy
	}
}

// transfer carries out a blind transfer of the bridged agent a (queue
// loop, queue.go): the agent's leg is taken out of the call and hung up
// (BYE), the agent goes to wrap-up, and the caller, who hears hold music
// from here on, is queued again in the target queue with the call's
// priority, segment and skills; its reason becomes "transfer" unless one
// was set. The call keeps its id and its recording: the next agent is
// recorded on the agent channel of the same recording. The referrer
// hears 100 Trying, then 200 OK once the caller is queued (or the
// failure).
func (c *call) transfer(qc *acd.QueuedCall, a *Leg, o transferOrder) (*acd.QueuedCall, error) {
	s := c.s
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	notify := func(code int, reason string) {
		if err := o.progress.Notify(ctx, code, reason); err != nil {
			c.log.Info("transfer progress not delivered", "agent", o.by, "error", err)
		}
	}
	select {
	case <-o.accepted:
	case <-ctx.Done():
	}
	notify(100, "Trying")
	c.detachAgent() // unbridged: the caller hears the queue's hold music
	if err := a.cli.Bye(ctx); err != nil {
		c.log.Info("transferring agent's leg not hung up cleanly", "agent", o.by, "error", err)
	}
	_ = qc.Hangup() // the agent goes to wrap-up
	qc.Close()

	c.mu.Lock()
	if c.reason == "" {
		c.reason = "transfer"
	}
	c.decision.Queue = o.target.Name
	c.transfersDone = append(c.transfersDone, callflow.Transfer{Kind: o.kind, At: o.at, By: o.by, Target: o.target.String()})
	req := acd.RequestFor(c.id, c.decision, c.customer)
	c.mu.Unlock()
	next, err := s.deps.ACD.Enqueue(req)
	if err != nil {
		notify(503, "Service Unavailable")
		s.deps.Metrics.Transfer(c.id, o.kind, metricsTarget(o.target), metrics.TransferFailed)
		return nil, fmt.Errorf("transfer to queue %s: %w", o.target.Name, err)
	}
	notify(200, "OK")
	s.deps.Metrics.Transfer(c.id, o.kind, metricsTarget(o.target), metrics.TransferCompleted)
	c.log.Info("transferred", "by", o.by, "kind", o.kind, "target", o.target.String())
	return next, nil
}
