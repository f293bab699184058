package callflow

// A finished call's Record as the history (package records) keeps it:
// one row of the calls table and the events the call adds.

import (
	"encoding/json"
	"time"

	"hotline/records"
)

// History is the finished call as the history (records) keeps it.
func (r Record) History() records.Call {
	c := records.Call{
		CallID: r.CallID, Direction: r.Direction, Hotline: r.Hotline, Queue: r.Queue,
		Customer: r.Customer.Number, CustomerID: r.Customer.ID, Segment: r.Customer.Segment, Style: r.Customer.Style,
		Reason: r.Reason, Agent: r.Agent,
		Arrived: r.Arrived, Queued: records.TimePtr(r.Queued), Connected: records.TimePtr(r.Bridged), Ended: r.Ended,
		Wait: records.Seconds(r.Wait), Talk: records.Seconds(r.Talk), Hold: records.Seconds(r.Hold),
		Outcome: r.Outcome, Cause: r.Cause, CSAT: r.Survey.CSAT, NPS: r.Survey.NPS,
		Recording: r.Recording, Callback: r.Callback,
	}
	if c.Customer == "" {
		c.Customer = r.Caller
	}
	if !r.Bridged.IsZero() {
		c.Answer = records.Seconds(r.Bridged.Sub(r.Arrived))
	}
	// The survey is offered as the agent leaves (the recording goes on
	// into it: this says where).
	if r.Survey.Ran && !r.AgentLeft.IsZero() {
		c.SurveyStart = records.TimePtr(r.AgentLeft)
	}
	c.Legs, c.Transfers = historyLegs(r)
	c.Monitors = historyMonitors(r.Monitors)
	return c
}

// historyMonitors are the call's monitoring sessions as the records keep
// them ([{"supervisor":"sue","agent":"alice","via":"code","start":...,
// "end":...,"modes":[{"mode":"listen","at":...}]}]); nil when none.
func historyMonitors(ms []Monitoring) json.RawMessage {
	type mode struct {
		Mode string    `json:"mode"`
		At   time.Time `json:"at"`
	}
	type session struct {
		Supervisor string    `json:"supervisor"`
		Agent      string    `json:"agent"`
		Via        string    `json:"via"`
		Start      time.Time `json:"start"`
		End        time.Time `json:"end"`
		Modes      []mode    `json:"modes"`
	}
	if len(ms) == 0 {
		return nil
	}
	out := make([]session, len(ms))
	for i, m := range ms {
		s := session{Supervisor: m.Supervisor, Agent: m.Agent, Via: m.Via, Start: m.Start.UTC(), End: m.End.UTC(),
			Modes: make([]mode, len(m.Modes))}
		for j, c := range m.Modes {
			s.Modes[j] = mode{Mode: c.Mode, At: c.At.UTC()}
		}
		out[i] = s
	}
	b, _ := json.Marshal(out)
	return b
}

// historyLegs are the call's agent legs in order ([{"role":"agent",
// "agent":"alice"}, ...], then {"role":"outside","number":"+84..."} for
// an outside number a transfer connected) and its transfers
// ([{"kind":"blind","at":..., "by":"alice","target":"agent:bob"}]), as
// the records keep them; nil when the call had none.
func historyLegs(r Record) (legs, transfers json.RawMessage) {
	type leg struct {
		Role   string `json:"role"`
		Agent  string `json:"agent,omitempty"`
		Number string `json:"number,omitempty"`
	}
	type transfer struct {
		Kind   string    `json:"kind"`
		At     time.Time `json:"at"`
		By     string    `json:"by"`
		Target string    `json:"target"`
	}
	if len(r.Agents) > 0 || r.Outside != "" {
		ls := make([]leg, 0, len(r.Agents)+1)
		for _, a := range r.Agents {
			ls = append(ls, leg{Role: "agent", Agent: a})
		}
		if r.Outside != "" {
			ls = append(ls, leg{Role: "outside", Number: r.Outside})
		}
		legs, _ = json.Marshal(ls)
	}
	if len(r.Transfers) > 0 {
		ts := make([]transfer, len(r.Transfers))
		for i, t := range r.Transfers {
			ts[i] = transfer{Kind: t.Kind, At: t.At.UTC(), By: t.By, Target: t.Target}
		}
		transfers, _ = json.Marshal(ts)
	}
	return legs, transfers
}

// HistoryEvents are the events a finished call adds to the ACD's in the
// history: who completed a connected call, and the survey's answers.
func (r Record) HistoryEvents() []records.Event {
	var out []records.Event
	if r.Agent != "" && !r.Bridged.IsZero() {
		e := records.Event{At: r.Ended, Kind: records.EventCompleteCaller, CallID: r.CallID, Agent: r.Agent,
			Customer: r.Customer.Number, Duration: records.Seconds(r.Talk + r.Hold)}
		if !r.AgentLeft.IsZero() {
			e.At, e.Kind = r.AgentLeft, records.EventCompleteAgent
		}
		out = append(out, e)
	}
	if r.Survey.CSAT != nil || r.Survey.NPS != nil {
		detail, _ := json.Marshal(struct {
			CSAT *int `json:"csat,omitempty"`
			NPS  *int `json:"nps,omitempty"`
		}{r.Survey.CSAT, r.Survey.NPS})
		out = append(out, records.Event{At: r.Ended, Kind: records.EventSurveyAnswer, CallID: r.CallID, Agent: r.Agent,
			Customer: r.Customer.Number, Detail: detail})
	}
	return out
}
