package metrics

import (
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
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
	callsDesc   *prometheus.Desc
	talkDesc    *prometheus.Desc
	csatDesc    *prometheus.Desc
	// totals are each agent's hotline_agent_calls_total,
	// hotline_agent_talk_seconds_total and hotline_agent_csat_score,
	// under totalsMu (apart from mu: a call's end does not wait for a
	// scrape of every agent's state).
	totalsMu sync.Mutex
	totals   map[string]agentTotals
	// agentName is the agent label's name, and csatBounds CSATBuckets,
	// that every scrape's samples point to.
	agentName  *string
	csatBounds []float64
}

// csatRatings is how many CSAT ratings there are (1-5), a bucket each
// (CSATBuckets).
const csatRatings = 5

// agentTotals are one agent's counts since Hotline started, kept as
// plain values and turned into samples only when scraped. Counter and
// histogram vectors kept about twenty objects a series (the child, its
// label pairs and values, its created timestamp): with 2,600 agents,
// their calls and talk counters were a quarter of the objects Hotline
// kept at 280 calls/s, and each collection of the garbage collector
// marked them all again. A map entry of values without pointers is one
// key string an agent.
type agentTotals struct {
	calls   uint64
	talk    float64 // seconds
	created int64   // Unix ns of the first call counted
	// ratings counts each CSAT rating (1-5); csatCreated is the
	// histogram's created time (the first rating).
	ratings     [csatRatings]uint64
	csatSum     float64
	csatCreated int64
}

func newAgentView(reg *prometheus.Registry) *agentView {
	v := &agentView{
		stateMetrics: map[string]agentStateMetrics{},
		stateDesc:    prometheus.NewDesc(NameAgentState, "1 for the state each agent is in now, 0 for the others.", []string{lAgent, lState}, nil),
		activeDesc:   prometheus.NewDesc(NameQueueCallsActive, "Calls in progress by queue (unrouted: not in a queue yet).", []string{lQueue}, nil),
		callsDesc:    prometheus.NewDesc(NameAgentCalls, "Calls an agent answered (counted when they end).", []string{lAgent}, nil),
		talkDesc:     prometheus.NewDesc(NameAgentTalk, "Talk time of the calls an agent answered.", []string{lAgent}, nil),
		csatDesc:     prometheus.NewDesc(NameAgentCSAT, "Post-call CSAT ratings (1-5) of the calls an agent answered.", []string{lAgent}, nil),
		totals:       map[string]agentTotals{},
		agentName:    proto.String(lAgent),
		csatBounds:   slices.Clone(CSATBuckets),
	}
	for _, st := range AgentStates {
		v.stateLabels = append(v.stateLabels, &dto.LabelPair{Name: proto.String(lState), Value: proto.String(st)})
	}
	v.stateGauges = [2]*dto.Gauge{{Value: proto.Float64(0)}, {Value: proto.Float64(1)}}
	reg.MustRegister(v)
	return v
}

// Describe implements prometheus.Collector.
func (v *agentView) Describe(ch chan<- *prometheus.Desc) {
	ch <- v.stateDesc
	ch <- v.activeDesc
	ch <- v.callsDesc
	ch <- v.talkDesc
	ch <- v.csatDesc
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
	v.collectTotals(ch)
}

// collectTotals sends each agent's calls, talk time and (once rated)
// CSAT samples, built from a copy of the totals taken under totalsMu:
// one array for the scrape holds every agent's samples and their parts.
func (v *agentView) collectTotals(ch chan<- prometheus.Metric) {
	v.totalsMu.Lock()
	all := make([]agentScrape, len(v.totals))
	i := 0
	for name, t := range v.totals {
		all[i].name, all[i].totals = name, t
		i++
	}
	v.totalsMu.Unlock()
	for i := range all {
		a := &all[i]
		a.build(v)
		ch <- &a.calls
		ch <- &a.talk
		if a.totals.csatCreated != 0 {
			ch <- &a.csat
		}
	}
}

// agentScrape is one agent's totals made into samples for one scrape.
// Its samples share the agent's label pair and created time, and point
// into it for their values: a scrape of 2,600 agents allocates one
// array of these instead of a constant metric (label pairs, values,
// timestamp) per sample.
type agentScrape struct {
	name   string
	totals agentTotals

	label             dto.LabelPair
	labels            [1]*dto.LabelPair
	callsV, talkV     float64
	created           timestamppb.Timestamp
	callsC, talkC     dto.Counter
	calls, talk, csat totalSample

	count       uint64
	cum         [csatRatings]uint64
	sum         float64
	buckets     [csatRatings]dto.Bucket
	bucketPs    [csatRatings]*dto.Bucket
	hist        dto.Histogram
	csatCreated timestamppb.Timestamp
}

// build fills a's samples from its totals.
func (a *agentScrape) build(v *agentView) {
	t := &a.totals
	a.label.Name, a.label.Value = v.agentName, &a.name
	a.labels[0] = &a.label
	a.callsV, a.talkV = float64(t.calls), t.talk
	a.created.Seconds, a.created.Nanos = t.created/1e9, int32(t.created%1e9)
	a.callsC.Value, a.callsC.CreatedTimestamp = &a.callsV, &a.created
	a.talkC.Value, a.talkC.CreatedTimestamp = &a.talkV, &a.created
	a.calls = totalSample{desc: v.callsDesc, labels: a.labels[:], counter: &a.callsC}
	a.talk = totalSample{desc: v.talkDesc, labels: a.labels[:], counter: &a.talkC}
	if t.csatCreated == 0 {
		return
	}
	// Cumulative counts per upper bound (CSATBuckets 1-5: a rating each).
	var n uint64
	for j, r := range t.ratings {
		n += r
		a.cum[j] = n
		a.buckets[j].CumulativeCount, a.buckets[j].UpperBound = &a.cum[j], &v.csatBounds[j]
		a.bucketPs[j] = &a.buckets[j]
	}
	a.count, a.sum = n, t.csatSum
	a.csatCreated.Seconds, a.csatCreated.Nanos = t.csatCreated/1e9, int32(t.csatCreated%1e9)
	a.hist.SampleCount, a.hist.SampleSum, a.hist.Bucket = &a.count, &a.sum, a.bucketPs[:]
	a.hist.CreatedTimestamp = &a.csatCreated
	a.csat = totalSample{desc: v.csatDesc, labels: a.labels[:], histogram: &a.hist}
}

// totalSample is one of an agent's total samples for a scrape (parts
// in its agentScrape). Write hands them to the registry, which only
// reads them.
type totalSample struct {
	desc      *prometheus.Desc
	labels    []*dto.LabelPair
	counter   *dto.Counter
	histogram *dto.Histogram
}

// Desc implements prometheus.Metric.
func (s *totalSample) Desc() *prometheus.Desc { return s.desc }

// Write implements prometheus.Metric.
func (s *totalSample) Write(m *dto.Metric) error {
	m.Label, m.Counter, m.Histogram = s.labels, s.counter, s.histogram
	return nil
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
	now := time.Now().UnixNano()
	v.totalsMu.Lock()
	defer v.totalsMu.Unlock()
	t, ok := v.totals[agent]
	if !ok {
		t.created = now
	}
	t.calls++
	t.talk += talk.Seconds()
	if csat >= 1 && csat <= csatRatings {
		if t.csatCreated == 0 {
			t.csatCreated = now
		}
		t.ratings[csat-1]++
		t.csatSum += float64(csat)
	}
	v.totals[agent] = t
}
