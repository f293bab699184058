package acd

import (
	"context"
	"errors"
	"fmt"
	"hotline/routing/callbacks"
	"hotline/routing/config"
	"hotline/routing/directory"
	"hotline/routing/rules"
	"log/slog"
	"maps"
	"math/rand/v2"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// Errors of the ACD.
var (
	ErrUnknownQueue  = errors.New("routing: unknown queue")
	ErrQueueFull     = errors.New("routing: queue is full")
	ErrMaxWait       = errors.New("routing: maximum wait reached")
	ErrNotOffered    = errors.New("routing: the agent has no offer of this call")
	ErrCallEnded     = errors.New("routing: the call has left the queue")
	ErrNotRegistered = errors.New("routing: the agent's phone is not registered")
	ErrNotLoggedIn   = errors.New("routing: the agent is not logged in")
	ErrDuplicateCall = errors.New("routing: a call with this id is already queued")
	ErrNotConnected  = errors.New("routing: the call is not connected to an agent")
	// ErrAgentUnavailable refuses a call for one agent (CallRequest.Agent)
	// who cannot take it now: not logged in, paused, in wrap-up or on a
	// call.
	ErrAgentUnavailable = errors.New("routing: the agent cannot take a call now")
	// ErrNotWaiting refuses to move a call that is not waiting (it is
	// being offered, connected or gone).
	ErrNotWaiting = errors.New("routing: the call is not waiting")
	// ErrNoLastCall: the agent has finished no call since the start, or
	// is on (or offered) another one.
	ErrNoLastCall = errors.New("routing: the agent has no finished call to give a wrap-up code to")
	// ErrQueueEmpty: nobody takes the queue's calls (every agent logged
	// out or paused) and its when_empty policy turns the caller away.
	ErrQueueEmpty = errors.New("routing: nobody takes the queue's calls")
)

// Agent states of the ACD besides StateAvailable, StateRinging and
// StateOnCall.
const (
	StateLoggedOut AgentState = "logged_out" // not logged in (or phone not registered)
	StateWrapUp    AgentState = "wrap_up"    // after-call work
	StatePaused    AgentState = "paused"     // logged in, taking no calls
)

// PauseNoAnswer is the pause reason of an agent paused automatically after
// too many unanswered offers in a row.
const PauseNoAnswer = "no-answer"

// defaultHandleTime is the handle time assumed before a queue has any.
const defaultHandleTime = 3 * time.Minute

// Options are the ACD's dependencies.
type Options struct {
	// Now is the clock; default time.Now.
	Now    func() time.Time
	Logger *slog.Logger
	// Seed seeds the random strategy.
	Seed uint64
	// LoginOnRegister logs an agent in when their phone registers. Off:
	// agents log in explicitly (feature code or API).
	LoginOnRegister bool
	// Callbacks, when set, receives callback requests made from the queue.
	Callbacks callbacks.Keeper
	// OnEvent, when set, receives every queue and agent event (events.go),
	// in order, with the ACD's lock held: it must not block nor call the
	// ACD.
	OnEvent func(Event)
	// Replication, when set, makes this ACD one replica of an ACD shared
	// by several nodes (see replica.go): every change is submitted to
	// the shared log and applied, in the log's one order, by every
	// replica. Now then only stamps the changes this node submits.
	Replication Replication
	// Guard, when set, must reserve each agent of an offer before Next
	// hands it out, and is told when the reservation ends (see
	// replica.go).
	Guard Guard
	// Ticker, with Replication, says whether this replica submits the
	// periodic ticks (Tick): one node at a time does; nil: this one.
	Ticker func() bool
}

// CallRequest is a call entering the ACD.
type CallRequest struct {
	// ID identifies the call (the caller's Call-ID); unique among queued calls.
	ID string
	// Queue, Priority (higher first) and Skills come from a rules.Decision.
	Queue    string
	Priority int
	Skills   []rules.SkillReq
	// Caller is the normalised caller number: used to give a caller who
	// hung up and calls again within the rejoin window their old place.
	Caller string
	// The customer's LastAgent and Segment drive the preferred-agent step.
	Customer directory.Customer
	// Arrived is the call's place in the queue; zero means now. A callback
	// placed for a caller who left the queue passes their original time.
	Arrived time.Time
	// Front puts the call ahead of every waiting call that is not itself
	// at the front (whatever their priority): a transferred caller whose
	// target did not take the call goes back first in line. Calls at the
	// front are served among themselves by priority, then arrival.
	Front bool
	// Agent, when set, offers the call to that agent only, who need not
	// answer its queue (a transfer to an agent). Enqueue refuses it with
	// ErrAgentUnavailable unless the agent can take a call now; an agent
	// who does not answer leaves the call waiting for nobody: move it
	// with Requeue.
	Agent string
}

// RequestFor builds the request for a call the router sent to a queue.
func RequestFor(id string, d rules.Decision, c directory.Customer) CallRequest {
	return CallRequest{ID: id, Queue: d.Queue, Priority: d.Priority, Skills: d.Skills, Caller: c.Number, Customer: c}
}

// Offer is a proposal to ring agents for a call. Ring every agent listed
// (several only for ring-all), then report each with Answered or NoAnswer.
type Offer struct {
	Agents      []string
	Queue       string
	RingTimeout time.Duration
	// Preferred is set when the agent is the customer's last agent.
	Preferred bool
}

type callState uint8

const (
	callWaiting callState = iota
	callOffered
	callConnected
	callDone
)

type skillNeed struct {
	id    int
	level int8
}

type tried struct {
	a  *acdAgent
	at time.Time
	// refused: the Guard refused the agent (held elsewhere), not a
	// missed offer: she is left out for guardRetry, not the retry delay.
	refused bool
}

// until is when the agent of t may be offered the call again.
func (a *ACD) until(t tried) time.Time {
	if t.refused {
		return t.at.Add(guardRetry)
	}
	return t.at.Add(a.retryDelay)
}

// QueuedCall is a call in the ACD, from Enqueue until it is answered and
// hung up, abandoned, or ended by the queue. Its methods are safe for
// concurrent use.
type QueuedCall struct {
	acd      *ACD
	id       string
	caller   string
	priority int
	seq      uint64
	notify   chan struct{}

	// Guarded by acd.mu.
	front      bool      // served before every call not at the front
	only       *acdAgent // offered to this agent only (CallRequest.Agent)
	state      callState
	queue      *acdQueue
	lists      []*acdQueue // queues whose waiting list holds the call
	arrived    time.Time   // place in queue
	entered    time.Time   // when Enqueue was called
	queuedAt   time.Time   // entered the current queue
	needs      []skillNeed
	level      int // escalation steps applied
	pref       *acdAgent
	prefUntil  time.Time
	tried      []tried
	offer      []*acdAgent
	pending    bool
	preferred  bool // the current offer is the preferred agent's
	agent      *acdAgent
	offeredAt  time.Time
	answeredAt time.Time
	err        error
	dirty      bool
	liveIdx    int
	// cls[j] is the class of waiting calls of lists[j] holding the call
	// (only waiting calls are in one).
	cls    []*callClass
	clsBuf [1]*callClass
	// next is when Tick next has something to do for the call (zero:
	// at the next Tick).
	next time.Time
	// reserved are the agents the Guard reserved for the call on this
	// node (held releases them), whatever the replicated state says.
	reserved []string
}

// ID is the call's id.
func (c *QueuedCall) ID() string { return c.id }

// frontRank lifts a call at the front above every priority a rule can
// give (rules' priorities are small numbers).
const frontRank = 1 << 30

// rank orders waiting calls: the call's priority, lifted for a call at
// the front. Lists are bucketed by it.
func (c *QueuedCall) rank() int {
	if c.front {
		return c.priority + frontRank
	}
	return c.priority
}

func before(x, y *QueuedCall) bool {
	if rx, ry := x.rank(), y.rank(); rx != ry {
		return rx > ry
	}
	if !x.arrived.Equal(y.arrived) {
		return x.arrived.Before(y.arrived)
	}
	return x.seq < y.seq
}

type acdAgent struct {
	name, display string
	skills        []int8 // by skill id
	queues        []*acdQueue
	pos           []int              // position in queues[k].members
	slot          []int              // index in queues[k].avail, -1 when absent
	grp           []*agentGroup      // group in queues[k]'s index
	gslot         []int              // index in grp[k].avail, -1 when absent
	hpos          [][numOrders]int32 // index in grp[k]'s order heaps, -1 when absent
	mark          uint64

	registered, loggedIn, paused bool
	pauseReason                  string
	avail                        bool
	call                         *QueuedCall // offered or connected
	connected                    bool
	wrapUntil                    time.Time
	wrapping                     bool // a wrap-up whose end is not reported yet
	idleSince                    time.Time
	calls                        int
	talk                         time.Duration
	noAnswers                    int
	last                         LastCall // the agent's last call (ended)
	dirty                        bool
	cand                         *QueuedCall // best call while dirty
}

func (ag *acdAgent) level(id int) int8 {
	if id < len(ag.skills) {
		return ag.skills[id]
	}
	return 0
}

func (ag *acdAgent) posIn(q *acdQueue) int {
	for k, x := range ag.queues {
		if x == q {
			return ag.pos[k]
		}
	}
	return -1
}

type availEntry struct {
	a *acdAgent
	k int
}

type bucket struct {
	prio  int // the calls' rank: priority, lifted at the front
	calls []*QueuedCall
}

// callList holds calls in the order they are served: by rank (calls at
// the front, then priority), highest first, then by place.
type callList struct {
	buckets []*bucket // by priority, highest first
}

type escStep struct {
	after time.Duration
	relax int8
	drop  bool
	widen []*acdQueue
}

type queueStats struct {
	entered, answered, abandoned, timedOut, overflowed, callbacks int
	lost                                                          int // ended with their node (NodeLost)
	answeredWait, abandonedWait                                   time.Duration
}

type acdQueue struct {
	def     config.QueueDef
	members []*acdAgent
	avail   []availEntry
	// callList lists the calls waiting or ringing in the queue, and the
	// calls of other queues that widened into it.
	callList
	count      int // calls whose queue this is (waiting or ringing)
	overflow   *acdQueue
	esc        []escStep
	prefSegs   []string
	rrLast     int
	handle     [32]time.Duration
	handleN    int
	handleNext int
	stats      queueStats
	ix         agentIndex
	classes    []*callClass // waiting calls by required skills
	classByKey map[string]*callClass
	// retired: removed from the configuration by Reconfigure, kept (for
	// no new caller) while callers wait in it.
	retired bool
}

// staffed says whether a member of q takes calls: logged in, not paused
// (on a call or in wrap-up counts).
func (q *acdQueue) staffed() bool {
	for _, m := range q.members {
		if m.loggedIn && !m.paused {
			return true
		}
	}
	return false
}

func (q *acdQueue) addAvail(ag *acdAgent, k int) {
	ag.slot[k] = len(q.avail)
	q.avail = append(q.avail, availEntry{ag, k})
}

func (q *acdQueue) delAvail(ag *acdAgent, k int) {
	i := ag.slot[k]
	last := q.avail[len(q.avail)-1]
	q.avail[i] = last
	last.a.slot[last.k] = i
	q.avail[len(q.avail)-1] = availEntry{}
	q.avail = q.avail[:len(q.avail)-1]
	ag.slot[k] = -1
}

func (l *callList) bucketFor(prio int, create bool) *bucket {
	i := sort.Search(len(l.buckets), func(i int) bool { return l.buckets[i].prio <= prio })
	if i < len(l.buckets) && l.buckets[i].prio == prio {
		return l.buckets[i]
	}
	if !create {
		return nil
	}
	b := &bucket{prio: prio}
	l.buckets = append(l.buckets, nil)
	copy(l.buckets[i+1:], l.buckets[i:])
	l.buckets[i] = b
	return b
}

func (l *callList) insert(c *QueuedCall) {
	b := l.bucketFor(c.rank(), true)
	n := len(b.calls)
	if n == 0 || before(b.calls[n-1], c) {
		b.calls = append(b.calls, c)
		return
	}
	i := sort.Search(n, func(i int) bool { return before(c, b.calls[i]) })
	b.calls = append(b.calls, nil)
	copy(b.calls[i+1:], b.calls[i:])
	b.calls[i] = c
}

func (l *callList) remove(c *QueuedCall) {
	b := l.bucketFor(c.rank(), false)
	if b == nil {
		return
	}
	i := sort.Search(len(b.calls), func(i int) bool { return !before(b.calls[i], c) })
	if i >= len(b.calls) || b.calls[i] != c {
		return
	}
	if i < len(b.calls)/2 {
		copy(b.calls[1:i+1], b.calls[:i])
		b.calls[0] = nil
		b.calls = b.calls[1:]
	} else {
		copy(b.calls[i:], b.calls[i+1:])
		b.calls[len(b.calls)-1] = nil
		b.calls = b.calls[:len(b.calls)-1]
	}
}

// position counts the calls listed ahead of c.
func (l *callList) position(c *QueuedCall) int {
	n := 0
	for _, b := range l.buckets {
		if b.prio > c.rank() {
			n += len(b.calls)
			continue
		}
		if b.prio == c.rank() {
			n += sort.Search(len(b.calls), func(i int) bool { return !before(b.calls[i], c) })
		}
		break
	}
	return n
}

func (q *acdQueue) addHandle(d time.Duration) {
	q.handle[q.handleNext] = d
	q.handleNext = (q.handleNext + 1) % len(q.handle)
	if q.handleN < len(q.handle) {
		q.handleN++
	}
}

func (q *acdQueue) avgHandle() time.Duration {
	if q.handleN == 0 {
		return defaultHandleTime
	}
	var sum time.Duration
	for i := 0; i < q.handleN; i++ {
		sum += q.handle[i]
	}
	return sum / time.Duration(q.handleN)
}

type abandonRec struct {
	arrived time.Time
	queue   *acdQueue
	at      time.Time
}

// ACD is the automatic call distributor: queues of waiting calls, agents
// with skills and states, and the offers that bring them together. All
// state is behind one lock; time only moves through the injected clock and
// Tick (or Run, which calls Tick periodically).
type ACD struct {
	now             func() time.Time
	log             *slog.Logger
	retryDelay      time.Duration
	autoPause       int
	rejoin          time.Duration
	loginOnRegister bool
	callbacks       callbacks.Keeper
	onEvent         func(Event)
	// instance identifies this replica in the ops it submits; ownOp is
	// set while an op it submitted is applied.
	instance string
	ownOp    atomic.Bool
	// replication: stamp gives the submitted changes their time, logNow
	// is the time of the change applied last (the replica's clock), owner
	// the node each call was enqueued on.
	repl   Replication
	guard  Guard
	ticker func() bool
	stamp  func() time.Time
	logNow atomic.Int64
	owner  map[string]string

	mu          sync.Mutex
	rnd         *rand.Rand
	pcg         *rand.PCG // rnd's source (snapshot.go)
	agents      []*acdAgent
	byName      map[string]*acdAgent
	queues      []*acdQueue
	qByName     map[string]*acdQueue
	skillIDs    map[string]int
	calls       map[string]*QueuedCall
	live        []*QueuedCall
	abandoned   map[string]abandonRec
	dirtyAgents []*acdAgent
	dirtyCalls  []*QueuedCall
	dirtySorted bool
	scratch     []*acdAgent
	front       []int32 // heap walks' frontier
	keyBuf      []byte
	needBuf     []skillNeed
	seq         uint64
	epoch       uint64
	// saved moves with every change SavedAgents may show (SavedGeneration).
	saved uint64
}

// New builds the ACD of a defaulted, validated configuration. Every
// agent starts logged out with an unregistered phone.
func New(c *config.Config, o Options) (*ACD, error) {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	a := &ACD{
		now: o.Now, log: o.Logger, retryDelay: c.Queue.RetryDelay, autoPause: c.Queue.AutoPauseAfter,
		rejoin: c.Queue.RejoinWindow, loginOnRegister: o.LoginOnRegister, callbacks: o.Callbacks, onEvent: o.OnEvent,
		pcg:    rand.NewPCG(o.Seed, o.Seed^0x9e3779b97f4a7c15),
		byName: map[string]*acdAgent{}, qByName: map[string]*acdQueue{}, skillIDs: map[string]int{},
		calls: map[string]*QueuedCall{}, abandoned: map[string]abandonRec{},
		repl: o.Replication, guard: o.Guard, ticker: o.Ticker, stamp: o.Now, owner: map[string]string{},
	}
	a.rnd = rand.New(a.pcg)
	if a.repl != nil {
		a.now = func() time.Time { return time.Unix(0, a.logNow.Load()).UTC() }
		a.instance = fmt.Sprintf("%016x", rand.Uint64())
	}
	if len(c.Queues) == 0 {
		return nil, errors.New("routing: no queues (call SetDefaults first)")
	}
	for _, qd := range c.Queues {
		q := &acdQueue{def: qd, prefSegs: qd.PreferredAgent.Segments, rrLast: -1}
		a.queues = append(a.queues, q)
		a.qByName[qd.Name] = q
	}
	for _, q := range a.queues {
		if q.def.Overflow != "" {
			if q.overflow = a.qByName[q.def.Overflow]; q.overflow == nil {
				return nil, fmt.Errorf("%w: %q", ErrUnknownQueue, q.def.Overflow)
			}
		}
		for _, st := range q.def.Escalation {
			es := escStep{after: st.After, relax: int8(st.RelaxSkills), drop: st.DropSkills}
			for _, w := range st.Widen {
				wq := a.qByName[w]
				if wq == nil {
					return nil, fmt.Errorf("%w: %q", ErrUnknownQueue, w)
				}
				es.widen = append(es.widen, wq)
			}
			q.esc = append(q.esc, es)
		}
	}
	for _, ac := range c.Agents {
		ag := &acdAgent{name: ac.Username, display: ac.Name}
		for _, s := range slices.Sorted(maps.Keys(ac.Skills)) {
			id := a.skillID(s)
			for len(ag.skills) <= id {
				ag.skills = append(ag.skills, 0)
			}
			ag.skills[id] = int8(ac.Skills[s])
		}
		qs := ac.Queues
		if len(qs) == 0 {
			for _, q := range c.Queues {
				qs = append(qs, q.Name)
			}
		}
		for _, name := range qs {
			q := a.qByName[name]
			if q == nil {
				return nil, fmt.Errorf("%w: %q (agent %s)", ErrUnknownQueue, name, ac.Username)
			}
			ag.queues = append(ag.queues, q)
			ag.pos = append(ag.pos, len(q.members))
			ag.slot = append(ag.slot, -1)
			q.members = append(q.members, ag)
		}
		a.agents = append(a.agents, ag)
		a.byName[ag.name] = ag
	}
	a.buildIndexes()
	return a, nil
}

func (a *ACD) skillID(name string) int {
	id, ok := a.skillIDs[name]
	if !ok {
		id = len(a.skillIDs)
		a.skillIDs[name] = id
	}
	return id
}

// ---- agents ----

func (a *ACD) agent(name string) (*acdAgent, error) {
	ag := a.byName[name]
	if ag == nil {
		return nil, fmt.Errorf("%w: %q", ErrUnknownAgent, name)
	}
	return ag, nil
}

// refreshLocked recomputes whether an agent can take a call now and keeps
// the queues' sets of available agents in step.
func (a *ACD) refreshLocked(ag *acdAgent, now time.Time) {
	if ag.wrapping && !now.Before(ag.wrapUntil) {
		a.wrapUpEndedLocked(ag)
	}
	want := ag.registered && ag.loggedIn && !ag.paused && ag.call == nil && !now.Before(ag.wrapUntil)
	if want == ag.avail {
		return
	}
	ag.avail = want
	for k, q := range ag.queues {
		if want {
			q.addAvail(ag, k)
		} else {
			q.delAvail(ag, k)
		}
		q.indexAgent(ag, k, want)
	}
	if want && !ag.dirty {
		ag.dirty = true
		a.dirtyAgents = append(a.dirtyAgents, ag)
	}
}

func (a *ACD) markCall(c *QueuedCall) {
	if !c.dirty && c.state == callWaiting {
		c.dirty = true
		a.dirtyCalls = append(a.dirtyCalls, c)
		a.dirtySorted = false
	}
}

// updateAgent applies change to an agent, then brings the agent's
// availability up to date and makes the offers that became possible. An
// error of change is returned with nothing else done.
func (a *ACD) updateAgent(agent string, change func(ag *acdAgent, now time.Time) error) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	ag, err := a.agent(agent)
	if err != nil {
		return err
	}
	now := a.now()
	before := ag.savedAgent()
	if err := change(ag, now); err != nil {
		return err
	}
	a.noteSaved(ag, before)
	a.refreshLocked(ag, now)
	a.dispatchLocked(now)
	return nil
}

// SetRegistered records whether an agent's phone is registered. Losing
// the registration logs the agent out. With LoginOnRegister, registering
// logs the agent in.
func (a *ACD) SetRegistered(agent string, registered bool) error {
	if a.repl != nil {
		return a.submit(Op{Kind: opRegistered, Agent: agent, Flag: registered}).Err
	}
	return a.setRegistered(agent, registered)
}

func (a *ACD) setRegistered(agent string, registered bool) error {
	return a.updateAgent(agent, func(ag *acdAgent, now time.Time) error {
		if ag.registered == registered {
			return nil
		}
		ag.registered = registered
		if !registered && ag.loggedIn {
			ag.loggedIn = false
			a.log.Info("agent logged out: registration lost", "agent", agent)
			a.emitLocked(Event{At: now, Kind: EventLogout, Agent: agent, Reason: "registration lost"})
		}
		if registered && a.loginOnRegister && !ag.loggedIn {
			a.loginLocked(ag, now)
		}
		return nil
	})
}

func (a *ACD) loginLocked(ag *acdAgent, now time.Time) {
	a.emitLocked(Event{At: now, Kind: EventLogin, Agent: ag.name})
	ag.loggedIn = true
	ag.noAnswers = 0
	if ag.idleSince.IsZero() || ag.idleSince.Before(now) {
		ag.idleSince = now
		a.reorderAgent(ag)
	}
}

// Login makes an agent take calls. The phone must be registered.
func (a *ACD) Login(agent string) error {
	if a.repl != nil {
		return a.submit(Op{Kind: opLogin, Agent: agent}).Err
	}
	return a.login(agent)
}

func (a *ACD) login(agent string) error {
	return a.updateAgent(agent, func(ag *acdAgent, now time.Time) error {
		if !ag.registered {
			return ErrNotRegistered
		}
		if !ag.loggedIn {
			a.loginLocked(ag, now)
			a.log.Info("agent logged in", "agent", agent)
		}
		return nil
	})
}

// Logout stops an agent taking calls (a call in progress goes on).
func (a *ACD) Logout(agent string) error {
	if a.repl != nil {
		return a.submit(Op{Kind: opLogout, Agent: agent}).Err
	}
	return a.logout(agent)
}

func (a *ACD) logout(agent string) error {
	return a.updateAgent(agent, func(ag *acdAgent, now time.Time) error {
		if ag.loggedIn {
			a.emitLocked(Event{At: now, Kind: EventLogout, Agent: agent})
		}
		ag.loggedIn, ag.paused, ag.pauseReason = false, false, ""
		a.log.Info("agent logged out", "agent", agent)
		return nil
	})
}

// Pause stops offers to a logged-in agent, with a reason (break, lunch,
// training...). A call in progress goes on; the pause starts after it.
func (a *ACD) Pause(agent, reason string) error {
	if a.repl != nil {
		return a.submit(Op{Kind: opPause, Agent: agent, Text: reason}).Err
	}
	return a.pause(agent, reason)
}

func (a *ACD) pause(agent, reason string) error {
	return a.updateAgent(agent, func(ag *acdAgent, now time.Time) error {
		if !ag.loggedIn {
			return ErrNotLoggedIn
		}
		if !ag.paused || ag.pauseReason != reason {
			a.emitLocked(Event{At: now, Kind: EventPause, Agent: agent, Reason: reason})
		}
		ag.paused, ag.pauseReason = true, reason
		a.log.Info("agent paused", "agent", agent, "reason", reason)
		return nil
	})
}

// Unpause lets a paused agent take calls again.
func (a *ACD) Unpause(agent string) error {
	if a.repl != nil {
		return a.submit(Op{Kind: opUnpause, Agent: agent}).Err
	}
	return a.unpause(agent)
}

func (a *ACD) unpause(agent string) error {
	return a.updateAgent(agent, func(ag *acdAgent, now time.Time) error {
		if !ag.loggedIn {
			return ErrNotLoggedIn
		}
		if ag.paused {
			a.emitLocked(Event{At: now, Kind: EventUnpause, Agent: agent})
		}
		ag.paused, ag.pauseReason, ag.noAnswers = false, "", 0
		a.log.Info("agent unpaused", "agent", agent)
		return nil
	})
}

// EndWrapUp ends an agent's after-call work early ("ready").
func (a *ACD) EndWrapUp(agent string) error {
	if a.repl != nil {
		return a.submit(Op{Kind: opEndWrapUp, Agent: agent}).Err
	}
	return a.endWrapUp(agent)
}

func (a *ACD) endWrapUp(agent string) error {
	return a.updateAgent(agent, func(ag *acdAgent, now time.Time) error {
		if now.Before(ag.wrapUntil) {
			ag.wrapUntil = now
			ag.idleSince = now
			a.reorderAgent(ag)
		}
		return nil
	})
}

// wrapUpEndedLocked reports the end of an agent's wrap-up (its time
// ran out, or the agent ended it early: wrapUntil is then when) with the
// time it took, for the call it followed.
func (a *ACD) wrapUpEndedLocked(ag *acdAgent) {
	end := ag.wrapUntil
	ag.wrapping = false
	a.emitLocked(Event{At: end, Kind: EventWrapUp, CallID: ag.last.CallID, Queue: ag.last.Queue, Agent: ag.name,
		Duration: end.Sub(ag.last.Ended)})
}

// ---- calls ----

// Enqueue puts a call in its queue (or, when the queue is full, in its
// overflow queue) and offers it an agent as soon as one is eligible. Get
// offers with Next.
func (a *ACD) Enqueue(r CallRequest) (*QueuedCall, error) {
	if a.repl != nil {
		res := a.submit(Op{Kind: opEnqueue, Req: &r})
		return res.Call, res.Err
	}
	return a.enqueue(r)
}

func (a *ACD) enqueue(r CallRequest) (*QueuedCall, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if _, dup := a.calls[r.ID]; dup {
		return nil, ErrDuplicateCall
	}
	q := a.qByName[r.Queue]
	if q == nil || q.retired {
		return nil, fmt.Errorf("%w: %q", ErrUnknownQueue, r.Queue)
	}
	for hops := 0; q.def.MaxLength > 0 && q.count >= q.def.MaxLength; hops++ {
		q.stats.overflowed++
		if q.overflow == nil || hops > len(a.queues) {
			return nil, fmt.Errorf("%w: %s", ErrQueueFull, q.def.Name)
		}
		q = q.overflow
	}
	if w := q.def.WhenEmpty.Join; w != "" && w != config.EmptyJoin && !q.staffed() {
		return nil, fmt.Errorf("%w: %s", ErrQueueEmpty, q.def.Name)
	}
	now := a.now()
	a.seq++
	c := &QueuedCall{
		acd: a, id: r.ID, caller: r.Caller, priority: r.Priority, seq: a.seq, front: r.Front,
		notify: make(chan struct{}, 1), arrived: r.Arrived, entered: now, queuedAt: now,
	}
	if r.Agent != "" {
		ag := a.byName[r.Agent]
		switch {
		case ag == nil:
			return nil, fmt.Errorf("%w: %q", ErrUnknownAgent, r.Agent)
		case !ag.avail:
			return nil, fmt.Errorf("%w: %s", ErrAgentUnavailable, r.Agent)
		}
		c.only = ag
	}
	if c.arrived.IsZero() || c.arrived.After(now) {
		c.arrived = now
	}
	if r.Caller != "" {
		if rec, ok := a.abandoned[r.Caller]; ok {
			delete(a.abandoned, r.Caller)
			if now.Sub(rec.at) <= a.rejoin && rec.queue == q && rec.arrived.Before(c.arrived) {
				c.arrived = rec.arrived
			}
		}
	}
	if len(r.Skills) > 0 {
		c.needs = make([]skillNeed, 0, len(r.Skills))
		for _, s := range r.Skills {
			c.needs = append(c.needs, skillNeed{a.skillID(s.Skill), int8(s.Level)})
		}
	}
	if c.only == nil {
		a.setPreferredLocked(c, q, r.Customer, now)
	}
	a.placeLocked(c, q, now)
	c.liveIdx = len(a.live)
	a.live = append(a.live, c)
	a.calls[c.id] = c
	q.stats.entered++
	a.emitLocked(callEvent(EventEnteredQueue, c, now))
	a.dispatchLocked(now)
	return c, nil
}

func (a *ACD) setPreferredLocked(c *QueuedCall, q *acdQueue, cust directory.Customer, now time.Time) {
	if q.def.PreferredAgent.Timeout <= 0 || cust.LastAgent == "" || !slices.Contains(q.prefSegs, cust.Segment) {
		return
	}
	ag := a.byName[cust.LastAgent]
	if ag == nil || !ag.loggedIn || ag.posIn(q) < 0 {
		return
	}
	c.pref, c.prefUntil = ag, now.Add(q.def.PreferredAgent.Timeout)
}

// placeLocked makes q the call's queue.
func (a *ACD) placeLocked(c *QueuedCall, q *acdQueue, now time.Time) {
	c.queue, c.queuedAt, c.level, c.next = q, now, 0, time.Time{}
	c.lists = append(c.lists[:0], q)
	q.insert(c)
	q.count++
	c.state = callWaiting
	a.indexCallLocked(c)
	a.markCall(c)
}

func (a *ACD) unlistLocked(c *QueuedCall) {
	a.unindexCallLocked(c)
	c.cls = c.cls[:0]
	for _, q := range c.lists {
		q.remove(c)
	}
	c.lists = c.lists[:0]
	if c.queue != nil {
		c.queue.count--
	}
}

func (a *ACD) finishLocked(c *QueuedCall, err error) {
	c.state = callDone
	c.err = err
	last := a.live[len(a.live)-1]
	a.live[c.liveIdx] = last
	last.liveIdx = c.liveIdx
	a.live[len(a.live)-1] = nil
	a.live = a.live[:len(a.live)-1]
	delete(a.calls, c.id)
	c.wake()
}

func (c *QueuedCall) wake() {
	select {
	case c.notify <- struct{}{}:
	default:
	}
}

// eligibleLocked says whether an available agent may be offered c now.
func (a *ACD) eligibleLocked(ag *acdAgent, c *QueuedCall, now time.Time) bool {
	if !ag.avail || c.only != nil && ag != c.only {
		return false
	}
	if c.pref != nil && ag != c.pref && now.Before(c.prefUntil) {
		return false
	}
	for _, n := range c.needs {
		if ag.level(n.id) < n.level {
			return false
		}
	}
	for _, t := range c.tried {
		if t.a == ag && now.Before(a.until(t)) {
			return false
		}
	}
	return true
}

// idleTieBefore breaks ties between agents with the same strategy key:
// the longest idle, then by name.
func idleTieBefore(x, y *acdAgent) bool {
	if !x.idleSince.Equal(y.idleSince) {
		return x.idleSince.Before(y.idleSince)
	}
	return x.name < y.name
}

func (a *ACD) offerLocked(c *QueuedCall, ags []*acdAgent, now time.Time) {
	a.unindexCallLocked(c)
	c.state = callOffered
	c.offer = append(c.offer[:0], ags...)
	c.pending = true
	c.preferred = c.pref != nil && len(ags) == 1 && ags[0] == c.pref && now.Before(c.prefUntil)
	c.offeredAt = now
	for _, ag := range ags {
		ag.call, ag.connected = c, false
		a.refreshLocked(ag, now)
		ev := callEvent(EventOffered, c, now)
		ev.Agent = ag.name
		a.emitLocked(ev)
	}
	if c.queue.def.Strategy == config.StrategyRoundRobin {
		if p := ags[0].posIn(c.queue); p >= 0 {
			c.queue.rrLast = p
		}
	}
	c.wake()
}

// dispatchLocked makes every offer that has become possible. The
// candidates are the calls that became waiting (dirty calls) and, for each
// agent that became available (dirty agents), the best call it may take.
// The best-ranked candidate is served first, by its queue's strategy, so
// that an agent never goes to a call while a better-ranked waiting call
// could have had them. Agents not dirty are, by this invariant, eligible
// for no call that is not dirty.
func (a *ACD) dispatchLocked(now time.Time) {
	for guard := 0; guard < 10_000_000; guard++ {
		var best *QueuedCall
		for i := 0; i < len(a.dirtyAgents); {
			ag := a.dirtyAgents[i]
			if ag.avail && (ag.cand == nil || ag.cand.state != callWaiting) {
				ag.cand = a.bestCallLocked(ag, now)
			}
			if !ag.avail || ag.cand == nil {
				last := len(a.dirtyAgents) - 1
				a.dirtyAgents[i] = a.dirtyAgents[last]
				a.dirtyAgents[last] = nil
				a.dirtyAgents = a.dirtyAgents[:last]
				ag.dirty, ag.cand = false, nil
				continue
			}
			if best == nil || before(ag.cand, best) {
				best = ag.cand
			}
			i++
		}
		if n := len(a.dirtyCalls); n > 1 && !a.dirtySorted {
			// Best call last: it is served first.
			slices.SortFunc(a.dirtyCalls, func(x, y *QueuedCall) int {
				if before(x, y) {
					return 1
				}
				return -1
			})
			a.dirtySorted = true
		}
		for n := len(a.dirtyCalls); n > 0; n = len(a.dirtyCalls) {
			c := a.dirtyCalls[n-1]
			if c.state == callWaiting && c != best {
				if best == nil || before(c, best) {
					best = c
				}
				break
			}
			a.dirtyCalls[n-1] = nil
			a.dirtyCalls = a.dirtyCalls[:n-1]
			c.dirty = false
		}
		if best == nil {
			return
		}
		if n := len(a.dirtyCalls); n > 0 && a.dirtyCalls[n-1] == best {
			a.dirtyCalls[n-1] = nil
			a.dirtyCalls = a.dirtyCalls[:n-1]
			best.dirty = false
		}
		picked := a.pickAgentsLocked(best, now)
		if len(picked) == 0 {
			// Only a dirty call can find nobody; it was popped above. A
			// candidate always has its agent: should it not, forget those
			// agents so that this cannot loop.
			kept := a.dirtyAgents[:0]
			for _, ag := range a.dirtyAgents {
				if ag.cand == best {
					ag.dirty, ag.cand = false, nil
					continue
				}
				kept = append(kept, ag)
			}
			clear(a.dirtyAgents[len(kept):])
			a.dirtyAgents = kept
			continue
		}
		a.offerLocked(best, picked, now)
	}
}

// Next waits for the call's next offer. It returns ErrMaxWait when the
// call waited past its queue's maximum wait with no overflow, ErrCallEnded
// once the call is answered or has left, and ctx's error when ctx ends
// first (the call stays queued: call Next again, or Abandon).
func (c *QueuedCall) Next(ctx context.Context) (Offer, error) {
	a := c.acd
	var refused []string // by the Guard since the last wait
	for {
		a.mu.Lock()
		if c.pending {
			c.pending = false
			o := Offer{Agents: make([]string, len(c.offer)), Queue: c.queue.def.Name,
				RingTimeout: c.queue.def.RingTimeout, Preferred: c.preferred}
			for i, ag := range c.offer {
				o.Agents[i] = ag.name
			}
			a.mu.Unlock()
			if a.guard == nil {
				return o, nil
			}
			offered := o.Agents
			if o.Agents = c.reserve(o.Agents); len(o.Agents) > 0 {
				return o, nil
			}
			refused = append(refused, offered...)
			// Every agent is held elsewhere. Withdrawing the offer may
			// have offered the call others already: take them at once.
			// Otherwise (or when the same agents are offered again) wait
			// a little for the call's next offer.
			if c.offeredOthers(refused) {
				continue
			}
			refused = refused[:0]
			select {
			case <-time.After(guardBackoff):
			case <-ctx.Done():
				return Offer{}, ctx.Err()
			}
			continue
		}
		state, err := c.state, c.err
		a.mu.Unlock()
		switch {
		case state == callDone && err != nil:
			return Offer{}, err
		case state == callDone || state == callConnected:
			return Offer{}, ErrCallEnded
		}
		select {
		case <-c.notify:
		case <-ctx.Done():
			return Offer{}, ctx.Err()
		}
	}
}

// offeredOthers says whether c has a new offer with an agent not in
// refused.
func (c *QueuedCall) offeredOthers(refused []string) bool {
	a := c.acd
	a.mu.Lock()
	defer a.mu.Unlock()
	if !c.pending {
		return false
	}
	for _, ag := range c.offer {
		if !slices.Contains(refused, ag.name) {
			return true
		}
	}
	return false
}

func (c *QueuedCall) offering(ag *acdAgent) int {
	if c.state != callOffered {
		return -1
	}
	for i, x := range c.offer {
		if x == ag {
			return i
		}
	}
	return -1
}

// Answered records that an offered agent took the call. Other agents of a
// ring-all offer are freed at once (stop ringing them); a late report of
// theirs gets ErrNotOffered.
func (c *QueuedCall) Answered(agent string) error {
	a := c.acd
	// The other agents of a ring-all offer: their reservations go before
	// the change that frees them (as in Hangup), not at their lease's
	// end nor after the change: once a replica applied it, another node
	// may offer them its waiting call at once.
	others := c.held(agent)
	c.release(others)
	var err error
	if a.repl != nil {
		err = a.submit(Op{Kind: opAnswered, Call: c.id, Agent: agent}).Err
	} else {
		err = c.answered(agent)
	}
	if err != nil {
		c.rereserve(others) // still rung for this call
	}
	return err
}

// rereserve reserves again those of agents c still offers (a change
// that was to free them failed after their reservations were released).
func (c *QueuedCall) rereserve(agents []string) {
	a := c.acd
	if a.guard == nil || len(agents) == 0 {
		return
	}
	still := c.offered()
	for _, ag := range agents {
		if !slices.Contains(still, ag) {
			continue
		}
		if ok, err := a.guard.Reserve(ag, c.id); !ok || err != nil {
			a.log.Warn("reservation not restored: the agent is held elsewhere", "call_id", c.id, "agent", ag, "error", err)
			continue
		}
		c.noteReserved(ag)
	}
}

func (c *QueuedCall) answered(agent string) error {
	a := c.acd
	a.mu.Lock()
	defer a.mu.Unlock()
	ag := a.byName[agent]
	if ag == nil || c.offering(ag) < 0 {
		return ErrNotOffered
	}
	now := a.now()
	for _, o := range c.offer {
		if o != ag {
			o.call = nil
			a.refreshLocked(o, now)
		}
	}
	c.offer = c.offer[:0]
	c.pending = false
	a.unlistLocked(c)
	c.state, c.agent, c.answeredAt = callConnected, ag, now
	ag.connected = true
	ag.calls++
	ag.noAnswers = 0
	q := c.queue
	q.stats.answered++
	q.stats.answeredWait += now.Sub(c.entered)
	ev := callEvent(EventConnected, c, now)
	ev.Agent, ev.Duration = agent, now.Sub(c.entered)
	a.emitLocked(ev)
	a.dispatchLocked(now)
	return nil
}

// NoAnswer records that an offered agent did not take the call (rang out,
// busy, rejected, unreachable). The agent is not offered this call again
// within the retry delay and is paused after too many in a row. When no
// offered agent is left the call waits again at its place.
func (c *QueuedCall) NoAnswer(agent string) error {
	c.release([]string{agent}) // first: see Hangup
	if a := c.acd; a.repl != nil {
		return a.submit(Op{Kind: opNoAnswer, Call: c.id, Agent: agent}).Err
	}
	return c.noAnswer(agent, true)
}

// Withdraw ends agent's offer of c because her reservation for it was
// lost: the Guard found her held by another offer (after Redis was out
// of reach for longer than a reservation's lease). It is not counted as
// unanswered; she is left out of c's offers for guardRetry, as when the
// Guard refuses her, and the call waits for another agent.
func (c *QueuedCall) Withdraw(agent string) error {
	c.release([]string{agent})
	return c.refused(agent)
}

// noAnswer ends agent's offer of c; penalty counts it as unanswered
// (auto-pause), else the agent was held elsewhere (Guard).
func (c *QueuedCall) noAnswer(agent string, penalty bool) error {
	a := c.acd
	a.mu.Lock()
	defer a.mu.Unlock()
	ag := a.byName[agent]
	i := -1
	if ag != nil {
		i = c.offering(ag)
	}
	if i < 0 {
		return ErrNotOffered
	}
	now := a.now()
	c.offer = append(c.offer[:i], c.offer[i+1:]...)
	ag.call = nil
	if penalty {
		ag.noAnswers++
		ev := callEvent(EventRingNoAnswer, c, now)
		ev.Agent, ev.Duration = agent, now.Sub(c.offeredAt)
		a.emitLocked(ev)
	}
	if penalty && a.autoPause > 0 && ag.noAnswers >= a.autoPause && ag.loggedIn {
		if !ag.paused {
			a.emitLocked(Event{At: now, Kind: EventPause, Agent: agent, Reason: PauseNoAnswer})
		}
		before := ag.savedAgent()
		ag.paused, ag.pauseReason = true, PauseNoAnswer
		a.noteSaved(ag, before)
		a.log.Warn("agent paused after unanswered offers", "agent", ag.name, "in_a_row", ag.noAnswers)
	}
	if !penalty || a.retryDelay > 0 {
		c.tried = append(c.tried, tried{a: ag, at: now, refused: !penalty})
	}
	c.next = time.Time{}
	if c.pref == ag {
		c.pref = nil
	}
	if len(c.offer) == 0 {
		c.state = callWaiting
		c.pending = false
		a.indexCallLocked(c)
		a.markCall(c)
	}
	a.refreshLocked(ag, now)
	a.dispatchLocked(now)
	return nil
}

// Abandon records that the caller hung up before an agent took the call.
// Agents being offered it are freed (not counted as no-answer). The wait
// is counted, and a caller who calls again within the rejoin window gets
// this place back. Abandon on a connected call is Hangup.
func (c *QueuedCall) Abandon() {
	c.release(c.held("")) // first: see Hangup
	if a := c.acd; a.repl != nil {
		if res := a.submit(Op{Kind: opAbandon, Call: c.id}); res.Err != nil {
			a.log.Error("abandon not replicated", "call_id", c.id, "error", res.Err)
		}
		return
	}
	c.abandon()
}

func (c *QueuedCall) abandon() {
	a := c.acd
	a.mu.Lock()
	defer a.mu.Unlock()
	now := a.now()
	switch c.state {
	case callDone:
		return
	case callConnected:
		a.hangupLocked(c, now)
		return
	}
	a.emitLocked(a.leavingEvent(EventAbandoned, c, now))
	a.leaveLocked(c, now)
	q := c.queue
	q.stats.abandoned++
	q.stats.abandonedWait += now.Sub(c.entered)
	if c.caller != "" && a.rejoin > 0 {
		a.abandoned[c.caller] = abandonRec{arrived: c.arrived, queue: q, at: now}
	}
	a.finishLocked(c, ErrCallEnded)
	a.dispatchLocked(now)
}

// Requeue moves a waiting call into queue (its own or another), keeping
// its priority, skills and arrival: at the front when front is set. A
// call for one agent (CallRequest.Agent) becomes a call for any agent of
// the queue. It gets ErrNotWaiting unless the call is waiting (report the
// offered agents first), ErrUnknownQueue for a queue that does not exist.
func (c *QueuedCall) Requeue(queue string, front bool) error {
	if a := c.acd; a.repl != nil {
		return a.submit(Op{Kind: opRequeue, Call: c.id, Text: queue, Flag: front}).Err
	}
	return c.requeue(queue, front)
}

func (c *QueuedCall) requeue(queue string, front bool) error {
	a := c.acd
	a.mu.Lock()
	defer a.mu.Unlock()
	if c.state != callWaiting {
		return ErrNotWaiting
	}
	q := a.qByName[queue]
	if q == nil {
		return fmt.Errorf("%w: %q", ErrUnknownQueue, queue)
	}
	now := a.now()
	a.unlistLocked(c)
	c.front, c.only, c.pref = front, nil, nil
	a.placeLocked(c, q, now)
	a.dispatchLocked(now)
	return nil
}

// leaveLocked takes a waiting or offered call out of its queue.
func (a *ACD) leaveLocked(c *QueuedCall, now time.Time) {
	for _, o := range c.offer {
		o.call = nil
		a.refreshLocked(o, now)
	}
	c.offer = c.offer[:0]
	c.pending = false
	a.unlistLocked(c)
}

// RequestCallback takes a waiting caller out of the queue in exchange for
// a callback that keeps their place: it is stored (when the ACD has a
// callback store) with the call's original arrival time, to be enqueued
// again by the dialer with that time.
func (c *QueuedCall) RequestCallback(number string) (callbacks.Callback, error) {
	a := c.acd
	c.release(c.held("")) // first: see Hangup
	var cb callbacks.Callback
	if a.repl != nil {
		res := a.submit(Op{Kind: opCallback, Call: c.id, Text: number})
		if res.Err != nil {
			return callbacks.Callback{}, res.Err
		}
		cb = res.Callback
	} else {
		var err error
		if cb, err = c.requestCallback(number); err != nil {
			return callbacks.Callback{}, err
		}
	}
	// Only the node that asked stores the callback: its dialer calls back.
	if a.callbacks == nil {
		return cb, nil
	}
	return a.callbacks.Add(cb)
}

func (c *QueuedCall) requestCallback(number string) (callbacks.Callback, error) {
	a := c.acd
	a.mu.Lock()
	defer a.mu.Unlock()
	if c.state != callWaiting && c.state != callOffered {
		return callbacks.Callback{}, ErrCallEnded
	}
	now := a.now()
	a.emitLocked(a.leavingEvent(EventCallbackRequest, c, now))
	a.leaveLocked(c, now)
	q := c.queue
	q.stats.callbacks++
	cb := callbacks.Callback{Kind: callbacks.Queued, Number: number, Queue: q.def.Name, Priority: c.priority,
		Arrived: c.arrived, Due: now, Reason: "caller asked"}
	a.finishLocked(c, ErrCallEnded)
	a.dispatchLocked(now)
	return cb, nil
}

// Hangup records that a connected call ended. The agent goes to wrap-up
// for the queue's wrap-up time, then becomes available.
func (c *QueuedCall) Hangup() error {
	// The reservations go before the change that frees the agents: once
	// a replica applied it, another node may offer them a call at once,
	// and the reservation still held would refuse that offer (and keep
	// its caller waiting guardBackoff).
	c.release(c.held(""))
	if a := c.acd; a.repl != nil {
		return a.submit(Op{Kind: opHangup, Call: c.id}).Err
	}
	return c.hangup()
}

func (c *QueuedCall) hangup() error {
	a := c.acd
	a.mu.Lock()
	defer a.mu.Unlock()
	if c.state != callConnected {
		return ErrNotConnected
	}
	a.hangupLocked(c, a.now())
	return nil
}

func (a *ACD) hangupLocked(c *QueuedCall, now time.Time) {
	ag := c.agent
	talk := now.Sub(c.answeredAt)
	wrap := c.queue.def.WrapUp
	ag.call, ag.connected = nil, false
	ag.last = LastCall{CallID: c.id, Queue: c.queue.def.Name, Ended: now}
	ag.talk += talk
	ag.wrapUntil, ag.wrapping = now.Add(wrap), true
	ag.idleSince = ag.wrapUntil
	c.queue.addHandle(talk + wrap)
	a.refreshLocked(ag, now) // a wrap-up of 0 ends at once
	a.finishLocked(c, nil)
	a.dispatchLocked(now)
}

// Close ends the call whatever its state: abandoned while waiting or
// ringing, hung up when connected. Safe to call more than once (defer it).
func (c *QueuedCall) Close() { c.Abandon() }

// CallStatus is a snapshot of one queued call.
type CallStatus struct {
	ID    string `json:"id"`
	Queue string `json:"queue"`
	// State is waiting, ringing, connected or ended.
	State string `json:"state"`
	// Position counts the calls ahead (0: next).
	Position      int           `json:"position"`
	EstimatedWait time.Duration `json:"estimated_wait"`
	Waited        time.Duration `json:"waited"`
	Agent         string        `json:"agent,omitempty"`
	Priority      int           `json:"priority"`
}

var callStateNames = [...]string{"waiting", "ringing", "connected", "ended"}

// Status returns the call's place and estimated wait (for announcements).
// The estimate is the queue's recent average handle time times the
// position, shared among the agents logged in and not paused.
func (c *QueuedCall) Status() CallStatus {
	a := c.acd
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.statusLocked(c, a.now())
}

func (a *ACD) statusLocked(c *QueuedCall, now time.Time) CallStatus {
	s := CallStatus{ID: c.id, Queue: c.queue.def.Name, State: callStateNames[c.state], Priority: c.priority,
		Waited: now.Sub(c.entered)}
	if c.agent != nil {
		s.Agent = c.agent.name
	}
	if c.state != callWaiting && c.state != callOffered {
		return s
	}
	q := c.queue
	s.Position = q.position(c)
	staffed := 0
	for _, m := range q.members {
		if m.loggedIn && !m.paused {
			staffed++
		}
	}
	s.EstimatedWait = q.avgHandle() * time.Duration(s.Position+1) / time.Duration(max(staffed, 1))
	return s
}

// ---- time ----

// Tick applies everything due at the clock's current time: wrap-ups
// ending, the preferred-agent window closing, retry delays passing,
// escalation steps, maximum waits (overflow or ErrMaxWait), expired
// rejoin records. Run calls it periodically; tests call it after moving a
// fake clock.
func (a *ACD) Tick() {
	if a.repl != nil && a.ticker != nil && !a.ticker() {
		return // another node ticks the shared ACD
	}
	if a.repl != nil {
		if res := a.submit(Op{Kind: opTick}); res.Err != nil {
			a.log.Warn("tick not replicated", "error", res.Err)
		}
		return
	}
	a.tick()
}

func (a *ACD) tick() {
	a.mu.Lock()
	defer a.mu.Unlock()
	now := a.now()
	for _, ag := range a.agents {
		if !ag.avail && ag.call == nil && !ag.wrapUntil.IsZero() && !now.Before(ag.wrapUntil) {
			a.refreshLocked(ag, now) // reports the wrap-up's end
			ag.wrapUntil = time.Time{}
		}
	}
	// Queues whose waiting callers leave when nobody takes calls.
	var empty map[*acdQueue]bool
	for _, q := range a.queues {
		if w := q.def.WhenEmpty.Leave; w != "" && w != config.EmptyStay && q.count > 0 && !q.staffed() {
			if empty == nil {
				empty = map[*acdQueue]bool{}
			}
			empty[q] = true
		}
	}
	for i := 0; i < len(a.live); i++ {
		c := a.live[i]
		if c.state == callWaiting && empty[c.queue] {
			a.unlistLocked(c)
			c.queue.stats.timedOut++
			a.log.Info("caller leaves an empty queue", "call_id", c.id, "queue", c.queue.def.Name)
			a.finishLocked(c, ErrQueueEmpty)
			i-- // finishLocked moved the last live call here
			continue
		}
		if c.state != callWaiting || now.Before(c.next) {
			continue
		}
		q := c.queue
		if c.pref != nil && !now.Before(c.prefUntil) {
			c.pref = nil
			a.markCall(c)
		}
		if len(c.tried) > 0 {
			kept := c.tried[:0]
			for _, t := range c.tried {
				if now.Before(a.until(t)) {
					kept = append(kept, t)
				}
			}
			if len(kept) != len(c.tried) {
				a.markCall(c)
			}
			c.tried = kept
		}
		waited := now.Sub(c.queuedAt)
		for c.level < len(q.esc) && waited >= q.esc[c.level].after {
			a.escalateLocked(c, q.esc[c.level])
			c.level++
			a.markCall(c)
		}
		if waited >= q.def.MaxWait {
			q.stats.overflowed += boolInt(q.overflow != nil)
			a.unlistLocked(c)
			if q.overflow != nil && (q.overflow.def.MaxLength == 0 || q.overflow.count < q.overflow.def.MaxLength) {
				a.log.Info("call overflowed", "call_id", c.id, "from", q.def.Name, "to", q.overflow.def.Name)
				c.pref = nil
				a.placeLocked(c, q.overflow, now)
				continue
			}
			q.stats.timedOut++
			a.finishLocked(c, ErrMaxWait)
			i-- // finishLocked moved the last live call here
			continue
		}
		c.next = a.nextDueLocked(c)
	}
	if len(a.abandoned) > 0 {
		for k, r := range a.abandoned {
			if now.Sub(r.at) > a.rejoin {
				delete(a.abandoned, k)
			}
		}
	}
	a.dispatchLocked(now)
}

// nextDueLocked is the earliest time Tick has something to do for c.
func (a *ACD) nextDueLocked(c *QueuedCall) time.Time {
	q := c.queue
	next := c.queuedAt.Add(q.def.MaxWait)
	if c.level < len(q.esc) {
		next = minTime(next, c.queuedAt.Add(q.esc[c.level].after))
	}
	if c.pref != nil {
		next = minTime(next, c.prefUntil)
	}
	for _, t := range c.tried {
		next = minTime(next, a.until(t))
	}
	return next
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func (a *ACD) escalateLocked(c *QueuedCall, st escStep) {
	a.unindexCallLocked(c)
	defer a.indexCallLocked(c)
	switch {
	case st.drop:
		c.needs = nil
	case st.relax > 0:
		kept := c.needs[:0]
		for _, n := range c.needs {
			n.level -= st.relax
			if n.level > 0 {
				kept = append(kept, n)
			}
		}
		c.needs = kept
	}
	for _, w := range st.widen {
		if !containsQueue(c.lists, w) {
			c.lists = append(c.lists, w)
			w.insert(c)
		}
	}
}

func containsQueue(list []*acdQueue, q *acdQueue) bool {
	for _, x := range list {
		if x == q {
			return true
		}
	}
	return false
}

// Run calls Tick every interval until ctx ends.
func (a *ACD) Run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			a.Tick()
		}
	}
}

// ---- snapshots ----

// AgentInfo is a snapshot of one agent.
type AgentInfo struct {
	Username    string        `json:"username"`
	Name        string        `json:"name"`
	State       AgentState    `json:"state"`
	PauseReason string        `json:"pause_reason,omitempty"`
	Registered  bool          `json:"registered"`
	CallID      string        `json:"call_id,omitempty"`
	Queues      []string      `json:"queues"`
	IdleSince   time.Time     `json:"idle_since,omitzero"`
	Calls       int           `json:"calls"`
	TalkTime    time.Duration `json:"talk_time"`
	// MissedInRow counts offers not answered since the last answered one.
	MissedInRow int `json:"missed_in_row"`
}

func (ag *acdAgent) state(now time.Time) AgentState {
	switch {
	case ag.call != nil && ag.connected:
		return StateOnCall
	case ag.call != nil:
		return StateRinging
	case !ag.loggedIn:
		return StateLoggedOut
	case now.Before(ag.wrapUntil):
		return StateWrapUp
	case ag.paused:
		return StatePaused
	}
	return StateAvailable
}

func (ag *acdAgent) info(now time.Time) AgentInfo {
	i := AgentInfo{Username: ag.name, Name: ag.display, State: ag.state(now), PauseReason: ag.pauseReason,
		Registered: ag.registered, IdleSince: ag.idleSince, Calls: ag.calls, TalkTime: ag.talk, MissedInRow: ag.noAnswers}
	if ag.call != nil {
		i.CallID = ag.call.id
	}
	for _, q := range ag.queues {
		i.Queues = append(i.Queues, q.def.Name)
	}
	return i
}

// Agents returns a snapshot of every agent, in configuration order.
func (a *ACD) Agents() []AgentInfo {
	a.mu.Lock()
	defer a.mu.Unlock()
	now := a.now()
	out := make([]AgentInfo, 0, len(a.agents))
	for _, ag := range a.agents {
		out = append(out, ag.info(now))
	}
	return out
}

// LastCall is the call an agent last finished (for a disposition).
type LastCall struct {
	CallID string
	Queue  string
	Ended  time.Time
}

// LastCall returns the call an agent last finished, while they are not on
// (or offered) another one: the call a wrap-up code is for.
func (a *ACD) LastCall(agent string) (LastCall, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	ag, err := a.agent(agent)
	if err != nil {
		return LastCall{}, err
	}
	if ag.last.CallID == "" || ag.call != nil {
		return LastCall{}, ErrNoLastCall
	}
	return ag.last, nil
}

// Agent returns a snapshot of one agent.
func (a *ACD) Agent(name string) (AgentInfo, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	ag := a.byName[name]
	if ag == nil {
		return AgentInfo{}, false
	}
	return ag.info(a.now()), true
}

// QueueInfo is a snapshot of one queue and its counters since start.
type QueueInfo struct {
	Name        string        `json:"name"`
	Waiting     int           `json:"waiting"`
	LongestWait time.Duration `json:"longest_wait"`
	Available   int           `json:"available"`
	Staffed     int           `json:"staffed"`
	// AvgHandle is the recent average handle time (talk + wrap-up).
	AvgHandle     time.Duration `json:"avg_handle"`
	Entered       int           `json:"entered"`
	Answered      int           `json:"answered"`
	Abandoned     int           `json:"abandoned"`
	TimedOut      int           `json:"timed_out"`
	Overflowed    int           `json:"overflowed"`
	Callbacks     int           `json:"callbacks"`
	AnsweredWait  time.Duration `json:"answered_wait"`
	AbandonedWait time.Duration `json:"abandoned_wait"`
	// Lost counts the calls ended because the node they were on died
	// (several nodes: NodeLost); those still waiting count as abandoned
	// too.
	Lost int `json:"lost"`
}

// Queues returns a snapshot of every queue, in configuration order.
func (a *ACD) Queues() []QueueInfo {
	a.mu.Lock()
	defer a.mu.Unlock()
	now := a.now()
	out := make([]QueueInfo, 0, len(a.queues))
	for _, q := range a.queues {
		qi := QueueInfo{Name: q.def.Name, Waiting: q.count, Available: len(q.avail), AvgHandle: q.avgHandle(),
			Entered: q.stats.entered, Answered: q.stats.answered, Abandoned: q.stats.abandoned,
			TimedOut: q.stats.timedOut, Overflowed: q.stats.overflowed, Callbacks: q.stats.callbacks,
			AnsweredWait: q.stats.answeredWait, AbandonedWait: q.stats.abandonedWait, Lost: q.stats.lost}
		for _, m := range q.members {
			if m.loggedIn && !m.paused {
				qi.Staffed++
			}
		}
		for _, c := range a.live {
			if c.queue == q && (c.state == callWaiting || c.state == callOffered) {
				qi.LongestWait = max(qi.LongestWait, now.Sub(c.entered))
			}
		}
		out = append(out, qi)
	}
	return out
}

// Calls returns a snapshot of every call in the ACD.
func (a *ACD) Calls() []CallStatus {
	a.mu.Lock()
	defer a.mu.Unlock()
	now := a.now()
	out := make([]CallStatus, 0, len(a.live))
	for _, c := range a.live {
		out = append(out, a.statusLocked(c, now))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// Waiting is the number of calls waiting or ringing.
func (a *ACD) Waiting() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	n := 0
	for _, q := range a.queues {
		n += q.count
	}
	return n
}
