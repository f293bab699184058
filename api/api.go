// Package api is Hotline's HTTP JSON API for supervisors, agents and
// tools: live calls and agents, recording retrieval, and pausing a call's
// recording. Every error is a 4xx/5xx with a JSON body {"error": "..."}.
//
//	GET  /healthz                                      (no token)
//	GET  /api/v1/calls
//	GET  /api/v1/agents
//	GET  /api/v1/agents/{id}                           (agent: own)
//	POST /api/v1/agents/{id}/login                     (agent: own)
//	POST /api/v1/agents/{id}/logout                    (agent: own)
//	POST /api/v1/agents/{id}/pause {"reason": "lunch"} (agent: own)
//	POST /api/v1/agents/{id}/unpause                   (agent: own)
//	GET  /api/v1/queues                                (agent too)
//	GET  /api/v1/callbacks
//	POST /api/v1/calls/{call_id}/recording/pause   {"reason": "card number"}
//	POST /api/v1/calls/{call_id}/recording/resume
//	GET  /api/v1/recordings/{call_id}[?date=YYYY-MM-DD]
//	GET  /api/v1/recordings/backlog
//	GET  /api/v1/download/{key}?expires=..&signature=.. (signed URL, no token)
//	GET  /api/v1/history/calls?from=&to=&agent=&...    (history.go)
//	GET  /api/v1/customers/{number}/calls
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

// Calls is what the API needs of the live call side (*sip.Server).
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

// Deps are the sources of the API's answers.
type Deps struct {
	Log *slog.Logger
	// Calls lists the calls in progress (any JSON-encodable value).
	ListCalls func() any
	// ListAgents lists the agents and their states.
	ListAgents func() any
	// Agent describes one agent, false when there is no such agent.
	Agent func(id string) (any, bool)
	// ListCallbacks lists pending callbacks.
	ListCallbacks func() any
	// ListQueues lists the queues and their live figures.
	ListQueues func() any
	// Agents logs agents in and out and pauses them; nil disables those
	// endpoints.
	Agents Agents
	// AgentError maps an error of Agents to an HTTP status (404 unknown
	// agent, 409 not possible now); nil: 409 for every error.
	AgentError func(error) int
	// Calls controls live calls.
	Calls Calls
	// Recordings finds stored recordings; nil disables those endpoints.
	Recordings *recording.Manager
	// IsNotFound tells whether an error of Calls means "no such call".
	IsNotFound func(error) bool
	// IsConflict tells whether an error of Calls means the call cannot do
	// that now (e.g. it is not recorded).
	IsConflict func(error) bool
	// PresignExpiry is how long the recording backend's own URLs (s3)
	// stay valid, for the "expires" of GET /api/v1/recordings/{id}.
	PresignExpiry time.Duration
	Now           func() time.Time
	// History answers the call history endpoints (history.go); nil
	// answers them 501.
	History History
}

// Server serves the API.
type Server struct {
	cfg  Config
	deps Deps
	srv  *http.Server
	ln   net.Listener
	// creds are the bearer tokens; credErr is why they could not be
	// read (then every request but /healthz gets 500 and Start fails).
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
	mux.HandleFunc("GET /healthz", s.healthz)
	mux.HandleFunc("GET /api/v1/calls", s.supervisor(s.list(d.ListCalls)))
	mux.HandleFunc("GET /api/v1/agents", s.supervisor(s.list(d.ListAgents)))
	mux.HandleFunc("GET /api/v1/agents/{id}", s.self(s.agentGet))
	mux.HandleFunc("GET /api/v1/callbacks", s.supervisor(s.list(d.ListCallbacks)))
	mux.HandleFunc("GET /api/v1/queues", s.anyScope(s.list(d.ListQueues)))
	mux.HandleFunc("POST /api/v1/agents/{id}/{action}", s.self(s.agentAction))
	mux.HandleFunc("POST /api/v1/calls/{id}/recording/pause", s.supervisor(s.pause))
	mux.HandleFunc("POST /api/v1/calls/{id}/recording/resume", s.supervisor(s.resume))
	mux.HandleFunc("GET /api/v1/recordings/backlog", s.supervisor(s.backlog))
	mux.HandleFunc("GET /api/v1/recordings/{id}", s.supervisor(s.recordingGet))
	mux.HandleFunc("GET "+downloadPrefix+"{key...}", s.download)
	s.mountHistory(mux)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "no such endpoint: "+r.Method+" "+r.URL.Path)
	})
	s.srv = &http.Server{
		Handler:           s.authenticate(mux),
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

func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, map[string]string{"error": msg})
}

func (s *Server) healthz(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

func (s *Server) list(f func() any) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		if f == nil {
			writeError(w, http.StatusNotImplemented, "not available")
			return
		}
		writeJSON(w, http.StatusOK, f())
	}
}

func (s *Server) callError(w http.ResponseWriter, err error) {
	switch {
	case s.deps.IsNotFound != nil && s.deps.IsNotFound(err):
		writeError(w, http.StatusNotFound, err.Error())
	case s.deps.IsConflict != nil && s.deps.IsConflict(err), errors.Is(err, recording.ErrFinished):
		writeError(w, http.StatusConflict, err.Error())
	default:
		writeError(w, http.StatusInternalServerError, err.Error())
	}
}

func (s *Server) pause(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Reason string `json:"reason"`
	}
	if r.ContentLength != 0 {
		if err := json.NewDecoder(io.LimitReader(r.Body, 4096)).Decode(&body); err != nil {
			writeError(w, http.StatusBadRequest, "body must be JSON like {\"reason\": \"card number\"}: "+err.Error())
			return
		}
	}
	if s.deps.Calls == nil {
		writeError(w, http.StatusNotImplemented, "not available")
		return
	}
	id := r.PathValue("id")
	if err := s.deps.Calls.PauseRecording(id, body.Reason); err != nil {
		s.callError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"call_id": id, "recording": "paused", "reason": body.Reason})
}

func (s *Server) resume(w http.ResponseWriter, r *http.Request) {
	if s.deps.Calls == nil {
		writeError(w, http.StatusNotImplemented, "not available")
		return
	}
	id := r.PathValue("id")
	if err := s.deps.Calls.ResumeRecording(id); err != nil {
		s.callError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"call_id": id, "recording": "recording"})
}

func (s *Server) backlog(w http.ResponseWriter, _ *http.Request) {
	if s.deps.Recordings == nil {
		writeError(w, http.StatusNotImplemented, "recording is not configured")
		return
	}
	writeJSON(w, http.StatusOK, s.deps.Recordings.Backlog())
}

func (s *Server) recordingGet(w http.ResponseWriter, r *http.Request) {
	m := s.deps.Recordings
	if m == nil {
		writeError(w, http.StatusNotImplemented, "recording is not configured")
		return
	}
	id := r.PathValue("id")
	day := s.deps.Now()
	if d := r.URL.Query().Get("date"); d != "" {
		t, err := time.Parse("2006-01-02", d)
		if err != nil {
			writeError(w, http.StatusBadRequest, "date must be YYYY-MM-DD")
			return
		}
		day = t
	}
	ctx := r.Context()
	key, err := m.Find(ctx, id, day, s.cfg.LookBackDays)
	switch {
	case errors.Is(err, recording.ErrNoRecording):
		writeError(w, http.StatusNotFound, fmt.Sprintf("no recording of call %q", id))
		return
	case errors.Is(err, recording.ErrNotStored):
		writeError(w, http.StatusConflict, err.Error())
		return
	case err != nil:
		writeError(w, http.StatusBadGateway, err.Error())
		return
	}
	// Only ever a pre-signed, expiring URL: the recording itself is not
	// served to a bearer token.
	url, expires, err := s.recordingURL(r, key)
	if err != nil {
		writeError(w, http.StatusBadGateway, err.Error())
		return
	}
	w.Header().Set("Cache-Control", "private, no-store")
	if r.URL.Query().Get("redirect") == "1" {
		http.Redirect(w, r, url, http.StatusFound)
		return
	}
	out := map[string]any{"call_id": id, "key": key, "url": url}
	if expires != "" {
		out["expires"] = expires
	}
	writeJSON(w, http.StatusOK, out)
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
		writeError(w, http.StatusNotImplemented, "not available")
		return
	}
	id := r.PathValue("id")
	a, ok := s.deps.Agent(id)
	if !ok {
		writeError(w, http.StatusNotFound, "no agent "+quote(id))
		return
	}
	writeJSON(w, http.StatusOK, a)
}

func quote(s string) string { return strconv.Quote(s) }

// agentAction logs an agent in or out, pauses or unpauses them.
func (s *Server) agentAction(w http.ResponseWriter, r *http.Request) {
	if s.deps.Agents == nil {
		writeError(w, http.StatusNotImplemented, "not available")
		return
	}
	id, action := r.PathValue("id"), r.PathValue("action")
	var body struct {
		Reason string `json:"reason"`
	}
	if action == "pause" && r.ContentLength != 0 {
		if err := json.NewDecoder(io.LimitReader(r.Body, 4096)).Decode(&body); err != nil {
			writeError(w, http.StatusBadRequest, "body must be JSON like {\"reason\": \"lunch\"}: "+err.Error())
			return
		}
	}
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
	default:
		writeError(w, http.StatusNotFound, "no such agent action "+strconv.Quote(action)+" (login, logout, pause, unpause)")
		return
	}
	if err != nil {
		code := http.StatusConflict
		if s.deps.AgentError != nil {
			code = s.deps.AgentError(err)
		}
		writeError(w, code, err.Error())
		return
	}
	s.deps.Log.Info("agent state changed", "agent", id, "action", action, "by", principalOf(r).name)
	writeJSON(w, http.StatusOK, map[string]string{"agent": id, "action": action})
}
