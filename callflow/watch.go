package callflow

import "context"

// Ender is a call that can be ended: its context ends with the call.
type Ender interface {
	Context() context.Context
	// End ends the call with cause (the first cause wins).
	End(cause error)
}

// WatchLeg ends the call with hangup when l's peer hangs up, and with
// timeout when l's media stops on an error (a media timeout), until the
// call ends or l's media is closed by Hotline. A nil cause leaves that
// event unwatched. Callers: the caller's hang-up from the start of an
// inbound call (ErrCallerHangup), its media from the answer
// (ErrCallerTimeout); a callback's customer once connected
// (ErrCustomerHangup, ErrCallerTimeout).
func WatchLeg(c Ender, l AgentLeg, hangup, timeout error) {
	var hungUp, mediaDone <-chan struct{}
	if hangup != nil {
		hungUp = l.HungUp()
	}
	if timeout != nil {
		mediaDone = l.MediaDone()
	}
	go func() {
		select {
		case <-hungUp:
			c.End(hangup)
		case <-mediaDone:
			if l.MediaErr() != nil {
				c.End(timeout)
			}
		case <-c.Context().Done():
		}
	}()
}
