package callflow_test

import (
	"errors"
	"slices"
	"testing"
	"time"

	"hotline/callflow"
	"hotline/callflow/callflowtest"
)

var t0 = time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)

// newTeardown is a caller (who called in) and an agent (whom Hotline
// called), ending at t0+2m.
func newTeardown(answered, agentUp bool) (*callflowtest.Teardown, *callflowtest.ClosingLeg, *callflowtest.ClosingLeg) {
	caller := &callflowtest.ClosingLeg{Role: "caller", Hangup: callflow.ErrCallerHangup}
	agent := &callflowtest.ClosingLeg{Role: "agent", Out: true, Up: agentUp, Hangup: callflow.ErrAgentHangup}
	td := callflowtest.NewTeardown(caller, agent)
	td.Answered = answered
	td.Clock = func() time.Time { return t0.Add(2 * time.Minute) }
	td.Counts = &callflowtest.CallMetrics{}
	td.Line = callflow.Timeline{CallID: "c1", Direction: callflow.DirectionInbound, Hotline: "1900", Queue: "sales",
		Arrived: t0, Queued: t0.Add(10 * time.Second)}
	if answered && agentUp {
		td.Line.Answered, td.Line.Bridged, td.Line.Agent = t0.Add(20*time.Second), t0.Add(20*time.Second), "alice"
	}
	return td, caller, agent
}

// TestCloseOrder: the legs still up are hung up first (BYE to the caller
// when the agent hung up, none to the agent, whose hang-up it was), then
// every leg is released, the recording finished, the call unlisted, its
// record built and counted, handed on, and only then does the call stop
// counting as active.
func TestCloseOrder(t *testing.T) {
	td, caller, agent := newTeardown(true, true)
	callflow.Close(td, callflow.ErrAgentHangup)
	want := []string{"bye caller", "release caller", "release agent", "finish recording", "unlist", "timeline",
		"metrics", "recorded", "inactive"}
	if got := td.Events(); !slices.Equal(got, want) {
		t.Errorf("teardown %q, want %q", got, want)
	}
	if d := caller.ByeDeadline(); d.IsZero() || time.Until(d) > callflow.ByeTimeout {
		t.Errorf("caller's BYE deadline %v: want one within %v", d, callflow.ByeTimeout)
	}
	if !agent.ByeDeadline().IsZero() {
		t.Error("the agent who hung up was sent a BYE")
	}
	r := td.Record()
	if r == nil || r.Outcome != callflow.OutcomeAnswered || r.Cause != callflow.ErrAgentHangup.Error() || r.Agent != "alice" ||
		r.Wait != 10*time.Second || r.Talk != 100*time.Second || !r.Ended.Equal(t0.Add(2*time.Minute)) {
		t.Fatalf("record %+v: want answered by alice, agent hung up, wait 10s, talk 1m40s", r)
	}
	if got, want := td.Counts.Observations(), []string{"queue_wait sales answered 10s", "handle_time sales 1m40s"}; !slices.Equal(got, want) {
		t.Errorf("metrics %q, want %q", got, want)
	}
}

// TestCloseCallerHungUp: nobody sends the caller who hung up a BYE; the
// agent gets one.
func TestCloseCallerHungUp(t *testing.T) {
	td, caller, agent := newTeardown(true, true)
	callflow.Close(td, callflow.ErrCallerHangup)
	if !caller.ByeDeadline().IsZero() || agent.ByeDeadline().IsZero() {
		t.Errorf("events %q: want a BYE to the agent only", td.Events())
	}
}

// TestCloseUnansweredCaller: a caller not answered yet gets the cause's
// final response (503 at shutdown); an agent still ringing gets no BYE;
// the record says failed and the metrics count the queued call as such.
func TestCloseUnansweredCaller(t *testing.T) {
	td, _, _ := newTeardown(false, false)
	callflow.Close(td, callflow.ErrShutdown)
	want := []string{"reject caller 503 Service Unavailable", "release caller", "release agent", "finish recording", "unlist",
		"timeline", "metrics", "recorded", "inactive"}
	if got := td.Events(); !slices.Equal(got, want) {
		t.Errorf("teardown %q, want %q", got, want)
	}
	if r := td.Record(); r == nil || r.Outcome != callflow.OutcomeFailed || r.Wait != 110*time.Second {
		t.Errorf("record %+v: want failed after a wait of 1m50s", r)
	}
	if got, want := td.Counts.Observations(), []string{"queue_wait sales failed 1m50s"}; !slices.Equal(got, want) {
		t.Errorf("metrics %q, want %q", got, want)
	}
}

// TestCloseCallerCancelled: a caller who cancelled gets no final response
// from the teardown; the call is abandoned.
func TestCloseCallerCancelled(t *testing.T) {
	td, caller, _ := newTeardown(false, false)
	caller.Left = true
	callflow.Close(td, callflow.ErrCallerHangup)
	for _, e := range td.Events() {
		if e == "reject caller 480 Temporarily Unavailable" || e == "bye caller" {
			t.Errorf("teardown %q: the caller who left was answered", td.Events())
		}
	}
	if r := td.Record(); r == nil || r.Outcome != callflow.OutcomeAbandoned {
		t.Errorf("record %+v: want abandoned", r)
	}
}

// TestCloseFirstCauseWins: a call that already ended keeps its cause.
func TestCloseFirstCauseWins(t *testing.T) {
	td, _, _ := newTeardown(false, false)
	td.End(callflow.ErrMaxWait)
	callflow.Close(td, callflow.ErrCallerHangup)
	if r := td.Record(); r == nil || r.Cause != callflow.ErrMaxWait.Error() || r.Outcome != callflow.OutcomeTimeout {
		t.Errorf("record %+v: want the maximum wait's timeout", r)
	}
	if ev := td.Events(); !slices.Contains(ev, "reject caller 480 Temporarily Unavailable") {
		t.Errorf("teardown %q: want the caller answered 480", ev)
	}
}

// TestCloseUnlisted: a call never listed (a callback no agent took) has
// its legs released and recording finished, but leaves no record, moves
// no metrics and was never counted active.
func TestCloseUnlisted(t *testing.T) {
	td, _, _ := newTeardown(false, false)
	td.Listed = false
	callflow.Close(td, errors.New("no agent"))
	want := []string{"reject caller 480 Temporarily Unavailable", "release caller", "release agent", "finish recording", "unlist"}
	if got := td.Events(); !slices.Equal(got, want) {
		t.Errorf("teardown %q, want %q", got, want)
	}
	if td.Record() != nil || len(td.Counts.Observations()) != 0 {
		t.Error("an unlisted call left a record or metrics")
	}
}

// TestCloseByesAtOnce: every leg's BYE runs at once, each with its own
// bound: a phone that does not answer its BYE delays the others by
// nothing.
func TestCloseByesAtOnce(t *testing.T) {
	caller := &callflowtest.ClosingLeg{Role: "caller", Hangup: callflow.ErrCallerHangup, ByeWait: true}
	agent := &callflowtest.ClosingLeg{Role: "agent", Out: true, Up: true, Hangup: callflow.ErrAgentHangup}
	td := callflowtest.NewTeardown(caller, agent)
	td.Answered = true
	go callflow.Close(td, callflow.ErrShutdown)
	deadline := time.Now().Add(2 * time.Second)
	for !slices.Contains(td.Events(), "bye agent") {
		if time.Now().After(deadline) {
			t.Fatalf("teardown %q: the agent's BYE waited for the caller's", td.Events())
		}
		time.Sleep(5 * time.Millisecond)
	}
	if slices.Contains(td.Events(), "release agent") {
		t.Errorf("teardown %q: a leg was released before every BYE was done", td.Events())
	}
}
