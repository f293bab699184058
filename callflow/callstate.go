package callflow

import (
	"errors"
	"slices"
	"sync"
	"time"

	"hotline/routing/acd"
	"hotline/routing/config"
	"hotline/routing/directory"
	"hotline/routing/rules"
	"hotline/survey"
)

// Call is what call control keeps of one call beyond its SIP dialogs:
// who the call is (Identity), its routing (the hotline dialled, the
// customer, routing's decision), its legs in the order they joined, the
// bridges between them, the legs' holds, the call's milestones, the
// agents connected, the transfers carried out, the supervisors'
// monitoring sessions, the survey's result and the keypad's answers;
// after a transfer, who transferred the call and the queue it goes back
// to; its recording (recorder.go). The call's record is built from it
// (Timeline, then Build). L is the SIP side's leg (sip's *Leg), which
// keeps only the dialogs' I/O.
//
// Its zero value is a call with no leg yet; it is safe for concurrent
// use. It calls nothing outside itself under its lock, so the SIP side
// may call it while holding its own.
type Call[L comparable] struct {
	// Bridges are the bridges between the legs; Holds the legs' holds;
	// Monitors the monitoring sessions. Each has its own lock.
	Bridges  Bridges[L]
	Holds    Holds[L]
	Monitors MonitorLog

	mu   sync.Mutex
	legs []L
	// ident is who the call is (Started); pseudo says it is a
	// consultation's or a supervisor's pseudo call (Consults, Supervises).
	ident  Identity
	pseudo bool
	// hotline is the hotline dialled; customer who calls, as the
	// directory knows them; decision where routing sends the call (its
	// queue changed by a transfer to a queue).
	hotline  config.Hotline
	customer directory.Customer
	decision rules.Decision
	// the call's milestones, zero until reached
	answered, queued, bridged, agentLeft time.Time
	// agent is the last agent connected (CSAT is credited to them);
	// agents every agent connected, in order.
	agent     string
	agents    []string
	transfers []Transfer
	survey    survey.Result
	// reason is the reason chosen in the keypad's menu (or "transfer");
	// callbackID the callback the caller left the queue for
	// (leftForCallback), or the one a callback call places.
	reason          string
	leftForCallback bool
	callbackID      string
	// transferredBy is the agent who last transferred the call; returnTo,
	// while the call waits for the one agent it was transferred to, the
	// queue it goes back to if that agent does not take it; outside the
	// outside number a transfer connected the caller with.
	transferredBy, returnTo, outside string
	// rec is the call's recording, nil when it is not recorded
	// (recorder.go).
	rec Recording
	// agentGone is closed when the bridged agent hung up and the survey
	// follows (ToSurvey); orders receives the call's accepted transfers
	// (nil: the call cannot be transferred).
	agentGone       chan struct{}
	agentGoneClosed bool
	orders          chan TransferOrder
}

// Identity is who a call is: the SIP side keeps none of it.
type Identity struct {
	// ID is the caller's Call-ID, or the one Hotline gave a callback (a
	// consultation's pseudo call: the agent's consultation dialog's).
	ID string
	// Direction is DirectionInbound or DirectionCallback.
	Direction string
	// Caller is the caller's number (a callback's customer's); CallerName
	// their display name ("" if none).
	Caller, CallerName string
	// Arrived is when the call arrived (a callback: when it was set up).
	Arrived time.Time
}

// DisplayName is the caller as agents see them: their name, else their
// number.
func (i Identity) DisplayName() string {
	if i.CallerName != "" {
		return i.CallerName
	}
	return i.Caller
}

// Started notes who the call is.
func (c *Call[L]) Started(id Identity) {
	c.mu.Lock()
	c.ident = id
	c.mu.Unlock()
}

// Identity is who the call is (Started).
func (c *Call[L]) Identity() Identity {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ident
}

// ID is the call's id.
func (c *Call[L]) ID() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ident.ID
}

// Pseudo says whether the call is the pseudo call of a consultation
// (Consults) or of a supervisor (Supervises): never listed with the
// calls in progress, it leaves no record of its own.
func (c *Call[L]) Pseudo() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.pseudo
}

// inherit makes c a pseudo call showing what of other it shows: other's
// identity under id, its routing and reason.
func (c *Call[L]) inherit(other *Call[L], id string) {
	other.mu.Lock()
	ident, hl, cust, d, reason := other.ident, other.hotline, other.customer, other.decision, other.reason
	other.mu.Unlock()
	ident.ID = id
	c.mu.Lock()
	c.pseudo = true
	c.ident, c.hotline, c.customer, c.decision, c.reason = ident, hl, cust, d, reason
	c.mu.Unlock()
}

// Routed notes the call's routing: the hotline dialled, who calls and
// where the rules send the call.
func (c *Call[L]) Routed(hotline config.Hotline, customer directory.Customer, d rules.Decision) {
	c.mu.Lock()
	c.hotline, c.customer, c.decision = hotline, customer, d
	c.mu.Unlock()
}

// Hotline is the hotline dialled (a callback's: the line it calls
// from).
func (c *Call[L]) Hotline() config.Hotline {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.hotline
}

// Customer is who calls.
func (c *Call[L]) Customer() directory.Customer {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.customer
}

// Decision is where routing sends the call.
func (c *Call[L]) Decision() rules.Decision {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.decision
}

// Route makes d where the call goes (the keypad's answers, an empty
// queue's after-hours action).
func (c *Call[L]) Route(d rules.Decision) {
	c.mu.Lock()
	c.decision = d
	c.mu.Unlock()
}

// Reroute makes d where the call goes for reason (the keypad's menu),
// noted in the call's recording if it is recorded.
func (c *Call[L]) Reroute(d rules.Decision, reason string) {
	c.mu.Lock()
	c.decision, c.reason = d, reason
	c.mu.Unlock()
	c.RecordExtra("call_reason", reason)
}

// NoteStyle notes the service style the caller chose.
func (c *Call[L]) NoteStyle(style string) {
	c.mu.Lock()
	c.customer.Style = style
	c.mu.Unlock()
}

// QueueName is the routing queue the call belongs to (the hotline number
// when routing named none).
func (c *Call[L]) QueueName() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.queueName()
}

func (c *Call[L]) queueName() string {
	if c.decision.Queue != "" {
		return c.decision.Queue
	}
	return c.hotline.Number
}

// Request is the call's request to the ACD (acd.RequestFor) under id.
func (c *Call[L]) Request(id string) acd.CallRequest {
	c.mu.Lock()
	defer c.mu.Unlock()
	return acd.RequestFor(id, c.decision, c.customer)
}

// AddLeg makes l the call's last leg.
func (c *Call[L]) AddLeg(l L) {
	c.mu.Lock()
	c.legs = append(c.legs, l)
	c.mu.Unlock()
}

// AddFirstLeg makes l the call's first leg (a callback's customer, who
// joins after the agent).
func (c *Call[L]) AddFirstLeg(l L) {
	c.mu.Lock()
	c.legs = slices.Insert(c.legs, 0, l)
	c.mu.Unlock()
}

// RemoveLeg takes l out of the call and out of its bridges (the bridges
// undone) without hanging it up; false if it was not one of the call's
// legs.
func (c *Call[L]) RemoveLeg(l L) bool {
	c.Bridges.Split(l)
	c.mu.Lock()
	defer c.mu.Unlock()
	i := slices.Index(c.legs, l)
	if i < 0 {
		return false
	}
	c.legs = slices.Delete(c.legs, i, i+1)
	return true
}

// HasLeg reports whether l is one of the call's legs.
func (c *Call[L]) HasLeg(l L) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Contains(c.legs, l)
}

// Leg returns the call's first leg for which is says true (ok false if
// none).
func (c *Call[L]) Leg(is func(L) bool) (l L, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, l := range c.legs {
		if is(l) {
			return l, true
		}
	}
	return l, false
}

// Legs are the call's legs, in the order they joined.
func (c *Call[L]) Legs() []L {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.legs)
}

// NoteAnswered notes when the caller was answered.
func (c *Call[L]) NoteAnswered(at time.Time) {
	c.mu.Lock()
	c.answered = at
	c.mu.Unlock()
}

// NoteQueued notes when the call entered its queue (its wait counts from
// it).
func (c *Call[L]) NoteQueued(at time.Time) {
	c.mu.Lock()
	c.queued = at
	c.mu.Unlock()
}

// Queued is when the call entered its queue (zero: it never did).
func (c *Call[L]) Queued() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.queued
}

// NoteConnected notes that agent was bridged with the caller at: they are
// the call's last agent (CSAT is credited to them) and one more of its
// agents. A transferred call keeps its first bridge (its wait and talk
// count from it). It returns the time of that bridge.
func (c *Call[L]) NoteConnected(agent string, at time.Time) (bridged time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.bridged.IsZero() {
		c.bridged = at
	}
	c.agent = agent
	c.agents = append(c.agents, agent)
	return c.bridged
}

// NoteAgent notes the agent who took the call without counting a bridge
// (a callback's agent, who takes it before the customer answers).
func (c *Call[L]) NoteAgent(agent string) {
	c.mu.Lock()
	c.agent = agent
	c.mu.Unlock()
}

// NoteBridged notes when the call was bridged (a callback's customer
// with its agent, a consultation's agent with its target), apart from
// the agents connected.
func (c *Call[L]) NoteBridged(at time.Time) {
	c.mu.Lock()
	c.bridged = at
	c.mu.Unlock()
}

// Bridged says whether an agent was ever bridged with the caller.
func (c *Call[L]) Bridged() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return !c.bridged.IsZero()
}

// NoteAgentLeft notes when the agent hung up (the first time counts).
func (c *Call[L]) NoteAgentLeft(at time.Time) {
	c.mu.Lock()
	if c.agentLeft.IsZero() {
		c.agentLeft = at
	}
	c.mu.Unlock()
}

// Agent is the call's last agent ("" while none).
func (c *Call[L]) Agent() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.agent
}

// NoteReason notes the call's reason (the keypad's menu).
func (c *Call[L]) NoteReason(reason string) {
	c.mu.Lock()
	c.reason = reason
	c.mu.Unlock()
}

// Reason is the call's reason, "" when none was given.
func (c *Call[L]) Reason() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.reason
}

// NoteLeftForCallback notes the callback (id) the caller left the queue
// for.
func (c *Call[L]) NoteLeftForCallback(id string) {
	c.mu.Lock()
	c.leftForCallback, c.callbackID = true, id
	c.mu.Unlock()
}

// NoteCallback notes the callback a callback call places.
func (c *Call[L]) NoteCallback(id string) {
	c.mu.Lock()
	c.callbackID = id
	c.mu.Unlock()
}

// CallbackID is the callback the caller left the queue for, or the one a
// callback call places ("" if none).
func (c *Call[L]) CallbackID() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.callbackID
}

// NoteSurvey notes the survey's result.
func (c *Call[L]) NoteSurvey(r survey.Result) {
	c.mu.Lock()
	c.survey = r
	c.mu.Unlock()
}

// NoteTransferredBy notes who transferred the call (a consultation's
// pseudo call shows its target the consulting agent).
func (c *Call[L]) NoteTransferredBy(agent string) {
	c.mu.Lock()
	c.transferredBy = agent
	c.mu.Unlock()
}

// TransferredBy is the agent who last transferred the call ("" if none).
func (c *Call[L]) TransferredBy() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.transferredBy
}

// NoteTransfer lets the transfer policy (f: TransferState.Blind,
// TransferState.Attended, LastKind) read and change what a transfer
// changes of the call: its reason, queue (QueueName), last transferring
// agent, transfers, last agent and agents.
func (c *Call[L]) NoteTransfer(f func(*TransferState)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	queue := c.queueName()
	st := TransferState{Reason: c.reason, Queue: queue, By: c.transferredBy,
		Transfers: c.transfers, Agent: c.agent, Agents: c.agents}
	f(&st)
	if st.Queue != queue {
		c.decision.Queue = st.Queue
	}
	c.reason, c.transferredBy, c.transfers, c.agent, c.agents = st.Reason, st.By, st.Transfers, st.Agent, st.Agents
}

// ReturnTo notes the queue a call transferred to one agent goes back to
// if that agent does not take it.
func (c *Call[L]) ReturnTo(queue string) {
	c.mu.Lock()
	c.returnTo = queue
	c.mu.Unlock()
}

// TakeReturnTo returns and clears that queue ("" for other calls).
func (c *Call[L]) TakeReturnTo() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	q := c.returnTo
	c.returnTo = ""
	return q
}

// NoteOutside notes the outside number a transfer connected the caller
// with.
func (c *Call[L]) NoteOutside(number string) {
	c.mu.Lock()
	c.outside = number
	c.mu.Unlock()
}

// Outside is the outside number a transfer connected the caller with, ""
// if none.
func (c *Call[L]) Outside() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.outside
}

// Timeline is what the call went through so far, for its record
// (Build): who called, where to and when (Started, Routed), whether it
// got an after-hours action, its agents, reason, callback, survey,
// milestones, transfers, monitoring sessions, holds, outside number and
// recording.
func (c *Call[L]) Timeline() Timeline {
	var t Timeline
	c.mu.Lock()
	t.CallID, t.Direction, t.Caller, t.Arrived = c.ident.ID, c.ident.Direction, c.ident.Caller, c.ident.Arrived
	t.Hotline, t.Customer, t.Queue = c.hotline.Number, c.customer, c.decision.Queue
	t.AfterHours = c.decision.Action != config.ActionQueue
	t.Agent, t.Reason, t.Callback, t.Survey = c.agent, c.reason, c.callbackID, c.survey
	t.Answered, t.Queued, t.Bridged, t.AgentLeft = c.answered, c.queued, c.bridged, c.agentLeft
	t.LeftForCallback, t.Outside = c.leftForCallback, c.outside
	t.Agents, t.Transfers = slices.Clone(c.agents), slices.Clone(c.transfers)
	rec := c.rec
	c.mu.Unlock()
	t.Monitors = c.Monitors.Sessions()
	t.Holds = c.Holds.Periods()
	if rec != nil && !rec.Failed() { // one that could not start recorded nothing
		t.Recording = rec.Key()
	}
	return t
}

// AgentGone is closed once the bridged agent hung up with the survey to
// follow (ToSurvey).
func (c *Call[L]) AgentGone() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.agentGoneLocked()
}

func (c *Call[L]) agentGoneLocked() chan struct{} {
	if c.agentGone == nil {
		c.agentGone = make(chan struct{})
	}
	return c.agentGone
}

// ToSurvey closes AgentGone (once).
func (c *Call[L]) ToSurvey() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.agentGoneClosed {
		c.agentGoneClosed = true
		close(c.agentGoneLocked())
	}
}

// Refusals of a transfer order (OrderTransfer); the SIP side answers each
// with its own status.
var (
	// ErrTransferNotBridged: the transfer comes from a leg that is not
	// the call's (its agent's leg was taken away), or the call cannot be
	// transferred.
	ErrTransferNotBridged = errors.New("the agent's leg is not bridged to the caller")
	// ErrTransferBusy: a transfer of the call is being carried out.
	ErrTransferBusy = errors.New("a transfer of this call is in progress")
)

// AcceptTransfers makes the call transferable: its queue loop carries
// out the transfers ordered (Transfers), one at a time.
func (c *Call[L]) AcceptTransfers() {
	c.mu.Lock()
	if c.orders == nil {
		c.orders = make(chan TransferOrder, 1)
	}
	c.mu.Unlock()
}

// Transfers are the transfers ordered, for the queue loop (nil for a
// call that cannot be transferred).
func (c *Call[L]) Transfers() <-chan TransferOrder {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.orders
}

// OrderTransfer hands transfer o, asked for from leg from, to the call's
// queue loop: ErrTransferNotBridged if from is not one of the call's legs
// or the call cannot be transferred, ErrTransferBusy while another is
// waiting to be carried out.
func (c *Call[L]) OrderTransfer(from L, o TransferOrder) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.orders == nil || !slices.Contains(c.legs, from) {
		return ErrTransferNotBridged
	}
	select {
	case c.orders <- o:
		return nil
	default:
		return ErrTransferBusy
	}
}
