package callflow

import (
	"errors"
	"fmt"
	"strings"
)

// Transfers to an outside number through the outbound gateway: which
// numbers may be called (a transfer never becomes toll fraud), what the
// gateway's answer means for the caller and the referrer, and where a
// caller whose outside party was not reached goes (back to their queue,
// first in line: a transferred caller is never dropped). Placing the
// INVITE and bridging the media are the SIP side's.

// TransferAbandoned counts a transfer whose caller hung up during it
// (metrics.TransferAbandoned).
const TransferAbandoned = "abandoned"

// Refusals of an outside number (the SIP side answers 403 with its own
// reason phrase).
var (
	ErrNoGateway        = errors.New("no sip.outbound.gateway configured")
	ErrNoAllowedPrefix  = errors.New("sip.outbound.allowed_prefixes is empty, no outside transfer is allowed")
	ErrNumberNotAllowed = errors.New("not in sip.outbound.allowed_prefixes")
)

// CheckOutsideNumber says whether a transfer may call number: only
// through a gateway, and only a number starting with one of prefixes
// (none: no outside transfer at all).
func CheckOutsideNumber(number string, gateway bool, prefixes []string) error {
	switch {
	case !gateway:
		return fmt.Errorf("transfer to %s: %w", number, ErrNoGateway)
	case len(prefixes) == 0:
		return fmt.Errorf("transfer to %s: %w", number, ErrNoAllowedPrefix)
	}
	for _, p := range prefixes {
		if p != "" && strings.HasPrefix(number, p) {
			return nil
		}
	}
	return fmt.Errorf("transfer to %s: %w", number, ErrNumberNotAllowed)
}

// OutsideDial is how the INVITE to an outside number ended, as the SIP
// side saw it.
type OutsideDial struct {
	// Answered: 200 OK with usable SDP, acknowledged.
	Answered bool
	// Status and Reason are the final failure response (4xx-6xx) of the
	// gateway or the far end; 0 when there was none.
	Status int
	Reason string
	// NoAnswer: it rang past sip.outbound.ring_timeout.
	NoAnswer bool
	// NoUsableSDP: answered with no codec in common.
	NoUsableSDP bool
}

// OutsideResult is what a transfer to an outside number comes to.
type OutsideResult struct {
	// Code and Reason are the final NOTIFY's sipfrag to the referrer.
	Code   int
	Reason string
	// Outcome is the transfer's counted outcome (TransferCompleted, ...).
	Outcome string
	// Back: the caller goes back to the queue they came from, first in
	// line.
	Back bool
}

// OutsideOutcome decides what a transfer to an outside number comes to
// from how its INVITE ended and whether the call ended meanwhile (the
// caller hung up):
//   - the caller gone: 487, abandoned (nobody to put back);
//   - answered: 200, completed;
//   - refused by the gateway or the far end (4xx-6xx): that status,
//     returned, the caller back in their queue;
//   - no answer within the ring timeout: 480, returned;
//   - an answer Hotline cannot use (no common codec): 488, returned;
//   - anything else (no response, a redirect, no RTP port): 503,
//     returned.
func OutsideOutcome(d OutsideDial, callEnded bool) OutsideResult {
	switch {
	case callEnded:
		return OutsideResult{Code: 487, Reason: "Request Terminated", Outcome: TransferAbandoned}
	case d.Answered:
		return OutsideResult{Code: 200, Reason: "OK", Outcome: TransferCompleted}
	case d.Status >= 400 && d.Status <= 699:
		reason := d.Reason
		if reason == "" {
			reason = "Failed"
		}
		return OutsideResult{Code: d.Status, Reason: reason, Outcome: TransferReturned, Back: true}
	case d.NoAnswer:
		return OutsideResult{Code: 480, Reason: "Temporarily Unavailable", Outcome: TransferReturned, Back: true}
	case d.NoUsableSDP:
		return OutsideResult{Code: 488, Reason: "Not Acceptable Here", Outcome: TransferReturned, Back: true}
	}
	return OutsideResult{Code: 503, Reason: "Service Unavailable", Outcome: TransferReturned, Back: true}
}

// OutsideDone counts a transfer of kind to an outside number that came
// to res and, when the caller goes back (res.Back), puts them back in
// from, the queue they came from, first in line (BackInLine). It
// returns the call's ACD call then (nil otherwise) and the
// result to tell the referrer: 503, counted failed, when the caller could
// not be queued again (with why).
func OutsideDone(c TransferCall, kind string, res OutsideResult, from string) (*QueuedCall, OutsideResult, error) {
	if !res.Back {
		c.CountTransfer(kind, TransferToNumber, res.Outcome)
		return nil, res, nil
	}
	next, err := BackInLine(c, from)
	if err != nil {
		c.CountTransfer(kind, TransferToNumber, TransferFailed)
		failed := OutsideResult{Code: 503, Reason: "Service Unavailable", Outcome: TransferFailed}
		return nil, failed, fmt.Errorf("transfer to an outside number failed (%d %s), and back to queue %s: %w",
			res.Code, res.Reason, from, err)
	}
	c.CountTransfer(kind, TransferToNumber, res.Outcome)
	return next, res, nil
}
