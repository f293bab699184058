package api

import (
	"math"
	"time"
)

// The API's own answer types. They are what the API promises (and what
// openapi.json describes): the packages behind it keep their own types,
// cmd/hotline converts. Durations are seconds (float, millisecond
// precision), like the call records; times are RFC 3339.

// Call is a call in progress (GET /api/v1/calls).
type Call struct {
	CallID   string    `json:"call_id"`
	Hotline  string    `json:"hotline"`
	Queue    string    `json:"queue,omitempty"`
	From     string    `json:"from"`
	Agent    string    `json:"agent,omitempty"`
	Answered bool      `json:"answered"`
	Started  time.Time `json:"started"`
	// Outside is the outside number a transfer connected the caller
	// with (through the outbound gateway), once it answered.
	Outside string `json:"outside,omitempty"`
}

// Agent states, the same words as the hotline_agents metric's state label.
const (
	StateLoggedOut = "logged_out"
	StateAvailable = "available"
	StateRinging   = "ringing"
	StateOnCall    = "on_call"
	StateWrapUp    = "wrap_up"
	StatePaused    = "paused"
)

// AgentStates returns every agent state, in the order the API documents
// them.
func AgentStates() []string {
	return []string{StateLoggedOut, StateAvailable, StateRinging, StateOnCall, StateWrapUp, StatePaused}
}

// Agent is one agent and their state (GET /api/v1/agents[/{id}]).
type Agent struct {
	Username    string    `json:"username"`
	Name        string    `json:"name"`
	State       string    `json:"state"`
	PauseReason string    `json:"pause_reason,omitempty"`
	Registered  bool      `json:"registered"`
	CallID      string    `json:"call_id,omitempty"`
	Queues      []string  `json:"queues"`
	IdleSince   time.Time `json:"idle_since,omitzero"`
	// Calls and TalkSeconds count since the last start.
	Calls       int     `json:"calls"`
	TalkSeconds float64 `json:"talk_seconds"`
	// MissedInRow counts offers not answered since the last answered one.
	MissedInRow int `json:"missed_in_row"`
}

// Queue is one queue's live figures and its counters since start
// (GET /api/v1/queues).
type Queue struct {
	Name               string  `json:"name"`
	Waiting            int     `json:"waiting"`
	LongestWaitSeconds float64 `json:"longest_wait_seconds"`
	Available          int     `json:"available"`
	Staffed            int     `json:"staffed"`
	// AvgHandleSeconds is the recent average handle time (talk + wrap-up).
	AvgHandleSeconds     float64 `json:"avg_handle_seconds"`
	Entered              int     `json:"entered"`
	Answered             int     `json:"answered"`
	Abandoned            int     `json:"abandoned"`
	TimedOut             int     `json:"timed_out"`
	Overflowed           int     `json:"overflowed"`
	Callbacks            int     `json:"callbacks"`
	AnsweredWaitSeconds  float64 `json:"answered_wait_seconds"`
	AbandonedWaitSeconds float64 `json:"abandoned_wait_seconds"`
	// Lost counts the calls ended because the node they were on died
	// (several nodes); those still waiting count as abandoned too.
	Lost int `json:"lost"`
}

// Callback is a callback to place or placed (GET /api/v1/callbacks).
type Callback struct {
	ID         string `json:"id"`
	Kind       string `json:"kind"`
	Number     string `json:"number"`
	CustomerID string `json:"customer_id,omitempty"`
	Queue      string `json:"queue"`
	Priority   int    `json:"priority"`
	Reason     string `json:"reason,omitempty"`
	// Arrived is the caller's place in the queue; Due the earliest time
	// to call.
	Arrived time.Time `json:"arrived"`
	Due     time.Time `json:"due"`
	Created time.Time `json:"created"`
	// Status is pending, completed or failed.
	Status      string    `json:"status"`
	Attempts    int       `json:"attempts"`
	LastAttempt time.Time `json:"last_attempt,omitzero"`
	LastCallID  string    `json:"last_call_id,omitempty"`
	LastResult  string    `json:"last_result,omitempty"`
	Finished    time.Time `json:"finished,omitzero"`
	Claimed     bool      `json:"claimed"`
}

// CallbackRequest is a callback to schedule (POST /api/v1/callbacks).
type CallbackRequest struct {
	Number string `json:"number"`
	// Queue defaults to callbacks.queue.
	Queue    string `json:"queue,omitempty"`
	Priority int    `json:"priority,omitempty"`
	Reason   string `json:"reason,omitempty"`
	// Due is the earliest time to call; default now.
	Due time.Time `json:"due,omitzero"`
}

// Backlog is the recording upload backlog (GET /api/v1/recordings/backlog).
type Backlog struct {
	Files               int       `json:"files"`
	Bytes               int64     `json:"bytes"`
	OldestAgeSeconds    float64   `json:"oldest_age_seconds"`
	Recording           int       `json:"recording"`
	Failures            uint64    `json:"failures"`
	ConsecutiveFailures int       `json:"consecutive_failures"`
	LastError           string    `json:"last_error,omitempty"`
	LastErrorAt         time.Time `json:"last_error_at,omitzero"`
	Uploaded            uint64    `json:"uploaded"`
	DroppedPackets      uint64    `json:"dropped_packets"`
}

// RecordingLink is where to fetch a recording (GET /api/v1/recordings/{id}).
type RecordingLink struct {
	CallID string `json:"call_id"`
	Key    string `json:"key"`
	URL    string `json:"url"`
	// Expires is when URL stops working.
	Expires time.Time `json:"expires,omitzero"`
}

// RecordingState answers a pause or resume of a call's recording.
type RecordingState struct {
	CallID string `json:"call_id"`
	// Recording is "paused" or "recording".
	Recording string `json:"recording"`
	Reason    string `json:"reason,omitempty"`
}

// AgentChange answers a login, logout, pause or unpause.
type AgentChange struct {
	Agent  string `json:"agent"`
	Action string `json:"action"`
}

// Health is GET /healthz: status "ok", or "draining" (with 503) once
// the service stops taking calls.
type Health struct {
	Status string `json:"status"`
}

// Seconds is d in seconds, rounded to the millisecond.
func Seconds(d time.Duration) float64 {
	return math.Round(d.Seconds()*1000) / 1000
}

// DispositionCode is a configured wrap-up code (GET /api/v1/dispositions).
type DispositionCode struct {
	Code string `json:"code"`
	Name string `json:"name,omitempty"`
	// Key is what an agent enters on the keypad for it.
	Key string `json:"key,omitempty"`
}

// Disposition answers POST /api/v1/agents/{id}/disposition: the wrap-up
// code given to the agent's last call.
type Disposition struct {
	Agent  string `json:"agent"`
	CallID string `json:"call_id"`
	Queue  string `json:"queue,omitempty"`
	Code   string `json:"code"`
}
