package acd

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"hotline/routing/config/configtest"
)

// An ACD started again from SavedAgents has the same logins and pauses;
// a login its phone cannot back (not registered) is reported, named.
func TestSavedAgentsRestore(t *testing.T) {
	c := configtest.BaseConfig(configtest.Agents("alice", "bob", "carol", "dave")...)
	before := newACD(t, c)
	if err := before.acd.Pause("alice", "lunch"); err != nil {
		t.Fatal(err)
	}
	if err := before.acd.Logout("bob"); err != nil {
		t.Fatal(err)
	}
	saved := append(before.acd.SavedAgents(), SavedAgent{Agent: "zed", LoggedIn: true}) // zed: no longer configured

	after := newACD(t, c) // everyone registered and logged in, as after REGISTERs
	if err := after.acd.SetRegistered("dave", false); err != nil {
		t.Fatal(err)
	}
	after.wantState("dave", StateLoggedOut)
	n, err := after.acd.RestoreAgents(saved)
	if n != 3 {
		t.Errorf("restored %d agents, want 3 (alice, bob, carol)", n)
	}
	if !errors.Is(err, ErrNotRegistered) || !strings.Contains(err.Error(), "dave") {
		t.Errorf("error = %v, want dave's login refused: not registered", err)
	}
	after.wantState("alice", StatePaused)
	if info, _ := after.acd.Agent("alice"); info.PauseReason != "lunch" {
		t.Errorf("alice's pause reason = %q, want lunch", info.PauseReason)
	}
	after.wantState("bob", StateLoggedOut)
	after.wantState("carol", StateAvailable)
	after.wantState("dave", StateLoggedOut)
}

// An agent who pauses (no reason given) or logs out during a call is
// saved paused or logged out, as they chose, not as the call shows them
// (on a call): a restart during the call keeps their choice.
func TestSavedAgentsKeepChoicesMadeDuringACall(t *testing.T) {
	c := configtest.BaseConfig(configtest.Agents("alice", "bob")...)
	f := newACD(t, c)
	for i, agent := range []string{"alice", "bob"} {
		call := f.enqueue(CallRequest{ID: callID(i)})
		if o := f.offer(call); len(o.Agents) != 1 || o.Agents[0] != agent {
			t.Fatalf("call %d offered to %v, want %s", i, o.Agents, agent)
		}
		if err := call.Answered(agent); err != nil {
			t.Fatal(err)
		}
		f.wantState(agent, StateOnCall)
	}
	if err := f.acd.Pause("alice", ""); err != nil {
		t.Fatal(err)
	}
	if err := f.acd.Logout("bob"); err != nil {
		t.Fatal(err)
	}
	f.wantState("alice", StateOnCall)
	f.wantState("bob", StateOnCall)
	want := []SavedAgent{{Agent: "alice", LoggedIn: true, Paused: true}, {Agent: "bob"}}
	if got := f.acd.SavedAgents(); !reflect.DeepEqual(got, want) {
		t.Errorf("saved during the calls: %+v, want %+v", got, want)
	}

	after := newACD(t, c)
	if _, err := after.acd.RestoreAgents(f.acd.SavedAgents()); err != nil {
		t.Fatal(err)
	}
	after.wantState("alice", StatePaused)
	after.wantState("bob", StateLoggedOut)
}

// SavedGeneration moves with what SavedAgents shows, and only with it:
// calls, offers and a phone's registration refreshed leave it, so the
// state keeper does not encode thousands of agents every second for
// nothing.
func TestSavedGenerationMovesOnlyWithTheChoices(t *testing.T) {
	c := configtest.BaseConfig(configtest.Agents("alice", "bob", "carol")...)
	f := newACD(t, c)
	gen := f.acd.SavedGeneration()
	step := func(what string, moves bool, do func() error) {
		t.Helper()
		saved := f.acd.SavedAgents()
		if err := do(); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		g := f.acd.SavedGeneration()
		if changed := !reflect.DeepEqual(saved, f.acd.SavedAgents()); changed != moves {
			t.Fatalf("%s: SavedAgents changed %t, want %t", what, changed, moves)
		}
		if (g != gen) != moves {
			t.Errorf("%s: generation %d → %d, want it to move: %t", what, gen, g, moves)
		}
		gen = g
	}
	step("a call offered and answered", false, func() error {
		call := f.enqueue(CallRequest{ID: callID(0)})
		o := f.offer(call)
		if len(o.Agents) != 1 {
			t.Fatalf("offered to %v, want one agent", o.Agents)
		}
		return call.Answered(o.Agents[0])
	})
	step("a registration refreshed", false, func() error { return f.acd.SetRegistered("alice", true) })
	step("a pause", true, func() error { return f.acd.Pause("alice", "lunch") })
	step("the same pause again", false, func() error { return f.acd.Pause("alice", "lunch") })
	step("another reason", true, func() error { return f.acd.Pause("alice", "training") })
	step("an unpause", true, func() error { return f.acd.Unpause("alice") })
	step("a logout", true, func() error { return f.acd.Logout("bob") })
	step("a registration lost", true, func() error { return f.acd.SetRegistered("carol", false) })
}
