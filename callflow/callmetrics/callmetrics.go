// Package callmetrics counts calls in the metrics package: it is
// package metrics behind callflow.Metrics, so that call control (and the
// SIP side, which hands the calls' events on) depends on the interface
// only; cmd/hotline wires it.
package callmetrics

import (
	"time"

	"hotline/callflow"
	"hotline/metrics"
)

// Metrics is m as callflow.Metrics.
type Metrics struct{ m *metrics.Metrics }

var _ callflow.Metrics = Metrics{}

// New is m as callflow.Metrics; nil when there are no metrics (m nil).
func New(m *metrics.Metrics) callflow.Metrics {
	if m == nil {
		return nil
	}
	return Metrics{m}
}

// callOf describes a finished call for the metrics, as liveCall does a
// call in progress.
func callOf(r callflow.Record) metrics.Call {
	return metrics.Call{ID: r.CallID, Queue: r.QueueName(), Segment: r.Customer.Segment, Reason: r.Reason, Arrived: r.Arrived}
}

// liveCall describes a call in progress for the metrics.
func liveCall(c callflow.LiveCall) metrics.Call {
	return metrics.Call{ID: c.ID, Queue: c.Queue, Segment: c.Segment, Reason: c.Reason, Arrived: c.Arrived}
}

func (cm Metrics) KeypadAbandoned(r callflow.Record) { cm.m.KeypadAbandoned(callOf(r)) }

func (cm Metrics) QueueWait(r callflow.Record, outcome string, wait time.Duration) {
	cm.m.QueueWait(callOf(r), metrics.Outcome(outcome), wait)
}

func (cm Metrics) HandleTime(r callflow.Record, connected time.Duration) {
	cm.m.HandleTime(callOf(r), connected, 0)
}

func (cm Metrics) CSAT(r callflow.Record, wait time.Duration, score int) {
	cm.m.CSAT(callOf(r), wait, score)
}

func (cm Metrics) NPS(r callflow.Record, score int) { cm.m.NPS(callOf(r), score) }

func (cm Metrics) SurveyNoResponse(r callflow.Record, question string) {
	cm.m.SurveyNoResponse(callOf(r), metrics.Question(question))
}

func (cm Metrics) CallOffered(c callflow.LiveCall) { cm.m.CallOffered(liveCall(c)) }

func (cm Metrics) QueueEmpty(c callflow.LiveCall, when string) { cm.m.QueueEmpty(liveCall(c), when) }

func (cm Metrics) AgentNoAnswer(queue, reason string) { cm.m.AgentNoAnswer(queue, reason) }

func (cm Metrics) Transfer(callID, kind, target, outcome string) {
	cm.m.Transfer(callID, kind, target, outcome)
}
