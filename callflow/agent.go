package callflow

import "context"

// AgentCall is a call with a bridged agent, as the agent's watch sees it
// (sip's call, inbound or callback).
type AgentCall interface {
	Context() context.Context
	End(cause error)
	// Has says whether a is still one of the call's legs (a transfer may
	// have taken it away).
	Has(a Leg) bool
	// NoteAgentLeft notes when the agent left (the first time counts).
	NoteAgentLeft()
	// SurveyOn says whether a caller whose agent left is asked the
	// survey.
	SurveyOn() bool
	// ToSurvey closes AgentGone: the queue loop unbridges the caller and
	// asks the survey.
	ToSurvey()
}

// AgentLeg is a bridged agent's leg as the watch sees it.
type AgentLeg interface {
	Leg
	// HungUp is closed when the agent's dialog ends.
	HungUp() <-chan struct{}
	// MediaDone is closed when the leg's media stops; MediaErr says why
	// (nil: Hotline closed it).
	MediaDone() <-chan struct{}
	MediaErr() error
}

// WatchAgent ends the call's agent side when agent a hangs up (AgentLeft)
// or its media times out (the call ends with ErrAgentTimeout), until the
// call ends. A leg a transfer took away is not the call's agent any more.
func WatchAgent(c AgentCall, a AgentLeg) {
	go func() {
		select {
		case <-a.HungUp():
			if c.Has(a) {
				AgentLeft(c)
			}
		case <-a.MediaDone():
			if a.MediaErr() != nil && c.Has(a) {
				c.End(ErrAgentTimeout)
			}
		case <-c.Context().Done():
		}
	}()
}

// AgentLeft is the bridged agent hanging up: with the survey on, the
// caller is asked for a rating (ToSurvey); otherwise the call ends with
// ErrAgentHangup.
func AgentLeft(c AgentCall) {
	c.NoteAgentLeft()
	if !c.SurveyOn() {
		c.End(ErrAgentHangup)
		return
	}
	c.ToSurvey()
}
