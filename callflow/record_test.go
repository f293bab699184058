package callflow

import (
	"errors"
	"fmt"
	"testing"
	"time"
)

func TestBuildOutcomes(t *testing.T) {
	t0 := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	end := at(100)
	tests := []struct {
		name    string
		tl      Timeline
		cause   error
		outcome string
		wait    time.Duration
		talk    time.Duration
	}{
		{"answered, caller hung up", Timeline{Arrived: at(0), Queued: at(10), Bridged: at(30)}, ErrCallerHangup,
			OutcomeAnswered, 20 * time.Second, 70 * time.Second},
		{"answered, agent left first (survey)", Timeline{Arrived: at(0), Queued: at(10), Bridged: at(30), AgentLeft: at(60)},
			ErrAgentHangup, OutcomeAnswered, 20 * time.Second, 30 * time.Second},
		{"never queued: wait from arrival", Timeline{Arrived: at(0), Bridged: at(5)}, ErrAgentHangup,
			OutcomeAnswered, 5 * time.Second, 95 * time.Second},
		{"abandoned", Timeline{Arrived: at(0), Queued: at(10)}, ErrCallerHangup, OutcomeAbandoned, 90 * time.Second, 0},
		{"caller media died while waiting", Timeline{Arrived: at(0), Queued: at(10)}, ErrCallerTimeout,
			OutcomeAbandoned, 90 * time.Second, 0},
		{"maximum wait", Timeline{Arrived: at(0), Queued: at(10)}, ErrMaxWait, OutcomeTimeout, 90 * time.Second, 0},
		{"wrapped cause", Timeline{Arrived: at(0), Queued: at(10)}, fmt.Errorf("queue: %w", ErrMaxWait), OutcomeTimeout,
			90 * time.Second, 0},
		{"shutdown", Timeline{Arrived: at(0), Queued: at(10)}, ErrShutdown, OutcomeFailed, 90 * time.Second, 0},
		{"other error", Timeline{Arrived: at(0)}, errors.New("no RTP port"), OutcomeFailed, 100 * time.Second, 0},
		{"left for a callback", Timeline{Arrived: at(0), Queued: at(10), LeftForCallback: true}, ErrCallerHangup,
			OutcomeCallback, 90 * time.Second, 0},
		{"after hours", Timeline{Arrived: at(0), AfterHours: true}, ErrAfterHours, OutcomeAfterHours, 0, 0},
		{"callback, customer not reached", Timeline{Direction: DirectionCallback, Arrived: at(0)},
			errors.New("customer not reached (busy)"), OutcomeFailed, 100 * time.Second, 0},
	}
	for _, tt := range tests {
		tt.tl.CallID, tt.tl.Queue = "c1", "general"
		r := Build(tt.tl, end, tt.cause)
		if r.Outcome != tt.outcome || r.Wait != tt.wait || r.Talk != tt.talk || r.Cause != tt.cause.Error() ||
			r.CallID != "c1" || !r.Ended.Equal(end) || r.Direction != tt.tl.Direction || r.Queue != "general" {
			t.Errorf("%s: outcome %s wait %v talk %v cause %q, want %s %v %v", tt.name, r.Outcome, r.Wait, r.Talk, r.Cause,
				tt.outcome, tt.wait, tt.talk)
		}
	}
}

// The record's hold is the time any leg was on hold between the bridge
// and the first hang-up, overlapping holds (agent and caller both) once;
// the talk is the rest.
func TestBuildHold(t *testing.T) {
	t0 := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	var open time.Time
	tests := []struct {
		name      string
		tl        Timeline
		hold      time.Duration
		talk      time.Duration
		endOfTalk int
	}{
		{"no hold", Timeline{}, 0, 70 * time.Second, 100},
		{"one hold", Timeline{Holds: []Period{{at(40), at(52)}}}, 12 * time.Second, 58 * time.Second, 100},
		{"agent then caller, overlapping", Timeline{Holds: []Period{{at(40), at(50)}, {at(45), at(60)}}}, 20 * time.Second,
			50 * time.Second, 100},
		{"contained, and a later one", Timeline{Holds: []Period{{at(70), at(75)}, {at(40), at(60)}, {at(45), at(50)}}},
			25 * time.Second, 45 * time.Second, 100},
		{"still on hold at the end", Timeline{Holds: []Period{{at(90), open}}}, 10 * time.Second, 60 * time.Second, 100},
		{"held past the agent's leaving (survey)", Timeline{AgentLeft: at(80), Holds: []Period{{at(70), open}}},
			10 * time.Second, 40 * time.Second, 80},
		{"before the bridge", Timeline{Holds: []Period{{at(20), at(35)}}}, 5 * time.Second, 65 * time.Second, 100},
	}
	for _, tt := range tests {
		tt.tl.Arrived, tt.tl.Queued, tt.tl.Bridged = at(0), at(10), at(30)
		r := Build(tt.tl, at(100), ErrCallerHangup)
		if r.Hold != tt.hold || r.Talk != tt.talk || r.Hold+r.Talk != at(tt.endOfTalk).Sub(at(30)) {
			t.Errorf("%s: hold %v talk %v, want %v %v", tt.name, r.Hold, r.Talk, tt.hold, tt.talk)
		}
	}
	// A call no agent took has no hold.
	if r := Build(Timeline{Arrived: at(0), Queued: at(10), Holds: []Period{{at(20), open}}}, at(100), ErrCallerHangup); r.Hold != 0 {
		t.Errorf("unbridged call: hold %v", r.Hold)
	}
}

func TestCauseStatus(t *testing.T) {
	for _, tc := range []struct {
		err    error
		code   int
		reason string
	}{
		{ErrShutdown, 503, "Service Unavailable"},
		{fmt.Errorf("queueing: %w", ErrQueueFull), 486, "Busy Here"},
		{ErrMaxWait, 480, "Temporarily Unavailable"},
		{errors.New("anything else"), 480, "Temporarily Unavailable"},
	} {
		if code, reason := Status(tc.err); code != tc.code || reason != tc.reason {
			t.Errorf("Status(%v) = %d %s, want %d %s", tc.err, code, reason, tc.code, tc.reason)
		}
	}
}

// A monitored call's record lists each supervisor's session with its
// modes in order; a session still open when the call ends ends with it,
// and the record does not share the timeline's slices.
func TestBuildMonitors(t *testing.T) {
	t0 := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	tl := Timeline{Arrived: at(0), Bridged: at(5), Monitors: []Monitoring{
		{Supervisor: "sue", Agent: "alice", Via: MonitorViaCode, Start: at(10), End: at(20),
			Modes: []ModeChange{{"listen", at(10)}, {"whisper", at(15)}}},
		{Supervisor: "sue", Agent: "alice", Via: MonitorViaAPI, Start: at(30),
			Modes: []ModeChange{{"barge", at(30)}}},
	}}
	r := Build(tl, at(60), ErrCallerHangup)
	if len(r.Monitors) != 2 {
		t.Fatalf("monitors %+v, want 2", r.Monitors)
	}
	if m := r.Monitors[0]; m.End != at(20) || len(m.Modes) != 2 || m.Modes[1].Mode != "whisper" || m.Via != MonitorViaCode {
		t.Errorf("first session %+v", m)
	}
	if m := r.Monitors[1]; m.End != at(60) || m.Start != at(30) || m.Modes[0].Mode != "barge" {
		t.Errorf("open session %+v, want ended with the call at %v", m, at(60))
	}
	tl.Monitors[0].Modes[0].Mode = "changed"
	if r.Monitors[0].Modes[0].Mode != "listen" {
		t.Error("the record shares the timeline's modes")
	}
	if r := Build(Timeline{Arrived: at(0)}, at(1), ErrCallerHangup); r.Monitors != nil {
		t.Errorf("an unmonitored call has monitors %+v", r.Monitors)
	}
}
