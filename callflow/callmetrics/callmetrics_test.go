package callmetrics

import (
	"testing"
	"time"

	"hotline/callflow"
	"hotline/internal/promtest"
	"hotline/metrics"
)

// What a call's SIP side hands on reaches the metrics: the offer under
// the call's queue, an empty queue turning it away, an agent who did not
// answer, a transfer; without metrics there is nothing to count into.
func TestLiveCallCounted(t *testing.T) {
	if New(nil) != nil {
		t.Fatal("New(nil) is not nil: calls would be counted into nothing")
	}
	m := metrics.New(metrics.Options{NoRuntimeMetrics: true})
	cm := New(m)
	c := callflow.LiveCall{ID: "a", Queue: "sales", Segment: "loyal", Arrived: time.Now()}
	cm.CallOffered(c)
	cm.QueueEmpty(c, "join")
	cm.AgentNoAnswer("sales", metrics.NoAnswerBusy)
	cm.Transfer("a", metrics.TransferBlind, metrics.TransferToQueue, metrics.TransferCompleted)
	for _, k := range []struct{ name, label, value string }{
		{metrics.NameCallsOffered, "queue", "sales"},
		{metrics.NameQueueEmptyTurnedAway, "queue", "sales"},
		{metrics.NameAgentNoAnswers, "queue", "sales"},
		{metrics.NameTransfers, "kind", metrics.TransferBlind},
	} {
		if got := promtest.CounterSum(t, m.Registry(), k.name, k.label, k.value); got != 1 {
			t.Errorf("%s{%s=%q} = %v; want 1", k.name, k.label, k.value, got)
		}
	}
}
