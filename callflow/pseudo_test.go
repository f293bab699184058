package callflow

import (
	"errors"
	"testing"
	"time"

	"hotline/routing/config"
	"hotline/routing/directory"
	"hotline/routing/rules"
)

// heldCall is a hotline call an agent consults about, or a supervisor
// monitors.
func heldCall(arrived time.Time) *Call[string] {
	c := &Call[string]{}
	c.Started(Identity{ID: "held-1", Direction: DirectionInbound, Caller: "+84901111111", CallerName: "Lan", Arrived: arrived})
	c.Routed(config.Hotline{Number: "1900", Name: "Support"}, directory.Customer{ID: "cust-1", Segment: "vip"},
		rules.Decision{Action: config.ActionQueue, Queue: "general", Priority: 3})
	c.NoteReason("billing")
	return c
}

// A consultation's target is offered the held call's caller, hotline,
// customer, queue and reason, with the consulting agent as who transfers;
// the pseudo call keeps its own dialog's id and is never a call with a
// record of its own, and the held call is not changed.
func TestConsultsShowsTheHeldCall(t *testing.T) {
	t0 := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	held := heldCall(t0)
	var pc Call[string]
	pc.Consults(held, "consult-9", "alice")
	id := pc.Identity()
	if id.ID != "consult-9" || id.Caller != "+84901111111" || id.DisplayName() != "Lan" || !id.Arrived.Equal(t0) || id.Direction != DirectionInbound {
		t.Errorf("consultation identity %+v, want consult-9 with the held call's caller Lan +84901111111 arrived %v", id, t0)
	}
	if hl := pc.Hotline(); hl.Number != "1900" || hl.Name != "Support" {
		t.Errorf("consultation hotline %+v, want 1900 Support", hl)
	}
	if pc.QueueName() != "general" || pc.Customer().Segment != "vip" || pc.Reason() != "billing" || pc.TransferredBy() != "alice" {
		t.Errorf("consultation queue %q segment %q reason %q by %q, want general, vip, billing, alice",
			pc.QueueName(), pc.Customer().Segment, pc.Reason(), pc.TransferredBy())
	}
	if r := pc.Request("x"); r.Priority != 3 || r.Queue != "general" {
		t.Errorf("consultation's ACD request %+v, want the held call's queue and priority", r)
	}
	if !pc.Pseudo() || held.Pseudo() {
		t.Errorf("pseudo: consultation %v, held call %v; want true, false", pc.Pseudo(), held.Pseudo())
	}
	if held.ID() != "held-1" || held.TransferredBy() != "" {
		t.Errorf("held call changed: id %q transferred by %q", held.ID(), held.TransferredBy())
	}
}

// A supervisor's phone is rung with the monitored call's details under
// its id; the supervisor's call is a pseudo call (no record of its own).
func TestSupervisesShowsTheWatchedCall(t *testing.T) {
	t0 := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	watched := heldCall(t0)
	var sc Call[string]
	sc.Supervises(watched)
	if id := sc.Identity(); id.ID != "held-1" || id.Caller != "+84901111111" || !id.Arrived.Equal(t0) {
		t.Errorf("supervisor's call identity %+v, want the watched call's", id)
	}
	if sc.Hotline().Number != "1900" || sc.QueueName() != "general" || sc.Customer().ID != "cust-1" || !sc.Pseudo() {
		t.Errorf("supervisor's call hotline %q queue %q customer %q pseudo %v", sc.Hotline().Number, sc.QueueName(), sc.Customer().ID, sc.Pseudo())
	}
}

// A consultation ends when the held call ends, or when the agent hangs
// up unless a semi-attended transfer waits for the target.
func TestConsultationEnds(t *testing.T) {
	for _, tc := range []struct {
		agentLeft, semi, heldEnded bool
		want                       error
	}{
		{false, false, false, nil},
		{true, false, false, ErrCallerHangup},
		{true, true, false, nil},
		{false, false, true, ErrHeldCallEnded},
		{true, true, true, ErrHeldCallEnded},
	} {
		if got := ConsultationEnds(tc.agentLeft, tc.semi, tc.heldEnded); !errors.Is(got, tc.want) || (got == nil) != (tc.want == nil) {
			t.Errorf("ConsultationEnds(agent left %v, semi %v, held ended %v) = %v, want %v", tc.agentLeft, tc.semi, tc.heldEnded, got, tc.want)
		}
	}
}

// An identity's display name is the caller's name, else their number.
func TestIdentityDisplayName(t *testing.T) {
	if n := (Identity{Caller: "+849"}).DisplayName(); n != "+849" {
		t.Errorf("no name: %q, want the number", n)
	}
	if n := (Identity{Caller: "+849", CallerName: "Lan"}).DisplayName(); n != "Lan" {
		t.Errorf("named: %q, want Lan", n)
	}
}
