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
	// Enqueue puts r in the ACD (*acd.ACD.Enqueue).
	Enqueue(r acd.CallRequest) (*acd.QueuedCall, error)
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
// agent or a queue) in a queue again with req, the call's request as the
// transfer made it: in req.Queue, or for req.Agent only. A caller
// transferred to an agent who cannot take a call now goes back to from,
// the queue they came from, first in line (TransferReturned); one the
// agent is offered goes back there if the agent does not take it
// (TransferReturns), and the transfer is counted once the agent decided
// (TransferAnswered). It returns the call's ACD call and the outcome so
// far, or, counted failed, why the caller could not be queued.
func Requeue(c TransferCall, kind, target string, req acd.CallRequest, from string) (*acd.QueuedCall, string, error) {
	next, err := c.Enqueue(req)
	outcome := TransferCompleted
	if req.Agent != "" && errors.Is(err, acd.ErrAgentUnavailable) {
		c.Log().Info("transfer target cannot take a call now: the caller goes back to their queue, first in line",
			"target", req.Agent, "queue", from)
		req.Agent, outcome = "", TransferReturned
		next, err = BackInLine(c, req, from)
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
// call back in from, the queue they came from, first in line: a
// transferred caller is never dropped.
func BackInLine(c TransferCall, req acd.CallRequest, from string) (*acd.QueuedCall, error) {
	req.Agent, req.Front, req.Queue = "", true, from
	return c.Enqueue(req)
}

// TransferReturns, after nobody took an offer of the call, sends a call
// transferred to one agent who did not take it back to the queue it came
// from, first in line. It does nothing for other calls.
func TransferReturns(c TransferCall, qc *acd.QueuedCall) {
	back, kind := c.TakeReturnTo()
	if back == "" || c.Context().Err() != nil {
		return
	}
	if err := qc.Requeue(back, true); err != nil {
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
