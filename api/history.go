package api

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"time"

	"hotline/recording"
	"hotline/records"
)

// History answers the history endpoints (*records.Store).
//
//	GET /api/v1/history/calls?from=&to=&agent=&customer=&queue=&segment=&outcome=&csat_max=&limit=&cursor=&urls=1
//	GET /api/v1/customers/{number}/calls?from=&to=&...  (the same filters)
//	GET /api/v1/customers/{number}/events?from=&to=&kind=&call_id=&limit=&cursor=
//	GET /api/v1/agents/{id}/events?from=&to=&kind=&call_id=&limit=&cursor=   (agent: own)
//
// Rows come newest first; a page that is not the last carries
// next_cursor, passed back as cursor= for the next one. from and to are
// RFC 3339 times or YYYY-MM-DD dates (UTC). A bad parameter (unknown,
// repeated, not a number in range, invalid UTF-8, longer than 256 bytes)
// gets 400; values are only ever compared, so anything else is an
// answer, possibly empty. urls=1 adds a signed, expiring recording_url to
// each row with a recording.
type History interface {
	Calls(ctx context.Context, q records.CallQuery) (records.CallPage, error)
	Events(ctx context.Context, q records.EventQuery) (records.EventPage, error)
}

// HistoryCall is a finished call of the history. Durations are in
// seconds; wait counts from the queue entry, answer from the INVITE.
type HistoryCall struct {
	CallID      string     `json:"call_id"`
	Direction   string     `json:"direction,omitempty"`
	Hotline     string     `json:"hotline,omitempty"`
	Queue       string     `json:"queue,omitempty"`
	Customer    string     `json:"customer,omitempty"`
	CustomerID  string     `json:"customer_id,omitempty"`
	Segment     string     `json:"segment,omitempty"`
	Style       string     `json:"style,omitempty"`
	Reason      string     `json:"reason,omitempty"`
	Agent       string     `json:"agent,omitempty"`
	Arrived     time.Time  `json:"arrived"`
	Queued      *time.Time `json:"queued,omitempty"`
	Connected   *time.Time `json:"connected,omitempty"`
	SurveyStart *time.Time `json:"survey_start,omitempty"`
	Ended       time.Time  `json:"ended"`
	Wait        float64    `json:"wait_seconds"`
	Answer      float64    `json:"answer_seconds"`
	Talk        float64    `json:"talk_seconds"`
	Hold        float64    `json:"hold_seconds"`
	WrapUp      float64    `json:"wrap_up_seconds"`
	Outcome     string     `json:"outcome"`
	Cause       string     `json:"cause,omitempty"`
	CSAT        *int       `json:"csat,omitempty"`
	NPS         *int       `json:"nps,omitempty"`
	// Recording is the recording's object key; RecordingURL (with urls=1)
	// a signed URL of it valid until RecordingExpires.
	Recording        string          `json:"recording,omitempty"`
	RecordingURL     string          `json:"recording_url,omitempty"`
	RecordingExpires time.Time       `json:"recording_url_expires,omitzero"`
	Callback         string          `json:"callback,omitempty"`
	Legs             json.RawMessage `json:"legs,omitempty"`
	Transfers        json.RawMessage `json:"transfers,omitempty"`
	// Monitors are the supervisors' monitoring sessions of the call:
	// [{"supervisor":"sue","agent":"alice","via":"code","start":...,
	// "end":...,"modes":[{"mode":"listen","at":...},...]}].
	Monitors json.RawMessage `json:"monitors,omitempty"`
	// Disposition is the wrap-up code the agent gave the call, "" if none.
	Disposition string `json:"disposition,omitempty"`
}

// HistoryCallPage is one page of calls, newest first.
type HistoryCallPage struct {
	Calls      []HistoryCall `json:"calls"`
	NextCursor string        `json:"next_cursor,omitempty"`
}

// HistoryEvent is one queue, agent or customer event (the queue_log).
type HistoryEvent struct {
	ID       string          `json:"id"`
	At       time.Time       `json:"at"`
	Kind     string          `json:"kind"`
	CallID   string          `json:"call_id,omitempty"`
	Agent    string          `json:"agent,omitempty"`
	Queue    string          `json:"queue,omitempty"`
	Customer string          `json:"customer,omitempty"`
	Position int             `json:"position,omitempty"`
	Duration float64         `json:"duration_seconds,omitempty"`
	Reason   string          `json:"reason,omitempty"`
	Detail   json.RawMessage `json:"detail,omitempty"`
}

// HistoryEventPage is one page of events, newest first.
type HistoryEventPage struct {
	Events     []HistoryEvent `json:"events"`
	NextCursor string         `json:"next_cursor,omitempty"`
}

func historyCall(c records.Call) HistoryCall {
	return HistoryCall{CallID: c.CallID, Direction: c.Direction, Hotline: c.Hotline, Queue: c.Queue, Customer: c.Customer,
		CustomerID: c.CustomerID, Segment: c.Segment, Style: c.Style, Reason: c.Reason, Agent: c.Agent,
		Arrived: c.Arrived, Queued: c.Queued, Connected: c.Connected, SurveyStart: c.SurveyStart, Ended: c.Ended,
		Wait: c.Wait, Answer: c.Answer, Talk: c.Talk, Hold: c.Hold, WrapUp: c.WrapUp, Outcome: c.Outcome, Cause: c.Cause,
		CSAT: c.CSAT, NPS: c.NPS, Recording: c.Recording, Callback: c.Callback, Legs: c.Legs, Transfers: c.Transfers,
		Monitors: c.Monitors, Disposition: c.Disposition}
}

func historyEvent(e records.Event) HistoryEvent {
	return HistoryEvent{ID: e.ID, At: e.At, Kind: e.Kind, CallID: e.CallID, Agent: e.Agent, Queue: e.Queue,
		Customer: e.Customer, Position: e.Position, Duration: e.Duration, Reason: e.Reason, Detail: e.Detail}
}

func badQuery(w http.ResponseWriter, err error) {
	writeError(w, http.StatusBadRequest, CodeBadRequest, err.Error())
}

func (s *Server) historyCalls(w http.ResponseWriter, r *http.Request) {
	h := s.deps.History
	if h == nil {
		notAvailable(w, "the call history")
		return
	}
	v := r.URL.Query()
	urls, ok := boolParam(v, "urls")
	if !ok {
		writeError(w, http.StatusBadRequest, CodeBadRequest, "urls: must be 0 or 1")
		return
	}
	q, err := records.ParseCallQuery(v)
	if err == nil && strings.Contains(r.Pattern, "{number}") {
		// The customer's own calls: the path names them.
		q.Customer, err = pathValue(r, "number")
	}
	if err != nil {
		badQuery(w, err)
		return
	}
	page, err := h.Calls(r.Context(), q)
	if err != nil {
		s.historyError(w, r, err)
		return
	}
	out := HistoryCallPage{Calls: make([]HistoryCall, len(page.Calls)), NextCursor: page.Next}
	for i, c := range page.Calls {
		out.Calls[i] = historyCall(c)
		if urls && c.Recording != "" && s.deps.Recordings != nil {
			u, exp, err := s.recordingURL(r, c.Recording)
			if err != nil {
				s.storageError(w, r, err)
				return
			}
			out.Calls[i].RecordingURL, out.Calls[i].RecordingExpires = u, exp
		}
	}
	if urls {
		w.Header().Set("Cache-Control", "private, no-store")
	}
	writeJSON(w, http.StatusOK, out)
}

// pathValue is a path parameter checked like a filter value.
func pathValue(r *http.Request, name string) (string, error) {
	v := r.PathValue(name)
	if err := records.CheckValue(name, v); err != nil {
		return "", err
	}
	if v == "" {
		return "", &records.QueryError{Param: name, Msg: "empty"}
	}
	return v, nil
}

func (s *Server) agentEvents(w http.ResponseWriter, r *http.Request) {
	s.events(w, r, func(q *records.EventQuery) (err error) {
		q.Agent, err = pathValue(r, "id")
		return err
	})
}

func (s *Server) customerEvents(w http.ResponseWriter, r *http.Request) {
	s.events(w, r, func(q *records.EventQuery) (err error) {
		q.Customer, err = pathValue(r, "number")
		return err
	})
}

// events answers an event query narrowed by whose.
func (s *Server) events(w http.ResponseWriter, r *http.Request, whose func(*records.EventQuery) error) {
	h := s.deps.History
	if h == nil {
		notAvailable(w, "the call history")
		return
	}
	q, err := records.ParseEventQuery(r.URL.Query())
	if err == nil {
		err = whose(&q)
	}
	if err != nil {
		badQuery(w, err)
		return
	}
	page, err := h.Events(r.Context(), q)
	if err != nil {
		s.historyError(w, r, err)
		return
	}
	out := HistoryEventPage{Events: make([]HistoryEvent, len(page.Events)), NextCursor: page.Next}
	for i, e := range page.Events {
		out.Events[i] = historyEvent(e)
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) historyError(w http.ResponseWriter, r *http.Request, err error) {
	if records.IsQueryError(err) {
		badQuery(w, err)
		return
	}
	// Not the store's words: they may describe the database.
	s.deps.Log.Error("history query failed", "method", r.Method, "path", r.URL.Path, "error", err)
	writeError(w, http.StatusServiceUnavailable, CodeStorage, "the call history is unavailable; try again later (the log has the cause)")
}

// boolParam reads an optional 0/1 parameter.
func boolParam(v url.Values, name string) (val, ok bool) {
	switch v.Get(name) {
	case "", "0", "false":
		return false, len(v[name]) <= 1
	case "1", "true":
		return true, len(v[name]) <= 1
	}
	return false, false
}

// recordingURL is a pre-signed, expiring URL of the recording at key (s3:
// the store's own, file backend: a signed /api/v1/download URL) and its
// expiry (zero if the store does not say).
func (s *Server) recordingURL(r *http.Request, key string) (string, time.Time, error) {
	m := s.deps.Recordings
	now := s.deps.Now()
	var u string
	var expires time.Time
	if _, ok := m.Backend().(*recording.FileBackend); ok {
		expires = now.Add(s.cfg.DownloadExpiry)
		u = s.signedURL(r, key, expires)
	} else {
		var err error
		if u, err = m.URL(r.Context(), key); err != nil {
			return "", time.Time{}, err
		}
		expires = now.Add(s.deps.PresignExpiry)
	}
	if expires.Equal(now) {
		return u, time.Time{}, nil
	}
	return u, expires.UTC().Truncate(time.Second), nil
}
