package wire_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"hotline/api"
	"hotline/api/wire"
	"hotline/metrics"
	"hotline/routing/acd"
	"hotline/routing/callbacks"
	"hotline/routing/config/configtest"
	"hotline/sip"
)

// TestAgentStatesAgree: every ACD state has one name, the same in the API
// and in the hotline_agents metric.
func TestAgentStatesAgree(t *testing.T) {
	for _, st := range []acd.AgentState{acd.StateLoggedOut, acd.StateAvailable, acd.StateRinging,
		acd.StateOnCall, acd.StateWrapUp, acd.StatePaused} {
		name := wire.AgentState(st)
		if !slices.Contains(api.AgentStates(), name) {
			t.Errorf("state %s: API name %q is not in api.AgentStates %q", st, name, api.AgentStates())
		}
		if !slices.Contains(metrics.AgentStates, name) {
			t.Errorf("state %s: API name %q is not a state of hotline_agents %q", st, name, metrics.AgentStates)
		}
	}
	if !slices.Equal(api.AgentStates(), metrics.AgentStates) {
		t.Errorf("api.AgentStates %q != metrics.AgentStates %q", api.AgentStates(), metrics.AgentStates)
	}
}

// TestTransferErrors: the transfer API's refusals get their HTTP status
// and code, each through the error Server.Transfer returns.
func TestTransferErrors(t *testing.T) {
	tf := sip.NewTransfers([]string{"bob"}, []sip.TransferQueue{{Name: "complaints", TransferNumber: "2001"}},
		sip.Outbound{Gateway: "127.0.0.1:9", AllowedPrefixes: []string{"+84"}})
	unknown := fmt.Errorf("%w: %w", sip.ErrTransferTarget, tf.Check(sip.Target{Kind: sip.TargetQueue, Name: "nope"}))
	notAllowed := fmt.Errorf("%w: %w", sip.ErrTransferTarget, tf.Check(sip.Target{Kind: sip.TargetNumber, Name: "+1900555"}))
	noGateway := fmt.Errorf("%w: %w", sip.ErrTransferTarget,
		sip.NewTransfers(nil, nil, sip.Outbound{}).Check(sip.Target{Kind: sip.TargetNumber, Name: "+84901234567"}))
	for _, tc := range []struct {
		what   string
		err    error
		status int
		code   string
	}{
		{"bad form", fmt.Errorf("%w: x", sip.ErrBadTransferTarget), 400, api.CodeBadRequest},
		{"unknown queue", unknown, 404, api.CodeUnknownTarget},
		{"number not allowed", notAllowed, 403, api.CodeForbidden},
		{"no such call", sip.ErrNoSuchCall, 404, api.CodeNoSuchCall},
		{"not your call", sip.ErrNotYourCall, 403, api.CodeForbidden},
		{"no agent yet", sip.ErrNotTransferable, 409, api.CodeConflict},
		{"no gateway", noGateway, 403, api.CodeForbidden},
		{"not carried out", &sip.Refusal{Code: 501, Reason: "Not Implemented", Err: errors.New("not yet")}, 501, api.CodeNotAvailable},
	} {
		e := wire.CallError(tc.err)
		if e == nil || e.Status != tc.status || e.Code != tc.code {
			t.Errorf("%s: %+v, want %d %s", tc.what, e, tc.status, tc.code)
		}
	}
}

// TestCallOutside: a call transferred to an outside number shows that
// number in GET /api/v1/calls ("outside"); other calls have no such
// field.
func TestCallOutside(t *testing.T) {
	started := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	out, err := json.Marshal(wire.Call(sip.CallInfo{CallID: "c1", Hotline: "1900", From: "0912", Answered: true,
		Started: started, Outside: "+84912345678"}))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out), `"outside":"+84912345678"`) || strings.Contains(string(out), `"agent"`) {
		t.Errorf("call transferred outside: %s, want outside +84912345678 and no agent", out)
	}
	in, err := json.Marshal(wire.Call(sip.CallInfo{CallID: "c2", Hotline: "1900", From: "0912", Agent: "alice", Started: started}))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(in), `"outside"`) || !strings.Contains(string(in), `"agent":"alice"`) {
		t.Errorf("call with an agent: %s, want agent alice and no outside", in)
	}
}

// POST /api/v1/callbacks as wired: the callback lands in the store for the
// queue asked for, or the callbacks' default queue; a missing or unknown
// queue is a 400 JSON error and stores nothing.
func TestAddCallback(t *testing.T) {
	queues, err := acd.New(configtest.CareConfig(), acd.Options{})
	if err != nil {
		t.Fatal(err)
	}
	store, err := callbacks.OpenStore("", time.Now)
	if err != nil {
		t.Fatal(err)
	}
	add := wire.AddCallback(store, queues, "general")
	cb, err := add(api.CallbackRequest{Number: "+84912345678", Queue: "complaints", Priority: 5})
	if err != nil || cb.Queue != "complaints" || cb.Number != "+84912345678" || cb.Reason != "requested through the API" {
		t.Fatalf("callback for complaints: %+v, %v", cb, err)
	}
	if cb, err := add(api.CallbackRequest{Number: "+84912345679"}); err != nil || cb.Queue != "general" {
		t.Fatalf("callback without a queue: %+v, %v; want the default queue general", cb, err)
	}
	for _, tc := range []struct {
		add   func(api.CallbackRequest) (api.Callback, error)
		queue string
	}{{add, "nosuch"}, {wire.AddCallback(store, queues, ""), ""}} {
		_, err := tc.add(api.CallbackRequest{Number: "+84912345670", Queue: tc.queue})
		var e *api.Error
		if !errors.As(err, &e) || e.Status != 400 || e.Code != api.CodeBadRequest || !strings.Contains(e.Message, "no queue") {
			t.Errorf("queue %q: error %v, want a 400 bad_request naming the queue", tc.queue, err)
		}
	}
	if got := len(store.List()); got != 2 {
		t.Errorf("%d callbacks stored, want the 2 accepted", got)
	}
}
