package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"time"

	"hotline/api"
	"hotline/api/wire"
	"hotline/callflow"
	"hotline/cluster"
	"hotline/records"
	"hotline/routing/acd"
	"hotline/routing/callbacks"
	"hotline/routing/directory"
)

// callRecord is a finished call as the history keeps it.
func callRecord(r callflow.Record) records.Call {
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
	c.Legs, c.Transfers = callLegs(r)
	c.Monitors = callMonitors(r.Monitors)
	return c
}

// callMonitors are the call's monitoring sessions as the records keep
// them ([{"supervisor":"sue","agent":"alice","via":"code","start":...,
// "end":...,"modes":[{"mode":"listen","at":...}]}]); nil when none.
func callMonitors(ms []callflow.Monitoring) json.RawMessage {
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

// callLegs are the call's agent legs in order ([{"role":"agent",
// "agent":"alice"}, ...], then {"role":"outside","number":"+84..."} for
// an outside number a transfer connected) and its transfers
// ([{"kind":"blind","at":..., "by":"alice","target":"agent:bob"}]), as
// the records keep them; nil when the call had none.
func callLegs(r callflow.Record) (legs, transfers json.RawMessage) {
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

// queueEvent is an ACD event as the history keeps it.
func queueEvent(e acd.Event) records.Event {
	return records.Event{At: e.At, Kind: e.Kind, CallID: e.CallID, Queue: e.Queue, Agent: e.Agent, Customer: e.Caller,
		Position: e.Position, Duration: records.Seconds(e.Duration), Reason: e.Reason}
}

// callEndEvents are the events a finished call adds to the ACD's: who
// completed a connected call, and the survey's answers.
func callEndEvents(r callflow.Record) []records.Event {
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

// callbackEvent is a change of a callback as the history keeps it
// (Reason: what happened; Detail: the callback's id, kind, status,
// attempts, due time and last result).
func callbackEvent(at time.Time, cb callbacks.Callback, change string) records.Event {
	detail, _ := json.Marshal(map[string]any{"id": cb.ID, "kind": cb.Kind, "status": cb.Status, "queue": cb.Queue,
		"attempts": cb.Attempts, "due": cb.Due, "result": cb.LastResult, "reason": cb.Reason})
	return records.Event{At: at, Kind: records.EventCallback, CallID: cb.LastCallID, Queue: cb.Queue,
		Customer: cb.Number, Reason: change, Detail: detail}
}

// segmentedLookup is the directory's lookup with the segment the
// history's rules set, when one does.
func segmentedLookup(dir *directory.Directory, seg *records.Segmenter) func(context.Context, string) directory.Customer {
	return func(ctx context.Context, callerID string) directory.Customer {
		c := dir.Lookup(ctx, callerID)
		if o, ok := seg.Segment(c.Number); ok && c.Number != "" {
			c.Segment = o.Segment
		}
		return c
	}
}

// openComplaint says whether a customer has a complaint not followed up
// yet: a pending follow-up callback for a complaint.
func openComplaint(store callbacks.Keeper, number string) bool {
	if number == "" {
		return false
	}
	for _, cb := range store.List() {
		if cb.Number == number && cb.Kind == callbacks.FollowUp && cb.Status == callbacks.Pending && cb.Reason == complaintReason {
			return true
		}
	}
	return false
}

// addCallback is POST /api/v1/callbacks: a callback to the number for the
// queue (default the callbacks' queue), due when asked (default now).
func addCallback(store callbacks.Keeper, queues *acd.ACD, defaultQueue string) func(api.CallbackRequest) (api.Callback, error) {
	return func(r api.CallbackRequest) (api.Callback, error) {
		queue := cmp.Or(r.Queue, defaultQueue)
		if queue == "" {
			return api.Callback{}, &api.Error{Status: http.StatusBadRequest, Code: api.CodeBadRequest,
				Message: "queue is required (callbacks.queue is not set)"}
		}
		known := false
		for _, q := range queues.Queues() {
			known = known || q.Name == queue
		}
		if !known {
			return api.Callback{}, &api.Error{Status: http.StatusBadRequest, Code: api.CodeBadRequest,
				Message: fmt.Sprintf("no queue %q", queue)}
		}
		cb, err := store.Add(callbacks.Callback{Kind: callbacks.Queued, Number: r.Number, Queue: queue, Priority: r.Priority,
			Reason: cmp.Or(r.Reason, "requested through the API"), Due: r.Due})
		if errors.Is(err, cluster.ErrUnreachable) {
			return api.Callback{}, &api.Error{Status: http.StatusServiceUnavailable, Code: api.CodeStorage,
				Message: "callback not stored: the cluster's Redis did not answer; try again"}
		}
		if err != nil {
			return api.Callback{}, err
		}
		return wire.Callback(cb), nil
	}
}

// complaintReason is the reason (keypad menu) that makes a complaint.
const complaintReason = "complaint"

// migrate is `hotline migrate [-config FILE]`: it applies the pending
// records migrations to the configured PostgreSQL and exits.
func migrate(args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("hotline migrate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "", "configuration file (default: the embedded deploy/hotline.example.yaml)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	c, err := loadConfig(*path)
	if err != nil {
		fmt.Fprintf(stderr, "hotline: configuration error:\n%v\n", err)
		return 2
	}
	if c.Records.Backend != records.BackendPostgres {
		fmt.Fprintf(stderr, "hotline migrate: records.backend is %q: only the postgres backend has a schema to migrate\n", c.Records.Backend)
		return 2
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	applied, err := records.MigrateConfig(ctx, c.Records.Postgres)
	if err != nil {
		fmt.Fprintf(stderr, "hotline migrate: %v\n", err)
		return 1
	}
	if len(applied) == 0 {
		fmt.Fprintf(stderr, "hotline migrate: schema already at version %d\n", records.LatestVersion())
	} else {
		fmt.Fprintf(stderr, "hotline migrate: applied %v, schema at version %d\n", applied, records.LatestVersion())
	}
	return 0
}
