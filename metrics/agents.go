package metrics

import (
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"google.golang.org/protobuf/proto"
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
	mu     sync.Mutex
	states func() []AgentStatus
	// stateMetrics are each agent's hotline_agent_state samples, built
	// once: [state][0 or 1]. A scrape sends them instead of building
	// len(AgentStates) samples per agent anew (2,600 agents: 15,600
	// samples a scrape). Agents no longer listed are dropped.
	stateMetrics map[string]agentStateMetrics
	// stateLabels are the state label pairs, and stateGauges the two
	// values (0, 1), that every agent's samples share.
	stateLabels []*dto.LabelPair
	stateGauges [2]*dto.Gauge
	queueCalls  func() map[string]int
	stateDesc   *prometheus.Desc
	activeDesc  *prometheus.Desc
	calls       *prometheus.CounterVec
	talk        *prometheus.CounterVec
	csat        *prometheus.HistogramVec
}

func newAgentView(reg *prometheus.Registry) *agentView {
	v := &agentView{
		stateMetrics: map[string]agentStateMetrics{},
		stateDesc:    prometheus.NewDesc(NameAgentState, "1 for the state each agent is in now, 0 for the others.", []string{lAgent, lState}, nil),
		activeDesc:   prometheus.NewDesc(NameQueueCallsActive, "Calls in progress by queue (unrouted: not in a queue yet).", []string{lQueue}, nil),
		calls:        prometheus.NewCounterVec(prometheus.CounterOpts{Name: NameAgentCalls, Help: "Calls an agent answered (counted when they end)."}, []string{lAgent}),
		talk:         prometheus.NewCounterVec(prometheus.CounterOpts{Name: NameAgentTalk, Help: "Talk time of the calls an agent answered."}, []string{lAgent}),
		csat:         prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: NameAgentCSAT, Help: "Post-call CSAT ratings (1-5) of the calls an agent answered.", Buckets: CSATBuckets}, []string{lAgent}),
	}
	for _, st := range AgentStates {
		v.stateLabels = append(v.stateLabels, &dto.LabelPair{Name: proto.String(lState), Value: proto.String(st)})
	}
	v.stateGauges = [2]*dto.Gauge{{Value: proto.Float64(0)}, {Value: proto.Float64(1)}}
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
		v.collectStates(ch, states())
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

// agentStateMetrics are one agent's hotline_agent_state samples: for
// each of AgentStates, the sample with 0 and the one with 1.
type agentStateMetrics [][2]stateSample

// stateSample is one hotline_agent_state sample. Unlike a constant
// metric it shares its parts: the agent's label pair with the agent's
// other samples, the state's pair and the value with every agent's. The
// samples are kept between scrapes, and each collection of the garbage
// collector marks what is kept: 2,600 agents' constant metrics were
// 14 MB, an eighth of what Hotline keeps at 400 calls/s. Write hands
// them to the registry, which only reads them.
type stateSample struct {
	desc   *prometheus.Desc
	labels []*dto.LabelPair // agent, state: sorted by name, cap = len
	gauge  *dto.Gauge
}

// Desc implements prometheus.Metric.
func (s *stateSample) Desc() *prometheus.Desc { return s.desc }

// Write implements prometheus.Metric.
func (s *stateSample) Write(m *dto.Metric) error {
	m.Label, m.Gauge = s.labels, s.gauge
	return nil
}

// newStateSamples builds agent's samples.
func (v *agentView) newStateSamples(agent string) agentStateMetrics {
	name := &dto.LabelPair{Name: proto.String(lAgent), Value: proto.String(agent)}
	ms := make(agentStateMetrics, len(AgentStates))
	for i := range AgentStates {
		labels := []*dto.LabelPair{name, v.stateLabels[i]}
		for val := range 2 {
			ms[i][val] = stateSample{desc: v.stateDesc, labels: labels, gauge: v.stateGauges[val]}
		}
	}
	return ms
}

// collectStates sends each listed agent's hotline_agent_state samples
// (an agent listed twice once), from stateMetrics.
func (v *agentView) collectStates(ch chan<- prometheus.Metric, agents []AgentStatus) {
	v.mu.Lock()
	defer v.mu.Unlock()
	seen := make(map[string]bool, len(agents))
	for _, a := range agents {
		if a.Agent == "" || seen[a.Agent] {
			continue
		}
		seen[a.Agent] = true
		ms := v.stateMetrics[a.Agent]
		if ms == nil {
			ms = v.newStateSamples(a.Agent)
			v.stateMetrics[a.Agent] = ms
		}
		for i, st := range AgentStates {
			val := 0
			if st == a.State {
				val = 1
			}
			ch <- &ms[i][val]
		}
	}
	if len(v.stateMetrics) > len(seen) {
		for name := range v.stateMetrics {
			if !seen[name] {
				delete(v.stateMetrics, name)
			}
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
