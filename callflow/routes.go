package callflow

import (
	"context"
	"log/slog"
	"time"

	"hotline/routing/acd"
	"hotline/routing/callbacks"
	"hotline/routing/config"
	"hotline/routing/directory"
	"hotline/routing/rules"
)

// Routes are the routing services of calls: the rules that decide where
// a call goes, the customer directory that says who calls, and the
// callback store. The SIP side holds them only to hand them to calls
// (Call.RouteArrival, Routes.For); it never looks into what they decide.
type Routes struct {
	// Config is the routing configuration: hotline numbers, agents and
	// queue settings; required.
	Config *config.Config
	// Router decides where each call goes (rules, schedules); required.
	Router Router
	// Customers identifies callers by caller ID (segment, language, ...);
	// nil: every caller is unknown. It must return within its own bound.
	Customers func(ctx context.Context, callerID string) directory.Customer
	// SetStyle remembers the service style a caller chose by keypad
	// (directory.Directory.SetStyle); nil: the answer routes this call
	// only.
	SetStyle func(callerID, style string) error
	// RequestCallback stores a callback request for a caller who got the
	// callback action; nil: the action plays its message only.
	RequestCallback func(directory.Customer, rules.Decision) (callbacks.Callback, error)
	// ACD queues calls and picks agents; required.
	ACD *acd.ACD
}

// Hotline is the hotline whose number is number; false for none.
func (r *Routes) Hotline(number string) (config.Hotline, bool) { return r.Config.Hotline(number) }

// CallbackHotline is the hotline a callback calls from (sip.callbacks
// from): its number's, else just the number.
func (r *Routes) CallbackHotline(from string) config.Hotline {
	if hl, ok := r.Config.Hotline(from); ok {
		return hl
	}
	return config.Hotline{Number: from}
}

// RouteArrival routes a call that arrived on hotline hl (dialled: the
// number the caller dialled) at its arrival time: who calls (Customers,
// within ctx), then where the rules send the call.
func (c *Call[L]) RouteArrival(ctx context.Context, r *Routes, hl config.Hotline, dialled string) {
	id := c.Identity()
	cust := directory.Unknown(id.Caller)
	if lookup := r.Customers; lookup != nil {
		cust = lookup(ctx, id.Caller)
	}
	d := r.Router.Decide(rules.Attributes{Segment: cust.Segment, Style: cust.Style,
		Dialled: dialled, Caller: cust.Number}, id.Arrived)
	c.Routed(hl, cust, d)
}

// CallbackPlan is a callback the dialer places, as the SIP side builds
// its call (Line.NewCallback): the numbers and names it shows, and the
// routing it carries on to the call (Call.RouteCallback).
type CallbackPlan struct {
	// ID is the callback's id.
	ID string
	// Number is the customer's number, the one dialled.
	Number string
	// Name is the caller name the agent's phone shows: "Callback" and
	// the customer's name when known.
	Name string

	cb   callbacks.Callback
	cust directory.Customer
}

// NewCallbackPlan is the plan of callback cb to customer cust.
func NewCallbackPlan(cb callbacks.Callback, cust directory.Customer) CallbackPlan {
	name := "Callback"
	if cust.Name != "" {
		name += " " + cust.Name
	}
	return CallbackPlan{ID: cb.ID, Number: cb.Number, Name: name, cb: cb, cust: cust}
}

// Callback is the callback planned.
func (p CallbackPlan) Callback() callbacks.Callback { return p.cb }

// Customer is who is called back.
func (p CallbackPlan) Customer() directory.Customer { return p.cust }

// RouteCallback routes the call of callback p, placed from hotline hl:
// to the callback's queue, with its priority.
func (c *Call[L]) RouteCallback(hl config.Hotline, p CallbackPlan) {
	c.Routed(hl, p.cust, rules.Decision{Action: config.ActionQueue, Queue: p.cb.Queue, Priority: p.cb.Priority})
	c.NoteCallback(p.ID)
}

// RouteState is a call's routing state (Call), as CallRouting sees it.
type RouteState interface {
	Identity() Identity
	ID() string
	Request(id string) acd.CallRequest
	NoteQueued(at time.Time)
	LiveCall() LiveCall
	Customer() directory.Customer
	Decision() rules.Decision
	Route(d rules.Decision)
	Reroute(d rules.Decision, reason string)
	NoteStyle(style string)
}

// CallRouting is one call's side of the routing services: the methods of
// the scripts' calls (ActionCall, KeypadCall, QueueCall, InboundCall)
// that are about where the call goes, who calls and its request to the
// ACD, not about its legs. The SIP side embeds it in its call as the
// scripts see it.
type CallRouting struct {
	routes  *Routes
	state   RouteState
	log     *slog.Logger
	metrics Metrics
}

// For is the routing side of the call whose state is state; m (nil:
// none) counts it offered or turned away.
func (r *Routes) For(state RouteState, log *slog.Logger, m Metrics) *CallRouting {
	return &CallRouting{routes: r, state: state, log: log, metrics: m}
}

// Request is the call's request to the ACD: its id, queue, priority,
// segment and skills as routed so far.
func (r *CallRouting) Request() acd.CallRequest { return r.state.Request(r.state.ID()) }

// Enqueue puts req in the ACD (Routes.ACD).
func (r *CallRouting) Enqueue(req acd.CallRequest) (*QueuedCall, error) {
	qc, err := r.routes.ACD.Enqueue(req)
	return queued(qc), err
}

// Queued notes when the call entered its queue (its wait counts from it).
func (r *CallRouting) Queued(at time.Time) { r.state.NoteQueued(at) }

// Offered counts the call as offered to its queue.
func (r *CallRouting) Offered() {
	if r.metrics != nil {
		r.metrics.CallOffered(r.state.LiveCall())
	}
}

// Customer is who is calling.
func (r *CallRouting) Customer() directory.Customer { return r.state.Customer() }

// Decision is where the rules sent the call.
func (r *CallRouting) Decision() rules.Decision { return r.state.Decision() }

// Router decides where the call goes.
func (r *CallRouting) Router() Router { return r.routes.Router }

// Routing is the routing configuration (Routes.Config).
func (r *CallRouting) Routing() *config.Config { return r.routes.Config }

// Route routes the call again after the keypad questions.
func (r *CallRouting) Route(d rules.Decision, reason string) { r.state.Reroute(d, reason) }

// RememberStyle makes style the caller's (Routes.SetStyle remembers it).
func (r *CallRouting) RememberStyle(style string) {
	r.state.NoteStyle(style)
	if f := r.routes.SetStyle; f != nil {
		if err := f(r.state.Identity().Caller, style); err != nil {
			r.log.Warn("service style not remembered", "style", style, "error", err)
		}
	}
}

// TurnedAway counts a caller an empty queue turns away; joining, the
// call takes the after-hours decision d.
func (r *CallRouting) TurnedAway(d rules.Decision, joining bool) {
	when := "leave"
	if joining {
		when = "join"
	}
	if r.metrics != nil {
		r.metrics.QueueEmpty(r.state.LiveCall(), when)
	}
	if joining {
		r.state.Route(d)
	}
}

// RequestCallback stores a callback request (Routes.RequestCallback).
func (r *CallRouting) RequestCallback(d rules.Decision) (callbacks.Callback, error) {
	f := r.routes.RequestCallback
	if f == nil {
		return callbacks.Callback{}, ErrNoCallbackStore
	}
	return f(r.Customer(), d)
}

// SetRegistered notes whether agent's phone is registered (Routes.ACD):
// losing the registration logs the agent out; with the ACD's
// LoginOnRegister, registering logs them in.
func (r *Routes) SetRegistered(agent string, registered bool) error {
	return r.ACD.SetRegistered(agent, registered)
}

// AgentAction carries out a (an agent's feature code) for agent in the
// ACD (Routes.ACD).
func (r *Routes) AgentAction(a AgentAction, agent string) error { return a.Do(r.ACD, agent) }

// RunACD runs the ACD's timers (Routes.ACD: maximum waits, escalation,
// wrap-up) every interval until ctx ends.
func (r *Routes) RunACD(ctx context.Context, interval time.Duration) { r.ACD.Run(ctx, interval) }
