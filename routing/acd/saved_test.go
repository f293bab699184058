package acd

import (
	"errors"
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
