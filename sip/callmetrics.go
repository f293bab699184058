package sip

import "hotline/callflow"

// Call-level counting is callflow's (callflow.Metrics, which
// callflow/callmetrics puts in the metrics package): the SIP side only
// hands on what happened to its calls. Deps.Metrics keeps the SIP and
// RTP counters.

// callMetrics are Deps.CallMetrics; a call's events go nowhere without
// them.
func (s *Server) callMetrics() callMetricsSink { return callMetricsSink{s.deps.CallMetrics} }

// callMetricsSink hands events to the call metrics when there are some.
type callMetricsSink struct{ m callflow.Metrics }

func (k callMetricsSink) agentNoAnswer(queue, reason string) {
	if k.m != nil {
		k.m.AgentNoAnswer(queue, reason)
	}
}

func (k callMetricsSink) transfer(callID, kind, target, outcome string) {
	if k.m != nil {
		k.m.Transfer(callID, kind, target, outcome)
	}
}
