package callflow

import (
	"errors"
	"fmt"
	"reflect"
	"testing"

	"hotline/routing/acd"
)

// agentStates notes what agents asked for.
type agentStates struct {
	did []string
	err error
}

func (s *agentStates) Login(agent string) error { s.did = append(s.did, "login "+agent); return s.err }
func (s *agentStates) Logout(agent string) error {
	s.did = append(s.did, "logout "+agent)
	return s.err
}
func (s *agentStates) Pause(agent, reason string) error {
	s.did = append(s.did, "pause "+agent+" "+reason)
	return s.err
}
func (s *agentStates) Unpause(agent string) error {
	s.did = append(s.did, "unpause "+agent)
	return s.err
}

// Each action reaches the agent's state (a pause from the phone has the
// reason softphone); a refusal comes back as the ACD gave it.
func TestAgentActionDo(t *testing.T) {
	st := &agentStates{}
	for _, a := range []AgentAction{AgentLogin, AgentPause, AgentUnpause, AgentLogout} {
		if err := a.Do(st, "alice"); err != nil {
			t.Fatalf("action %d: %v", a, err)
		}
	}
	want := []string{"login alice", "pause alice softphone", "unpause alice", "logout alice"}
	if !reflect.DeepEqual(st.did, want) {
		t.Fatalf("did %q; want %q", st.did, want)
	}
	st.err = acd.ErrNotRegistered
	if err := AgentLogin.Do(st, "bob"); !errors.Is(err, acd.ErrNotRegistered) {
		t.Fatalf("refused login: %v; want ErrNotRegistered", err)
	}
	if err := AgentAction(0).Do(st, "bob"); err == nil {
		t.Fatal("no action was carried out without an error")
	}
}

// The phone shows why an action or a wrap-up code was refused.
func TestRefusalReason(t *testing.T) {
	for _, c := range []struct {
		err  error
		want string
	}{
		{fmt.Errorf("login: %w", acd.ErrNotRegistered), "Not Registered"},
		{acd.ErrNotLoggedIn, "Not Logged In"},
		{acd.ErrUnknownAgent, "Not An Agent"},
		{acd.ErrNoLastCall, "No Call To Code"},
		{ErrUnknownDispositionKey, "No Such Code"},
		{errors.New("disk full"), "Forbidden"},
	} {
		if got := RefusalReason(c.err); got != c.want {
			t.Errorf("RefusalReason(%v) = %q; want %q", c.err, got, c.want)
		}
	}
}
