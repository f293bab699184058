package callflow

import (
	"context"
	"errors"
	"log/slog"

	"hotline/routing/acd"
)

// Transfer targets and outcomes as CountTransfer counts them (the
// metrics package's values).
const (
	TransferToAgent  = "agent"
	TransferToQueue  = "queue"
	TransferToNumber = "number"

	TransferCompleted = "completed" // the caller reached the target (agent answered, queued, number answered)
	TransferReturned  = "returned"  // the target did not take the call: the caller went back to their queue
	TransferFailed    = "failed"    // anything else
)

// TransferCall is a call a transfer puts back in a queue, as the
// transfer policy sees it.
type TransferCall interface {
	Log() *slog.Logger
	Context() context.Context
	// Request is the call's request to the ACD as routed so far
	// (CallRouting.Request): its id, queue, priority, segment, skills.
	Request() acd.CallRequest
	// Enqueue puts r in the ACD (*acd.ACD.Enqueue).
	Enqueue(r acd.CallRequest) (*QueuedCall, error)
	// CountTransfer counts a transfer of the call (kind blind, attended
	// or api; target TransferToAgent, ...) with its outcome.
	CountTransfer(kind, target, outcome string)
	// ReturnTo notes the queue a call transferred to one agent goes back
	// to if that agent does not take it.
	ReturnTo(queue string)
	// TakeReturnTo returns and clears that queue ("" for other calls),
	// and the kind of the call's last transfer.
	TakeReturnTo() (queue, kind string)
}

// Requeue puts the caller of a blind transfer of kind (to target, an
// agent or a queue) in a queue again with the call's request as the
// transfer made it (c.Request()): in its queue, or, when agent is not
// "", for that agent only. A caller
// transferred to an agent who cannot take a call now goes back to from,
// the queue they came from, first in line (TransferReturned); one the
// agent is offered goes back there if the agent does not take it
// (TransferReturns), and the transfer is counted once the agent decided
// (TransferAnswered). It returns the call's ACD call and the outcome so
// far, or, counted failed, why the caller could not be queued.
func Requeue(c TransferCall, kind, target, agent, from string) (*QueuedCall, string, error) {
	req := c.Request()
	req.Agent = agent
	next, err := c.Enqueue(req)
	outcome := TransferCompleted
	if req.Agent != "" && errors.Is(err, acd.ErrAgentUnavailable) {
		c.Log().Info("transfer target cannot take a call now: the caller goes back to their queue, first in line",
			"target", req.Agent, "queue", from)
		req.Agent, outcome = "", TransferReturned
		next, err = BackInLine(c, from)
	}
	switch {
	case err != nil:
		c.CountTransfer(kind, target, TransferFailed)
		return nil, TransferFailed, err
	case outcome == TransferCompleted && req.Agent != "":
		c.ReturnTo(from) // counted when the agent answers or not
	default:
		c.CountTransfer(kind, target, outcome)
	}
	return next, outcome, nil
}

// BackInLine puts a transferred caller whose target did not take the
// call back in from, the queue they came from, first in line, with the
// call's request (c.Request()) otherwise: a transferred caller is never
// dropped.
func BackInLine(c TransferCall, from string) (*QueuedCall, error) {
	req := c.Request()
	req.Agent, req.Front, req.Queue = "", true, from
	return c.Enqueue(req)
}

// TransferReturns, after nobody took an offer of the call, sends a call
// transferred to one agent who did not take it back to the queue it came
// from, first in line. It does nothing for other calls.
func TransferReturns(c TransferCall, qc *QueuedCall) {
	back, kind := c.TakeReturnTo()
	if back == "" || c.Context().Err() != nil {
		return
	}
	if err := qc.requeue(back, true); err != nil {
		c.Log().Warn("transferred caller not put back in their queue", "queue", back, "error", err)
		return
	}
	c.Log().Info("transfer target did not take the call: the caller goes back to their queue, first in line", "queue", back)
	c.CountTransfer(kind, TransferToAgent, TransferReturned)
}

// TransferAnswered counts a transfer to one agent completed once that
// agent took the call.
func TransferAnswered(c TransferCall) {
	if back, kind := c.TakeReturnTo(); back != "" {
		c.CountTransfer(kind, TransferToAgent, TransferCompleted)
	}
}

// TransferState is what a call's transfers change of it, as its record
// keeps it (the SIP side holds the fields; the policy of what a transfer
// changes is here).
type TransferState struct {
	// Reason is the call's reason ("" when none was set).
	Reason string
	// Queue is the queue the call waits in or came from.
	Queue string
	// By is the agent who last transferred the call (shown to the next).
	By string
	// Transfers are the call's transfers, in order.
	Transfers []Transfer
	// Agent is the call's last agent (CSAT is credited to them); Agents
	// every agent connected, in order.
	Agent  string
	Agents []string
}

// ReasonTransfer is the reason of a transferred call that had none.
const ReasonTransfer = "transfer"

// Blind notes blind transfer t (to an agent, a queue or an outside
// number) and returns the queue the caller came from (where they go back
// first in line if the target does not take the call): the call's reason
// becomes "transfer" unless one was set, who transferred it is noted,
// and a transfer to a queue (toQueue) moves the call to that queue.
func (st *TransferState) Blind(t Transfer, toQueue string) (from string) {
	from = st.Queue
	if st.Reason == "" {
		st.Reason = ReasonTransfer
	}
	if toQueue != "" {
		st.Queue = toQueue
	}
	st.By = t.By
	st.Transfers = append(st.Transfers, t)
	return from
}

// Attended notes attended transfer t whose consultation target agent
// took the call: they are its last agent from here on (the call's reason
// and queue do not change).
func (st *TransferState) Attended(t Transfer, agent string) {
	st.Agent = agent
	st.Agents = append(st.Agents, agent)
	st.By = t.By
	st.Transfers = append(st.Transfers, t)
}

// TransferBlind is the kind of a transfer by REFER without Replaces
// (metrics.TransferBlind).
const TransferBlind = "blind"

// LastKind is the kind of the call's last transfer (TransferBlind when
// none).
func (st *TransferState) LastKind() string {
	if n := len(st.Transfers); n > 0 {
		return st.Transfers[n-1].Kind
	}
	return TransferBlind
}
