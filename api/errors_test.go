package api_test

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"
)

// goPrefix matches a Go package prefix in an error message.
var goPrefix = regexp.MustCompile(`\b(routing|sip|api|recording|http|json|yaml|os|strconv): `)

// TestAPIErrorAnswers: every error is JSON with a machine-readable code and
// a message without Go package prefixes; a known path with another method
// gets 405 with Allow.
func TestAPIErrorAnswers(t *testing.T) {
	f := startAPI(t, scopedConfig(t), nil)
	for _, tt := range []struct {
		method, path, body string
		code               int
		errCode, allow     string
	}{
		{"DELETE", "/api/v1/agents/alice", "", 405, "method_not_allowed", "GET, HEAD"},
		{"GET", "/api/v1/agents/alice/login", "", 405, "method_not_allowed", "POST"},
		{"PUT", "/healthz", "", 405, "method_not_allowed", "GET, HEAD"},
		{"GET", "/api/v1/no-such-thing", "", 404, "not_found", ""},
		{"POST", "/api/v1/agents/alice/dance", "", 404, "not_found", ""},
		{"GET", "/api/v1/agents/zoe", "", 404, "unknown_agent", ""},
		{"POST", "/api/v1/agents/zoe/login", "", 404, "unknown_agent", ""},
		{"POST", "/api/v1/agents/alice/pause", `{"reason":`, 400, "bad_request", ""},
		{"POST", "/api/v1/agents/alice/pause", `{"reason":"lunch"}`, 409, "not_logged_in", ""},
		{"GET", "/api/v1/recordings/x?date=yesterday", "", 400, "bad_request", ""},
		{"GET", "/api/v1/recordings/no-such-call", "", 404, "no_recording", ""},
		{"POST", "/api/v1/calls/x/recording/pause", "", 501, "not_available", ""},
	} {
		r := f.do(t, tt.method, tt.path, supToken, tt.body)
		var e struct{ Error, Code string }
		if !strings.HasPrefix(r.header.Get("Content-Type"), "application/json") || json.Unmarshal(r.body, &e) != nil {
			t.Errorf("%s %s: %d %q %s, want a JSON error", tt.method, tt.path, r.code, r.header.Get("Content-Type"), r.body)
			continue
		}
		if r.code != tt.code || e.Code != tt.errCode || e.Error == "" {
			t.Errorf("%s %s: %d %s, want %d with code %q", tt.method, tt.path, r.code, r.body, tt.code, tt.errCode)
		}
		if goPrefix.MatchString(e.Error) {
			t.Errorf("%s %s: error %q shows a Go package prefix", tt.method, tt.path, e.Error)
		}
		if got := r.header.Get("Allow"); got != tt.allow {
			t.Errorf("%s %s: Allow %q, want %q", tt.method, tt.path, got, tt.allow)
		}
	}
	// Unauthenticated: 401 before anything else, with its code.
	r := f.do(t, "DELETE", "/api/v1/agents/alice", "", "")
	var e struct{ Code string }
	if r.code != 401 || json.Unmarshal(r.body, &e) != nil || e.Code != "unauthorized" {
		t.Errorf("DELETE without a token: %d %s, want 401 unauthorized", r.code, r.body)
	}
	r = f.do(t, "GET", "/api/v1/calls", aliceToken, "")
	if r.code != 403 || json.Unmarshal(r.body, &e) != nil || e.Code != "forbidden" {
		t.Errorf("GET /api/v1/calls with an agent token: %d %s, want 403 forbidden", r.code, r.body)
	}
}

// TestAPIHealthzDraining: /healthz is 200 "ok" until the service drains,
// then 503 "draining" (load balancers stop sending work).
func TestAPIHealthzDraining(t *testing.T) {
	f := startAPI(t, scopedConfig(t), nil)
	var h struct{ Status string }
	if r := f.do(t, "GET", "/healthz", "", ""); r.code != 200 || json.Unmarshal(r.body, &h) != nil || h.Status != "ok" {
		t.Errorf("GET /healthz: %d %s, want 200 ok", r.code, r.body)
	}
	f.draining.Store(true)
	if r := f.do(t, "GET", "/healthz", "", ""); r.code != 503 || json.Unmarshal(r.body, &h) != nil || h.Status != "draining" {
		t.Errorf("GET /healthz while draining: %d %s, want 503 draining", r.code, r.body)
	}
}

// TestAPIDurationsInSeconds: queues and agents carry durations as
// seconds (…_seconds numbers), never Go nanoseconds; states use the
// metrics' words.
func TestAPIDurationsInSeconds(t *testing.T) {
	f := startAPI(t, scopedConfig(t), nil)
	var queues []map[string]any
	if r := f.do(t, "GET", "/api/v1/queues", supToken, ""); r.code != 200 || json.Unmarshal(r.body, &queues) != nil || len(queues) == 0 {
		t.Fatalf("GET /api/v1/queues: %d %s", r.code, r.body)
	}
	for _, k := range []string{"longest_wait_seconds", "avg_handle_seconds", "answered_wait_seconds", "abandoned_wait_seconds"} {
		v, ok := queues[0][k].(float64)
		if !ok {
			t.Errorf("queue %v: no number %q", queues[0], k)
		}
		// The default average handle time is minutes, not 1e11.
		if k == "avg_handle_seconds" && (v <= 0 || v > 24*3600) {
			t.Errorf("queue avg_handle_seconds = %v, want seconds", v)
		}
	}
	for _, k := range []string{"longest_wait", "avg_handle", "answered_wait", "abandoned_wait"} {
		if _, ok := queues[0][k]; ok {
			t.Errorf("queue %v: still has %q", queues[0], k)
		}
	}
	var agents []map[string]any
	if r := f.do(t, "GET", "/api/v1/agents", supToken, ""); r.code != 200 || json.Unmarshal(r.body, &agents) != nil || len(agents) != 2 {
		t.Fatalf("GET /api/v1/agents: %d %s", r.code, r.body)
	}
	if _, ok := agents[0]["talk_seconds"].(float64); !ok || agents[0]["talk_time"] != nil || agents[0]["state"] != "logged_out" {
		t.Errorf("agent %v: want talk_seconds, no talk_time, state logged_out", agents[0])
	}
}
