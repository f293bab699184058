package callflow

import (
	"errors"
	"slices"
	"testing"
	"time"

	"hotline/routing/config"
	"hotline/routing/directory"
	"hotline/routing/rules"
	"hotline/survey"
)

// A call's legs keep the order they joined (a callback's customer comes
// first though it joins last); a leg leaving takes its bridges with it.
func TestCallLegs(t *testing.T) {
	var c Call[string]
	c.AddLeg("agent")
	c.AddLeg("supervisor")
	c.AddFirstLeg("customer")
	if got := c.Legs(); !slices.Equal(got, []string{"customer", "agent", "supervisor"}) {
		t.Fatalf("legs %v, want customer, agent, supervisor", got)
	}
	undone := 0
	c.Bridges.Join("customer", "agent", func() { undone++ })
	if !c.RemoveLeg("agent") || c.HasLeg("agent") {
		t.Fatal("the agent's leg did not leave the call")
	}
	if undone != 1 || c.Bridges.Joined("customer", "agent") {
		t.Errorf("the agent's bridge undone %d times, still joined %v; want once, not joined", undone, c.Bridges.Joined("customer", "agent"))
	}
	if c.RemoveLeg("agent") {
		t.Error("a leg that left was removed again")
	}
	if l, ok := c.Leg(func(l string) bool { return l[0] == 's' }); !ok || l != "supervisor" {
		t.Errorf("first leg starting with s: %q %v, want supervisor", l, ok)
	}
	if _, ok := c.Leg(func(l string) bool { return l == "agent" }); ok {
		t.Error("found a leg that left")
	}
}

// What a call went through, noted in its Call, is what its record
// shows: the first bridge counts for wait and talk after a transfer, the
// last agent is credited, every agent and transfer is listed in order,
// the hold is taken out of the talk.
func TestCallRecord(t *testing.T) {
	t0 := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	var c Call[string]
	c.Started(Identity{ID: "c1", Direction: DirectionInbound, Caller: "+84901111111", Arrived: at(0)})
	c.Routed(config.Hotline{Number: "1900"}, directory.Customer{ID: "cust-1", Segment: "loyal"},
		rules.Decision{Action: config.ActionQueue, Queue: "general", Priority: 2})
	c.AddLeg("caller")
	c.NoteAnswered(at(2))
	c.NoteReason("billing")
	c.NoteQueued(at(5))
	if got := c.NoteConnected("alice", at(15)); !got.Equal(at(15)) {
		t.Errorf("first bridge at %v, want %v", got, at(15))
	}
	c.Holds.Note("alice", true, at(20))
	c.Holds.Note("alice", false, at(30))
	var from string
	c.NoteTransfer(func(st *TransferState) {
		from = st.Blind(Transfer{Kind: "blind", At: at(40), By: "alice", Target: "queue:complaints"}, "complaints")
	})
	if queue := c.QueueName(); from != "general" || queue != "complaints" || c.TransferredBy() != "alice" || c.Reason() != "billing" {
		t.Errorf("after the transfer: queue %q by %q reason %q, want complaints, alice, billing", queue, c.TransferredBy(), c.Reason())
	}
	if got := c.NoteConnected("bob", at(50)); !got.Equal(at(15)) {
		t.Errorf("bridge after the transfer %v, want the first one %v", got, at(15))
	}
	i := c.Monitors.Started(Monitoring{Supervisor: "sue", Agent: "bob", Start: at(55)})
	c.Monitors.Ended(i, at(60))
	c.NoteSurvey(survey.Result{Ran: true})
	c.NoteAgentLeft(at(75))
	c.NoteAgentLeft(at(80)) // the first time counts

	r := Build(c.Timeline(), at(90), ErrCallerHangup)
	if r.Outcome != OutcomeAnswered || r.Agent != "bob" || !slices.Equal(r.Agents, []string{"alice", "bob"}) {
		t.Errorf("record outcome %q agent %q agents %v, want answered, bob, [alice bob]", r.Outcome, r.Agent, r.Agents)
	}
	if r.Wait != 10*time.Second || r.Hold != 10*time.Second || r.Talk != 50*time.Second {
		t.Errorf("wait %v hold %v talk %v, want 10s, 10s, 50s", r.Wait, r.Hold, r.Talk)
	}
	if len(r.Transfers) != 1 || r.Transfers[0].Target != "queue:complaints" || len(r.Monitors) != 1 || r.Monitors[0].Supervisor != "sue" {
		t.Errorf("transfers %+v monitors %+v, want the transfer to complaints and sue's session", r.Transfers, r.Monitors)
	}
	if r.CallID != "c1" || r.Direction != DirectionInbound || r.Caller != "+84901111111" || !r.Arrived.Equal(at(0)) ||
		r.Hotline != "1900" || r.Customer.ID != "cust-1" || r.Queue != "complaints" {
		t.Errorf("record id %q direction %q caller %q arrived %v hotline %q customer %q queue %q, want c1, inbound, +84901111111, %v, 1900, cust-1, complaints (the transfer's)",
			r.CallID, r.Direction, r.Caller, r.Arrived, r.Hotline, r.Customer.ID, r.Queue, at(0))
	}
	if req := c.Request("c1"); req.Queue != "complaints" || req.Priority != 2 || req.Customer.Segment != "loyal" {
		t.Errorf("ACD request after the transfer %+v, want queue complaints, priority 2, segment loyal", req)
	}
	if !r.Answered.Equal(at(2)) || !r.Queued.Equal(at(5)) || !r.AgentLeft.Equal(at(75)) || r.Reason != "billing" || !r.Survey.Ran {
		t.Errorf("record %+v: milestones, reason or survey lost", r)
	}
}

// A caller who left the queue for a callback, and a call transferred to
// one agent who may not take it, as the Call keeps them.
func TestCallCallbackAndReturn(t *testing.T) {
	var c Call[string]
	c.NoteLeftForCallback("cb-7")
	c.ReturnTo("general")
	if q := c.TakeReturnTo(); q != "general" {
		t.Errorf("return queue %q, want general", q)
	}
	if q := c.TakeReturnTo(); q != "" {
		t.Errorf("return queue taken twice: %q", q)
	}
	c.NoteOutside("+84901234567")
	c.Routed(config.Hotline{Number: "1900"}, directory.Customer{}, rules.Decision{Action: config.ActionQueue})
	r := Build(c.Timeline(), time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC), errors.New("hung up"))
	if r.Outcome != OutcomeCallback || r.Callback != "cb-7" || r.Outside != "+84901234567" || c.CallbackID() != "cb-7" {
		t.Errorf("record outcome %q callback %q outside %q, want callback, cb-7, +84901234567", r.Outcome, r.Callback, r.Outside)
	}
}

type order struct{ to string }

func (order) Attended() bool { return false }

// A transfer is ordered only from one of the call's legs, of a call that
// accepts transfers, one at a time; the agent's leaving for the survey is
// signalled once.
func TestCallTransferOrdersAndAgentGone(t *testing.T) {
	var c Call[string]
	c.AddLeg("caller")
	c.AddLeg("alice")
	if err := c.OrderTransfer("alice", order{"bob"}); !errors.Is(err, ErrTransferNotBridged) {
		t.Errorf("transfer of a call that accepts none: %v, want ErrTransferNotBridged", err)
	}
	c.AcceptTransfers()
	if err := c.OrderTransfer("carol", order{"bob"}); !errors.Is(err, ErrTransferNotBridged) {
		t.Errorf("transfer from a leg not in the call: %v, want ErrTransferNotBridged", err)
	}
	if err := c.OrderTransfer("alice", order{"bob"}); err != nil {
		t.Fatal(err)
	}
	if err := c.OrderTransfer("alice", order{"dave"}); !errors.Is(err, ErrTransferBusy) {
		t.Errorf("second transfer while one waits: %v, want ErrTransferBusy", err)
	}
	select {
	case o := <-c.Transfers():
		if o.(order).to != "bob" {
			t.Errorf("the queue loop got the transfer to %q, want bob", o.(order).to)
		}
	default:
		t.Fatal("the queue loop got no transfer")
	}
	gone := c.AgentGone()
	select {
	case <-gone:
		t.Fatal("agent gone before they left")
	default:
	}
	c.ToSurvey()
	c.ToSurvey() // once
	select {
	case <-gone:
	default:
		t.Fatal("agent gone not signalled")
	}
}
