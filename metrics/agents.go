package metrics

import (
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// AgentStatus is one agent's state now, for the per-agent view.
type AgentStatus struct {
	Agent string
	State string // one of AgentStates
}

// agentView holds the per-agent metrics (state, calls, talk time, CSAT)
// and the calls in progress by queue. Agents are configured, so the agent
// label is bounded.
type agentView struct {
	mu         sync.Mutex
	states     func() []AgentStatus
	queueCalls func() map[string]int
	stateDesc  *prometheus.Desc
	activeDesc *prometheus.Desc
	calls      *prometheus.CounterVec
	talk       *prometheus.CounterVec
	csat       *prometheus.HistogramVec
}

func newAgentView(reg *prometheus.Registry) *agentView {
	v := &agentView{
		stateDesc:  prometheus.NewDesc(NameAgentState, "1 for the state each agent is in now, 0 for the others.", []string{lAgent, lState}, nil),
		activeDesc: prometheus.NewDesc(NameQueueCallsActive, "Calls in progress by queue (unrouted: not in a queue yet).", []string{lQueue}, nil),
		calls:      prometheus.NewCounterVec(prometheus.CounterOpts{Name: NameAgentCalls, Help: "Calls an agent answered (counted when they end)."}, []string{lAgent}),
		talk:       prometheus.NewCounterVec(prometheus.CounterOpts{Name: NameAgentTalk, Help: "Talk time of the calls an agent answered."}, []string{lAgent}),
		csat:       prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: NameAgentCSAT, Help: "Post-call CSAT ratings (1-5) of the calls an agent answered.", Buckets: CSATBuckets}, []string{lAgent}),
	}
	reg.MustRegister(v, v.calls, v.talk, v.csat)
	return v
}

// Describe implements prometheus.Collector (the gauges it computes).
func (v *agentView) Describe(ch chan<- *prometheus.Desc) {
	ch <- v.stateDesc
	ch <- v.activeDesc
}

// Collect implements prometheus.Collector.
func (v *agentView) Collect(ch chan<- prometheus.Metric) {
	v.mu.Lock()
	states, queueCalls := v.states, v.queueCalls
	v.mu.Unlock()
	if states != nil {
		seen := map[string]bool{}
		for _, a := range states() {
			if a.Agent == "" || seen[a.Agent] {
				continue
			}
			seen[a.Agent] = true
			for _, st := range AgentStates {
				val := 0.0
				if st == a.State {
					val = 1
				}
				ch <- prometheus.MustNewConstMetric(v.stateDesc, prometheus.GaugeValue, val, a.Agent, st)
			}
		}
	}
	if queueCalls != nil {
		counts := queueCalls()
		names := make([]string, 0, len(counts))
		for q := range counts {
			names = append(names, q)
		}
		sort.Strings(names)
		for _, q := range names {
			ch <- prometheus.MustNewConstMetric(v.activeDesc, prometheus.GaugeValue, float64(counts[q]), orDefault(q, "unrouted"))
		}
	}
}

// SetAgentStateSource sets the callback giving each agent's state, for
// hotline_agent_state.
func (m *Metrics) SetAgentStateSource(f func() []AgentStatus) {
	if m != nil {
		m.agentView.mu.Lock()
		m.agentView.states = f
		m.agentView.mu.Unlock()
	}
}

// SetQueueCallsSource sets the callback counting calls in progress by
// queue ("" for calls not in a queue yet), for hotline_queue_calls_active.
func (m *Metrics) SetQueueCallsSource(f func() map[string]int) {
	if m != nil {
		m.agentView.mu.Lock()
		m.agentView.queueCalls = f
		m.agentView.mu.Unlock()
	}
}

// AgentCallEnded counts a call an agent answered, its talk time and, when
// the caller rated it (csat 1-5), the rating.
func (m *Metrics) AgentCallEnded(agent string, talk time.Duration, csat int) {
	if m == nil || agent == "" {
		return
	}
	v := m.agentView
	v.calls.WithLabelValues(agent).Inc()
	v.talk.WithLabelValues(agent).Add(talk.Seconds())
	if csat >= 1 && csat <= 5 {
		v.csat.WithLabelValues(agent).Observe(float64(csat))
	}
}
