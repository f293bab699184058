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
		tt.tl.CallID = "c1"
		r := Build(tt.tl, end, tt.cause)
		if r.Outcome != tt.outcome || r.Wait != tt.wait || r.Talk != tt.talk || r.Cause != tt.cause.Error() ||
			r.CallID != "c1" || !r.Ended.Equal(end) || r.Direction != tt.tl.Direction {
			t.Errorf("%s: outcome %s wait %v talk %v cause %q, want %s %v %v", tt.name, r.Outcome, r.Wait, r.Talk, r.Cause,
				tt.outcome, tt.wait, tt.talk)
		}
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
