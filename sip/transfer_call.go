package sip

import (
	"context"
	"errors"
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
	// consult is an attended transfer's consultation, whose target
	// takes the agent's place (attended_call.go); nil for a blind one.
	consult *consultation
}

// Attended says whether the consultation's target takes the agent's place.
func (o transferOrder) Attended() bool { return o.consult != nil }

// errTransferBusy refuses a second transfer while one is being carried out.
var errTransferBusy = &Refusal{Code: 491, Reason: "Request Pending", Err: callflow.ErrTransferBusy}

// errTransferNotBridged refuses a transfer from a leg that is not the
// call's bridged agent (ringing, or already taken away).
var errTransferNotBridged = &Refusal{Code: 481, Reason: "Call/Transaction Does Not Exist", Err: callflow.ErrTransferNotBridged}

// orderTransfer hands an accepted transfer to the call's queue loop
// (callflow.Call.OrderTransfer).
func (c *call) orderTransfer(o transferOrder) error {
	switch err := c.state.OrderTransfer(o.leg, o); {
	case errors.Is(err, callflow.ErrTransferBusy):
		return errTransferBusy
	case errors.Is(err, callflow.ErrTransferNotBridged):
		return errTransferNotBridged
	default:
		return err
	}
}

// transfer carries out a blind transfer of the bridged agent a (queue
// loop, queue.go). The referrer hears 100 Trying, then 200 OK once the
// caller is placed (or the failure), then its leg is hung up (BYE) and
// the agent goes to wrap-up. The caller, who hears hold music from
// here on, is queued again with the call's priority, segment and
// skills; its reason becomes "transfer" unless one was set:
//   - to a queue: in that queue;
//   - to an agent: for that agent only (acd.CallRequest.Agent), whose
//     INVITE shows who transferred; if the agent cannot take a call now,
//     or does not take it, the caller goes back to the queue they came
//     from, first in line (callflow.Requeue decides).
//
// The call keeps its id and its recording: the next agent is recorded
// on the agent channel of the same recording.
func (c *call) transfer(qc *acd.QueuedCall, a *Leg, o transferOrder) (*acd.QueuedCall, error) {
	if o.target.Kind == TargetNumber {
		return c.transferOut(qc, a, o) // outside_transfer.go
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	select {
	case <-o.accepted:
	case <-ctx.Done():
	}
	notify := func(code int, reason string) {
		if o.progress == nil { // through the API: no REFER to report to
			return
		}
		if err := o.progress.Notify(ctx, code, reason); err != nil {
			c.log.Info("transfer progress not delivered", "agent", o.by, "error", err)
		}
	}
	notify(100, "Trying")
	c.detachAgent() // unbridged: the caller hears the queue's hold music
	_ = qc.Hangup() // the agent goes to wrap-up
	qc.Close()
	defer func() {
		if err := a.cli.Bye(ctx); err != nil {
			c.log.Info("transferring agent's leg not hung up cleanly", "agent", o.by, "error", err)
		}
	}()

	toQueue := ""
	if o.target.Kind == TargetQueue {
		toQueue = o.target.Name
	}
	var from string
	c.noteTransfer(func(st *callflow.TransferState) { from = st.Blind(o.record(), toQueue) })
	req := c.state.Request(c.ID())
	if o.target.Kind == TargetAgent {
		req.Agent = o.target.Name
	}
	next, outcome, err := callflow.Requeue(scriptCall{c}, o.kind, metricsTarget(o.target), req, from)
	if err != nil {
		notify(503, "Service Unavailable")
		return nil, fmt.Errorf("transfer to %s: %w", o.target, err)
	}
	if outcome == callflow.TransferReturned {
		notify(480, "Temporarily Unavailable")
	} else {
		notify(200, "OK")
	}
	c.log.Info("transferred", "by", o.by, "kind", o.kind, "target", o.target.String())
	return next, nil
}

// The call's side of the transfer policy (callflow.TransferCall).

// CountTransfer counts a transfer of the call.
func (sc scriptCall) CountTransfer(kind, target, outcome string) {
	sc.c.s.deps.Metrics.Transfer(sc.c.ID(), kind, target, outcome)
}

// ReturnTo notes the queue a call transferred to one agent goes back to.
func (sc scriptCall) ReturnTo(queue string) { sc.c.state.ReturnTo(queue) }

// TakeReturnTo returns and clears the queue a call transferred to one
// agent goes back to ("" for other calls), and the last transfer's kind.
func (sc scriptCall) TakeReturnTo() (queue, kind string) {
	c := sc.c
	c.noteTransfer(func(st *callflow.TransferState) { kind = st.LastKind() })
	return c.state.TakeReturnTo(), kind
}

// record is the transfer as the call's record lists it.
func (o transferOrder) record() callflow.Transfer {
	return callflow.Transfer{Kind: o.kind, At: o.at, By: o.by, Target: o.target.String()}
}

// noteTransfer lets the transfer policy (callflow.TransferState) change
// what a transfer changes of c: its reason, queue, last transferring
// agent, transfers, last agent and agents.
func (c *call) noteTransfer(f func(*callflow.TransferState)) {
	c.state.NoteTransfer(f)
}

// Errors of Server.Transfer (the API), besides ErrNoSuchCall and the
// target's refusals (404 unknown agent or queue, 403 number not allowed),
// which wrap ErrTransferTarget.
var (
	// ErrTransferTarget marks a refused target (wrapping its Refusal).
	ErrTransferTarget = errors.New("transfer target refused")
	// ErrBadTransferTarget: not agent:<name>, queue:<name> or number:<n>.
	ErrBadTransferTarget = errors.New("bad transfer target")
	// ErrNotYourCall: an agent may transfer only a call they are on.
	ErrNotYourCall = &Refusal{Code: 403, Reason: "Not Your Call", Err: errors.New("the call is not connected to this agent")}
	// ErrNotTransferable: the call has no bridged agent (still queued or
	// ringing, a callback, a monitoring leg).
	ErrNotTransferable = &Refusal{Code: 409, Reason: "No Agent To Transfer From", Err: errors.New("the call is not connected to an agent")}
)

// Transfer moves call callID's caller to target to (agent:bob,
// queue:complaints, number:+84...), as a REFER from its agent's phone
// would (a blind transfer of kind api). by is who asked (shown in the
// record); agent, when not empty, must be the call's agent (an agent
// token). It returns once the transfer is handed to the call.
func (s *Server) Transfer(callID, by, agent, to string) error {
	target, err := ParseTarget(to)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrBadTransferTarget, err)
	}
	if err := s.transfers().Check(target); err != nil {
		s.deps.Metrics.Transfer(callID, metrics.TransferAPI, metricsTarget(target), metrics.TransferRefused)
		return fmt.Errorf("%w: %w", ErrTransferTarget, err)
	}
	s.mu.Lock()
	c := s.byID[callID]
	s.mu.Unlock()
	if c == nil || c.ctx.Err() != nil {
		return ErrNoSuchCall
	}
	leg := c.legOf(RoleAgent)
	bridged := c.state.Bridged()
	switch {
	case leg == nil || !bridged:
		err = ErrNotTransferable
	case agent != "" && leg.peer != agent:
		err = ErrNotYourCall
	}
	if err == nil {
		accepted := make(chan struct{})
		close(accepted)
		err = c.orderTransfer(transferOrder{target: target, kind: metrics.TransferAPI, by: by, leg: leg, at: s.now(), accepted: accepted})
	}
	if err != nil {
		s.deps.Metrics.Transfer(callID, metrics.TransferAPI, metricsTarget(target), metrics.TransferRefused)
		return err
	}
	c.log.Info("transfer accepted", "by", by, "agent", leg.peer, "target", target.String(), "kind", metrics.TransferAPI)
	return nil
}
