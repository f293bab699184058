package acd

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"hotline/routing/callbacks"
)

// One ACD over several nodes: the ACD as a replicated state machine.
//
// Every node runs this same ACD. With Options.Replication set, a
// public method that changes the ACD (Enqueue, Answered, NoAnswer,
// Abandon, RequestCallback, Requeue, Hangup, SetRegistered, Login, Logout,
// Pause, Unpause, EndWrapUp, Tick) does not change it: it submits an Op to the
// shared log (package cluster keeps it in Redis) and returns the result
// of applying that Op on this replica, once the log delivered it here.
// Each replica applies every node's Ops in the log's one order (Apply),
// with the time each Op carries as its clock and the same seed, so every
// replica holds the same queues, agents and offers: strategies, skills
// with levels, escalation, preferred agent, wrap-up and auto-pause behave
// as on one node by construction, and a queue keeps one order across
// nodes. A call's offers are acted on by the node the call is on (the
// only one waiting in Next for it). NodeLost ends the calls of a node
// that died, freeing their agents. Snapshot and Restore (snapshot.go) let
// the log be trimmed: a replica that joins restores the latest snapshot
// and applies the ops after it.

// Op kinds.
const (
	opEnqueue    = "enqueue"
	opAnswered   = "answered"
	opNoAnswer   = "no_answer"
	opAbandon    = "abandon"
	opCallback   = "callback"
	opHangup     = "hangup"
	opRegistered = "registered"
	opLogin      = "login"
	opLogout     = "logout"
	opPause      = "pause"
	opUnpause    = "unpause"
	opEndWrapUp  = "end_wrap_up"
	opTick       = "tick"
	opNodeLost   = "node_lost"
	opSync       = "sync"
	opRequeue    = "requeue"
	opRefused    = "refused"
)

// Op is one change of a replicated ACD, as it travels through the log.
type Op struct {
	Kind  string       `json:"k"`
	At    time.Time    `json:"at"`
	Agent string       `json:"agent,omitempty"`
	Call  string       `json:"call,omitempty"`
	Text  string       `json:"text,omitempty"` // pause reason, callback number, lost node, queue
	Flag  bool         `json:"flag,omitempty"` // registered, at the front
	Req   *CallRequest `json:"req,omitempty"`
	// Src is the submitting replica's instance: only that replica
	// reports the op's events (Options.OnEvent), once for the cluster.
	Src string `json:"src,omitempty"`
}

// OpResult is what applying an Op returned on this replica.
type OpResult struct {
	Call     *QueuedCall
	Callback callbacks.Callback
	Err      error
}

// Replication is the shared log of a replicated ACD.
type Replication interface {
	// Submit appends op to the log and returns the result of applying
	// it on this replica (the value ApplyOp returned for it), or an
	// error when it could not be appended.
	Submit(op []byte) (any, error)
}

// ErrReplication wraps failures of the shared log.
var ErrReplication = errors.New("acd: shared ACD log")

func (a *ACD) submit(op Op) OpResult {
	op.At = a.stamp()
	op.Src = a.instance
	data, err := json.Marshal(op)
	if err != nil {
		return OpResult{Err: fmt.Errorf("%w: %w", ErrReplication, err)}
	}
	res, err := a.repl.Submit(data)
	if err != nil {
		return OpResult{Err: fmt.Errorf("%w: %w", ErrReplication, err)}
	}
	r, ok := res.(OpResult)
	if !ok {
		return OpResult{Err: fmt.Errorf("%w: unexpected result %T", ErrReplication, res)}
	}
	return r
}

// Sync returns once this replica has applied every change submitted
// before the call, by any node. On one node it returns at once.
func (a *ACD) Sync() error {
	if a.repl == nil {
		return nil
	}
	return a.submit(Op{Kind: opSync}).Err
}

// Guard reserves agents outside the ACD, as a check on its offers: with
// several nodes (package cluster) the reservation is atomic in Redis.
// Replicas agree on every offer; should they not (an Op lost with a
// Redis that restarted empty may have reached some nodes only), the
// reservation keeps one agent from ringing for two calls: the node whose
// reservation is refused withdraws the offer (without counting it as
// unanswered) and the call waits for another agent, or for this one
// again after guardRetry. The node that reserved an agent for a call
// releases her when the call no longer holds her on this node, whatever
// the replicated state says of the call (NodeLost may have ended it
// there while it went on here, and its reservation was re-published
// after a Redis restart): no reservation outlives its call.
type Guard interface {
	// Reserve reserves agent for call; false (or an error) refuses.
	Reserve(agent, call string) (bool, error)
	// Release ends the reservation of agent for call, if any.
	Release(agent, call string)
}

// guardBackoff is how long Next waits when every agent of an offer was
// refused by the Guard, before it looks at the call's next offer.
const guardBackoff = 250 * time.Millisecond

// guardRetry is how long an agent the Guard refused for a call is left
// out of that call's offers (instead of the retry delay of an agent who
// missed it): her reservation may end any moment (a call ending on a
// replica that had it ended already, a reservation re-published after a
// Redis restart), and the caller must not wait a retry delay with her
// free. Ticks (every second) offer her again after it.
const guardRetry = time.Second

// reserve returns the agents the Guard reserved for c; the others are
// refused (the offer of them is withdrawn).
func (c *QueuedCall) reserve(agents []string) []string {
	a := c.acd
	kept := agents[:0:0]
	for _, ag := range agents {
		ok, err := a.guard.Reserve(ag, c.id)
		if ok && err == nil {
			kept = append(kept, ag)
			c.noteReserved(ag)
			continue
		}
		a.log.Warn("offer withdrawn: the agent is held elsewhere", "call_id", c.id, "agent", ag, "error", err)
		if rerr := c.refused(ag); rerr != nil {
			a.log.Warn("offer not withdrawn", "call_id", c.id, "agent", ag, "error", rerr)
		}
	}
	return kept
}

// refused ends agent's offer of c because she is held by another offer
// (the Guard refused her, or her reservation was lost): not counted as
// unanswered; she is left out of c's offers for guardRetry.
func (c *QueuedCall) refused(agent string) error {
	if a := c.acd; a.repl != nil {
		return a.submit(Op{Kind: opRefused, Call: c.id, Agent: agent}).Err
	}
	return c.noAnswer(agent, false)
}

// noteReserved records that the Guard reserved ag for c on this node.
func (c *QueuedCall) noteReserved(ag string) {
	a := c.acd
	a.mu.Lock()
	defer a.mu.Unlock()
	if !slices.Contains(c.reserved, ag) {
		c.reserved = append(c.reserved, ag)
	}
}

// held returns the agents the Guard reserved for c on this node (offered
// or connected), but except. This node's record, not the replicated
// state's offer of c: that may have ended (NodeLost from a node that
// judged this one lost) while the reservation stands.
func (c *QueuedCall) held(except string) []string {
	a := c.acd
	if a.guard == nil {
		return nil
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []string
	for _, ag := range c.reserved {
		if ag != except {
			out = append(out, ag)
		}
	}
	return out
}

// offered returns the agents the replicated state offers c.
func (c *QueuedCall) offered() []string {
	a := c.acd
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []string
	for _, ag := range c.offer {
		out = append(out, ag.name)
	}
	return out
}

// release tells the Guard that c no longer holds agents.
func (c *QueuedCall) release(agents []string) {
	a := c.acd
	g := a.guard
	if g == nil || len(agents) == 0 {
		return
	}
	a.mu.Lock()
	c.reserved = slices.DeleteFunc(c.reserved, func(ag string) bool { return slices.Contains(agents, ag) })
	a.mu.Unlock()
	for _, ag := range agents {
		g.Release(ag, c.id)
	}
}

// NodeLost returns the Op that ends every call enqueued by node (a node
// that died: its callers are gone with its media); submit it through the
// log like any other. Applying it more than once does nothing more.
func NodeLost(node string, at time.Time) []byte {
	data, _ := json.Marshal(Op{Kind: opNodeLost, Text: node, At: at}) // cannot fail
	return data
}

// ApplyOp applies one Op of the shared log, submitted by node origin, to
// this replica and returns its OpResult. The log calls it for every Op in
// the log's order, one at a time.
func (a *ACD) ApplyOp(origin string, data []byte) any {
	var op Op
	if err := json.Unmarshal(data, &op); err != nil {
		return OpResult{Err: fmt.Errorf("%w: bad op: %w", ErrReplication, err)}
	}
	// The replica's clock is the op's: every replica applies it at the
	// same time. (Nodes' clocks that disagree look like a clock step on
	// one node, which the ACD copes with.)
	a.logNow.Store(op.At.UnixNano())
	// Ops are applied one at a time: the events of this one are this
	// replica's to report when it submitted it.
	a.ownOp.Store(op.Src == a.instance)
	call := func() *QueuedCall {
		a.mu.Lock()
		defer a.mu.Unlock()
		return a.calls[op.Call]
	}
	switch op.Kind {
	case opEnqueue:
		if op.Req == nil {
			return OpResult{Err: fmt.Errorf("%w: enqueue without request", ErrReplication)}
		}
		c, err := a.enqueue(*op.Req)
		if err == nil {
			a.mu.Lock()
			a.owner[c.id] = origin
			a.mu.Unlock()
		}
		return OpResult{Call: c, Err: err}
	case opAnswered, opNoAnswer:
		c := call()
		if c == nil {
			return OpResult{Err: ErrNotOffered}
		}
		if op.Kind == opAnswered {
			return OpResult{Err: c.answered(op.Agent)}
		}
		return OpResult{Err: c.noAnswer(op.Agent, true)}
	case opRefused:
		c := call()
		if c == nil {
			return OpResult{Err: ErrNotOffered}
		}
		return OpResult{Err: c.noAnswer(op.Agent, false)}
	case opAbandon:
		if c := call(); c != nil {
			c.abandon()
		}
		a.forget(op.Call)
		return OpResult{}
	case opCallback:
		c := call()
		if c == nil {
			return OpResult{Err: ErrCallEnded}
		}
		cb, err := c.requestCallback(op.Text)
		a.forget(op.Call)
		return OpResult{Callback: cb, Err: err}
	case opRequeue:
		c := call()
		if c == nil {
			return OpResult{Err: ErrNotWaiting}
		}
		return OpResult{Err: c.requeue(op.Text, op.Flag)}
	case opHangup:
		c := call()
		if c == nil {
			return OpResult{Err: ErrNotConnected}
		}
		err := c.hangup()
		a.forget(op.Call)
		return OpResult{Err: err}
	case opRegistered:
		return OpResult{Err: a.setRegistered(op.Agent, op.Flag)}
	case opLogin:
		return OpResult{Err: a.login(op.Agent)}
	case opLogout:
		return OpResult{Err: a.logout(op.Agent)}
	case opPause:
		return OpResult{Err: a.pause(op.Agent, op.Text)}
	case opUnpause:
		return OpResult{Err: a.unpause(op.Agent)}
	case opEndWrapUp:
		return OpResult{Err: a.endWrapUp(op.Agent)}
	case opSync:
		return OpResult{}
	case opTick:
		a.tick()
		a.mu.Lock()
		for id := range a.owner { // calls that left by maximum wait
			if _, live := a.calls[id]; !live {
				delete(a.owner, id)
			}
		}
		a.mu.Unlock()
		return OpResult{}
	case opNodeLost:
		a.mu.Lock()
		var lost []string
		for id, n := range a.owner {
			if n == op.Text {
				lost = append(lost, id)
			}
		}
		a.mu.Unlock()
		slices.Sort(lost) // one order on every replica
		for _, id := range lost {
			op.Call = id
			if c := call(); c != nil {
				a.log.Warn("call lost with its node", "call_id", id, "node", op.Text)
				a.mu.Lock()
				c.queue.stats.lost++
				a.mu.Unlock()
				c.abandon()
			}
			a.forget(id)
		}
		return OpResult{}
	}
	return OpResult{Err: fmt.Errorf("%w: unknown op %q", ErrReplication, op.Kind)}
}

// forget drops the owner of a call that has left the ACD.
func (a *ACD) forget(id string) {
	a.mu.Lock()
	if _, live := a.calls[id]; !live {
		delete(a.owner, id)
	}
	a.mu.Unlock()
}
