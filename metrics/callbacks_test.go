package metrics

import (
	"strings"
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

// The in-kernel relay's counters are exposed by result while it runs,
// and not at all while rtp.kernel is off.
func TestRTPKernelCounters(t *testing.T) {
	m := newTest(t, Options{NoRuntimeMetrics: true})
	on := false
	m.SetRTPKernelSource(func() (RTPKernel, bool) { return RTPKernel{Relayed: 7, RingFull: 2, TooLong: 1}, on })
	if err := testutil.GatherAndCompare(m.Registry(), strings.NewReader(""), NameRTPKernel); err != nil {
		t.Errorf("with the relay off: %v", err)
	}
	on = true
	want := `# HELP hotline_rtp_kernel_packets_total RTP packets the in-kernel relay (rtp.kernel) relayed (relayed), relayed without the recorders' copy because its ring buffer to them was full (ring_full, also in relayed), or left to the user-space relay as too long (too_long).
# TYPE hotline_rtp_kernel_packets_total counter
hotline_rtp_kernel_packets_total{result="relayed"} 7
hotline_rtp_kernel_packets_total{result="ring_full"} 2
hotline_rtp_kernel_packets_total{result="too_long"} 1
`
	if err := testutil.GatherAndCompare(m.Registry(), strings.NewReader(want), NameRTPKernel); err != nil {
		t.Error(err)
	}
}
