package acd

import "errors"

// ErrUnknownAgent is returned for an agent id that is not configured.
var ErrUnknownAgent = errors.New("routing: unknown agent")

// AgentState is what an agent is doing as far as routing knows.
type AgentState string

// Agent states of a logged-in agent (see also StateLoggedOut, StateWrapUp
// and StatePaused).
const (
	StateAvailable AgentState = "available" // logged in and free
	StateRinging   AgentState = "ringing"   // offered a call
	StateOnCall    AgentState = "on_call"   // talking
)
