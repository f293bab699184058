package acd

import (
	"fmt"
	"hotline/routing/config"
	"hotline/routing/config/configtest"
	"hotline/routing/directory"
	"hotline/routing/rules"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"
	"time"
)

// checkInvariants verifies the ACD's guarantees at the current time:
//   - an agent is offered or connected to at most one call, and agrees
//     with the call about it;
//   - a call is offered to at most one agent, except in a ring-all queue;
//   - the queues' sets of available agents match the agents' states;
//   - no call waits while an available agent is eligible for it;
//   - every offer made since the last check (pending ones) went to a call
//     that no higher-ranked waiting call could have taken the agent from.
func checkInvariants(a *ACD) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	now := a.now()
	owner := map[*acdAgent]*QueuedCall{}
	for _, c := range a.live {
		switch c.state {
		case callOffered:
			if len(c.offer) == 0 {
				return fmt.Errorf("call %s offered to nobody", c.id)
			}
			if len(c.offer) > 1 && c.queue.def.Strategy != config.StrategyRingAll {
				return fmt.Errorf("call %s offered to %d agents in a %s queue", c.id, len(c.offer), c.queue.def.Strategy)
			}
			for _, ag := range c.offer {
				if prev, dup := owner[ag]; dup {
					return fmt.Errorf("agent %s offered calls %s and %s", ag.name, prev.id, c.id)
				}
				owner[ag] = c
				if ag.call != c || ag.connected {
					return fmt.Errorf("agent %s does not know it is offered %s", ag.name, c.id)
				}
			}
		case callConnected:
			if prev, dup := owner[c.agent]; dup {
				return fmt.Errorf("agent %s has calls %s and %s", c.agent.name, prev.id, c.id)
			}
			owner[c.agent] = c
			if c.agent.call != c || !c.agent.connected {
				return fmt.Errorf("agent %s does not know it is connected to %s", c.agent.name, c.id)
			}
		case callWaiting:
			if len(c.offer) != 0 {
				return fmt.Errorf("waiting call %s has an offer", c.id)
			}
		}
	}
	for _, ag := range a.agents {
		if ag.call != nil && owner[ag] != ag.call {
			return fmt.Errorf("agent %s points at call %s which does not have it", ag.name, ag.call.id)
		}
		want := ag.registered && ag.loggedIn && !ag.paused && ag.call == nil && !now.Before(ag.wrapUntil)
		if ag.avail != want {
			return fmt.Errorf("agent %s avail=%v, want %v", ag.name, ag.avail, want)
		}
		for k, q := range ag.queues {
			in := ag.slot[k] >= 0 && ag.slot[k] < len(q.avail) && q.avail[ag.slot[k]].a == ag
			if in != ag.avail {
				return fmt.Errorf("agent %s in %s's available set: %v, available: %v", ag.name, q.def.Name, in, ag.avail)
			}
		}
	}
	for _, q := range a.queues {
		n := 0
		for _, b := range q.buckets {
			for i, c := range b.calls {
				if i > 0 && !before(b.calls[i-1], c) {
					return fmt.Errorf("queue %s out of order at %s", q.def.Name, c.id)
				}
				if c.state != callWaiting && c.state != callOffered {
					return fmt.Errorf("queue %s lists call %s in state %d", q.def.Name, c.id, c.state)
				}
				if c.queue == q {
					n++
				}
			}
		}
		if n != q.count {
			return fmt.Errorf("queue %s count %d, lists %d", q.def.Name, q.count, n)
		}
	}
	for _, c := range a.live {
		if c.state != callWaiting {
			continue
		}
		for _, q := range c.lists {
			for _, e := range q.avail {
				if a.eligibleLocked(e.a, c, now) {
					return fmt.Errorf("call %s waits while %s is available and eligible", c.id, e.a.name)
				}
			}
		}
	}
	// Fresh offers: no better-ranked waiting call could take that agent.
	for _, c := range a.live {
		if c.state != callOffered || !c.pending {
			continue
		}
		for _, ag := range c.offer {
			for _, d := range a.live {
				if d.state != callWaiting || !before(d, c) || !sharesQueue(ag, d) {
					continue
				}
				ag.avail = true // as it was before the offer
				ok := a.eligibleLocked(ag, d, now)
				ag.avail = false
				if ok {
					return fmt.Errorf("agent %s offered %s (prio %d) while %s (prio %d) waits ahead and could take it",
						ag.name, c.id, c.priority, d.id, d.priority)
				}
			}
		}
	}
	return nil
}

func sharesQueue(ag *acdAgent, c *QueuedCall) bool {
	for _, q := range c.lists {
		if ag.posIn(q) >= 0 {
			return true
		}
	}
	return false
}

func TestACDRandomised(t *testing.T) {
	steps := 1500
	if testing.Short() {
		steps = 400
	}
	for seed := uint64(1); seed <= 6; seed++ {
		t.Run(fmt.Sprint(seed), func(t *testing.T) { runRandomACD(t, seed, steps, false) })
	}
}

// TestACDRandomisedSnapshotJoin: the randomised test, with a replica
// that joins from a snapshot every 150 steps: it holds the same state as
// the others from then on (checked after every step). On one node the
// snapshot is restored into a fresh ACD and compared.
func TestACDRandomisedSnapshotJoin(t *testing.T) {
	steps := 450
	if testing.Short() {
		steps = 300
	}
	for seed := uint64(1); seed <= 8; seed++ {
		t.Run(fmt.Sprint(seed), func(t *testing.T) { runRandomACD(t, seed, steps, true) })
	}
}

func runRandomACD(t *testing.T, seed uint64, steps int, joins bool) {
	rnd := rand.New(rand.NewPCG(seed, 7))
	skills := []string{"billing", "tech", "complaints"}
	queues := []string{"sales", "care", "vip"}
	strategy := []string{config.StrategyLongestIdle, config.StrategyRingAll, config.StrategyRoundRobin, config.StrategyFewestCalls,
		config.StrategyLeastTalkTime, config.StrategyTopDown, config.StrategyRandom}
	c := configtest.BaseConfig()
	c.Queue.RetryDelay = time.Duration(rnd.IntN(4)) * time.Second
	c.Queue.AutoPauseAfter = 1 + rnd.IntN(4)
	for i, q := range queues {
		qd := config.QueueDef{Name: q, Strategy: strategy[rnd.IntN(len(strategy))], WrapUp: time.Duration(rnd.IntN(3)) * time.Second,
			MaxWait: time.Duration(20+rnd.IntN(40)) * time.Second, PreferredAgent: config.PreferredConfig{Timeout: 3 * time.Second}}
		if i == 0 {
			qd.Overflow = "care"
			qd.MaxLength = 6
		}
		if i == 1 {
			qd.Escalation = []config.EscalationStep{{After: 5 * time.Second, RelaxSkills: 1}, {After: 10 * time.Second, Widen: []string{"vip"}}}
		}
		c.Queues = append(c.Queues, qd)
	}
	for i := 0; i < 8; i++ {
		ag := config.Agent{Username: fmt.Sprintf("a%d", i), Password: "pw", Skills: map[string]int{}}
		for _, s := range skills {
			if rnd.IntN(2) == 0 {
				ag.Skills[s] = 1 + rnd.IntN(5)
			}
		}
		for _, q := range queues {
			if rnd.IntN(2) == 0 {
				ag.Queues = append(ag.Queues, q)
			}
		}
		if len(ag.Queues) == 0 {
			ag.Queues = []string{queues[rnd.IntN(len(queues))]}
		}
		c.Agents = append(c.Agents, ag)
	}
	f := newACD(t, c, func(o *Options) { o.Seed = seed })
	a := f.acd
	var calls []*QueuedCall
	nextID := 0
	// offered[call] = agents its current offer rings.
	offered := map[*QueuedCall][]string{}
	for step := 0; step < steps; step++ {
		switch op := rnd.IntN(100); {
		case op < 25: // a call arrives
			r := CallRequest{ID: callID(nextID), Queue: queues[rnd.IntN(len(queues))], Priority: rnd.IntN(3),
				Caller: fmt.Sprintf("+849000000%02d", rnd.IntN(20))}
			if rnd.IntN(3) == 0 {
				r.Skills = []rules.SkillReq{{Skill: skills[rnd.IntN(len(skills))], Level: 1 + rnd.IntN(5)}}
			}
			if rnd.IntN(4) == 0 {
				r.Customer = directory.Customer{Segment: directory.SegmentLoyal, LastAgent: c.Agents[rnd.IntN(len(c.Agents))].Username}
			}
			nextID++
			if qc, err := a.Enqueue(r); err == nil {
				calls = append(calls, qc)
			}
		case op < 55: // an offered agent answers or not
			if len(offered) == 0 {
				break
			}
			for qc, ags := range offered {
				ag := ags[rnd.IntN(len(ags))]
				var err error
				if rnd.IntN(2) == 0 {
					err = qc.Answered(ag)
				} else {
					err = qc.NoAnswer(ag)
				}
				if err != nil {
					t.Fatalf("step %d: report for %s by %s: %v", step, qc.id, ag, err)
				}
				delete(offered, qc)
				var rest []string
				for _, o := range ags {
					if o != ag {
						rest = append(rest, o)
					}
				}
				if len(rest) > 0 && rnd.IntN(2) == 0 {
					// ring-all: the others report no answer (too late or not).
					for _, o := range rest {
						_ = qc.NoAnswer(o)
					}
				} else if len(rest) > 0 {
					offered[qc] = rest // still ringing (unless answered)
				}
				break
			}
		case op < 65: // a connected call ends
			for _, qc := range calls {
				if err := qc.Hangup(); err == nil {
					break
				}
			}
		case op < 72: // a caller hangs up
			if len(calls) > 0 {
				qc := calls[rnd.IntN(len(calls))]
				qc.Abandon()
				delete(offered, qc)
			}
		case op < 80: // an agent changes state
			ag := c.Agents[rnd.IntN(len(c.Agents))].Username
			switch rnd.IntN(6) {
			case 0:
				_ = a.Pause(ag, "break")
			case 1, 2:
				_ = a.Unpause(ag)
			case 3:
				_ = a.Logout(ag)
			case 4:
				_ = a.SetRegistered(ag, rnd.IntN(2) == 0)
			case 5:
				_ = a.SetRegistered(ag, true)
				_ = a.Login(ag)
			}
		default: // time passes
			f.clk.Add(time.Duration(rnd.IntN(4000)) * time.Millisecond)
			a.Tick()
		}
		if joins && step%150 == 149 {
			joinFromSnapshot(t, f, c)
		}
		if err := checkInvariants(a); err != nil {
			t.Fatalf("seed %d step %d: %v", seed, step, err)
		}
		if err := checkPeers(a, f.peers); err != nil {
			t.Fatalf("seed %d step %d: %v", seed, step, err)
		}
		for i, p := range f.peers {
			mirrorPending(a, p)
			if err := checkInvariants(p); err != nil {
				t.Fatalf("seed %d step %d: replica %d: %v", seed, step, i+1, err)
			}
		}
		// Collect fresh offers; a withdrawn one (answered elsewhere,
		// abandoned) disappears.
		for _, qc := range calls {
			if o, ok := f.tryOffer(qc); ok {
				offered[qc] = o.Agents
			}
		}
		for qc, ags := range offered {
			a.mu.Lock()
			still := qc.state == callOffered
			a.mu.Unlock()
			if !still {
				delete(offered, qc)
			} else {
				_ = ags
			}
		}
		// Forget finished calls.
		kept := calls[:0]
		for _, qc := range calls {
			a.mu.Lock()
			done := qc.state == callDone
			a.mu.Unlock()
			if !done {
				kept = append(kept, qc)
			}
		}
		calls = kept
	}
	// Drain: everyone available, time passes; every call gets answered.
	for _, ag := range c.Agents {
		_ = a.SetRegistered(ag.Username, true)
		_ = a.Login(ag.Username)
		_ = a.Unpause(ag.Username)
	}
	if err := checkInvariants(a); err != nil {
		t.Fatalf("drain start: %v", err)
	}
	for _, qc := range calls {
		if o, ok := f.tryOffer(qc); ok {
			offered[qc] = o.Agents
		}
	}
	for round := 0; round < 400 && len(calls) > 0; round++ {
		f.clk.Add(time.Second)
		a.Tick()
		for qc, ags := range offered {
			if err := qc.Answered(ags[0]); err != nil {
				t.Fatalf("drain: %v", err)
			}
			delete(offered, qc)
		}
		for _, qc := range calls {
			_ = qc.Hangup()
		}
		if err := checkInvariants(a); err != nil {
			t.Fatalf("drain: %v", err)
		}
		kept := calls[:0]
		for _, qc := range calls {
			if o, ok := f.tryOffer(qc); ok {
				offered[qc] = o.Agents
			}
			a.mu.Lock()
			done := qc.state == callDone
			a.mu.Unlock()
			if !done {
				kept = append(kept, qc)
			}
		}
		calls = kept
	}
	if len(calls) > 0 {
		t.Fatalf("%d calls never served: %+v", len(calls), calls[0].Status())
	}
}

// joinFromSnapshot adds a replica started from a snapshot to f's peers;
// on one node it restores a snapshot of f's ACD into a fresh one and
// checks they agree.
func joinFromSnapshot(t *testing.T, f *acdFixture, c *config.Config) {
	t.Helper()
	if f.join != nil {
		p := f.join()
		f.peers = append(f.peers, p)
		// Before the replica's node closes: the fixture's last check
		// leaves it out.
		t.Cleanup(func() { f.peers = slices.DeleteFunc(f.peers, func(x *ACD) bool { return x == p }) })
		return
	}
	data, err := f.acd.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	b, err := New(c, Options{Now: f.clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Restore(data); err != nil {
		t.Fatal(err)
	}
	if err := checkInvariants(b); err != nil {
		t.Fatalf("restored: %v", err)
	}
	mirrorPending(f.acd, b)
	if got, want := b.Agents(), f.acd.Agents(); !reflect.DeepEqual(got, want) {
		t.Fatalf("restored agents:\n%+v\nwant\n%+v", got, want)
	}
	if got, want := b.Calls(), f.acd.Calls(); !reflect.DeepEqual(got, want) {
		t.Fatalf("restored calls:\n%+v\nwant\n%+v", got, want)
	}
	if got, want := b.Queues(), f.acd.Queues(); !reflect.DeepEqual(got, want) {
		t.Fatalf("restored queues:\n%+v\nwant\n%+v", got, want)
	}
}
