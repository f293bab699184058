package callflow

import (
	"slices"
	"time"

	"hotline/routing/directory"
	"hotline/survey"
)

// Call outcomes in a Record.
const (
	OutcomeAnswered  = "answered"  // an agent took the call
	OutcomeAbandoned = "abandoned" // the caller hung up before an agent took it
	OutcomeTimeout   = "timeout"   // no agent within the maximum wait
	OutcomeFailed    = "failed"    // ended otherwise (shutdown, media failure, queue full)
	OutcomeCallback  = "callback"  // the caller left the queue for a callback
	// OutcomeAfterHours: the call got an action instead of the queue
	// (message, voicemail or callback request), e.g. outside open hours.
	OutcomeAfterHours = "after_hours"
)

// Directions of a Record.
const (
	// DirectionInbound: a call to a hotline number.
	DirectionInbound = "inbound"
	// DirectionCallback: a call Hotline placed to call a customer back
	// (Caller is then the customer called).
	DirectionCallback = "callback"
)

// Record (CDR) describes one finished call; every call produces one.
type Record struct {
	CallID    string
	Hotline   string
	Caller    string
	Agent     string // who took the call, "" if nobody
	Arrived   time.Time
	Answered  time.Time // Hotline answered the caller
	Bridged   time.Time // an agent was connected
	AgentLeft time.Time // the agent hung up first
	Ended     time.Time
	Wait      time.Duration // arrival to bridge (or to the end if never bridged)
	Talk      time.Duration // bridge to the first hang-up, less the time on hold
	Hold      time.Duration // time on hold between the bridge and the first hang-up
	Outcome   string
	Cause     string
	Survey    survey.Result
	// Recording is the object key of the call's recording, if recorded.
	Recording string
	// Customer is who called, as the directory knows them.
	Customer directory.Customer
	// Reason is why the customer called (the reason menu's choice), "" if
	// not asked or not answered.
	Reason string
	// Queued is when the call entered its queue (zero: it never did).
	Queued time.Time
	// Callback is the id of the callback a caller who left the queue for
	// one got (outcome callback), or, for a callback call, the one placed.
	Callback string
	// Direction is DirectionInbound or DirectionCallback.
	Direction string
	// Queue is the name of the queue routing chose, "" when none.
	Queue string
	// Agents are every agent connected to the caller, in order (Agent is
	// the last; CSAT is credited to them); more than one after a transfer.
	Agents []string
	// Transfers are the transfers the call went through, in order.
	Transfers []Transfer
	// Outside is the outside number a transfer connected the caller with
	// (through the outbound gateway), "" if none: the call's last leg,
	// after Agents.
	Outside string
	// Monitors are the supervisors' monitoring sessions of the call, in
	// the order they started; each is closed (End set) at the latest by
	// the call's end.
	Monitors []Monitoring
}

// Monitoring is one supervisor's monitoring session of a call: who
// monitored, which agent's leg, how they joined (Via: MonitorViaCode for
// the *31 feature code, MonitorViaAPI), when it started and ended, and
// the modes in order (the first is the one it started in, at Start; keys
// 4/5/6 add the others).
type Monitoring struct {
	Supervisor string
	Agent      string
	Via        string
	Start, End time.Time
	Modes      []ModeChange
}

// How a supervisor joined a call, in Monitoring.Via.
const (
	MonitorViaCode = "code" // dialled the feature code (*31<agent>#)
	MonitorViaAPI  = "api"  // POST /api/v1/calls/{id}/monitor
)

// ModeChange is a monitoring session entering Mode (listen, whisper,
// barge) at At.
type ModeChange struct {
	Mode string
	At   time.Time
}

// Transfer is one transfer of a call: its kind (blind, attended, api),
// when, by which agent, and the target (agent:bob, queue:complaints,
// number:+84...).
type Transfer struct {
	Kind   string
	At     time.Time
	By     string
	Target string
}

// Timeline is what a call went through, as its legs and scripts noted it:
// the input of the one call-record builder, Build.
type Timeline struct {
	CallID    string
	Direction string
	Hotline   string
	Caller    string
	Agent     string
	Customer  directory.Customer
	Reason    string
	Callback  string
	Recording string
	Survey    survey.Result
	// Queue is the name of the queue routing chose, "" when none.
	Queue string
	// Arrived, Answered, Queued, Bridged and AgentLeft are the call's
	// milestones, zero until reached.
	Arrived, Answered, Queued, Bridged, AgentLeft time.Time
	// AfterHours: the call got an action instead of the queue.
	AfterHours bool
	// LeftForCallback: the caller left the queue for a callback.
	LeftForCallback bool
	// Holds are the times a leg was on hold (a re-INVITE sendonly or
	// inactive until the one resuming it), each leg's own; they may
	// overlap (both sides held). End is zero while still on hold.
	Holds []Period
	// Agents and Transfers: every agent connected, and every transfer,
	// in order.
	Agents    []string
	Transfers []Transfer
	// Monitors are the monitoring sessions, in order; an End still zero
	// is closed at the call's end by Build.
	Monitors []Monitoring
	// Outside is the outside number a transfer connected, "" if none.
	Outside string
}

// Period is a span of time; a zero End is open (until the call's end).
type Period struct {
	Start, End time.Time
}

// Build is the record of a call that ended at end with cause. The wait
// counts from entering the queue (after any keypad questions; from the
// arrival for a call that never queued) to the bridge, or to the end for
// a call no agent took; the talk from the bridge to the first hang-up
// less the hold, the time in [bridge, first hang-up] any leg was on hold
// (overlapping holds counted once).
func Build(t Timeline, end time.Time, cause error) Record {
	r := Record{
		CallID: t.CallID, Direction: t.Direction, Hotline: t.Hotline, Caller: t.Caller, Agent: t.Agent,
		Arrived: t.Arrived, Answered: t.Answered, Bridged: t.Bridged, AgentLeft: t.AgentLeft, Ended: end,
		Cause: cause.Error(), Survey: t.Survey, Customer: t.Customer, Reason: t.Reason, Queued: t.Queued,
		Callback: t.Callback, Recording: t.Recording, Queue: t.Queue, Agents: t.Agents, Transfers: t.Transfers,
		Outside: t.Outside,
	}
	r.Monitors = closeMonitors(t.Monitors, end)
	waitFrom := t.Arrived
	if !t.Queued.IsZero() {
		waitFrom = t.Queued
	}
	switch {
	case t.AfterHours:
		r.Outcome = OutcomeAfterHours
	case !t.Bridged.IsZero():
		r.Outcome = OutcomeAnswered
		r.Wait = t.Bridged.Sub(waitFrom)
		stop := end
		if !t.AgentLeft.IsZero() {
			stop = t.AgentLeft
		}
		r.Hold = heldWithin(t.Holds, t.Bridged, stop)
		r.Talk = stop.Sub(t.Bridged) - r.Hold
	case t.LeftForCallback:
		r.Outcome, r.Wait = OutcomeCallback, end.Sub(waitFrom)
	default:
		r.Outcome, r.Wait = unbridgedOutcome(cause), end.Sub(waitFrom)
	}
	return r
}

// closeMonitors copies sessions (and their modes), ending at end those
// still open; nil when there were none.
func closeMonitors(sessions []Monitoring, end time.Time) []Monitoring {
	if len(sessions) == 0 {
		return nil
	}
	out := make([]Monitoring, len(sessions))
	for i, m := range sessions {
		m.Modes = slices.Clone(m.Modes)
		if m.End.IsZero() || m.End.After(end) {
			m.End = end
		}
		out[i] = m
	}
	return out
}

// heldWithin is how long, within [from, to], at least one of the periods
// lasted (open ones until to).
func heldWithin(holds []Period, from, to time.Time) time.Duration {
	ps := make([]Period, 0, len(holds))
	for _, p := range holds {
		if p.End.IsZero() || p.End.After(to) {
			p.End = to
		}
		if p.Start.Before(from) {
			p.Start = from
		}
		if p.End.After(p.Start) {
			ps = append(ps, p)
		}
	}
	slices.SortFunc(ps, func(a, b Period) int { return a.Start.Compare(b.Start) })
	var total time.Duration
	var cur Period
	for i, p := range ps {
		switch {
		case i == 0:
			cur = p
		case !p.Start.After(cur.End):
			if p.End.After(cur.End) {
				cur.End = p.End
			}
		default:
			total += cur.End.Sub(cur.Start)
			cur = p
		}
	}
	if len(ps) > 0 {
		total += cur.End.Sub(cur.Start)
	}
	return total
}
