package callflow

import "errors"

// ErrUnreachable: the agent offered a call has no phone to ring (not
// registered).
var ErrUnreachable = errors.New("agent not registered")

// Why an agent did not take a call offered to them (NoAnswerReason; the
// same values as the metrics package's agent no-answer reasons).
const (
	NoAnswerTimeout     = "timeout"     // rang for the whole ring timeout
	NoAnswerBusy        = "busy"        // 486, 600
	NoAnswerDeclined    = "declined"    // 603
	NoAnswerUnreachable = "unreachable" // not registered, 404, 408, 480
	NoAnswerError       = "error"       // any other failure
)

// NoAnswerReason classifies why an agent did not take an offered call:
// the phone's refusal (a *Refused), ringing past the ring timeout
// (ErrNoAnswer), no phone to ring (ErrUnreachable), or another failure.
func NoAnswerReason(err error) string {
	var re *Refused
	refused := errors.As(err, &re)
	switch {
	case refused && (re.Code == 486 || re.Code == 600):
		return NoAnswerBusy
	case refused && re.Code == 603:
		return NoAnswerDeclined
	case errors.Is(err, ErrNoAnswer):
		return NoAnswerTimeout
	case errors.Is(err, ErrUnreachable), refused && (re.Code == 404 || re.Code == 408 || re.Code == 480):
		return NoAnswerUnreachable
	}
	return NoAnswerError
}
