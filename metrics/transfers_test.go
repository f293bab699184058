package metrics

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// Transfers and monitoring count by bounded labels, carry the call id as
// an exemplar, and every series is there (at 0) before the first one.
func TestTransferAndMonitorCounters(t *testing.T) {
	m := newTest(t, Options{NoRuntimeMetrics: true})
	if n := testutil.CollectAndCount(m.transfers.transfers); n != 4*3*5 {
		t.Errorf("%d transfer series before any transfer, want 60 (kind x target x outcome)", n)
	}
	m.Transfer("call-1", TransferBlind, TransferToQueue, TransferCompleted)
	m.Transfer("call-2", TransferAttended, TransferToAgent, TransferCompleted)
	m.Transfer("call-3", TransferAPI, TransferToNumber, TransferRefused)
	m.Transfer("call-5", TransferSemiAttended, TransferToAgent, TransferReturned)
	m.Transfer("call-4", "sideways", "mars", "exploded") // folded into blind/agent/failed
	m.MonitorStarted("call-1", MonitorListen)
	m.MonitorStarted("call-2", "spy") // folded into listen
	m.MonitorModeChanged("call-1", MonitorBarge)
	m.MonitorModeChanged("call-2", MonitorBarge)
	m.MonitorModeChanged("call-2", "??") // folded into listen
	m.MonitorModeTime(MonitorWhisper, 1500*time.Millisecond)
	m.MonitorModeTime(MonitorWhisper, 500*time.Millisecond)
	m.MonitorModeTime(MonitorBarge, -time.Second) // ignored
	var nilM *Metrics
	nilM.Transfer("x", TransferBlind, TransferToQueue, TransferCompleted)
	nilM.MonitorStarted("x", MonitorBarge)
	nilM.MonitorModeTime(MonitorBarge, time.Second)
	nilM.MonitorModeChanged("x", MonitorBarge)

	for _, tc := range []struct {
		got, want float64
		what      string
	}{
		{testutil.ToFloat64(m.transfers.transfers.WithLabelValues(TransferBlind, TransferToQueue, TransferCompleted)), 1, "blind to queue"},
		{testutil.ToFloat64(m.transfers.transfers.WithLabelValues(TransferAttended, TransferToAgent, TransferCompleted)), 1, "attended"},
		{testutil.ToFloat64(m.transfers.transfers.WithLabelValues(TransferAPI, TransferToNumber, TransferRefused)), 1, "refused"},
		{testutil.ToFloat64(m.transfers.transfers.WithLabelValues(TransferSemiAttended, TransferToAgent, TransferReturned)), 1, "semi-attended"},
		{testutil.ToFloat64(m.transfers.transfers.WithLabelValues(TransferBlind, TransferToAgent, TransferFailed)), 1, "unknown labels folded"},
		{testutil.ToFloat64(m.transfers.sessions.WithLabelValues(MonitorListen)), 2, "sessions in listen"},
		{testutil.ToFloat64(m.transfers.sessions.WithLabelValues(MonitorBarge)), 0, "sessions started in barge"},
		{testutil.ToFloat64(m.transfers.modes.WithLabelValues(MonitorListen)), 3, "listen entered (2 starts, 1 folded)"},
		{testutil.ToFloat64(m.transfers.modes.WithLabelValues(MonitorBarge)), 2, "barge entered"},
		{testutil.ToFloat64(m.transfers.modes.WithLabelValues(MonitorWhisper)), 0, "whisper entered"},
		{testutil.ToFloat64(m.transfers.modeTime.WithLabelValues(MonitorWhisper)), 2, "seconds in whisper"},
		{testutil.ToFloat64(m.transfers.modeTime.WithLabelValues(MonitorBarge)), 0, "negative time ignored"},
	} {
		if tc.got != tc.want {
			t.Errorf("%s: %v, want %v", tc.what, tc.got, tc.want)
		}
	}
	if n := testutil.CollectAndCount(m.transfers.transfers); n != 60 {
		t.Errorf("%d transfer series, want still 60", n)
	}
	body := scrape(t, m.Handler(), "application/openmetrics-text")
	if !strings.Contains(body, `hotline_transfers_total{kind="blind",target="queue",outcome="completed"} 1.0 # {call_id="call-1"}`) &&
		!strings.Contains(body, `hotline_transfers_total{kind="blind",outcome="completed",target="queue"} 1.0 # {call_id="call-1"}`) {
		t.Errorf("the transfer carries no call-id exemplar:\n%s", grepLines(body, "hotline_transfers_total{kind=\"blind\""))
	}
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
