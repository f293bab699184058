package records

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"time"
)

// Call is the record of one finished call: one row in the calls table,
// one line {"call": {...}} in the file backend.
type Call struct {
	// CallID identifies the call (the caller leg's SIP Call-ID); a record
	// whose CallID is already stored is ignored.
	CallID string `json:"call_id"`
	// Direction is "inbound" or "callback".
	Direction string `json:"direction,omitempty"`
	// Hotline is the number called (inbound) or the callback's caller id.
	Hotline string `json:"hotline,omitempty"`
	// Queue is the name of the queue the call went through, "" if none.
	Queue string `json:"queue,omitempty"`
	// Customer is the customer's number (E.164 when known), CustomerID the
	// directory's id.
	Customer   string `json:"customer,omitempty"`
	CustomerID string `json:"customer_id,omitempty"`
	Segment    string `json:"segment,omitempty"`
	Style      string `json:"style,omitempty"`
	Reason     string `json:"reason,omitempty"`
	// Agent is who took the call, "" if nobody did.
	Agent string `json:"agent,omitempty"`
	// Arrived is the INVITE; Queued the queue entry; Connected the bridge
	// to an agent; Ended the last hang-up; SurveyStart when the post-call
	// survey began (zero: none). Zero times are absent.
	Arrived     time.Time  `json:"arrived"`
	Queued      *time.Time `json:"queued,omitempty"`
	Connected   *time.Time `json:"connected,omitempty"`
	SurveyStart *time.Time `json:"survey_start,omitempty"`
	Ended       time.Time  `json:"ended"`
	// Wait is from queue entry to connection (or to the end when never
	// connected); Answer from the INVITE to connection (0 if never
	// connected). Talk, Hold and WrapUp are the agent's times on this
	// call. All in seconds (millisecond precision).
	Wait   float64 `json:"wait_seconds"`
	Answer float64 `json:"answer_seconds"`
	Talk   float64 `json:"talk_seconds"`
	Hold   float64 `json:"hold_seconds"`
	WrapUp float64 `json:"wrap_up_seconds"`
	// Outcome is answered, abandoned, timeout, callback, after_hours or
	// failed; Cause says more (who hung up first, the failure).
	Outcome string `json:"outcome"`
	Cause   string `json:"cause,omitempty"`
	// CSAT (1-5) and NPS (0-10) are the survey's answers, nil if none.
	CSAT *int `json:"csat,omitempty"`
	NPS  *int `json:"nps,omitempty"`
	// Recording is the object key of the call's recording, "" if none.
	Recording string `json:"recording,omitempty"`
	// Callback is the id of the callback this call requested or placed.
	Callback string `json:"callback,omitempty"`
	// Legs and Transfers describe the call's legs and transfers (free
	// form, stored as JSON).
	Legs      json.RawMessage `json:"legs,omitempty"`
	Transfers json.RawMessage `json:"transfers,omitempty"`
	// Monitors describe the supervisors' monitoring sessions of the call
	// (free form, stored as JSON).
	Monitors json.RawMessage `json:"monitors,omitempty"`
	// Disposition is the wrap-up code the agent gave the call: the
	// latest EventDisposition of the call, filled in when the history is
	// read (a Call handed to Store.Call need not carry it).
	Disposition string `json:"disposition,omitempty"`
}

// Event kinds: the queue_log of the hotline, survey answers, callbacks
// and the customer history.
const (
	EventEnteredQueue    = "entered_queue"    // Queue, Customer
	EventOffered         = "offered"          // Agent
	EventRingNoAnswer    = "ring_no_answer"   // Agent, Duration: how long it rang
	EventConnected       = "connected"        // Agent, Duration: queue wait
	EventAbandoned       = "abandoned"        // Position, Duration: wait
	EventCompleteAgent   = "complete_agent"   // the agent hung up first
	EventCompleteCaller  = "complete_caller"  // the caller hung up first
	EventCallbackRequest = "callback_request" // Position, Duration: wait, Detail.callback
	EventLogin           = "login"            // Agent
	EventLogout          = "logout"           // Agent
	EventPause           = "pause"            // Agent, Reason
	EventUnpause         = "unpause"          // Agent
	EventWrapUp          = "wrap_up"          // Agent, Duration: wrap-up time (at its end; the call's wrap_up_seconds)
	EventSurveyAnswer    = "survey_answer"    // Detail: question, answer
	EventCallback        = "callback"         // Detail: id, state
	EventStyleAnswer     = "style_answer"     // Customer, Reason: the style
	EventSegmentChanged  = "segment_changed"  // Customer, Reason: rule, Detail: from, to
	EventDisposition     = "disposition"      // CallID, Agent, Queue, Reason: the wrap-up code
)

// Event is one queue, agent or customer event: one row in the events
// table, one line {"event": {...}} in the file backend.
type Event struct {
	// ID identifies the event; Store.Event gives one when empty. An event
	// whose ID is already stored is ignored.
	ID       string    `json:"id"`
	At       time.Time `json:"at"`
	Kind     string    `json:"kind"`
	CallID   string    `json:"call_id,omitempty"`
	Agent    string    `json:"agent,omitempty"`
	Queue    string    `json:"queue,omitempty"`
	Customer string    `json:"customer,omitempty"`
	// Position in the queue (1 = next), 0 if not applicable.
	Position int `json:"position,omitempty"`
	// Duration is what the kind describes (a wait, a ringing time, a
	// wrap-up), in seconds.
	Duration float64 `json:"duration_seconds,omitempty"`
	Reason   string  `json:"reason,omitempty"`
	// Detail is free-form JSON (an object) the kind describes.
	Detail json.RawMessage `json:"detail,omitempty"`
}

// NewID returns a random event id (128 bits, hex).
func NewID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails
	return hex.EncodeToString(b[:])
}

// Seconds is d in seconds, rounded to the millisecond.
func Seconds(d time.Duration) float64 { return float64(d.Milliseconds()) / 1000 }

// TimePtr is &t, nil for the zero time.
func TimePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}

// line is one line of a file or spool: exactly one of its fields is set.
type line struct {
	Call  *Call  `json:"call,omitempty"`
	Event *Event `json:"event,omitempty"`
}

// Batch is what one write stores.
type Batch struct {
	Calls  []Call
	Events []Event
}

// wrapUpCalls are the ids of the calls of b and of its wrap_up events:
// the rows whose wrap-up time the batch may change.
func wrapUpCalls(b *Batch) []string {
	var ids []string
	for _, c := range b.Calls {
		if c.Agent != "" { // only an agent's call has a wrap-up
			ids = append(ids, c.CallID)
		}
	}
	for _, e := range b.Events {
		if e.Kind == EventWrapUp && e.CallID != "" {
			ids = append(ids, e.CallID)
		}
	}
	return ids
}

// Len is the number of records in b.
func (b *Batch) Len() int { return len(b.Calls) + len(b.Events) }
