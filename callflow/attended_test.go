package callflow_test

import (
	"errors"
	"testing"

	"hotline/callflow"
	"hotline/callflow/callflowtest"
)

// TestCheckConsult: an agent consults only while on a hotline call, and
// never themselves; a queue's transfer number is fine.
func TestCheckConsult(t *testing.T) {
	for _, tc := range []struct {
		agent  string
		onCall bool
		target string
		want   error
	}{
		{"alice", true, "bob", nil},
		{"alice", true, "", nil}, // a queue
		{"alice", false, "bob", callflow.ErrNoCallToConsult},
		{"alice", false, "", callflow.ErrNoCallToConsult},
		{"alice", true, "alice", callflow.ErrConsultSelf},
	} {
		if err := callflow.CheckConsult(tc.agent, tc.onCall, tc.target); !errors.Is(err, tc.want) || (tc.want == nil && err != nil) {
			t.Errorf("%s consulting %q (on a call %v): %v, want %v", tc.agent, tc.target, tc.onCall, err, tc.want)
		}
	}
}

// TestConsultationReplaces: a REFER + Replaces completes the transfer
// only from the consulting agent on the held call, naming their own leg
// of the consultation, once the target answered; never twice, never
// after the consultation ended.
func TestConsultationReplaces(t *testing.T) {
	bob := &callflowtest.Leg{Name: "bob"}
	ok := callflow.Replaced{AgentLeg: true, Referrer: "alice", OnHeldCall: true}
	cons := callflow.NewConsultation[*callflowtest.Leg]("alice")
	if _, err := cons.Replaceable(ok); !errors.Is(err, callflow.ErrNotConsultation) {
		t.Errorf("before the target answered: %v, want not a consultation", err)
	}
	cons.Connected(bob, nil)
	if b, err := cons.Replaceable(ok); err != nil || b != bob {
		t.Errorf("alice completing: %v, %v; want bob", b, err)
	}
	for what, r := range map[string]callflow.Replaced{
		"another agent":           {AgentLeg: true, Referrer: "carol", OnHeldCall: true},
		"naming the target's leg": {AgentLeg: false, Referrer: "alice", OnHeldCall: true},
		"not on the held call":    {AgentLeg: true, Referrer: "alice", OnHeldCall: false},
	} {
		if _, err := cons.Replaceable(r); !errors.Is(err, callflow.ErrNotConsultation) {
			t.Errorf("%s: %v, want not a consultation", what, err)
		}
	}
	took := 0
	b, _, handed := cons.HandOver(func(l *callflowtest.Leg) bool { took++; return true })
	if !handed || b != bob || took != 1 {
		t.Fatalf("hand over: %v %v (took %d), want bob once", b, handed, took)
	}
	if _, _, again := cons.HandOver(func(*callflowtest.Leg) bool { took++; return true }); again || took != 1 {
		t.Errorf("second hand over: %v (took %d), want refused without touching the leg", again, took)
	}
	if _, err := cons.Replaceable(ok); !errors.Is(err, callflow.ErrNotConsultation) {
		t.Errorf("after the hand-over: %v, want not a consultation", err)
	}
	cons.Transferred()
	select {
	case <-cons.Taken():
	default:
		t.Error("Taken not closed after the transfer")
	}
	if !cons.Close() {
		t.Error("Close after the hand-over: not handed; the target would be hung up")
	}
}

// TestConsultationEnded: once the agent hung up the consultation it can
// no longer be completed (the caller stays held), Close says the target
// is still the consultation's (to hang up), and a leg already gone
// cannot be handed over.
func TestConsultationEnded(t *testing.T) {
	bob := &callflowtest.Leg{Name: "bob"}
	cons := callflow.NewConsultation[*callflowtest.Leg]("alice")
	cons.Connected(bob, nil)
	if _, _, ok := cons.HandOver(func(*callflowtest.Leg) bool { return false }); ok {
		t.Error("handed over a target leg that is gone")
	}
	if cons.Close() {
		t.Error("Close: handed, want the target still the consultation's")
	}
	if _, err := cons.Replaceable(callflow.Replaced{AgentLeg: true, Referrer: "alice", OnHeldCall: true}); !errors.Is(err, callflow.ErrNotConsultation) {
		t.Errorf("after the end: %v, want not a consultation", err)
	}
	if _, _, ok := cons.HandOver(func(*callflowtest.Leg) bool { return true }); ok {
		t.Error("handed over after the end")
	}
}

// TestReferInsideConsultation: some phones REFER in the consultation:
// only the consulting agent, only with Replaces naming their leg of the
// held call, only once the target answered.
func TestReferInsideConsultation(t *testing.T) {
	bob := &callflowtest.Leg{Name: "bob"}
	cons := callflow.NewConsultation[*callflowtest.Leg]("alice")
	good := callflow.ReferInside{FromAgent: true, Replaces: true, NamesHeldLeg: true}
	if _, err := cons.ReferableInside(good); !errors.Is(err, callflow.ErrNotConsultation) {
		t.Errorf("before the target answered: %v", err)
	}
	cons.Connected(bob, nil)
	if b, err := cons.ReferableInside(good); err != nil || b != bob {
		t.Errorf("alice's REFER: %v %v, want bob", b, err)
	}
	for _, tc := range []struct {
		r    callflow.ReferInside
		want error
	}{
		{callflow.ReferInside{FromAgent: false, Replaces: true, NamesHeldLeg: true}, callflow.ErrReferInConsultation},
		{callflow.ReferInside{FromAgent: true}, callflow.ErrReplacesRequired},
		{callflow.ReferInside{FromAgent: true, Replaces: true}, callflow.ErrNoHeldDialog},
	} {
		if _, err := cons.ReferableInside(tc.r); !errors.Is(err, tc.want) {
			t.Errorf("%+v: %v, want %v", tc.r, err, tc.want)
		}
	}
}

// TestConsultationHangUp: whoever hung up is not sent a BYE; the other
// is; a consultation ended otherwise (transferred, held call ended,
// Hotline stopping) hangs both up.
func TestConsultationHangUp(t *testing.T) {
	for _, tc := range []struct {
		cause         error
		agent, target bool
	}{
		{callflow.ErrCallerHangup, false, true}, // the consulting agent hung up: the target is hung up
		{callflow.ErrAgentHangup, true, false},  // the target hung up: the agent's consultation leg is
		{callflow.ErrConsultationDone, true, true},
		{callflow.ErrShutdown, true, true},
	} {
		if a, b := callflow.ConsultationHangUp(tc.cause); a != tc.agent || b != tc.target {
			t.Errorf("%v: BYE agent %v target %v, want %v %v", tc.cause, a, b, tc.agent, tc.target)
		}
	}
}

// TestSemiAttended: while the target rings the consulting agent (only
// they, from the held call, naming their own leg) may complete; marked
// semi-attended, the consultation says so until unmarked; once the
// target answered or the consultation ended it is an ordinary attended
// transfer or none.
func TestSemiAttended(t *testing.T) {
	ok := callflow.Replaced{AgentLeg: true, Referrer: "alice", OnHeldCall: true}
	cons := callflow.NewConsultation[*callflowtest.Leg]("alice")
	if err := cons.Ringing(ok); err != nil {
		t.Errorf("alice completing while bob rings: %v", err)
	}
	if err := cons.Ringing(callflow.Replaced{AgentLeg: true, Referrer: "carol", OnHeldCall: true}); !errors.Is(err, callflow.ErrNotConsultation) {
		t.Errorf("carol completing alice's consultation: %v", err)
	}
	if !cons.SetSemiAttended(true) || !cons.SemiAttended() {
		t.Fatal("not marked semi-attended while ringing")
	}
	cons.SetSemiAttended(false) // the REFER was refused after all
	if cons.SemiAttended() {
		t.Error("still semi-attended after unmarking")
	}
	cons.SetSemiAttended(true)
	bob := &callflowtest.Leg{Name: "bob"}
	cons.Connected(bob, nil)
	select {
	case <-cons.Answered():
	default:
		t.Error("Answered not closed once bob answered")
	}
	if err := cons.Ringing(ok); !errors.Is(err, callflow.ErrNotConsultation) {
		t.Errorf("Ringing after bob answered: %v", err)
	}
	if cons.SetSemiAttended(true) {
		t.Error("marked semi-attended after the answer")
	}

	ended := callflow.NewConsultation[*callflowtest.Leg]("alice")
	ended.Close()
	select {
	case <-ended.Over():
	default:
		t.Error("Over not closed after Close")
	}
	if err := ended.Ringing(ok); !errors.Is(err, callflow.ErrNotConsultation) || ended.SetSemiAttended(true) {
		t.Errorf("semi-attended after the consultation ended: %v", err)
	}
}
