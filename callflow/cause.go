// Package callflow is call control: what a call goes through between its
// SIP legs (sip) and the decisions about it (routing), and what is kept of
// it (recording, metrics, call records). Data flows sip -> callflow ->
// routing -> recording/metrics/records.
//
// It holds the end causes of a call, which classify themselves (the final
// response a caller not answered yet gets, the outcome of a call no agent
// took), an inbound call's script (Run), the one teardown (Close) and the
// one call-record builder (Build) every kind of call (inbound, callback)
// goes through, the metrics of a finished call (Observe), a call's state
// (Call: legs, bridges, holds, milestones, transfers, monitoring, keypad
// answers, recording) and the recording policy over Recordings. It
// depends on no SIP, media or recording package:
// the SIP side is behind small interfaces (InboundCall, Teardown,
// ClosingLeg, CallbackLine, ...); the routing services it hands the SIP
// side are Routes (a call's side of them: CallRouting), the survey
// PostCallSurvey, the metrics the Metrics interface (callflow/callmetrics
// puts them in package metrics).
package callflow

import "errors"

// Cause is why a call ended. It classifies itself: Status is the final
// response a caller who was not answered yet gets, Outcome the outcome
// of a call no agent took. Compare causes with errors.Is.
type Cause struct {
	text    string
	status  int
	reason  string
	outcome string
}

func (c *Cause) Error() string { return c.text }

// The causes a call ends with; they are logged as the call's end cause.
var (
	ErrCallerHangup = &Cause{text: "caller hung up", outcome: OutcomeAbandoned}
	ErrAgentHangup  = &Cause{text: "agent hung up"}
	// ErrCustomerHangup ends a callback call whose customer hung up.
	ErrCustomerHangup = &Cause{text: "customer hung up"}
	// ErrOutsideHangup and ErrOutsideTimeout end a call transferred to an
	// outside number (through the outbound gateway) whose outside party
	// hung up, or whose media stopped.
	ErrOutsideHangup  = &Cause{text: "outside party hung up"}
	ErrOutsideTimeout = &Cause{text: "outside party media timeout"}
	ErrMaxWait        = &Cause{text: "no agent within the maximum wait", outcome: OutcomeTimeout}
	ErrShutdown       = &Cause{text: "hotline shutting down", status: 503, reason: "Service Unavailable"}
	// ErrCallerTimeout: the caller's media stopped. Before an agent took
	// the call the caller has gone (phone or network died): abandoned,
	// like a hang-up.
	ErrCallerTimeout = &Cause{text: "caller media timeout", outcome: OutcomeAbandoned}
	ErrAgentTimeout  = &Cause{text: "agent media timeout"}
	// ErrNoAck: Hotline answered the caller, and no ACK came while it
	// retransmitted its 200 OK for sip.transaction_linger (5 s; RFC 3261:
	// 64×T1): the call is hung up (RFC 3261 §13.3.1.4), as Asterisk does
	// with "no reply to our critical packet". The caller's ACK was lost,
	// or their phone or network died.
	ErrNoAck      = &Cause{text: "no ACK from the caller"}
	ErrQueueFull  = &Cause{text: "the queue is full", status: 486, reason: "Busy Here"}
	ErrAfterHours = &Cause{text: "after-hours action done"}
	// ErrQueueEmpty: nobody takes the queue's calls (when_empty); the
	// caller leaves the queue like at the maximum wait.
	ErrQueueEmpty = &Cause{text: "nobody takes the queue's calls", outcome: OutcomeTimeout}
)

// Status is the final response to send a caller not answered yet whose
// call ends with err: the cause's own, else 480 Temporarily Unavailable.
func Status(err error) (code int, reason string) {
	var c *Cause
	if errors.As(err, &c) && c.status != 0 {
		return c.status, c.reason
	}
	return 480, "Temporarily Unavailable"
}

// unbridgedOutcome is the outcome of a call that ended with err before an
// agent took it: the cause's own, else failed.
func unbridgedOutcome(err error) string {
	var c *Cause
	if errors.As(err, &c) && c.outcome != "" {
		return c.outcome
	}
	return OutcomeFailed
}
