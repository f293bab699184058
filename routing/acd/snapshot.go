package acd

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"time"
)

// Snapshots of a replicated ACD: the shared log (package cluster) is
// trimmed below a snapshot, and a replica that joins later restores the
// snapshot and applies the ops after it. A snapshot is the whole state
// that decides what the ACD does next, orders included (the random
// strategy's source and the order of the available agents it draws
// from), so that the restored replica goes on exactly as the others.

type snapshot struct {
	Now       int64                  `json:"now"`
	Rand      []byte                 `json:"rand"`
	Seq       uint64                 `json:"seq"`
	Epoch     uint64                 `json:"epoch"`
	Skills    map[string]int         `json:"skills"`
	Agents    []snapAgent            `json:"agents"`
	Queues    []snapQueue            `json:"queues"`
	Calls     []snapCall             `json:"calls"`
	Abandoned map[string]snapAbandon `json:"abandoned,omitempty"`
	Owner     map[string]string      `json:"owner,omitempty"`
}

type snapAgent struct {
	Name        string        `json:"name"`
	Registered  bool          `json:"reg,omitempty"`
	LoggedIn    bool          `json:"in,omitempty"`
	Paused      bool          `json:"paused,omitempty"`
	PauseReason string        `json:"reason,omitempty"`
	Avail       bool          `json:"avail,omitempty"`
	Call        string        `json:"call,omitempty"`
	Connected   bool          `json:"connected,omitempty"`
	WrapUntil   time.Time     `json:"wrap_until"`
	Wrapping    bool          `json:"wrapping,omitempty"`
	IdleSince   time.Time     `json:"idle_since"`
	Calls       int           `json:"calls,omitempty"`
	Talk        time.Duration `json:"talk,omitempty"`
	NoAnswers   int           `json:"no_answers,omitempty"`
	Last        LastCall      `json:"last"`
}

type snapQueue struct {
	Name       string           `json:"name"`
	Count      int              `json:"count"`
	RRLast     int              `json:"rr_last"`
	Handle     []time.Duration  `json:"handle"`
	HandleN    int              `json:"handle_n"`
	HandleNext int              `json:"handle_next"`
	Stats      [7]int           `json:"stats"`
	Waits      [2]time.Duration `json:"waits"`
	// Avail and Groups are the available agents in the order of the
	// queue's avail set and of each group's.
	Avail  []string   `json:"avail"`
	Groups [][]string `json:"groups"`
}

type snapTried struct {
	Agent   string    `json:"agent"`
	At      time.Time `json:"at"`
	Refused bool      `json:"refused,omitempty"`
}

type snapCall struct {
	ID         string      `json:"id"`
	Caller     string      `json:"caller,omitempty"`
	Priority   int         `json:"prio,omitempty"`
	Seq        uint64      `json:"seq"`
	Front      bool        `json:"front,omitempty"`
	Only       string      `json:"only,omitempty"`
	State      callState   `json:"state"`
	Queue      string      `json:"queue"`
	Lists      []string    `json:"lists,omitempty"`
	Arrived    time.Time   `json:"arrived"`
	Entered    time.Time   `json:"entered"`
	QueuedAt   time.Time   `json:"queued_at"`
	Needs      [][2]int    `json:"needs,omitempty"`
	Level      int         `json:"level,omitempty"`
	Pref       string      `json:"pref,omitempty"`
	PrefUntil  time.Time   `json:"pref_until"`
	Tried      []snapTried `json:"tried,omitempty"`
	Offer      []string    `json:"offer,omitempty"`
	Pending    bool        `json:"pending,omitempty"`
	Preferred  bool        `json:"preferred,omitempty"`
	Agent      string      `json:"agent,omitempty"`
	OfferedAt  time.Time   `json:"offered_at"`
	AnsweredAt time.Time   `json:"answered_at"`
	Next       time.Time   `json:"next"`
}

type snapAbandon struct {
	Arrived time.Time `json:"arrived"`
	Queue   string    `json:"queue"`
	At      time.Time `json:"at"`
}

func agentName(ag *acdAgent) string {
	if ag == nil {
		return ""
	}
	return ag.name
}

func names(ags []*acdAgent) []string {
	out := make([]string, len(ags))
	for i, ag := range ags {
		out[i] = ag.name
	}
	return out
}

// Snapshot encodes the replica's state, between two ops of the log (the
// log takes it on the goroutine that applies them).
func (a *ACD) Snapshot() ([]byte, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	rnd, err := a.pcg.MarshalBinary()
	if err != nil {
		return nil, fmt.Errorf("%w: snapshot: %w", ErrReplication, err)
	}
	s := snapshot{Now: a.logNow.Load(), Rand: rnd, Seq: a.seq, Epoch: a.epoch, Skills: maps.Clone(a.skillIDs),
		Owner: maps.Clone(a.owner), Abandoned: map[string]snapAbandon{}}
	for k, r := range a.abandoned {
		s.Abandoned[k] = snapAbandon{Arrived: r.arrived, Queue: r.queue.def.Name, At: r.at}
	}
	for _, ag := range a.agents {
		var call string
		if ag.call != nil {
			call = ag.call.id
		}
		s.Agents = append(s.Agents, snapAgent{Name: ag.name, Registered: ag.registered, LoggedIn: ag.loggedIn, Paused: ag.paused,
			PauseReason: ag.pauseReason, Avail: ag.avail, Call: call, Connected: ag.connected, WrapUntil: ag.wrapUntil,
			Wrapping: ag.wrapping, IdleSince: ag.idleSince, Calls: ag.calls, Talk: ag.talk, NoAnswers: ag.noAnswers, Last: ag.last})
	}
	for _, q := range a.queues {
		if q.retired {
			return nil, fmt.Errorf("%w: snapshot: queue %s retired (replicas are not reconfigured)", ErrReplication, q.def.Name)
		}
		st := q.stats
		sq := snapQueue{Name: q.def.Name, Count: q.count, RRLast: q.rrLast, Handle: slices.Clone(q.handle[:]), HandleN: q.handleN,
			HandleNext: q.handleNext, Stats: [7]int{st.entered, st.answered, st.abandoned, st.timedOut, st.overflowed, st.callbacks, st.lost},
			Waits: [2]time.Duration{st.answeredWait, st.abandonedWait}}
		for _, e := range q.avail {
			sq.Avail = append(sq.Avail, e.a.name)
		}
		for _, g := range q.ix.groups {
			sq.Groups = append(sq.Groups, names(g.avail))
		}
		s.Queues = append(s.Queues, sq)
	}
	for _, c := range a.live {
		sc := snapCall{ID: c.id, Caller: c.caller, Priority: c.priority, Seq: c.seq, Front: c.front, Only: agentName(c.only),
			State: c.state, Queue: c.queue.def.Name, Arrived: c.arrived, Entered: c.entered, QueuedAt: c.queuedAt, Level: c.level,
			Pref: agentName(c.pref), PrefUntil: c.prefUntil, Offer: names(c.offer), Pending: c.pending, Preferred: c.preferred,
			Agent: agentName(c.agent), OfferedAt: c.offeredAt, AnsweredAt: c.answeredAt, Next: c.next}
		for _, q := range c.lists {
			sc.Lists = append(sc.Lists, q.def.Name)
		}
		for _, n := range c.needs {
			sc.Needs = append(sc.Needs, [2]int{n.id, int(n.level)})
		}
		for _, t := range c.tried {
			sc.Tried = append(sc.Tried, snapTried{Agent: t.a.name, At: t.at, Refused: t.refused})
		}
		s.Calls = append(s.Calls, sc)
	}
	data, err := json.Marshal(s)
	if err != nil {
		return nil, fmt.Errorf("%w: snapshot: %w", ErrReplication, err)
	}
	return data, nil
}

// Restore makes a replica that has applied no op yet (just built by New,
// on the same configuration) the replica a Snapshot was taken of; the
// log then applies the ops after the snapshot.
func (a *ACD) Restore(data []byte) error {
	var s snapshot
	if err := json.Unmarshal(data, &s); err != nil {
		return fmt.Errorf("%w: restore: %w", ErrReplication, err)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.live) > 0 || a.seq > 0 {
		return fmt.Errorf("%w: restore: the replica has applied ops already", ErrReplication)
	}
	if len(s.Agents) != len(a.agents) || len(s.Queues) != len(a.queues) {
		return fmt.Errorf("%w: restore: the snapshot has %d agents and %d queues, this configuration %d and %d",
			ErrReplication, len(s.Agents), len(s.Queues), len(a.agents), len(a.queues))
	}
	if err := a.pcg.UnmarshalBinary(s.Rand); err != nil {
		return fmt.Errorf("%w: restore: %w", ErrReplication, err)
	}
	bad := func(what, name string) error {
		return fmt.Errorf("%w: restore: unknown %s %q (not this configuration's)", ErrReplication, what, name)
	}
	a.logNow.Store(s.Now)
	a.seq, a.epoch = s.Seq, s.Epoch
	for name, id := range s.Skills {
		a.skillIDs[name] = id
	}
	a.owner = map[string]string{}
	maps.Copy(a.owner, s.Owner)
	a.abandoned = map[string]abandonRec{}
	for k, r := range s.Abandoned {
		q := a.qByName[r.Queue]
		if q == nil {
			return bad("queue", r.Queue)
		}
		a.abandoned[k] = abandonRec{arrived: r.Arrived, queue: q, at: r.At}
	}
	agent := func(name string) (*acdAgent, error) {
		if name == "" {
			return nil, nil
		}
		if ag := a.byName[name]; ag != nil {
			return ag, nil
		}
		return nil, bad("agent", name)
	}
	agents := func(ns []string) ([]*acdAgent, error) {
		out := make([]*acdAgent, 0, len(ns))
		for _, n := range ns {
			ag, err := agent(n)
			if err != nil {
				return nil, err
			}
			out = append(out, ag)
		}
		return out, nil
	}
	// Calls first, in the live order (ticks walk it).
	for i, sc := range s.Calls {
		q := a.qByName[sc.Queue]
		if q == nil {
			return bad("queue", sc.Queue)
		}
		c := &QueuedCall{acd: a, id: sc.ID, caller: sc.Caller, priority: sc.Priority, seq: sc.Seq, notify: make(chan struct{}, 1),
			front: sc.Front, state: sc.State, queue: q, arrived: sc.Arrived, entered: sc.Entered, queuedAt: sc.QueuedAt,
			level: sc.Level, prefUntil: sc.PrefUntil, pending: sc.Pending, preferred: sc.Preferred, offeredAt: sc.OfferedAt,
			answeredAt: sc.AnsweredAt, next: sc.Next, liveIdx: i}
		var err error
		if c.only, err = agent(sc.Only); err != nil {
			return err
		}
		if c.pref, err = agent(sc.Pref); err != nil {
			return err
		}
		if c.agent, err = agent(sc.Agent); err != nil {
			return err
		}
		if c.offer, err = agents(sc.Offer); err != nil {
			return err
		}
		for _, n := range sc.Lists {
			lq := a.qByName[n]
			if lq == nil {
				return bad("queue", n)
			}
			c.lists = append(c.lists, lq)
		}
		for _, n := range sc.Needs {
			c.needs = append(c.needs, skillNeed{n[0], int8(n[1])})
		}
		for _, t := range sc.Tried {
			ag, err := agent(t.Agent)
			if err != nil {
				return err
			}
			c.tried = append(c.tried, tried{a: ag, at: t.At, refused: t.Refused})
		}
		a.live = append(a.live, c)
		a.calls[c.id] = c
	}
	for i, sa := range s.Agents {
		ag := a.agents[i]
		if ag.name != sa.Name {
			return bad("agent", sa.Name)
		}
		before := ag.savedAgent()
		ag.registered, ag.loggedIn, ag.paused, ag.pauseReason = sa.Registered, sa.LoggedIn, sa.Paused, sa.PauseReason
		a.noteSaved(ag, before)
		ag.connected, ag.wrapUntil, ag.wrapping, ag.idleSince = sa.Connected, sa.WrapUntil, sa.Wrapping, sa.IdleSince
		ag.calls, ag.talk, ag.noAnswers, ag.last = sa.Calls, sa.Talk, sa.NoAnswers, sa.Last
		ag.avail = sa.Avail
		if sa.Call != "" {
			if ag.call = a.calls[sa.Call]; ag.call == nil {
				return bad("call", sa.Call)
			}
		}
	}
	for i, sq := range s.Queues {
		q := a.queues[i]
		if q.def.Name != sq.Name || len(sq.Handle) != len(q.handle) || len(sq.Groups) != len(q.ix.groups) {
			return bad("queue", sq.Name)
		}
		q.count, q.rrLast, q.handleN, q.handleNext = sq.Count, sq.RRLast, sq.HandleN, sq.HandleNext
		copy(q.handle[:], sq.Handle)
		q.stats = queueStats{entered: sq.Stats[0], answered: sq.Stats[1], abandoned: sq.Stats[2], timedOut: sq.Stats[3],
			overflowed: sq.Stats[4], callbacks: sq.Stats[5], lost: sq.Stats[6], answeredWait: sq.Waits[0], abandonedWait: sq.Waits[1]}
		avail, err := agents(sq.Avail)
		if err != nil {
			return err
		}
		for _, ag := range avail {
			k := slices.Index(ag.queues, q)
			if k < 0 || !ag.avail {
				return bad("available agent", ag.name)
			}
			q.addAvail(ag, k)
		}
		for gi, gnames := range sq.Groups {
			members, err := agents(gnames)
			if err != nil {
				return err
			}
			for _, ag := range members {
				k := slices.Index(ag.queues, q)
				if k < 0 || ag.grp[k] != q.ix.groups[gi] || ag.slot[k] < 0 {
					return bad("available agent", ag.name)
				}
				q.indexAgent(ag, k, true)
			}
		}
	}
	for _, c := range a.live {
		for _, q := range c.lists {
			q.insert(c)
		}
		a.indexCallLocked(c)
	}
	return nil
}
