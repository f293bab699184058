package acd

import (
	"errors"
	"fmt"
)

// SavedAgent is an agent's login and pause as kept across a restart of
// the service (not the replicas' snapshot: that is the whole state, for
// a replica joining a running cluster).
type SavedAgent struct {
	Agent    string `json:"agent"`
	LoggedIn bool   `json:"logged_in"`
	Paused   bool   `json:"paused,omitempty"`
	Reason   string `json:"reason,omitempty"`
}

// SavedAgents is every configured agent's login and pause, in the order
// of Agents. They are the agent's own choices, not the state they show:
// an agent who paused or logged out during a call (the call goes on) is
// saved paused or logged out.
func (a *ACD) SavedAgents() []SavedAgent {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make([]SavedAgent, 0, len(a.agents))
	for _, ag := range a.agents {
		out = append(out, ag.savedAgent())
	}
	return out
}

// noteSaved moves SavedGeneration when what SavedAgents keeps of ag is
// no longer before (a.mu held).
func (a *ACD) noteSaved(ag *acdAgent, before SavedAgent) {
	if ag.savedAgent() != before {
		a.saved++
	}
}

// savedAgent is what SavedAgents keeps of ag.
func (ag *acdAgent) savedAgent() SavedAgent {
	return SavedAgent{Agent: ag.name, LoggedIn: ag.loggedIn, Paused: ag.paused, Reason: ag.pauseReason}
}

// SavedGeneration counts the changes to what SavedAgents shows: logins,
// logouts, pauses and unpauses (by the agent, the API, a lost
// registration or unanswered offers, or a replica's snapshot restored).
// The state keeper (records.Kept.Generation) encodes and compares the
// agents only when it moved: calls, offers and wrap-ups do not move it.
func (a *ACD) SavedGeneration() uint64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.saved
}

// RestoreAgents puts saved logins and pauses back, after the
// registrations (a login is refused while the agent's phone is not
// registered). Agents no longer configured are skipped. It returns how
// many agents it restored, and what could not be restored, each error
// naming its agent.
func (a *ACD) RestoreAgents(saved []SavedAgent) (int, error) {
	var errs []error
	n := 0
	for _, s := range saved {
		cur, known := a.Agent(s.Agent)
		if !known {
			continue
		}
		var err error
		switch loggedIn := cur.State != StateLoggedOut; {
		case !s.LoggedIn && loggedIn:
			err = a.Logout(s.Agent)
		case s.LoggedIn && !loggedIn:
			err = a.Login(s.Agent)
		}
		if err == nil && s.LoggedIn && s.Paused {
			err = a.Pause(s.Agent, s.Reason)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("agent %s (logged in %t, paused %t): %w", s.Agent, s.LoggedIn, s.Paused, err))
			continue
		}
		n++
	}
	return n, errors.Join(errs...)
}
