package metrics

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// Callback counters keep their labels bounded: unknown results, reasons
// and kinds are folded into error, attempts and other.
func TestCallbackCountersBounded(t *testing.T) {
	m := newTest(t, Options{NoRuntimeMetrics: true})
	m.CallbackAttempt("general", "queued", CallbackBusy)
	m.CallbackAttempt("general", "queued", "486 Busy Here")
	m.CallbackAttempt("", "weird-kind", CallbackAnswered)
	m.CallbackCompleted("general", "follow_up")
	m.CallbackFailed("general", "queued", "something new")
	m.CallbackFailed("general", "queued", CallbackFailInvalidNumber)
	var nilM *Metrics
	nilM.CallbackAttempt("general", "queued", CallbackBusy) // a nil *Metrics records nothing
	for _, tc := range []struct {
		got  float64
		want float64
		what string
	}{
		{testutil.ToFloat64(m.callbacks.attempts.WithLabelValues("general", "queued", CallbackBusy)), 1, "busy"},
		{testutil.ToFloat64(m.callbacks.attempts.WithLabelValues("general", "queued", CallbackError)), 1, "unknown result as error"},
		{testutil.ToFloat64(m.callbacks.attempts.WithLabelValues("unknown", "other", CallbackAnswered)), 1, "no queue, unknown kind"},
		{testutil.ToFloat64(m.callbacks.completed.WithLabelValues("general", "follow_up")), 1, "completed"},
		{testutil.ToFloat64(m.callbacks.failed.WithLabelValues("general", "queued", CallbackFailAttempts)), 1, "unknown reason as attempts"},
		{testutil.ToFloat64(m.callbacks.failed.WithLabelValues("general", "queued", CallbackFailInvalidNumber)), 1, "invalid number"},
	} {
		if tc.got != tc.want {
			t.Errorf("%s: %v, want %v", tc.what, tc.got, tc.want)
		}
	}
	if n := testutil.CollectAndCount(m.callbacks.attempts); n != 3 {
		t.Errorf("%d attempt series, want 3", n)
	}
}
