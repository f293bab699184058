// Package api is Hotline's HTTP JSON API for supervisors, agents and
// tools: live calls and agents, recording retrieval, and pausing a call's
// recording. It answers with its own types (types.go), durations in
// seconds. Every error is a 4xx/5xx with a JSON body {"error": "...",
// "code": "..."} (errors.go); a known path with a wrong method gets 405
// with Allow. The routes (routes.go) are described by the OpenAPI 3.1
// document served at GET /api/v1/openapi.json (openapi.json).
//
//	GET  /healthz                                      (no token; 503 while draining)
//	GET  /api/v1/openapi.json                          (no token)
//	GET  /api/v1/calls
//	GET  /api/v1/agents
//	GET  /api/v1/agents/{id}                           (agent: own)
//	POST /api/v1/agents/{id}/login                     (agent: own)
//	POST /api/v1/agents/{id}/logout                    (agent: own)
//	POST /api/v1/agents/{id}/pause {"reason": "lunch"} (agent: own)
//	POST /api/v1/agents/{id}/unpause                   (agent: own)
//	POST /api/v1/agents/{id}/disposition {"code": "sale"} (agent: own)
//	GET  /api/v1/dispositions                          (agent too)
//	GET  /api/v1/queues                                (agent too)
//	GET  /api/v1/callbacks
//	POST /api/v1/callbacks {"number": "+84912345678", "queue": "support"}
//	POST /api/v1/calls/{call_id}/recording/pause   {"reason": "card number"}
//	POST /api/v1/calls/{call_id}/recording/resume
//	GET  /api/v1/recordings/{call_id}[?date=YYYY-MM-DD]
//	GET  /api/v1/recordings/backlog
//	GET  /api/v1/download/{key}?expires=..&signature=.. (signed URL, no token)
//	GET  /api/v1/history/calls?from=&to=&agent=&...    (history.go)
//	GET  /api/v1/customers/{number}/calls
//	GET  /api/v1/customers/{number}/events
//	GET  /api/v1/agents/{id}/events                    (agent: own)
//
// Requests carry "Authorization: Bearer <token>" (none is needed on a
// loopback listener without tokens). A supervisor token may do
// everything; an agent token only what is marked "agent" above. A missing
// or unknown token gets 401 with WWW-Authenticate: Bearer, a token whose
// scope does not allow the request 403. With api.tls the API serves HTTPS
// only.
//
// A recording is never served to a bearer token: GET
// /api/v1/recordings/{call_id} returns {"call_id", "key", "url",
// "expires"}, where url is pre-signed and expiring (S3: for
// recording.s3.presign_expiry; file backend: an HMAC-signed
// /api/v1/download URL for api.download_expiry). Add ?redirect=1 for a
// 302 to it.
package api

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"hotline/recording"
)

// Calls is what the API needs of the live call side: pausing and
// resuming recordings (callflow.RecordingControl).
type Calls interface {
	PauseRecording(callID, reason string) error
	ResumeRecording(callID string) error
}

// Agents is what the API needs to change agents' states (*routing.ACD).
type Agents interface {
	Login(agent string) error
	Logout(agent string) error
	Pause(agent, reason string) error
	Unpause(agent string) error
}

// Deps are the sources of the API's answers. A nil source disables its
// endpoints (501, code not_available).
type Deps struct {
	Log *slog.Logger
	// ListCalls lists the calls in progress.
	ListCalls func() []Call
	// ListAgents lists the agents and their states.
	ListAgents func() []Agent
	// Agent describes one agent, false when there is no such agent.
	Agent func(id string) (Agent, bool)
	// ListCallbacks lists the callbacks.
	ListCallbacks func() []Callback
	// AddCallback schedules a callback (POST /api/v1/callbacks); its
	// errors are an *Error (bad input) or answer 500.
	AddCallback func(CallbackRequest) (Callback, error)
	// ListQueues lists the queues and their live figures.
	ListQueues func() []Queue
	// Agents logs agents in and out and pauses them.
	Agents Agents
	// Dispose gives an agent's last call a wrap-up code; its errors are
	// an *Error, or explained by AgentError.
	Dispose func(agent, code string) (Disposition, error)
	// ListDispositions lists the configured wrap-up codes.
	ListDispositions func() []DispositionCode
	// AgentError explains an error of Agents (status, code, message for
	// people); nil, or a nil answer: 409 "conflict".
	AgentError func(error) *Error
	// Calls controls live calls.
	Calls Calls
	// Monitors joins supervisors to calls (monitor.go).
	Monitors Monitors
	// Transfers moves callers (transfer.go).
	Transfers Transfers
	// CallError explains an error of Calls; nil, or a nil answer: 500.
	CallError func(error) *Error
	// Recordings finds stored recordings.
	Recordings *recording.Manager
	// PresignExpiry is how long the recording backend's own URLs (s3)
	// stay valid, for the "expires" of GET /api/v1/recordings/{id}.
	PresignExpiry time.Duration
	// Draining says the service is shutting down (GET /healthz: 503).
	Draining func() bool
	Now      func() time.Time
	// History answers the call history endpoints (history.go); nil
	// answers them 501.
	History History
}

// Server serves the API.
type Server struct {
	cfg   Config
	deps  Deps
	srv   *http.Server
	ln    net.Listener
	table []route
	// creds are the bearer tokens; credErr is why they could not be
	// read (then every request but public ones gets 500 and Start fails).
	creds   []credential
	credErr error
	// urlKey signs the file backend's download URLs.
	urlKey []byte
}

// New builds the API server; nothing listens until Start.
func New(c Config, d Deps) *Server {
	if d.Log == nil {
		d.Log = slog.New(slog.DiscardHandler)
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	if c.DownloadExpiry <= 0 {
		c.DownloadExpiry = 5 * time.Minute
	}
	s := &Server{cfg: c, deps: d, urlKey: make([]byte, 32)}
	s.creds, s.credErr = c.credentials()
	if s.credErr != nil {
		s.creds = nil
	}
	_, _ = rand.Read(s.urlKey) // never fails (crypto/rand)
	mux := http.NewServeMux()
	s.table = s.routes()
	s.mount(mux, s.table)
	s.srv = &http.Server{
		Handler:           s.authenticate(unmatched(mux)),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(d.Log.Handler(), slog.LevelWarn),
	}
	return s
}

// Handler returns the API's handler (for tests).
func (s *Server) Handler() http.Handler { return s.srv.Handler }

// Start listens and serves in the background: HTTPS (TLS 1.2 or later)
// when api.tls is configured, else plain HTTP. It refuses to listen off
// loopback without a token.
func (s *Server) Start() error {
	if s.credErr != nil {
		return fmt.Errorf("api: tokens: %w", s.credErr)
	}
	var tlsConf *tls.Config
	if s.cfg.TLS.Enabled() {
		cert, err := s.cfg.TLS.load()
		if err != nil {
			return fmt.Errorf("api: tls: %w", err)
		}
		tlsConf = &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}}
	}
	host, _, err := net.SplitHostPort(s.cfg.Listen)
	if err != nil {
		return fmt.Errorf("api: listen %q: %w", s.cfg.Listen, err)
	}
	if !isLoopback(host) && len(s.creds) == 0 {
		return fmt.Errorf("api: refusing to listen on %s, not a loopback address, without a token: configure api.tokens", s.cfg.Listen)
	}
	ln, err := net.Listen("tcp", s.cfg.Listen)
	if err != nil {
		return fmt.Errorf("api: listen %s: %w", s.cfg.Listen, err)
	}
	addr := ln.Addr().(*net.TCPAddr)
	s.ln = ln
	scheme := "http"
	serve := func() error { return s.srv.Serve(ln) }
	if tlsConf != nil {
		scheme = "https"
		s.srv.TLSConfig = tlsConf
		serve = func() error { return s.srv.ServeTLS(ln, "", "") }
	} else if !addr.IP.IsLoopback() {
		s.deps.Log.Warn("API serves plain HTTP off loopback: bearer tokens cross the network in clear; configure api.tls or put a TLS proxy in front",
			"addr", addr.String())
	}
	go func() {
		if err := serve(); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.deps.Log.Error("api server stopped", "error", err)
		}
	}()
	s.deps.Log.Info("API listening", "addr", addr.String(), "scheme", scheme, "tokens", len(s.creds))
	return nil
}

// Addr is the bound address (after Start).
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// Shutdown stops the server, letting requests in progress finish.
func (s *Server) Shutdown(ctx context.Context) error {
	return s.srv.Shutdown(ctx)
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func (s *Server) healthz(w http.ResponseWriter, _ *http.Request) {
	if s.deps.Draining != nil && s.deps.Draining() {
		// Load balancers and orchestrators stop sending work here.
		writeJSON(w, http.StatusServiceUnavailable, Health{Status: "draining"})
		return
	}
	writeJSON(w, http.StatusOK, Health{Status: "ok"})
}

// list answers with what f returns ([] rather than null when empty).
func list[T any](f func() []T, what string) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		if f == nil {
			notAvailable(w, what)
			return
		}
		out := f()
		if out == nil {
			out = []T{}
		}
		writeJSON(w, http.StatusOK, out)
	}
}

func (s *Server) listCalls(w http.ResponseWriter, r *http.Request) {
	list(s.deps.ListCalls, "the call list")(w, r)
}

func (s *Server) listAgents(w http.ResponseWriter, r *http.Request) {
	list(s.deps.ListAgents, "the agent list")(w, r)
}

func (s *Server) listQueues(w http.ResponseWriter, r *http.Request) {
	list(s.deps.ListQueues, "the queue list")(w, r)
}

func (s *Server) listCallbacks(w http.ResponseWriter, r *http.Request) {
	list(s.deps.ListCallbacks, "the callback list")(w, r)
}

// callbackExample is the body POST /api/v1/callbacks takes.
const callbackExample = `{"number": "+84912345678", "queue": "support", "due": "2026-01-02T09:00:00Z", "reason": "asked by email"}`

// addCallback schedules a callback to a customer: the number (+ and
// digits), the queue whose agents take it (default callbacks.queue), and
// optionally when (default now), a priority and a reason.
func (s *Server) addCallback(w http.ResponseWriter, r *http.Request) {
	var body CallbackRequest
	if r.ContentLength == 0 || !decodeBody(w, r, &body, callbackExample) {
		if r.ContentLength == 0 {
			writeError(w, http.StatusBadRequest, CodeBadRequest, "the body must be JSON like "+callbackExample)
		}
		return
	}
	if !dialableNumber(body.Number) {
		writeError(w, http.StatusBadRequest, CodeBadRequest, "number must be + and 3 to 20 digits, got "+quote(body.Number))
		return
	}
	if s.deps.AddCallback == nil {
		notAvailable(w, "callbacks")
		return
	}
	cb, err := s.deps.AddCallback(body)
	if err != nil {
		var e *Error
		if !errors.As(err, &e) {
			s.deps.Log.Error("callback not stored", "number", body.Number, "error", err)
			e = &Error{Status: http.StatusInternalServerError, Code: CodeInternal, Message: "callback not stored; see the log"}
		}
		writeErr(w, e)
		return
	}
	writeJSON(w, http.StatusOK, cb)
}

// dialableNumber: an optional + and 3 to 20 digits.
func dialableNumber(n string) bool {
	d := strings.TrimPrefix(n, "+")
	if len(d) < 3 || len(d) > 20 {
		return false
	}
	for _, c := range d {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// callError answers an error of Calls.
func (s *Server) callError(w http.ResponseWriter, r *http.Request, err error) {
	if s.deps.CallError != nil {
		if e := s.deps.CallError(err); e != nil {
			writeErr(w, e)
			return
		}
	}
	if errors.Is(err, recording.ErrFinished) {
		writeError(w, http.StatusConflict, CodeConflict, "the call's recording has finished")
		return
	}
	s.deps.Log.Error("API request failed", "method", r.Method, "path", r.URL.Path, "error", err)
	writeError(w, http.StatusInternalServerError, CodeInternal, "internal error; see the log")
}

// decodeBody reads an optional JSON body into v; example shows the form.
func decodeBody(w http.ResponseWriter, r *http.Request, v any, example string) bool {
	if r.ContentLength == 0 {
		return true
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, 4096)).Decode(v); err != nil {
		writeError(w, http.StatusBadRequest, CodeBadRequest, "the body must be JSON like "+example)
		return false
	}
	return true
}

func (s *Server) pause(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Reason string `json:"reason"`
	}
	if !decodeBody(w, r, &body, `{"reason": "card number"}`) {
		return
	}
	if s.deps.Calls == nil {
		notAvailable(w, "call control")
		return
	}
	id := r.PathValue("id")
	if err := s.deps.Calls.PauseRecording(id, body.Reason); err != nil {
		s.callError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, RecordingState{CallID: id, Recording: "paused", Reason: body.Reason})
}

func (s *Server) resume(w http.ResponseWriter, r *http.Request) {
	if s.deps.Calls == nil {
		notAvailable(w, "call control")
		return
	}
	id := r.PathValue("id")
	if err := s.deps.Calls.ResumeRecording(id); err != nil {
		s.callError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, RecordingState{CallID: id, Recording: "recording"})
}

func (s *Server) backlog(w http.ResponseWriter, _ *http.Request) {
	if s.deps.Recordings == nil {
		notAvailable(w, "recording")
		return
	}
	b := s.deps.Recordings.Backlog()
	writeJSON(w, http.StatusOK, Backlog{Files: b.Files, Bytes: b.Bytes, OldestAgeSeconds: Seconds(b.OldestAge),
		Recording: b.Recording, Failures: b.Failures, ConsecutiveFailures: b.ConsecutiveFailures,
		LastError: b.LastError, LastErrorAt: b.LastErrorAt, Uploaded: b.Uploaded, DroppedPackets: b.DroppedPackets})
}

// storageError answers when the recording store failed (the cause is
// logged, not shown).
func (s *Server) storageError(w http.ResponseWriter, r *http.Request, err error) {
	s.deps.Log.Warn("recording store failed", "method", r.Method, "path", r.URL.Path, "error", err)
	writeError(w, http.StatusBadGateway, CodeStorage, "the recording store did not answer; try again later (the log has the cause)")
}

func (s *Server) recordingGet(w http.ResponseWriter, r *http.Request) {
	m := s.deps.Recordings
	if m == nil {
		notAvailable(w, "recording")
		return
	}
	id := r.PathValue("id")
	day := s.deps.Now()
	if d := r.URL.Query().Get("date"); d != "" {
		t, err := time.Parse("2006-01-02", d)
		if err != nil {
			writeError(w, http.StatusBadRequest, CodeBadRequest, "date must be YYYY-MM-DD")
			return
		}
		day = t
	}
	ctx := r.Context()
	key, err := m.Find(ctx, id, day, s.cfg.LookBackDays)
	switch {
	case errors.Is(err, recording.ErrNoRecording):
		writeError(w, http.StatusNotFound, CodeNoRecording, fmt.Sprintf("no recording of call %q", id))
		return
	case errors.Is(err, recording.ErrNotStored):
		writeError(w, http.StatusConflict, CodeRecordingNotReady, fmt.Sprintf("the recording of call %q is not stored yet: it waits in the spool for upload", id))
		return
	case err != nil:
		s.storageError(w, r, err)
		return
	}
	// Only ever a pre-signed, expiring URL: the recording itself is not
	// served to a bearer token.
	url, expires, err := s.recordingURL(r, key)
	if err != nil {
		s.storageError(w, r, err)
		return
	}
	w.Header().Set("Cache-Control", "private, no-store")
	if r.URL.Query().Get("redirect") == "1" {
		http.Redirect(w, r, url, http.StatusFound)
		return
	}
	writeJSON(w, http.StatusOK, RecordingLink{CallID: id, Key: key, URL: url, Expires: expires})
}

func keyBase(key string) string {
	if i := strings.LastIndexByte(key, '/'); i >= 0 {
		return key[i+1:]
	}
	return key
}

// agentGet describes one agent.
func (s *Server) agentGet(w http.ResponseWriter, r *http.Request) {
	if s.deps.Agent == nil {
		notAvailable(w, "the agent list")
		return
	}
	id := r.PathValue("id")
	a, ok := s.deps.Agent(id)
	if !ok {
		writeError(w, http.StatusNotFound, CodeUnknownAgent, "no agent "+quote(id))
		return
	}
	writeJSON(w, http.StatusOK, a)
}

func quote(s string) string { return strconv.Quote(s) }

// agentAction logs an agent in or out, pauses or unpauses them.
func (s *Server) agentAction(action string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			Reason string `json:"reason"`
		}
		if action == "pause" && !decodeBody(w, r, &body, `{"reason": "lunch"}`) {
			return
		}
		if s.deps.Agents == nil {
			notAvailable(w, "agent control")
			return
		}
		id := r.PathValue("id")
		a := s.deps.Agents
		var err error
		switch action {
		case "login":
			err = a.Login(id)
		case "logout":
			err = a.Logout(id)
		case "pause":
			if body.Reason == "" {
				body.Reason = "api"
			}
			err = a.Pause(id, body.Reason)
		case "unpause":
			err = a.Unpause(id)
		}
		if err != nil {
			var e *Error
			if s.deps.AgentError != nil {
				if e = s.deps.AgentError(err); e != nil {
					e = &Error{Status: e.Status, Code: e.Code, Message: "agent " + quote(id) + ": " + e.Message}
				}
			}
			if e == nil {
				s.deps.Log.Warn("agent action refused", "agent", id, "action", action, "error", err)
				e = &Error{Status: http.StatusConflict, Code: CodeConflict, Message: "agent " + quote(id) + " cannot " + action + " now"}
			}
			writeErr(w, e)
			return
		}
		s.deps.Log.Info("agent state changed", "agent", id, "action", action, "by", principalOf(r).name)
		writeJSON(w, http.StatusOK, AgentChange{Agent: id, Action: action})
	}
}

func (s *Server) listDispositions(w http.ResponseWriter, r *http.Request) {
	list(s.deps.ListDispositions, "the wrap-up code list")(w, r)
}

// dispose gives the agent's last call a wrap-up code.
func (s *Server) dispose(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Code string `json:"code"`
	}
	if r.ContentLength == 0 || !decodeBody(w, r, &body, `{"code": "sale"}`) {
		if r.ContentLength == 0 {
			writeError(w, http.StatusBadRequest, CodeBadRequest, `the body must be JSON like {"code": "sale"}`)
		}
		return
	}
	if s.deps.Dispose == nil {
		notAvailable(w, "wrap-up codes")
		return
	}
	id := r.PathValue("id")
	d, err := s.deps.Dispose(id, body.Code)
	if err != nil {
		var e *Error
		if !errors.As(err, &e) && s.deps.AgentError != nil {
			if e = s.deps.AgentError(err); e != nil {
				e = &Error{Status: e.Status, Code: e.Code, Message: "agent " + quote(id) + ": " + e.Message}
			}
		}
		if e == nil {
			s.deps.Log.Error("wrap-up code not stored", "agent", id, "error", err)
			e = &Error{Status: http.StatusInternalServerError, Code: CodeInternal, Message: "internal error; see the log"}
		}
		writeErr(w, e)
		return
	}
	writeJSON(w, http.StatusOK, d)
}
