package routing

import (
	"context"
	"errors"
	"sort"
	"sync"
	"time"
)

// ErrUnknownAgent is returned for an agent id that is not configured.
var ErrUnknownAgent = errors.New("routing: unknown agent")

// AgentState is what an agent is doing as far as routing knows.
type AgentState string

// Agent states.
const (
	StateOffline   AgentState = "offline"   // softphone not registered
	StateAvailable AgentState = "available" // registered and free
	StateRinging   AgentState = "ringing"   // offered a call
	StateOnCall    AgentState = "on_call"   // talking
)

// AgentStatus is a snapshot of one agent.
type AgentStatus struct {
	Username  string     `json:"username"`
	Name      string     `json:"name"`
	State     AgentState `json:"state"`
	CallID    string     `json:"call_id,omitempty"`
	IdleSince time.Time  `json:"idle_since,omitzero"`
	Calls     int        `json:"calls"`
}

type agentEntry struct {
	AgentStatus
	online bool
}

type waiter struct {
	callID  string
	arrived time.Time // when the call arrived: its place in the queue
	skip    func(agent string) bool
	got     chan string // buffered 1: the agent handed to this waiter
}

// Pool tracks agents and hands free agents to waiting calls in arrival
// order: the caller who has waited longest gets the agent who has been idle
// longest among those it may be offered to.
type Pool struct {
	now func() time.Time

	mu      sync.Mutex
	agents  map[string]*agentEntry
	waiters []*waiter
}

// NewPool returns a pool of the given agents, all offline.
func NewPool(agents []Agent, now func() time.Time) *Pool {
	p := &Pool{now: now, agents: make(map[string]*agentEntry, len(agents))}
	for _, a := range agents {
		p.agents[a.Username] = &agentEntry{AgentStatus: AgentStatus{Username: a.Username, Name: a.Name, State: StateOffline}}
	}
	return p
}

// SetOnline records whether an agent's softphone is registered. An agent
// going offline keeps a call in progress but gets no new offers.
func (p *Pool) SetOnline(username string, online bool) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	a, ok := p.agents[username]
	if !ok {
		return ErrUnknownAgent
	}
	if a.online == online {
		return nil
	}
	a.online = online
	if a.State == StateOffline && online {
		a.State = StateAvailable
		a.IdleSince = p.now()
	} else if a.State == StateAvailable && !online {
		a.State = StateOffline
	}
	p.dispatchLocked()
	return nil
}

// TryAcquire hands out the longest-idle available agent that skip does not
// exclude, without waiting. Callers already waiting never lose an agent to
// it: free agents are handed to waiters as soon as they become free, so an
// agent still free here is one no waiter may take.
func (p *Pool) TryAcquire(callID string, skip func(agent string) bool) (string, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, a := range p.freeAgentsLocked() {
		if skip == nil || !skip(a.Username) {
			p.assignLocked(a, callID)
			return a.Username, true
		}
	}
	return "", false
}

// Acquire waits until an agent can be offered this call, in order of
// arrival among waiting calls: arrived is when the call arrived, so a call
// whose agent did not answer goes back to its place, not to the end.
// recheck is how often an excluded agent is looked at again (skip may
// change its mind with time); zero means only on changes. It returns ctx's
// error if ctx ends first.
func (p *Pool) Acquire(ctx context.Context, callID string, arrived time.Time, skip func(agent string) bool, recheck time.Duration) (string, error) {
	w := &waiter{callID: callID, arrived: arrived, skip: skip, got: make(chan string, 1)}
	p.mu.Lock()
	i := sort.Search(len(p.waiters), func(i int) bool { return p.waiters[i].arrived.After(arrived) })
	p.waiters = append(p.waiters, nil)
	copy(p.waiters[i+1:], p.waiters[i:])
	p.waiters[i] = w
	p.dispatchLocked()
	p.mu.Unlock()

	var tick <-chan time.Time
	if recheck > 0 {
		t := time.NewTicker(recheck)
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case id := <-w.got:
			return id, nil
		case <-tick:
			p.mu.Lock()
			p.dispatchLocked()
			p.mu.Unlock()
		case <-ctx.Done():
			p.mu.Lock()
			p.removeWaiterLocked(w)
			p.mu.Unlock()
			// An agent may have been handed over just before we left.
			select {
			case id := <-w.got:
				p.Release(id)
			default:
			}
			return "", ctx.Err()
		}
	}
}

// Answered records that the agent took the call.
func (p *Pool) Answered(username string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if a, ok := p.agents[username]; ok && a.State == StateRinging {
		a.State = StateOnCall
		a.Calls++
	}
}

// Release makes an agent free again after an offer or a call.
func (p *Pool) Release(username string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	a, ok := p.agents[username]
	if !ok {
		return
	}
	a.CallID = ""
	a.IdleSince = p.now()
	if a.online {
		a.State = StateAvailable
	} else {
		a.State = StateOffline
	}
	p.dispatchLocked()
}

// Waiting is the number of calls waiting for an agent.
func (p *Pool) Waiting() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.waiters)
}

// Agents returns a snapshot of every agent, sorted by username.
func (p *Pool) Agents() []AgentStatus {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]AgentStatus, 0, len(p.agents))
	for _, a := range p.agents {
		out = append(out, a.AgentStatus)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Username < out[j].Username })
	return out
}

// freeAgentsLocked lists available agents, longest idle first.
func (p *Pool) freeAgentsLocked() []*agentEntry {
	var free []*agentEntry
	for _, a := range p.agents {
		if a.State == StateAvailable {
			free = append(free, a)
		}
	}
	sort.Slice(free, func(i, j int) bool {
		if !free[i].IdleSince.Equal(free[j].IdleSince) {
			return free[i].IdleSince.Before(free[j].IdleSince)
		}
		return free[i].Username < free[j].Username
	})
	return free
}

func (p *Pool) assignLocked(a *agentEntry, callID string) {
	a.State = StateRinging
	a.CallID = callID
}

// dispatchLocked offers free agents to waiters in arrival order.
func (p *Pool) dispatchLocked() {
	if len(p.waiters) == 0 {
		return
	}
	free := p.freeAgentsLocked()
	if len(free) == 0 {
		return
	}
	kept := p.waiters[:0]
	for _, w := range p.waiters {
		taken := false
		for i, a := range free {
			if a == nil || (w.skip != nil && w.skip(a.Username)) {
				continue
			}
			p.assignLocked(a, w.callID)
			free[i] = nil
			w.got <- a.Username
			taken = true
			break
		}
		if !taken {
			kept = append(kept, w)
		}
	}
	for i := len(kept); i < len(p.waiters); i++ {
		p.waiters[i] = nil
	}
	p.waiters = kept
}

func (p *Pool) removeWaiterLocked(w *waiter) {
	for i, x := range p.waiters {
		if x == w {
			copy(p.waiters[i:], p.waiters[i+1:])
			p.waiters[len(p.waiters)-1] = nil
			p.waiters = p.waiters[:len(p.waiters)-1]
			return
		}
	}
}
