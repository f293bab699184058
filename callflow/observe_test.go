package callflow_test

import (
	"errors"
	"slices"
	"testing"
	"time"

	"hotline/callflow"
	"hotline/callflow/callflowtest"
	"hotline/survey"
)

func TestObserveCountsWhatTheRecordSays(t *testing.T) {
	t0 := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	five, nine := 5, 9
	queued := callflow.Timeline{CallID: "c1", Hotline: "1900", Queue: "sales", Arrived: t0, Queued: t0.Add(10 * time.Second)}
	bridged := queued
	bridged.Bridged = t0.Add(40 * time.Second)
	bridged.AgentLeft = t0.Add(100 * time.Second)
	bridged.Holds = []callflow.Period{{Start: t0.Add(50 * time.Second), End: t0.Add(60 * time.Second)}}
	surveyed := bridged
	surveyed.Survey = survey.Result{Ran: true, CSAT: &five, NPS: &nine}
	unanswered := bridged
	unanswered.Survey = survey.Result{Ran: true}
	keypad := callflow.Timeline{CallID: "c2", Hotline: "1900", Arrived: t0}
	after := keypad
	after.AfterHours = true
	end := t0.Add(2 * time.Minute)

	for _, tc := range []struct {
		name  string
		t     callflow.Timeline
		cause error
		nps   bool
		want  []string
	}{
		{"after hours counts nothing", after, callflow.ErrAfterHours, true, nil},
		{"hung up in the keypad questions", keypad, callflow.ErrCallerHangup, true, []string{"keypad_abandoned 1900"}},
		{"failed before queueing counts nothing", keypad, callflow.ErrShutdown, true, nil},
		{"abandoned in the queue", queued, callflow.ErrCallerHangup, true, []string{"queue_wait sales abandoned 1m50s"}},
		{"maximum wait", queued, callflow.ErrMaxWait, true, []string{"queue_wait sales timeout 1m50s"}},
		{"shutdown while queued", queued, callflow.ErrShutdown, true, []string{"queue_wait sales failed 1m50s"}},
		{"answered, no survey", bridged, callflow.ErrCallerHangup, true,
			[]string{"queue_wait sales answered 30s", "handle_time sales 1m0s"}},
		{"answered and surveyed", surveyed, callflow.ErrCallerHangup, true,
			[]string{"queue_wait sales answered 30s", "handle_time sales 1m0s", "csat sales 5", "nps sales 9"}},
		{"surveyed without NPS", surveyed, callflow.ErrCallerHangup, false,
			[]string{"queue_wait sales answered 30s", "handle_time sales 1m0s", "csat sales 5"}},
		{"survey unanswered", unanswered, callflow.ErrCallerHangup, true,
			[]string{"queue_wait sales answered 30s", "handle_time sales 1m0s", "no_response sales csat", "no_response sales nps"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := &callflowtest.CallMetrics{}
			callflow.Observe(m, callflow.Build(tc.t, end, tc.cause), tc.nps)
			if got := m.Observations(); !slices.Equal(got, tc.want) {
				t.Errorf("observations %q, want %q", got, tc.want)
			}
		})
	}
}

func TestObserveLeftForCallbackAndNoMetrics(t *testing.T) {
	t0 := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	tl := callflow.Timeline{CallID: "c", Hotline: "1900", Arrived: t0, Queued: t0, LeftForCallback: true}
	m := &callflowtest.CallMetrics{}
	callflow.Observe(m, callflow.Build(tl, t0.Add(time.Minute), errors.New("x")), false)
	if got, want := m.Observations(), []string{"queue_wait 1900 callback 1m0s"}; !slices.Equal(got, want) {
		t.Errorf("observations %q, want %q", got, want)
	}
	callflow.Observe(nil, callflow.Build(tl, t0, callflow.ErrCallerHangup), true) // no metrics: no panic
}
