package callflow

// What the call scripts need of the SIP side, as small interfaces: a leg
// that hears what Hotline plays, and the callback dialer's line and calls
// (sip.Server.CallbackLine); callflowtest holds test doubles of them.

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"hotline/audio"
	"hotline/routing/callbacks"
)

// Why a call placed to a customer did not get through, as CallbackCall.Dial
// reports it (besides a *Refused and its context's cause).
var (
	// ErrNoAnswer: the customer's phone rang past the ring timeout.
	ErrNoAnswer = errors.New("no answer in time")
	// ErrBadAnswer: the customer answered with nothing Hotline can use
	// (no usable SDP, the ACK could not be sent).
	ErrBadAnswer = errors.New("the answer could not be used")
)

// Refused is a phone or gateway refusing an INVITE with a final response.
type Refused struct {
	Code   int
	Reason string
}

func (e *Refused) Error() string { return fmt.Sprintf("answered %d %s", e.Code, e.Reason) }

// Callback attempt results (CallbackMetrics.CallbackAttempt, the stored
// callback's last result): how one call to a customer went. The same
// values as the metrics package's.
const (
	CallbackAnswered    = "answered"    // the customer answered and was connected
	CallbackBusy        = "busy"        // 486, 600
	CallbackNoAnswer    = "no_answer"   // rang out (ring timeout, 480, 408)
	CallbackDeclined    = "declined"    // 603
	CallbackUnreachable = "unreachable" // 404, 410, 484, 5xx, no response from the gateway
	CallbackAbandoned   = "abandoned"   // the agent hung up before the customer answered
	CallbackError       = "error"       // anything else
)

// Callback failure reasons (CallbackMetrics.CallbackFailed): why a
// callback was given up.
const (
	CallbackFailAttempts      = "attempts"       // every allowed attempt was made
	CallbackFailInvalidNumber = "invalid_number" // not a number that can be dialled
	CallbackFailNotAllowed    = "not_allowed"    // outside the allowed prefixes
	CallbackFailNoTime        = "no_time"        // no time within the schedule and outside quiet hours
	CallbackFailUnknownQueue  = "unknown_queue"  // its queue is no longer configured
)

// CallbackMetrics counts callbacks (*metrics.Metrics).
type CallbackMetrics interface {
	CallbackAttempt(queue, kind, result string)
	CallbackCompleted(queue, kind string)
	CallbackFailed(queue, kind, reason string)
}

// Leg is one party of a call as a script sees it: who it reaches, what
// it speaks, and what it hears from Hotline.
type Leg interface {
	// Peer is the agent's username, the customer's or caller's number.
	Peer() string
	// Codec is the codec negotiated with the peer.
	Codec() audio.Codec
	// Play plays src to the peer (instead of what it heard); nil stops.
	Play(src audio.Reader)
}

// CallbackLine is the SIP side of the dialer (sip.Server.CallbackLine).
type CallbackLine interface {
	// Started says whether the SIP server runs: calls can be placed.
	Started() bool
	// Admit says whether one more call may start now: nil, or why not
	// (ErrShutdown while draining, the maximum number of calls in
	// progress).
	Admit() error
	// Now is the server's clock.
	Now() time.Time
	// Go runs f in the background; the server's shutdown waits for it.
	Go(f func())
	// NewCallback makes the call of callback p (its routing:
	// Call.RouteCallback, to the callback's queue): not listed with the
	// calls (and leaving no record) until Take.
	NewCallback(p CallbackPlan) CallbackCall
}

// CallbackCall is a callback's call on the SIP side: its legs, bridges,
// recording and teardown.
type CallbackCall interface {
	// ID is the call's id, the Call-ID of the INVITE to the customer.
	ID() string
	// Log logs with the call's id.
	Log() *slog.Logger
	// Context ends when the call ends; its cause is the call's.
	Context() context.Context
	// End ends the call with cause (the first cause wins).
	End(cause error)
	// Close is the call's one teardown: legs hung up, media closed, the
	// record written if the call was listed.
	Close(cause error)
	// AgentGone is closed when the agent who took the call hangs up.
	AgentGone() <-chan struct{}
	// RingAgents rings the agents of an offer at once; it returns the
	// leg of the one who took the call (told to qc), nil when nobody did
	// (each one who did not is reported to qc).
	RingAgents(qc *QueuedCall, off Offer) Leg
	// OpenCustomer opens the customer's leg (its media; no dialog yet).
	OpenCustomer(number string) (Leg, error)
	// Take lists the call: agent a took it, cust is its first leg; a's
	// media starts and a's hang-up is watched (AgentGone, or the call
	// ends when a's media times out).
	Take(cust, a Leg)
	// Dial calls cust through the outbound gateway with the call's id,
	// offering a's codec first, and returns once the customer answered
	// (the answer taken, acknowledged), or with a *Refused, ErrNoAnswer,
	// ErrBadAnswer or ctx's cause; giving up cancels the INVITE.
	Dial(ctx context.Context, cust, a Leg) error
	// Connect bridges the answered customer with the agent: the call is
	// answered, recorded, and ends when the customer hangs up.
	Connect(cust, a Leg)
}

// Dialable says whether s is a number Hotline may call: + and 3 to 20
// digits.
func Dialable(s string) bool {
	s = strings.TrimPrefix(s, "+")
	if len(s) < 3 || len(s) > 20 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// CallbackStore keeps the callbacks the dialer places
// (*callbacks.Store, or a store several nodes share): Claim is exclusive,
// one dialer wins a callback.
type CallbackStore interface {
	Due(now time.Time) []callbacks.Callback
	Claim(id string) (callbacks.Callback, error)
	Dialing(id, callID string) (callbacks.Callback, error)
	Complete(id string) error
	Retry(id string, at time.Time, result string) error
	Fail(id, reason string) error
}

var _ CallbackStore = (*callbacks.Store)(nil)
