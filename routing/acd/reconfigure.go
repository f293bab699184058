package acd

import (
	"errors"
	"fmt"
	"maps"
	"slices"

	"hotline/routing/config"
)

// Reconfigure applies the agents and queues of a new (defaulted,
// validated) configuration while calls go on:
//
//   - agents and queues that stay keep their state: registrations,
//     logins, pauses, calls, wrap-up, counters; their skills, names,
//     queues and queue settings (strategy, wrap-up, ring timeout, max wait,
//     overflow, escalation...) become the new ones;
//   - a new agent starts logged out with an unregistered phone, like at
//     start;
//   - a removed agent is offered no more calls; a call they are on or
//     being offered goes on to its end;
//   - a removed queue takes no new caller; the callers waiting in it keep
//     their places and are served by its former agents until it is empty;
//   - every waiting caller keeps their place, and is offered at once to
//     an agent the new configuration makes eligible; an offer ringing
//     now (ring-all included) finishes as it began.
//
// The queue-wide settings (queue.retry_delay, auto_pause_after,
// rejoin_window) are updated too. Nothing changes on error.
//
// A replicated ACD (Options.Replication) is not reconfigured: every
// replica would have to apply the change at the same place in the shared
// log; ErrReplicatedReconfigure says so (restart the nodes one by one).
func (a *ACD) Reconfigure(c *config.Config) error {
	if a.repl != nil {
		return ErrReplicatedReconfigure
	}
	if len(c.Queues) == 0 {
		return fmt.Errorf("%w: no queues (call SetDefaults first)", ErrUnknownQueue)
	}
	names := map[string]bool{}
	for _, qd := range c.Queues {
		names[qd.Name] = true
	}
	for _, qd := range c.Queues {
		for _, ref := range append([]string{qd.Overflow}, escalationQueues(qd)...) {
			if ref != "" && !names[ref] {
				return fmt.Errorf("%w: %q (queue %s)", ErrUnknownQueue, ref, qd.Name)
			}
		}
	}
	for _, ac := range c.Agents {
		for _, q := range ac.Queues {
			if !names[q] {
				return fmt.Errorf("%w: %q (agent %s)", ErrUnknownQueue, q, ac.Username)
			}
		}
	}

	a.mu.Lock()
	defer a.mu.Unlock()
	now := a.now()
	a.retryDelay, a.autoPause, a.rejoin = c.Queue.RetryDelay, c.Queue.AutoPauseAfter, c.Queue.RejoinWindow

	// Empty every index: agents out of the available sets, waiting calls
	// out of their classes. Calls stay in their queues' waiting lists,
	// which keep their places.
	// (byName: also the removed agents kept for their calls.)
	for _, ag := range a.byName {
		if ag.avail {
			for k, q := range ag.queues {
				q.delAvail(ag, k)
				q.indexAgent(ag, k, false)
			}
			ag.avail = false
		}
		ag.dirty, ag.cand = false, nil
	}
	a.dirtyAgents = a.dirtyAgents[:0]
	for _, cl := range a.live {
		a.unindexCallLocked(cl)
	}

	// Queues: kept by name, new ones added; a removed queue stays, retired,
	// while it holds callers.
	oldMembers := map[*acdQueue][]*acdAgent{}
	for _, q := range a.queues {
		oldMembers[q] = q.members
	}
	inUse := map[*acdQueue]bool{}
	for _, cl := range a.live {
		inUse[cl.queue] = true
		for _, q := range cl.lists {
			inUse[q] = true
		}
	}
	var queues []*acdQueue
	qByName := map[string]*acdQueue{}
	for _, qd := range c.Queues {
		q := a.qByName[qd.Name]
		if q == nil {
			q = &acdQueue{rrLast: -1}
		}
		q.def, q.prefSegs, q.retired = qd, qd.PreferredAgent.Segments, false
		queues = append(queues, q)
		qByName[qd.Name] = q
	}
	for _, q := range a.queues {
		if qByName[q.def.Name] == nil && (q.count > 0 || inUse[q]) {
			q.retired = true
			queues = append(queues, q)
			qByName[q.def.Name] = q
		}
	}
	for _, q := range queues {
		q.overflow, q.esc = nil, nil
		if q.retired {
			continue
		}
		if q.def.Overflow != "" {
			q.overflow = qByName[q.def.Overflow]
		}
		for _, st := range q.def.Escalation {
			es := escStep{after: st.After, relax: int8(st.RelaxSkills), drop: st.DropSkills}
			for _, w := range st.Widen {
				es.widen = append(es.widen, qByName[w])
			}
			q.esc = append(q.esc, es)
		}
		q.members, q.avail, q.ix, q.classes = nil, nil, agentIndex{}, nil
	}

	// Agents: kept by name with their state, new ones added; a removed
	// agent with a call stays reachable (by name) until it ends.
	var agents []*acdAgent
	byName := map[string]*acdAgent{}
	for _, ac := range c.Agents {
		ag := a.byName[ac.Username]
		if ag == nil {
			ag = &acdAgent{name: ac.Username}
		}
		ag.display = ac.Name
		ag.skills = ag.skills[:0]
		for _, s := range slices.Sorted(maps.Keys(ac.Skills)) {
			id := a.skillID(s)
			for len(ag.skills) <= id {
				ag.skills = append(ag.skills, 0)
			}
			ag.skills[id] = int8(ac.Skills[s])
		}
		ag.queues, ag.pos, ag.slot = nil, nil, nil
		qs := ac.Queues
		if len(qs) == 0 {
			for _, qd := range c.Queues {
				qs = append(qs, qd.Name)
			}
		}
		for _, name := range qs {
			ag.join(qByName[name])
		}
		agents = append(agents, ag)
		byName[ag.name] = ag
	}
	for name, ag := range a.byName {
		if byName[name] == nil && ag.call != nil {
			ag.queues, ag.pos, ag.slot = nil, nil, nil
			byName[name] = ag
		}
	}
	// A retired queue keeps being served by its former agents.
	for _, q := range queues {
		if !q.retired {
			continue
		}
		q.members, q.avail, q.ix, q.classes = nil, nil, agentIndex{}, nil
		for _, m := range oldMembers[q] {
			if slices.Contains(agents, m) {
				m.join(q)
			}
		}
	}
	a.queues, a.qByName, a.agents, a.byName = queues, qByName, agents, byName
	a.buildIndexes()

	// Waiting calls back into the indexes at their places, agents back
	// into the available sets, then the offers that became possible.
	for _, cl := range a.live {
		a.indexCallLocked(cl)
		a.markCall(cl)
	}
	for _, ag := range a.byName {
		a.refreshLocked(ag, now)
	}
	a.dispatchLocked(now)
	a.log.Info("queues and agents reconfigured", "queues", len(c.Queues), "agents", len(c.Agents), "calls", len(a.live))
	return nil
}

// ErrReplicatedReconfigure is Reconfigure's answer on a replicated ACD.
var ErrReplicatedReconfigure = errors.New("the agents and queues of a replicated ACD (several nodes) change only with a restart of each node")

// join makes the agent a member of q.
func (ag *acdAgent) join(q *acdQueue) {
	ag.queues = append(ag.queues, q)
	ag.pos = append(ag.pos, len(q.members))
	ag.slot = append(ag.slot, -1)
	q.members = append(q.members, ag)
}

func escalationQueues(qd config.QueueDef) []string {
	var out []string
	for _, st := range qd.Escalation {
		out = append(out, st.Widen...)
	}
	return out
}
