package sip

import (
	"time"

	"hotline/callflow"
	"hotline/metrics"
)

// callMetrics counts finished calls in the metrics: the metrics package
// behind callflow.CallMetrics (callflow.Observe).
type callMetrics struct{ m *metrics.Metrics }

var _ callflow.CallMetrics = callMetrics{}

// callMetricsOf is m as callflow.CallMetrics; nil when there are no
// metrics.
func callMetricsOf(m *metrics.Metrics) callflow.CallMetrics {
	if m == nil {
		return nil
	}
	return callMetrics{m}
}

// metricsCallOf describes a finished call for the metrics, as the call
// itself does while it runs (call.metricsCall).
func metricsCallOf(r callflow.Record) metrics.Call {
	return metrics.Call{ID: r.CallID, Queue: r.QueueName(), Segment: r.Customer.Segment, Reason: r.Reason, Arrived: r.Arrived}
}

func (cm callMetrics) KeypadAbandoned(r callflow.Record) { cm.m.KeypadAbandoned(metricsCallOf(r)) }

func (cm callMetrics) QueueWait(r callflow.Record, outcome string, wait time.Duration) {
	cm.m.QueueWait(metricsCallOf(r), metrics.Outcome(outcome), wait)
}

func (cm callMetrics) HandleTime(r callflow.Record, connected time.Duration) {
	cm.m.HandleTime(metricsCallOf(r), connected, 0)
}

func (cm callMetrics) CSAT(r callflow.Record, wait time.Duration, score int) {
	cm.m.CSAT(metricsCallOf(r), wait, score)
}

func (cm callMetrics) NPS(r callflow.Record, score int) { cm.m.NPS(metricsCallOf(r), score) }

func (cm callMetrics) SurveyNoResponse(r callflow.Record, question string) {
	cm.m.SurveyNoResponse(metricsCallOf(r), metrics.Question(question))
}
