package wire_test

import (
	"slices"
	"testing"

	"hotline/api"
	"hotline/api/wire"
	"hotline/metrics"
	"hotline/routing/acd"
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
