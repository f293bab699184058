// Package api is Hotline's HTTP JSON API for supervisors and tools: live
// calls and agents, recording retrieval, and pausing a call's recording.
// Every error is a 4xx/5xx with a JSON body {"error": "..."}.
//
//	GET  /healthz
//	GET  /api/v1/calls
//	GET  /api/v1/agents
//	POST /api/v1/agents/{id}/login
//	POST /api/v1/agents/{id}/logout
//	POST /api/v1/agents/{id}/pause               {"reason": "lunch"}
//	POST /api/v1/agents/{id}/unpause
//	GET  /api/v1/queues
//	GET  /api/v1/callbacks
//	POST /api/v1/calls/{call_id}/recording/pause   {"reason": "card number"}
//	POST /api/v1/calls/{call_id}/recording/resume
//	GET  /api/v1/recordings/{call_id}[?date=YYYY-MM-DD]
//	GET  /api/v1/recordings/backlog
//
// A recording is returned as a pre-signed URL for S3 storage, valid for
// recording.s3.presign_expiry ({"call_id", "key", "url"}; add ?redirect=1
// for a 302), or streamed (audio/wav) for the file backend.
package api

import (
	"context"
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

	"hotline/internal/cfg"
	"hotline/recording"
)

// Config is the api section of the configuration.
type Config struct {
	// Listen is host:port of the API; default 127.0.0.1:8080. Empty
	// host or a non-loopback address requires Token.
	Listen string `yaml:"listen"`
	// Token, when set, must be sent as "Authorization: Bearer <token>".
	Token string `yaml:"token"`
	// LookBackDays is how many days back GET /api/v1/recordings/{id}
	// looks for a recording made before the last restart; default 31.
	LookBackDays int `yaml:"look_back_days"`
}

// SetDefaults fills in unset values.
func (c *Config) SetDefaults() {
	if c.Listen == "" {
		c.Listen = "127.0.0.1:8080"
	}
	if c.LookBackDays == 0 {
		c.LookBackDays = 31
	}
}

// Validate reports problems in the api section.
func (c *Config) Validate() error {
	var errs []error
	host, _, err := net.SplitHostPort(c.Listen)
	if err != nil {
		errs = append(errs, cfg.Errorf("listen", "%q is not host:port", c.Listen))
	} else if ip := net.ParseIP(host); (ip == nil || !ip.IsLoopback()) && c.Token == "" {
		errs = append(errs, cfg.Errorf("token", "required when listen (%s) is not a loopback address", c.Listen))
	}
	if c.LookBackDays < 1 {
		errs = append(errs, cfg.Errorf("look_back_days", "must be at least 1"))
	}
	return errors.Join(errs...)
}

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
	Now        func() time.Time
}

// Server serves the API.
type Server struct {
	cfg  Config
	deps Deps
	srv  *http.Server
	ln   net.Listener
}

// New builds the API server; nothing listens until Start.
func New(c Config, d Deps) *Server {
	if d.Log == nil {
		d.Log = slog.New(slog.DiscardHandler)
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	s := &Server{cfg: c, deps: d}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", s.healthz)
	mux.HandleFunc("GET /api/v1/calls", s.list(d.ListCalls))
	mux.HandleFunc("GET /api/v1/agents", s.list(d.ListAgents))
	mux.HandleFunc("GET /api/v1/callbacks", s.list(d.ListCallbacks))
	mux.HandleFunc("GET /api/v1/queues", s.list(d.ListQueues))
	mux.HandleFunc("POST /api/v1/agents/{id}/{action}", s.agentAction)
	mux.HandleFunc("POST /api/v1/calls/{id}/recording/pause", s.pause)
	mux.HandleFunc("POST /api/v1/calls/{id}/recording/resume", s.resume)
	mux.HandleFunc("GET /api/v1/recordings/backlog", s.backlog)
	mux.HandleFunc("GET /api/v1/recordings/{id}", s.recordingGet)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "no such endpoint: "+r.Method+" "+r.URL.Path)
	})
	s.srv = &http.Server{
		Handler:           s.auth(mux),
		ReadHeaderTimeout: 10 * time.Second,
		MaxHeaderBytes:    64 << 10,
	}
	return s
}

// Handler returns the API's handler (for tests).
func (s *Server) Handler() http.Handler { return s.srv.Handler }

// Start listens and serves in the background.
func (s *Server) Start() error {
	ln, err := net.Listen("tcp", s.cfg.Listen)
	if err != nil {
		return fmt.Errorf("api: listen %s: %w", s.cfg.Listen, err)
	}
	s.ln = ln
	go func() {
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.deps.Log.Error("api server stopped", "error", err)
		}
	}()
	s.deps.Log.Info("API listening", "addr", ln.Addr().String())
	return nil
}

// Addr is the bound address (after Start).
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// Shutdown stops the server, letting requests in progress finish.
func (s *Server) Shutdown(ctx context.Context) error {
	return s.srv.Shutdown(ctx)
}

func (s *Server) auth(next http.Handler) http.Handler {
	if s.cfg.Token == "" {
		return next
	}
	want := "Bearer " + s.cfg.Token
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/healthz" && r.Header.Get("Authorization") != want {
			w.Header().Set("WWW-Authenticate", `Bearer realm="hotline"`)
			writeError(w, http.StatusUnauthorized, "a valid bearer token is required")
			return
		}
		next.ServeHTTP(w, r)
	})
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
	if _, ok := m.Backend().(*recording.FileBackend); ok {
		rc, err := m.Backend().Open(ctx, key)
		if err != nil {
			writeError(w, http.StatusBadGateway, err.Error())
			return
		}
		defer rc.Close()
		w.Header().Set("Content-Type", "audio/wav")
		w.Header().Set("Content-Disposition", fmt.Sprintf("attachment; filename=%q", keyBase(key)))
		_, _ = io.Copy(w, rc)
		return
	}
	url, err := m.URL(ctx, key)
	if err != nil {
		writeError(w, http.StatusBadGateway, err.Error())
		return
	}
	if r.URL.Query().Get("redirect") == "1" {
		http.Redirect(w, r, url, http.StatusFound)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"call_id": id, "key": key, "url": url})
}

func keyBase(key string) string {
	if i := strings.LastIndexByte(key, '/'); i >= 0 {
		return key[i+1:]
	}
	return key
}

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
	s.deps.Log.Info("agent state changed", "agent", id, "action", action)
	writeJSON(w, http.StatusOK, map[string]string{"agent": id, "action": action})
}
