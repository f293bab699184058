package main

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"sync"
	"time"

	"hotline/records"
	"hotline/routing/acd"
	"hotline/sip/registrar"
)

// State kinds kept across a restart (records.SaveState).
const (
	stateRegistrations = "registrations"
	stateAgents        = "agents"
)

// savedAgent is an agent's ACD state as kept across a restart.
type savedAgent struct {
	Agent    string `json:"agent"`
	LoggedIn bool   `json:"logged_in"`
	Paused   bool   `json:"paused,omitempty"`
	Reason   string `json:"reason,omitempty"`
}

// stateKeeper saves the registrations and the agents' login and pause
// states when they change (checked every second, and once more at
// shutdown) and puts them back at start, so that a restart neither
// unregisters phones whose bindings have not expired nor logs agents out.
type stateKeeper struct {
	store *records.Store
	reg   *registrar.Registrar
	acd   *acd.ACD
	log   *slog.Logger

	mu   sync.Mutex
	last map[string][]byte
}

func newStateKeeper(store *records.Store, reg *registrar.Registrar, acd *acd.ACD, log *slog.Logger) *stateKeeper {
	return &stateKeeper{store: store, reg: reg, acd: acd, log: log, last: map[string][]byte{}}
}

// restore puts back what the previous run saved: first the bindings
// (the ACD hears of them as of REGISTERs), then each agent's login and
// pause. What cannot be restored is logged, never fatal.
func (k *stateKeeper) restore(ctx context.Context) {
	var regs []registrar.SavedBinding
	if ok, err := k.store.LoadState(ctx, stateRegistrations, &regs); err != nil {
		k.log.Error("saved registrations not read", "error", err)
	} else if ok {
		n, err := k.reg.Restore(regs)
		if err != nil {
			k.log.Warn("some saved registrations not restored", "error", err)
		}
		k.log.Info("registrations restored", "bindings", n, "saved", len(regs))
	}
	var agents []savedAgent
	ok, err := k.store.LoadState(ctx, stateAgents, &agents)
	if err != nil {
		k.log.Error("saved agent states not read", "error", err)
		return
	}
	if !ok {
		return
	}
	for _, s := range agents {
		cur, known := k.acd.Agent(s.Agent)
		if !known {
			continue
		}
		var err error
		switch loggedIn := cur.State != acd.StateLoggedOut; {
		case !s.LoggedIn && loggedIn:
			err = k.acd.Logout(s.Agent)
		case s.LoggedIn && !loggedIn:
			err = k.acd.Login(s.Agent) // refused when the phone is not registered any more
		}
		if err == nil && s.LoggedIn && s.Paused {
			err = k.acd.Pause(s.Agent, s.Reason)
		}
		if err != nil {
			k.log.Info("agent state not restored", "agent", s.Agent, "logged_in", s.LoggedIn, "paused", s.Paused, "error", err)
		}
	}
	k.log.Info("agent states restored", "agents", len(agents))
}

// save stores each kind whose snapshot changed since the last save.
func (k *stateKeeper) save(ctx context.Context) {
	var agents []savedAgent
	for _, a := range k.acd.Agents() {
		agents = append(agents, savedAgent{Agent: a.Username, LoggedIn: a.State != acd.StateLoggedOut,
			Paused: a.State == acd.StatePaused || a.PauseReason != "", Reason: a.PauseReason})
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	for kind, v := range map[string]any{stateRegistrations: k.reg.Save(), stateAgents: agents} {
		data, err := json.Marshal(v)
		if err != nil || bytes.Equal(data, k.last[kind]) {
			continue
		}
		if err := k.store.SaveState(ctx, kind, json.RawMessage(data)); err != nil {
			k.log.Error("state not saved", "kind", kind, "error", err)
			continue
		}
		k.last[kind] = data
	}
}

// run saves every interval until ctx ends.
func (k *stateKeeper) run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			k.save(ctx)
		}
	}
}
