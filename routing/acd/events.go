package acd

import "time"

// Event kinds: what the ACD reports to Options.OnEvent, like the lines
// of Asterisk's queue_log. The names are those of the call history
// (records).
const (
	EventEnteredQueue    = "entered_queue"    // CallID, Queue, Caller
	EventOffered         = "offered"          // CallID, Queue, Agent (each agent of a ring-all offer)
	EventRingNoAnswer    = "ring_no_answer"   // CallID, Queue, Agent, Duration: how long it rang
	EventConnected       = "connected"        // CallID, Queue, Agent, Duration: the wait in the queue
	EventAbandoned       = "abandoned"        // CallID, Queue, Position, Duration: the wait
	EventCallbackRequest = "callback_request" // CallID, Queue, Position, Duration: the wait
	EventWrapUp          = "wrap_up"          // CallID, Queue, Agent, Duration: the wrap-up time
	EventLogin           = "login"            // Agent
	EventLogout          = "logout"           // Agent, Reason ("registration lost" when it was)
	EventPause           = "pause"            // Agent, Reason
	EventUnpause         = "unpause"          // Agent
)

// Event is one queue or agent event.
type Event struct {
	At       time.Time
	Kind     string
	CallID   string
	Queue    string
	Agent    string
	Caller   string
	Position int // 1 is the next call to be served; 0: not applicable
	Duration time.Duration
	Reason   string
}

// emitLocked hands ev to Options.OnEvent (with the ACD's lock held: the
// observer must return at once and not call back into the ACD).
// A replica reports only the events of the ops it submitted (replica.go).
func (a *ACD) emitLocked(ev Event) {
	if a.onEvent != nil && (a.repl == nil || a.ownOp.Load()) {
		a.onEvent(ev)
	}
}

// callEvent is an event about call c.
func callEvent(kind string, c *QueuedCall, now time.Time) Event {
	ev := Event{At: now, Kind: kind, CallID: c.id, Caller: c.caller}
	if c.queue != nil {
		ev.Queue = c.queue.def.Name
	}
	return ev
}

// leavingEvent is an event about a waiting or ringing call leaving its
// queue, with its position (1: next) and wait.
func (a *ACD) leavingEvent(kind string, c *QueuedCall, now time.Time) Event {
	ev := callEvent(kind, c, now)
	ev.Position = c.queue.position(c) + 1
	ev.Duration = now.Sub(c.entered)
	return ev
}
