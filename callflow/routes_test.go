package callflow

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"hotline/routing/callbacks"
	"hotline/routing/config"
	"hotline/routing/directory"
	"hotline/routing/rules"
)

// routerFunc is a Router.
type routerFunc func(a rules.Attributes, now time.Time) rules.Decision

func (f routerFunc) Decide(a rules.Attributes, now time.Time) rules.Decision { return f(a, now) }

// A call that arrives is routed by who calls (the directory's answer)
// and the number dialled, at its arrival time; an unknown caller is
// routed as unknown.
func TestRouteArrival(t *testing.T) {
	arrived := time.Date(2026, 12, 3, 23, 0, 0, 0, time.UTC)
	var got rules.Attributes
	var at time.Time
	r := &Routes{Router: routerFunc(func(a rules.Attributes, now time.Time) rules.Decision {
		got, at = a, now
		return rules.Decision{Action: config.ActionQueue, Queue: "vip", Rule: "r1"}
	})}
	var c Call[string]
	c.Started(Identity{ID: "a", Caller: "+8490", Arrived: arrived})
	c.RouteArrival(context.Background(), r, config.Hotline{Number: "1900"}, "1900")
	if got.Segment != directory.SegmentUnknown || got.Dialled != "1900" || got.Caller != "+8490" || !at.Equal(arrived) {
		t.Fatalf("unknown caller routed with %+v at %v; want segment %q, dialled 1900, caller +8490 at %v",
			got, at, directory.SegmentUnknown, arrived)
	}
	if d := c.Decision(); d.Queue != "vip" || c.Hotline().Number != "1900" {
		t.Fatalf("decision %+v, hotline %q; want queue vip on 1900", d, c.Hotline().Number)
	}

	r.Customers = func(_ context.Context, number string) directory.Customer {
		return directory.Customer{Number: number, Segment: "gold", Style: "fast", Name: "Lan"}
	}
	var k Call[string]
	k.Started(Identity{ID: "b", Caller: "+8491", Arrived: arrived})
	k.RouteArrival(context.Background(), r, config.Hotline{Number: "1900"}, "1901")
	if got.Segment != "gold" || got.Style != "fast" || got.Dialled != "1901" || k.Customer().Name != "Lan" {
		t.Fatalf("known caller routed with %+v (customer %+v); want segment gold, style fast, dialled 1901",
			got, k.Customer())
	}
}

// A callback's call goes to the callback's queue with its priority and
// shows the customer's name; the call notes the callback's id.
func TestRouteCallback(t *testing.T) {
	p := NewCallbackPlan(callbacks.Callback{ID: "cb1", Number: "+8492", Queue: "sales", Priority: 3},
		directory.Customer{Number: "+8492", Name: "Minh"})
	if p.ID != "cb1" || p.Number != "+8492" || p.Name != "Callback Minh" {
		t.Fatalf("plan %+v; want id cb1, number +8492, name %q", p, "Callback Minh")
	}
	if q := NewCallbackPlan(callbacks.Callback{ID: "cb2"}, directory.Customer{}); q.Name != "Callback" {
		t.Fatalf("plan of an unnamed customer is named %q; want Callback", q.Name)
	}
	var c Call[string]
	c.RouteCallback(config.Hotline{Number: "1900"}, p)
	if d := c.Decision(); d.Action != config.ActionQueue || d.Queue != "sales" || d.Priority != 3 {
		t.Fatalf("callback routed to %+v; want queue sales, priority 3", d)
	}
	if c.CallbackID() != "cb1" || c.Customer().Name != "Minh" {
		t.Fatalf("callback id %q, customer %+v; want cb1, Minh", c.CallbackID(), c.Customer())
	}
}

// A call's routing side: the keypad's answer reroutes and is remembered,
// an empty queue that turns a joining caller away routes it to the
// after-hours decision (a leaving one keeps its decision), and without a
// callback store a callback request says so.
func TestCallRouting(t *testing.T) {
	var styles []string
	r := &Routes{Router: routerFunc(func(rules.Attributes, time.Time) rules.Decision { return rules.Decision{} }),
		SetStyle: func(caller, style string) error {
			styles = append(styles, caller+"="+style)
			return errors.New("directory down") // logged, the call goes on
		}}
	var c Call[string]
	c.Started(Identity{ID: "a", Caller: "+8490"})
	c.Routed(config.Hotline{Number: "1900"}, directory.Customer{Number: "+8490"}, rules.Decision{Action: config.ActionQueue, Queue: "q"})
	m := &liveMetrics{}
	cr := r.For(&c, slog.New(slog.DiscardHandler), m)

	cr.RememberStyle("fast")
	if cr.Customer().Style != "fast" || len(styles) != 1 || styles[0] != "+8490=fast" {
		t.Fatalf("style: customer %+v, remembered %v; want fast for +8490", cr.Customer(), styles)
	}
	cr.Route(rules.Decision{Action: config.ActionQueue, Queue: "billing"}, "billing")
	if cr.Decision().Queue != "billing" || c.Reason() != "billing" {
		t.Fatalf("rerouted to %+v with reason %q; want billing", cr.Decision(), c.Reason())
	}
	closed := rules.Decision{Action: config.ActionMessage, Queue: "billing", Message: "closed"}
	cr.TurnedAway(closed, false)
	if cr.Decision().Action != config.ActionQueue {
		t.Fatalf("a caller leaving an empty queue was rerouted to %+v", cr.Decision())
	}
	cr.TurnedAway(closed, true)
	if d := cr.Decision(); d.Action != closed.Action || d.Message != "closed" || len(m.away) != 2 || m.away[0] != "leave a billing" || m.away[1] != "join a billing" {
		t.Fatalf("turned away: decision %+v, counted %v; want %+v, [leave join] in billing", cr.Decision(), m.away, closed)
	}
	if _, err := cr.RequestCallback(closed); !errors.Is(err, ErrNoCallbackStore) {
		t.Fatalf("callback without a store: %v; want ErrNoCallbackStore", err)
	}
	r.RequestCallback = func(cust directory.Customer, d rules.Decision) (callbacks.Callback, error) {
		return callbacks.Callback{ID: "cb", Number: cust.Number, Queue: d.Queue}, nil
	}
	if cb, err := cr.RequestCallback(closed); err != nil || cb.Number != "+8490" || cb.Queue != "billing" {
		t.Fatalf("callback request: %+v, %v; want +8490 in billing", cb, err)
	}
}

// A callback calls from its hotline when the number is one, else from
// the bare number; the scripts read the routing configuration the
// routes hold.
func TestRoutesHotlines(t *testing.T) {
	rc := &config.Config{Hotlines: []config.Hotline{{Number: "1900", Name: "support"}}}
	r := &Routes{Config: rc}
	if hl := r.CallbackHotline("1900"); hl.Name != "support" {
		t.Fatalf("callback from 1900: hotline %+v; want support", hl)
	}
	if hl := r.CallbackHotline("+842838"); hl.Number != "+842838" || hl.Name != "" {
		t.Fatalf("callback from +842838: hotline %+v; want the bare number", hl)
	}
	if _, ok := r.Hotline("1901"); ok {
		t.Fatal("1901 is no hotline, yet found")
	}
	var c Call[string]
	if cr := r.For(&c, slog.New(slog.DiscardHandler), nil); cr.Routing() != rc {
		t.Fatal("the call's routing configuration is not the routes'")
	}
}

// liveMetrics notes the live calls counted.
type liveMetrics struct {
	CallMetrics // not called here
	away        []string
	offered     []string
}

func (m *liveMetrics) CallOffered(c LiveCall) { m.offered = append(m.offered, c.ID+" "+c.Queue) }
func (m *liveMetrics) QueueEmpty(c LiveCall, when string) {
	m.away = append(m.away, when+" "+c.ID+" "+c.Queue)
}
func (m *liveMetrics) AgentNoAnswer(queue, reason string)            {}
func (m *liveMetrics) Transfer(callID, kind, target, outcome string) {}

// A call's request to the ACD is its routing (queue, priority, segment)
// under its id; it is counted offered in its queue, and its wait counts
// from when it was queued. Without metrics nothing is counted.
func TestCallRoutingQueue(t *testing.T) {
	var c Call[string]
	arrived := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	c.Started(Identity{ID: "a", Caller: "+8490", Arrived: arrived})
	c.Routed(config.Hotline{Number: "1900"}, directory.Customer{Number: "+8490", Segment: "loyal"},
		rules.Decision{Action: config.ActionQueue, Queue: "sales", Priority: 2})
	m := &liveMetrics{}
	cr := (&Routes{}).For(&c, slog.New(slog.DiscardHandler), m)
	if req := cr.Request(); req.ID != "a" || req.Queue != "sales" || req.Priority != 2 || req.Customer.Segment != "loyal" {
		t.Fatalf("request %+v; want call a in sales, priority 2, segment loyal", req)
	}
	cr.Offered()
	if len(m.offered) != 1 || m.offered[0] != "a sales" {
		t.Fatalf("offered %v; want [a sales]", m.offered)
	}
	cr.Queued(arrived.Add(5 * time.Second))
	if got := c.Queued(); !got.Equal(arrived.Add(5 * time.Second)) {
		t.Fatalf("queued at %v; want 5 s after arrival", got)
	}
	(&Routes{}).For(&c, slog.New(slog.DiscardHandler), nil).Offered() // no metrics: nothing to count into
}
