// Package wire converts the types of the packages behind the API (sip,
// routing) into the API's own types, and their errors into API errors,
// so that api depends on neither and neither's JSON shape is the API's.
package wire

import (
	"errors"
	"net/http"
	"strings"

	"hotline/api"
	"hotline/callflow"
	"hotline/routing/acd"
	"hotline/routing/callbacks"
	"hotline/sip"
)

// Call is a call in progress as the API shows it.
func Call(c sip.CallInfo) api.Call {
	return api.Call{CallID: c.CallID, Hotline: c.Hotline, Queue: c.Queue, From: c.From, Agent: c.Agent,
		Answered: c.Answered, Started: c.Started, Outside: c.Outside}
}

// AgentState is the API's (and the metrics') name of an ACD state.
func AgentState(s acd.AgentState) string {
	switch s {
	case acd.StateLoggedOut:
		return api.StateLoggedOut
	case acd.StateAvailable:
		return api.StateAvailable
	case acd.StateRinging:
		return api.StateRinging
	case acd.StateOnCall:
		return api.StateOnCall
	case acd.StateWrapUp:
		return api.StateWrapUp
	case acd.StatePaused:
		return api.StatePaused
	}
	return string(s)
}

// Agent is an agent as the API shows it.
func Agent(a acd.AgentInfo) api.Agent {
	return api.Agent{Username: a.Username, Name: a.Name, State: AgentState(a.State), PauseReason: a.PauseReason,
		Registered: a.Registered, CallID: a.CallID, Queues: nonNil(a.Queues), IdleSince: a.IdleSince,
		Calls: a.Calls, TalkSeconds: api.Seconds(a.TalkTime), MissedInRow: a.MissedInRow}
}

// Queue is a queue as the API shows it.
func Queue(q acd.QueueInfo) api.Queue {
	return api.Queue{Name: q.Name, Waiting: q.Waiting, LongestWaitSeconds: api.Seconds(q.LongestWait),
		Available: q.Available, Staffed: q.Staffed, AvgHandleSeconds: api.Seconds(q.AvgHandle),
		Entered: q.Entered, Answered: q.Answered, Abandoned: q.Abandoned, TimedOut: q.TimedOut,
		Overflowed: q.Overflowed, Callbacks: q.Callbacks, AnsweredWaitSeconds: api.Seconds(q.AnsweredWait),
		AbandonedWaitSeconds: api.Seconds(q.AbandonedWait), Lost: q.Lost}
}

// Callback is a callback as the API shows it.
func Callback(c callbacks.Callback) api.Callback {
	return api.Callback{ID: c.ID, Kind: c.Kind, Number: c.Number, CustomerID: c.CustomerID, Queue: c.Queue,
		Priority: c.Priority, Reason: c.Reason, Arrived: c.Arrived, Due: c.Due, Created: c.Created, Status: c.Status,
		Attempts: c.Attempts, LastAttempt: c.LastAttempt, LastCallID: c.LastCallID, LastResult: c.LastResult,
		Finished: c.Finished, Claimed: c.Claimed}
}

// List converts a list.
func List[T, U any](in []T, f func(T) U) []U {
	out := make([]U, len(in))
	for i, v := range in {
		out[i] = f(v)
	}
	return out
}

// AgentError explains an error of the ACD's agent actions.
func AgentError(err error) *api.Error {
	switch {
	case errors.Is(err, acd.ErrUnknownAgent):
		return &api.Error{Status: http.StatusNotFound, Code: api.CodeUnknownAgent, Message: "no such agent"}
	case errors.Is(err, acd.ErrNotRegistered):
		return &api.Error{Status: http.StatusConflict, Code: api.CodeNotRegistered, Message: "the agent's phone is not registered"}
	case errors.Is(err, acd.ErrNotLoggedIn):
		return &api.Error{Status: http.StatusConflict, Code: api.CodeNotLoggedIn, Message: "the agent is not logged in"}
	case errors.Is(err, acd.ErrNoLastCall):
		return &api.Error{Status: http.StatusConflict, Code: api.CodeNoLastCall, Message: "no finished call to give a wrap-up code to (or on another call now)"}
	}
	return nil
}

// CallError explains an error of the live-call operations.
func CallError(err error) *api.Error {
	switch {
	case errors.Is(err, sip.ErrNoSuchCall):
		return &api.Error{Status: http.StatusNotFound, Code: api.CodeNoSuchCall, Message: "no such call in progress"}
	case errors.Is(err, callflow.ErrNotRecorded):
		return &api.Error{Status: http.StatusConflict, Code: api.CodeNotRecorded, Message: "the call is not being recorded"}
	case errors.Is(err, sip.ErrBadTransferTarget):
		return &api.Error{Status: http.StatusBadRequest, Code: api.CodeBadRequest, Message: err.Error()}
	}
	var r *sip.Refusal
	if errors.As(err, &r) && errors.Is(err, sip.ErrTransferTarget) && r.Code == 404 {
		return &api.Error{Status: http.StatusNotFound, Code: api.CodeUnknownTarget, Message: r.Err.Error()}
	}
	if errors.As(err, &r) && r.Code == 501 {
		return &api.Error{Status: http.StatusNotImplemented, Code: api.CodeNotAvailable, Message: r.Err.Error()}
	}
	if errors.As(err, &r) { // monitoring, transfers: not a supervisor, no agent yet, monitored already, phone unreachable
		status, code := http.StatusConflict, api.CodeConflict
		switch r.Code {
		case 400:
			status, code = http.StatusBadRequest, api.CodeBadRequest
		case 403:
			status, code = http.StatusForbidden, api.CodeForbidden
		}
		return &api.Error{Status: status, Code: code, Message: strings.ToLower(r.Reason[:1]) + r.Reason[1:]}
	}
	return nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
