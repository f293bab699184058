package api

import (
	"context"
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

func (s *Server) mountHistory(mux *http.ServeMux) {
	mux.HandleFunc("GET /api/v1/history/calls", s.supervisor(s.historyCalls))
	mux.HandleFunc("GET /api/v1/customers/{number}/calls", s.supervisor(s.historyCalls))
	mux.HandleFunc("GET /api/v1/agents/{id}/events", s.self(s.agentEvents))
}

// callRow is a call in a history answer.
type callRow struct {
	records.Call
	RecordingURL     string `json:"recording_url,omitempty"`
	RecordingExpires string `json:"recording_url_expires,omitempty"`
}

func (s *Server) historyCalls(w http.ResponseWriter, r *http.Request) {
	h := s.deps.History
	if h == nil {
		writeError(w, http.StatusNotImplemented, "the call history is not configured")
		return
	}
	v := r.URL.Query()
	urls, ok := boolParam(v, "urls")
	if !ok {
		writeError(w, http.StatusBadRequest, "urls: must be 0 or 1")
		return
	}
	q, err := records.ParseCallQuery(v)
	if err == nil && strings.Contains(r.Pattern, "{number}") {
		// The customer's own calls: the path names them.
		q.Customer = r.PathValue("number")
		if err = records.CheckValue("number", q.Customer); err == nil && q.Customer == "" {
			err = &records.QueryError{Param: "number", Msg: "empty"}
		}
	}
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	page, err := h.Calls(r.Context(), q)
	if err != nil {
		s.historyError(w, err)
		return
	}
	rows := make([]callRow, len(page.Calls))
	for i, c := range page.Calls {
		rows[i].Call = c
		if urls && c.Recording != "" && s.deps.Recordings != nil {
			u, exp, err := s.recordingURL(r, c.Recording)
			if err != nil {
				writeError(w, http.StatusBadGateway, err.Error())
				return
			}
			rows[i].RecordingURL, rows[i].RecordingExpires = u, exp
		}
	}
	if urls {
		w.Header().Set("Cache-Control", "private, no-store")
	}
	writeJSON(w, http.StatusOK, map[string]any{"calls": rows, "next_cursor": page.Next})
}

func (s *Server) agentEvents(w http.ResponseWriter, r *http.Request) {
	h := s.deps.History
	if h == nil {
		writeError(w, http.StatusNotImplemented, "the call history is not configured")
		return
	}
	q, err := records.ParseEventQuery(r.URL.Query())
	if err == nil {
		q.Agent = r.PathValue("id")
		err = records.CheckValue("id", q.Agent)
	}
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	page, err := h.Events(r.Context(), q)
	if err != nil {
		s.historyError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"events": page.Events, "next_cursor": page.Next})
}

func (s *Server) historyError(w http.ResponseWriter, err error) {
	if records.IsQueryError(err) {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	// Not the store's words: they may describe the database.
	s.deps.Log.Error("history query failed", "error", err)
	writeError(w, http.StatusServiceUnavailable, "the call history is unavailable; try again later")
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
// expiry (RFC 3339, "" if the store does not say).
func (s *Server) recordingURL(r *http.Request, key string) (string, string, error) {
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
			return "", "", err
		}
		expires = now.Add(s.deps.PresignExpiry)
	}
	if expires.Equal(now) {
		return u, "", nil
	}
	return u, expires.UTC().Format(time.RFC3339), nil
}
