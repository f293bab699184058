package callflow

import (
	"errors"
	"fmt"

	"hotline/routing/acd"
)

// AgentStates are the agents' states as their phones change them
// (acd.ACD).
type AgentStates interface {
	Login(agent string) error
	Logout(agent string) error
	Pause(agent, reason string) error
	Unpause(agent string) error
}

// AgentAction is a change of state an agent asks for from their phone
// (a feature code on the SIP side).
type AgentAction int

// The agent actions.
const (
	AgentLogin   AgentAction = iota + 1 // take calls
	AgentLogout                         // take none
	AgentPause                          // pause, reason PausePhone
	AgentUnpause                        // back from a pause
)

// PausePhone is the pause reason of an agent who paused from their phone.
const PausePhone = "softphone"

// Do carries out a for agent in st.
func (a AgentAction) Do(st AgentStates, agent string) error {
	switch a {
	case AgentLogin:
		return st.Login(agent)
	case AgentLogout:
		return st.Logout(agent)
	case AgentPause:
		return st.Pause(agent, PausePhone)
	case AgentUnpause:
		return st.Unpause(agent)
	}
	return fmt.Errorf("agent action %d: no such action", int(a))
}

// ErrUnknownDispositionKey is what a wrap-up by key answers for a key no
// wrap-up code has.
var ErrUnknownDispositionKey = errors.New("no wrap-up code has this key")

// RefusalReason is the reason phrase an agent's phone shows for an agent
// action or wrap-up code refused with err (the SIP side answers 403 with
// it).
func RefusalReason(err error) string {
	switch {
	case errors.Is(err, acd.ErrNotRegistered):
		return "Not Registered"
	case errors.Is(err, acd.ErrNotLoggedIn):
		return "Not Logged In"
	case errors.Is(err, acd.ErrUnknownAgent):
		return "Not An Agent"
	case errors.Is(err, acd.ErrNoLastCall):
		return "No Call To Code"
	case errors.Is(err, ErrUnknownDispositionKey):
		return "No Such Code"
	}
	return "Forbidden"
}
