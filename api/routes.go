package api

import (
	_ "embed"
	"net/http"
	"strings"
)

// access is who may call a route.
type access int

const (
	// public needs no token (health, the OpenAPI document, signed downloads).
	public access = iota
	// supervisorOnly needs a supervisor token.
	supervisorOnly
	// ownAgent: a supervisor token, or an agent token whose agent is the
	// path's {id}.
	ownAgent
	// anyToken: any valid token.
	anyToken
)

// route is one endpoint. Every route is registered through routes() and
// must be described in openapi.json: TestOpenAPIMatchesRoutes fails,
// naming what is missing on which side, when one is not.
//
// Adding an endpoint: add a line to routes() with the Go type it answers
// with (answer), then its path and method under "paths" in openapi.json,
// with a 200 response whose schema is a $ref to
// #/components/schemas/<Go type name> (or an array of them) and that
// schema under components.schemas; run go test -run OpenAPI ./api.
type route struct {
	method  string // GET, POST, ...
	path    string // a net/http pattern path: /api/v1/agents/{id}
	access  access
	handler http.HandlerFunc
	// answer is a value of the type of a 200 answer's body (a slice for a
	// list); nil for an answer that is not JSON.
	answer any
}

//go:embed openapi.json
var openAPIDoc []byte

// routes lists every endpoint of the API.
func (s *Server) routes() []route {
	return []route{
		{"GET", "/healthz", public, s.healthz, Health{}},
		{"GET", "/api/v1/openapi.json", public, s.openAPI, nil},
		{"GET", "/api/v1/calls", supervisorOnly, s.listCalls, []Call{}},
		{"GET", "/api/v1/agents", supervisorOnly, s.listAgents, []Agent{}},
		{"GET", "/api/v1/agents/{id}", ownAgent, s.agentGet, Agent{}},
		{"POST", "/api/v1/agents/{id}/login", ownAgent, s.agentAction("login"), AgentChange{}},
		{"POST", "/api/v1/agents/{id}/logout", ownAgent, s.agentAction("logout"), AgentChange{}},
		{"POST", "/api/v1/agents/{id}/pause", ownAgent, s.agentAction("pause"), AgentChange{}},
		{"POST", "/api/v1/agents/{id}/unpause", ownAgent, s.agentAction("unpause"), AgentChange{}},
		{"POST", "/api/v1/agents/{id}/disposition", ownAgent, s.dispose, Disposition{}},
		{"GET", "/api/v1/dispositions", anyToken, s.listDispositions, []DispositionCode{}},
		{"GET", "/api/v1/queues", anyToken, s.listQueues, []Queue{}},
		{"GET", "/api/v1/callbacks", supervisorOnly, s.listCallbacks, []Callback{}},
		{"POST", "/api/v1/callbacks", supervisorOnly, s.addCallback, Callback{}},
		{"POST", "/api/v1/calls/{id}/recording/pause", supervisorOnly, s.pause, RecordingState{}},
		{"POST", "/api/v1/calls/{id}/recording/resume", supervisorOnly, s.resume, RecordingState{}},
		{"POST", "/api/v1/calls/{id}/monitor", supervisorOnly, s.monitor, MonitorState{}}, // monitor.go
		{"POST", "/api/v1/calls/{id}/transfer", anyToken, s.transfer, TransferState{}},    // transfer.go
		{"GET", "/api/v1/recordings/backlog", supervisorOnly, s.backlog, Backlog{}},
		{"GET", "/api/v1/recordings/{id}", supervisorOnly, s.recordingGet, RecordingLink{}},
		{"GET", downloadPrefix + "{key...}", public, s.download, nil},
		{"GET", "/api/v1/history/calls", supervisorOnly, s.historyCalls, HistoryCallPage{}},
		{"GET", "/api/v1/customers/{number}/calls", supervisorOnly, s.historyCalls, HistoryCallPage{}},
		{"GET", "/api/v1/customers/{number}/events", supervisorOnly, s.customerEvents, HistoryEventPage{}},
		{"GET", "/api/v1/agents/{id}/events", ownAgent, s.agentEvents, HistoryEventPage{}},
	}
}

// mount registers the routes on a mux, each behind its access check.
func (s *Server) mount(mux *http.ServeMux, rs []route) {
	for _, rt := range rs {
		h := rt.handler
		switch rt.access {
		case supervisorOnly:
			h = s.supervisor(h)
		case ownAgent:
			h = s.self(h)
		}
		mux.HandleFunc(rt.method+" "+rt.path, h)
	}
}

// publicPath says whether a (clean) path is served without a token.
func (s *Server) publicPath(p string) bool {
	for _, rt := range s.table {
		if rt.access != public {
			continue
		}
		if prefix, ok := strings.CutSuffix(rt.path, "{key...}"); ok {
			if strings.HasPrefix(p, prefix) {
				return true
			}
		} else if p == rt.path {
			return true
		}
	}
	return false
}

func (s *Server) openAPI(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(openAPIDoc)
}

// unmatched answers requests no route takes with a JSON error: 405 with
// Allow when the path exists for other methods, else 404.
func unmatched(mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h, pattern := mux.Handler(r)
		if pattern != "" {
			mux.ServeHTTP(w, r)
			return
		}
		// No pattern: the mux would answer 404, 405 or a redirect to the
		// clean path. Let it answer into a probe to learn which.
		p := &probe{header: http.Header{}}
		h.ServeHTTP(p, r)
		switch p.code {
		case http.StatusMethodNotAllowed:
			w.Header().Set("Allow", p.header.Get("Allow"))
			writeError(w, http.StatusMethodNotAllowed, CodeMethodNotAllowed,
				r.Method+" is not allowed on "+r.URL.Path+"; allowed: "+p.header.Get("Allow"))
		case http.StatusNotFound:
			writeError(w, http.StatusNotFound, CodeNotFound, "no such endpoint: "+r.Method+" "+r.URL.Path+" (see GET /api/v1/openapi.json)")
		default:
			mux.ServeHTTP(w, r)
		}
	})
}

// probe records the status and headers of an answer, dropping its body.
type probe struct {
	header http.Header
	code   int
}

func (p *probe) Header() http.Header { return p.header }
func (p *probe) WriteHeader(code int) {
	if p.code == 0 {
		p.code = code
	}
}

func (p *probe) Write(b []byte) (int, error) {
	p.WriteHeader(http.StatusOK)
	return len(b), nil
}
