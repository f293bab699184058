package metrics

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"

	"hotline/internal/cfg"
)

// monday0930 is Monday 2024-01-01 09:30 UTC.
var monday0930 = time.Date(2024, 1, 1, 9, 30, 0, 0, time.UTC)

func newTest(t *testing.T, o Options) *Metrics {
	t.Helper()
	if o.Now == nil {
		o.Now = func() time.Time { return monday0930.Add(time.Minute) }
	}
	return New(o)
}

// exercise touches every metric of m once, with every source set.
func exercise(m *Metrics) {
	c := Call{ID: "call-1@example", Queue: "1900", Segment: "loyal", Reason: "billing", Arrived: monday0930}
	m.CallOffered(c)
	m.QueueWait(c, OutcomeAnswered, 12*time.Second)
	m.HandleTime(c, 3*time.Minute, 30*time.Second)
	m.CSAT(c, 12*time.Second, 5)
	m.NPS(c, 9)
	m.SurveyNoResponse(c, QuestionNPS)
	m.AgentNoAnswer("1900", NoAnswerBusy)
	m.AgentLogin()
	m.AgentLogout()
	m.SIPRequest(In, "INVITE")
	m.SIPResponse(Out, "INVITE", 200)
	m.Registration(RegistrationSuccess)
	m.RecordingUploaded(300 * time.Millisecond)
	m.CallbackAttempt("1900", "queued", CallbackBusy)
	m.CallbackCompleted("1900", "queued")
	m.CallbackFailed("1900", "follow_up", CallbackFailAttempts)
	m.SetQueueSource(func() []QueueStatus {
		return []QueueStatus{{Queue: "1900", Waiting: 2, LongestWait: 45 * time.Second, Open: true}}
	})
	m.SetAgentSource(func() []AgentCount {
		return []AgentCount{{Queue: "1900", State: "available", Count: 2}, {Queue: "1900", State: "on_call", Count: 1}}
	})
	m.SetActiveCallsSource(func() int { return 3 })
	m.SetRegistrationSource(func() int { return 4 })
	m.SetRTPKernelSource(func() (RTPKernel, bool) { return RTPKernel{Relayed: 9, RingFull: 1}, true })
	m.SetRTPSource(func() []RTPStats {
		return []RTPStats{{PacketsIn: 100, PacketsOut: 99, BytesIn: 17200, BytesOut: 17028, LostIn: 1, JitterIn: 3 * time.Millisecond}}
	})
	m.SetAgentStateSource(func() []AgentStatus { return []AgentStatus{{Agent: "alice", State: "on_call"}} })
	m.SetQueueCallsSource(func() map[string]int { return map[string]int{"1900": 2, "": 1} })
	m.AgentCallEnded("alice", 3*time.Minute, 5)
	m.KeypadAbandoned(Call{ID: "k", Queue: "1900"})
	m.QueueEmpty(Call{ID: "e", Queue: "1900"}, "join")
	m.Disposition("d", "1900", "sale")
	m.SetBacklogSource(func() Backlog {
		return Backlog{Files: 2, Bytes: 1 << 20, OldestAge: time.Minute, Recording: 1, Failures: 3, Uploaded: 10, Dropped: 4, SpoolFree: 1 << 30, SpoolSize: 4 << 30}
	})
	m.SetRecordsSource(func() Records { return Records{Written: 40, Spooled: 5, SpoolBatches: 1, BackendDown: true, Held: 2} })
}

func TestLint(t *testing.T) {
	m := newTest(t, Options{})
	exercise(m)
	problems, err := testutil.GatherAndLint(m.Registry())
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}
}

// Every name in the one list is registered and exposed (once exercised),
// and nothing hotline_ is exposed that the list does not name.
func TestNamesMatchRegistry(t *testing.T) {
	m := newTest(t, Options{})
	exercise(m)
	mfs, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]dto.MetricType{}
	for _, mf := range mfs {
		if strings.HasPrefix(mf.GetName(), "hotline_") {
			got[mf.GetName()] = mf.GetType()
		}
	}
	for _, n := range allNames {
		typ, ok := got[strings.TrimSuffix(n.name, "_total")]
		if !ok {
			typ, ok = got[n.name]
		}
		if !ok {
			t.Errorf("%s is in the name list but not exposed", n.name)
			continue
		}
		want := map[metricKind]dto.MetricType{kindCounter: dto.MetricType_COUNTER, kindGauge: dto.MetricType_GAUGE, kindHistogram: dto.MetricType_HISTOGRAM}[n.kind]
		if typ != want {
			t.Errorf("%s is a %v, the list says %v", n.name, typ, want)
		}
	}
	listed := map[string]bool{}
	for _, n := range MetricNames() {
		listed[n] = true
	}
	for name := range got {
		if !listed[name] && !listed[name+"_total"] {
			t.Errorf("%s is exposed but not in the name list", name)
		}
	}
}

func scrape(t *testing.T, h http.Handler, accept string) string {
	t.Helper()
	srv := httptest.NewServer(h)
	defer srv.Close()
	req, _ := http.NewRequest("GET", srv.URL, nil)
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	if res.StatusCode != 200 {
		t.Fatalf("scrape: %d %s", res.StatusCode, body)
	}
	return string(body)
}

func promtool(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("promtool")
	if err != nil {
		t.Fatal("promtool not found (Debian package prometheus): `make test` installs it")
	}
	return p
}

func TestPromtoolCheckMetrics(t *testing.T) {
	pt := promtool(t)
	m := newTest(t, Options{})
	exercise(m)
	text := scrape(t, m.Handler(), "")
	cmd := exec.Command(pt, "check", "metrics")
	cmd.Stdin = strings.NewReader(text)
	out, err := cmd.CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Fatalf("promtool check metrics: %v\n%s", err, out)
	}
}

// The scheduler's figures are on /metrics: how long runnable goroutines
// waited for a core, and how many wait now.
func TestSchedulerMetrics(t *testing.T) {
	m := newTest(t, Options{})
	text := scrape(t, m.Handler(), "")
	for _, want := range []string{
		"# TYPE go_sched_latencies_seconds histogram",
		`go_sched_latencies_seconds_bucket{le="0.010485759999999998"} `,
		"# TYPE go_sched_goroutines_runnable_goroutines gauge",
		"# TYPE go_sched_gomaxprocs_threads gauge",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("no %q in the scrape", want)
		}
	}
	if strings.Contains(text, "go_sched_latencies_seconds_count 0\n") {
		t.Errorf("go_sched_latencies_seconds counted no goroutine's wait")
	}
}

func TestOpenMetricsCarriesExemplars(t *testing.T) {
	m := newTest(t, Options{})
	exercise(m)
	om := scrape(t, m.Handler(), "application/openmetrics-text; version=1.0.0")
	if !strings.HasSuffix(strings.TrimSpace(om), "# EOF") {
		t.Fatalf("not OpenMetrics:\n%s", om)
	}
	var found bool
	for _, line := range strings.Split(om, "\n") {
		if strings.HasPrefix(line, "hotline_csat_score_bucket{") && strings.Contains(line, `# {call_id="call-1@example"} 5`) {
			found = true
		}
		if strings.Contains(line, "call-1@example") && !strings.Contains(line, " # {") {
			t.Errorf("call id outside an exemplar: %s", line)
		}
	}
	if !found {
		t.Errorf("no CSAT exemplar with the call id in:\n%s", om)
	}
}

// A call with a known wait and rating moves exactly the expected series.
func TestCallMovesExpectedSeries(t *testing.T) {
	m := newTest(t, Options{NoRuntimeMetrics: true})
	c := Call{ID: "abc", Queue: "1900", Segment: "loyal", Reason: "billing", Arrived: monday0930}
	m.CallOffered(c)
	m.QueueWait(c, OutcomeAnswered, 12*time.Second)
	m.CSAT(c, 12*time.Second, 4)

	want := `
# HELP hotline_calls_offered_total Calls offered to a queue (entered it).
# TYPE hotline_calls_offered_total counter
hotline_calls_offered_total{queue="1900",segment="loyal"} 1
# HELP hotline_calls_answered_within_threshold_total Calls answered within the queue's service-level threshold.
# TYPE hotline_calls_answered_within_threshold_total counter
hotline_calls_answered_within_threshold_total{queue="1900",segment="loyal"} 1
# HELP hotline_queue_calls_total Calls that left the queue, by outcome (answered, abandoned, callback, overflow, timeout).
# TYPE hotline_queue_calls_total counter
hotline_queue_calls_total{outcome="abandoned",queue="1900",segment="loyal"} 0
hotline_queue_calls_total{outcome="answered",queue="1900",segment="loyal"} 1
hotline_queue_calls_total{outcome="callback",queue="1900",segment="loyal"} 0
hotline_queue_calls_total{outcome="overflow",queue="1900",segment="loyal"} 0
hotline_queue_calls_total{outcome="timeout",queue="1900",segment="loyal"} 0
# HELP hotline_csat_score Post-call CSAT ratings (1-5), by hour of day and weekday of the call in the hotline's time zone; 4 and 5 are satisfied.
# TYPE hotline_csat_score histogram
hotline_csat_score_bucket{hour="9",queue="1900",reason="billing",segment="loyal",weekday="mon",le="1"} 0
hotline_csat_score_bucket{hour="9",queue="1900",reason="billing",segment="loyal",weekday="mon",le="2"} 0
hotline_csat_score_bucket{hour="9",queue="1900",reason="billing",segment="loyal",weekday="mon",le="3"} 0
hotline_csat_score_bucket{hour="9",queue="1900",reason="billing",segment="loyal",weekday="mon",le="4"} 1
hotline_csat_score_bucket{hour="9",queue="1900",reason="billing",segment="loyal",weekday="mon",le="5"} 1
hotline_csat_score_bucket{hour="9",queue="1900",reason="billing",segment="loyal",weekday="mon",le="+Inf"} 1
hotline_csat_score_sum{hour="9",queue="1900",reason="billing",segment="loyal",weekday="mon"} 4
hotline_csat_score_count{hour="9",queue="1900",reason="billing",segment="loyal",weekday="mon"} 1
`
	if err := testutil.GatherAndCompare(m.Registry(), strings.NewReader(want),
		NameCallsOffered, NameAnsweredWithinSL, NameQueueCalls, NameCSAT); err != nil {
		t.Error(err)
	}
	// The wait landed in the 15 s bucket (not 10 s) of the answered series.
	h := histogram(t, m, NameQueueWait, map[string]string{"outcome": "answered"})
	if h.GetSampleCount() != 1 || h.GetSampleSum() != 12 {
		t.Errorf("wait histogram: count %d sum %v, want 1 and 12", h.GetSampleCount(), h.GetSampleSum())
	}
	for _, b := range h.GetBucket() {
		want := uint64(0)
		if b.GetUpperBound() >= 15 {
			want = 1
		}
		if b.GetCumulativeCount() != want {
			t.Errorf("wait bucket le=%v: %d, want %d", b.GetUpperBound(), b.GetCumulativeCount(), want)
		}
	}
	if got := testutil.ToFloat64(m.queueCalls.WithLabelValues("1900", "loyal", "abandoned")); got != 0 {
		t.Errorf("abandoned = %v", got)
	}

	// A wait past the threshold is answered but not within the service level.
	m.QueueWait(Call{Queue: "1900", Segment: "loyal"}, OutcomeAnswered, 21*time.Second)
	if got := testutil.ToFloat64(m.withinSL.WithLabelValues("1900", "loyal")); got != 1 {
		t.Errorf("within threshold after a 21 s wait = %v, want still 1", got)
	}
	if got := testutil.ToFloat64(m.queueCalls.WithLabelValues("1900", "loyal", "answered")); got != 2 {
		t.Errorf("answered = %v, want 2", got)
	}
}

func histogram(t *testing.T, m *Metrics, name string, match map[string]string) *dto.Histogram {
	t.Helper()
	for _, mt := range find(t, m, name) {
		if labelsMatch(mt, match) {
			return mt.GetHistogram()
		}
	}
	t.Fatalf("no %s series with %v", name, match)
	return nil
}

func find(t *testing.T, m *Metrics, name string) []*dto.Metric {
	t.Helper()
	mfs, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name || mf.GetName() == strings.TrimSuffix(name, "_total") {
			return mf.GetMetric()
		}
	}
	return nil
}

func labelsMatch(mt *dto.Metric, match map[string]string) bool {
	n := 0
	for _, lp := range mt.GetLabel() {
		if v, ok := match[lp.GetName()]; ok {
			if v != lp.GetValue() {
				return false
			}
			n++
		}
	}
	return n == len(match)
}

func TestExemplarsCarryCallID(t *testing.T) {
	m := newTest(t, Options{})
	c := Call{ID: "a84b4c76e66710@pc33.atlanta.example.com", Queue: "1900", Arrived: monday0930}
	m.CallOffered(c)
	m.QueueWait(c, OutcomeAbandoned, 40*time.Second)
	m.CSAT(c, 40*time.Second, 2)

	h := histogram(t, m, NameQueueWait, map[string]string{"outcome": "abandoned"})
	var got []string
	for _, b := range h.GetBucket() {
		if e := b.GetExemplar(); e != nil {
			for _, lp := range e.GetLabel() {
				got = append(got, lp.GetName()+"="+lp.GetValue())
			}
			if e.GetValue() != 40 {
				t.Errorf("exemplar value %v, want 40", e.GetValue())
			}
		}
	}
	if len(got) != 1 || got[0] != "call_id="+c.ID {
		t.Errorf("wait exemplars %v, want exactly call_id=%s", got, c.ID)
	}
	for _, mt := range find(t, m, NameQueueCalls) {
		if labelsMatch(mt, map[string]string{"outcome": "abandoned"}) {
			e := mt.GetCounter().GetExemplar()
			if e == nil || e.GetLabel()[0].GetValue() != c.ID {
				t.Errorf("abandoned counter exemplar %v", e)
			}
		}
		for _, lp := range mt.GetLabel() {
			if strings.Contains(lp.GetValue(), "atlanta") {
				t.Errorf("call id in a label: %v", lp)
			}
		}
	}

	// An overlong or broken call id is cut, never a panic.
	long := strings.Repeat("x", 300) + "\xff"
	m.CSAT(Call{ID: long, Queue: "1900"}, 0, 3)
	e := exemplar(long)
	if n := len([]rune(e[ExemplarLabel])) + len(ExemplarLabel); n > prometheus.ExemplarMaxRunes {
		t.Errorf("exemplar has %d runes", n)
	}
}

// Hour and weekday are those of the hotline's zone, not UTC's.
func TestHourAndWeekdayInHotlineZone(t *testing.T) {
	c := Config{TimeZone: "Asia/Ho_Chi_Minh"}
	loc, err := c.Location()
	if err != nil {
		t.Fatal(err)
	}
	m := newTest(t, Options{Location: loc})
	// Monday 23:30 UTC is Tuesday 06:30 in Ho Chi Minh City (UTC+7).
	at := time.Date(2024, 1, 1, 23, 30, 0, 0, time.UTC)
	call := Call{ID: "x", Queue: "1900", Segment: "potential", Reason: "order", Arrived: at}
	m.CSAT(call, time.Minute, 5)
	m.NPS(call, 10)
	m.SurveyNoResponse(call, QuestionCSAT)
	m.QueueWait(call, OutcomeAnswered, time.Minute)
	for _, name := range []string{NameCSAT, NameNPS, NameSurveyNoResponse, NameQueueWaitByHour} {
		ms := find(t, m, name)
		if len(ms) != 1 || !labelsMatch(ms[0], map[string]string{"hour": "6", "weekday": "tue"}) {
			t.Errorf("%s: %v, want one series with hour=6 weekday=tue", name, ms)
		}
	}
	// In UTC the same call is Monday hour 23.
	u := newTest(t, Options{})
	u.CSAT(call, time.Minute, 5)
	if ms := find(t, u, NameCSAT); len(ms) != 1 || !labelsMatch(ms[0], map[string]string{"hour": "23", "weekday": "mon"}) {
		t.Errorf("UTC: %v", ms)
	}
	// Without an arrival time the queue-wait hour is taken from the clock
	// minus the wait: at 09:31 after a 2 h wait the caller arrived at 07:31.
	u.QueueWait(Call{Queue: "1900"}, OutcomeTimeout, 2*time.Hour)
	if ms := find(t, u, NameQueueWaitByHour); len(ms) != 1 || !labelsMatch(ms[0], map[string]string{"hour": "7", "weekday": "mon"}) {
		t.Errorf("wait by hour without arrival: %v", ms)
	}
}

func TestSurveyValues(t *testing.T) {
	m := newTest(t, Options{})
	c := Call{Queue: "1900", Arrived: monday0930}
	for _, s := range []int{0, 6, -1} {
		if m.CSAT(c, 0, s) {
			t.Errorf("CSAT %d accepted", s)
		}
	}
	if m.NPS(c, 11) || m.NPS(c, -1) {
		t.Error("NPS out of range accepted")
	}
	if len(find(t, m, NameCSAT))+len(find(t, m, NameNPS)) != 0 {
		t.Error("out-of-range answers were recorded")
	}
	// Non-responses are counted, never scored.
	m.SurveyNoResponse(c, QuestionCSAT)
	if len(find(t, m, NameCSAT)) != 0 {
		t.Error("a non-response moved the CSAT histogram")
	}
	if got := testutil.ToFloat64(m.noResponse.WithLabelValues("1900", "unknown", "none", "9", "mon", "csat")); got != 1 {
		t.Errorf("no-response = %v", got)
	}
	// NPS: 3 detractors' bucket, 9 promoter.
	m.NPS(c, 3)
	m.NPS(c, 9)
	h := histogram(t, m, NameNPS, nil)
	counts := map[float64]uint64{}
	for _, b := range h.GetBucket() {
		counts[b.GetUpperBound()] = b.GetCumulativeCount()
	}
	if counts[6] != 1 || counts[8] != 1 || counts[10] != 2 || h.GetSampleCount() != 2 {
		t.Errorf("NPS buckets %v", counts)
	}
}

func TestSIPAndAgentLabelsBounded(t *testing.T) {
	m := newTest(t, Options{})
	m.SIPRequest(In, "invite")
	m.SIPRequest(In, "FROBNICATE")
	m.SIPResponse(Out, "INVITE", 486)
	m.SIPResponse(Out, "INVITE", 999)
	m.AgentNoAnswer("1900", "whatever")
	m.Registration("odd")
	if got := testutil.ToFloat64(m.sipRequests.WithLabelValues("INVITE", "in")); got != 1 {
		t.Errorf("INVITE in = %v", got)
	}
	if got := testutil.ToFloat64(m.sipRequests.WithLabelValues("other", "in")); got != 1 {
		t.Errorf("other in = %v", got)
	}
	if got := testutil.ToFloat64(m.sipResponses.WithLabelValues("INVITE", "4xx", "out")); got != 1 {
		t.Errorf("4xx = %v", got)
	}
	if got := testutil.ToFloat64(m.sipResponses.WithLabelValues("INVITE", "other", "out")); got != 1 {
		t.Errorf("status other = %v", got)
	}
	if got := testutil.ToFloat64(m.noAnswers.WithLabelValues("1900", "error")); got != 1 {
		t.Errorf("no-answer error = %v", got)
	}
	if got := testutil.ToFloat64(m.regs.WithLabelValues("rejected")); got != 1 {
		t.Errorf("registration rejected = %v", got)
	}
}

func TestCallbackSources(t *testing.T) {
	m := newTest(t, Options{NoRuntimeMetrics: true})
	legs := []RTPStats{{PacketsIn: 100, PacketsOut: 90, LostIn: 2, JitterIn: 4 * time.Millisecond}, {PacketsIn: 50, JitterIn: 2 * time.Millisecond}}
	m.SetRTPSource(func() []RTPStats { return legs })
	m.SetAgentSource(func() []AgentCount { return []AgentCount{{Queue: "1900", State: "available", Count: 1}} })
	m.SetQueueSource(func() []QueueStatus {
		return []QueueStatus{{Queue: "1900", Waiting: 3, LongestWait: 90 * time.Second, Open: true, Lost: 2}, {Queue: "1900"}}
	})
	want := `
# HELP hotline_agents Agents by queue and state.
# TYPE hotline_agents gauge
hotline_agents{queue="1900",state="available"} 1
hotline_agents{queue="1900",state="logged_out"} 0
hotline_agents{queue="1900",state="on_call"} 0
hotline_agents{queue="1900",state="paused"} 0
hotline_agents{queue="1900",state="ringing"} 0
hotline_agents{queue="1900",state="wrap_up"} 0
# HELP hotline_calls_lost_total Calls ended because the node they were on died (several nodes; from the shared ACD, so every node reports the hotline's count).
# TYPE hotline_calls_lost_total counter
hotline_calls_lost_total{queue="1900"} 2
# HELP hotline_queue_callers_waiting Callers waiting in the queue now.
# TYPE hotline_queue_callers_waiting gauge
hotline_queue_callers_waiting{queue="1900"} 3
# HELP hotline_queue_longest_wait_seconds How long the caller waiting longest has waited so far.
# TYPE hotline_queue_longest_wait_seconds gauge
hotline_queue_longest_wait_seconds{queue="1900"} 90
# HELP hotline_rtp_packets_total RTP packets received (in) and sent (out).
# TYPE hotline_rtp_packets_total counter
hotline_rtp_packets_total{direction="in"} 150
hotline_rtp_packets_total{direction="out"} 90
# HELP hotline_rtp_jitter_mean_seconds Mean interarrival jitter over live legs that report it.
# TYPE hotline_rtp_jitter_mean_seconds gauge
hotline_rtp_jitter_mean_seconds{direction="in"} 0.003
hotline_rtp_jitter_mean_seconds{direction="out"} 0
`
	if err := testutil.GatherAndCompare(m.Registry(), strings.NewReader(want),
		NameAgents, NameCallersWaiting, NameLongestWait, NameCallsLost, NameRTPPackets, NameRTPJitterMean); err != nil {
		t.Error(err)
	}
	// The first leg ends: its packets stay counted.
	m.RTPLegEnded(legs[0])
	legs = legs[1:]
	if got := rtpIn(t, m); got != 150 {
		t.Errorf("after a leg ended: %v packets in, want 150", got)
	}
	// It vanished from the source before RTPLegEnded ran: never backwards.
	legs = nil
	if got := rtpIn(t, m); got != 150 {
		t.Errorf("in between: %v packets in, want 150 kept", got)
	}
}

func rtpIn(t *testing.T, m *Metrics) float64 {
	for _, mt := range find(t, m, NameRTPPackets) {
		if labelsMatch(mt, map[string]string{"direction": "in"}) {
			return mt.GetCounter().GetValue()
		}
	}
	t.Fatal("no rtp packets in")
	return 0
}

func TestNilMetricsRecordNothing(t *testing.T) {
	var m *Metrics
	c := Call{Queue: "q"}
	m.CallOffered(c)
	m.QueueWait(c, OutcomeAnswered, time.Second)
	m.HandleTime(c, time.Second, 0)
	if m.CSAT(c, 0, 5) || m.NPS(c, 5) {
		t.Error("nil metrics accepted a score")
	}
	m.SurveyNoResponse(c, QuestionCSAT)
	m.AgentNoAnswer("q", NoAnswerBusy)
	m.AgentLogin()
	m.SIPRequest(In, "INVITE")
	m.Registration(RegistrationSuccess)
	m.RecordingUploaded(time.Second)
	m.SetQueueSource(nil)
	m.SetRecordsSource(nil)
	m.RTPLegEnded(RTPStats{})
}

func TestConfig(t *testing.T) {
	var c Config
	c.SetDefaults()
	if c.Listen != "127.0.0.1:9464" || c.Path != "/metrics" || c.TimeZone != "UTC" {
		t.Fatalf("defaults: %+v", c)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	bad := Config{Listen: "9464", Path: "metrics", TimeZone: "Mars/Olympus"}
	fields := map[string]bool{}
	for _, fe := range cfg.Fields(bad.Validate()) {
		fields[fe.Field] = true
	}
	for _, f := range []string{"listen", "path", "time_zone"} {
		if !fields[f] {
			t.Errorf("no error for %s (got %v)", f, fields)
		}
	}
	if err := (&Config{Listen: ":9464", Path: "/m", TimeZone: "Local"}).Validate(); err == nil {
		t.Error(`time_zone "Local" accepted`)
	}
}

func TestServer(t *testing.T) {
	m := newTest(t, Options{})
	exercise(m)
	c := Config{Listen: "127.0.0.1:0", Path: "/metrics"}
	s := NewServer(c, m, nil)
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil && !errors.Is(err, context.Canceled) {
			t.Error(err)
		}
	}()
	base := "http://" + s.Addr().String()
	res, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || !strings.Contains(string(body), "hotline_build_info{") {
		t.Errorf("/metrics: %d\n%s", res.StatusCode, body)
	}
	res, err = http.Get(base + "/other")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 404 {
		t.Errorf("/other: %d", res.StatusCode)
	}
}

// The profiles are served on the metrics listener only when enabled:
// with metrics.pprof the index lists the profiles and a CPU profile of
// one second comes back in the profile format; without it both are 404.
func TestServerPprof(t *testing.T) {
	m := newTest(t, Options{})
	for _, enabled := range []bool{true, false} {
		s := NewServer(Config{Listen: "127.0.0.1:0", Path: "/metrics", Pprof: enabled}, m, nil)
		if err := s.Start(); err != nil {
			t.Fatal(err)
		}
		base := "http://" + s.Addr().String()
		get := func(path string) (int, string) {
			res, err := http.Get(base + path)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			body, _ := io.ReadAll(res.Body)
			return res.StatusCode, string(body)
		}
		code, body := get("/debug/pprof/")
		if enabled && (code != 200 || !strings.Contains(body, "goroutine") || !strings.Contains(body, "heap")) {
			t.Errorf("pprof enabled: /debug/pprof/: %d\n%.300s", code, body)
		}
		if !enabled && code != 404 {
			t.Errorf("pprof disabled: /debug/pprof/: %d, want 404", code)
		}
		code, body = get("/debug/pprof/profile?seconds=1")
		// A CPU profile is gzipped protobuf: it starts with gzip's magic.
		if enabled && (code != 200 || !strings.HasPrefix(body, "\x1f\x8b")) {
			t.Errorf("pprof enabled: /debug/pprof/profile: %d, %d bytes", code, len(body))
		}
		if !enabled && code != 404 {
			t.Errorf("pprof disabled: /debug/pprof/profile: %d, want 404", code)
		}
		if code, _ := get("/metrics"); code != 200 {
			t.Errorf("pprof %v: /metrics: %d", enabled, code)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if err := s.Shutdown(ctx); err != nil && !errors.Is(err, context.Canceled) {
			t.Error(err)
		}
		cancel()
	}
}

// The recording backlog source's figures are exported as they are given.
func TestBacklogExported(t *testing.T) {
	m := newTest(t, Options{})
	exercise(m)
	text := scrape(t, m.Handler(), "")
	for _, want := range []string{
		"hotline_recording_backlog_files 2",
		"hotline_recording_upload_failures_total 3",
		"hotline_recording_dropped_packets_total 4",
	} {
		if !strings.Contains(text, want+"\n") {
			t.Errorf("scrape lacks %q", want)
		}
	}
}

// TestRecordsExported: the call-records store's health is exported as
// its source gives it (backend up 0 while it refuses writes), and not at
// all without a source.
func TestRecordsExported(t *testing.T) {
	m := newTest(t, Options{NoRuntimeMetrics: true})
	names := []string{NameRecordsWritten, NameRecordsSpooled, NameRecordsSpoolBatches, NameRecordsBackendUp, NameRecordsHeld}
	if err := testutil.GatherAndCompare(m.Registry(), strings.NewReader(""), names...); err != nil {
		t.Errorf("without a source: %v", err)
	}
	r := Records{Written: 120}
	m.SetRecordsSource(func() Records { return r })
	want := func(written, spooled, batches, up, held int) string {
		return fmt.Sprintf(`# HELP hotline_records_backend_up 1 while the records backend takes writes, 0 while it refuses them (records go to the spool).
# TYPE hotline_records_backend_up gauge
hotline_records_backend_up %d
# HELP hotline_records_held Call records neither the backend nor the spool took at the last flush, kept in memory (lost if the process ends); should stay 0.
# TYPE hotline_records_held gauge
hotline_records_held %d
# HELP hotline_records_spool_batches Batches of call records waiting in the local records spool for the backend.
# TYPE hotline_records_spool_batches gauge
hotline_records_spool_batches %d
# HELP hotline_records_spooled_total Call records and events written to the local records spool because the backend refused them (stored later, when replayed).
# TYPE hotline_records_spooled_total counter
hotline_records_spooled_total %d
# HELP hotline_records_written_total Call records and events the records backend (file or PostgreSQL) stored.
# TYPE hotline_records_written_total counter
hotline_records_written_total %d
`, up, held, batches, spooled, written)
	}
	if err := testutil.GatherAndCompare(m.Registry(), strings.NewReader(want(120, 0, 0, 1, 0)), names...); err != nil {
		t.Errorf("backend up: %v", err)
	}
	// The backend refuses writes: batches go to the spool; then the
	// spool refuses too and records are held in memory.
	r = Records{Written: 120, Spooled: 30, SpoolBatches: 3, BackendDown: true, Held: 7}
	if err := testutil.GatherAndCompare(m.Registry(), strings.NewReader(want(120, 30, 3, 0, 7)), names...); err != nil {
		t.Errorf("backend down: %v", err)
	}
}

// TestConfigReloaded: a refused reload sets the success gauge to 0 and
// keeps the time of the last good load; a good one sets 1 and its time.
func TestConfigReloaded(t *testing.T) {
	now := monday0930
	m := newTest(t, Options{Now: func() time.Time { return now }})
	if ok, at := testutil.ToFloat64(m.reloadOK), testutil.ToFloat64(m.reloadTime); ok != 1 || at != float64(monday0930.Unix()) {
		t.Fatalf("at start: successful %v at %v", ok, at)
	}
	now = now.Add(time.Hour)
	m.ConfigReloaded(false)
	if ok, at := testutil.ToFloat64(m.reloadOK), testutil.ToFloat64(m.reloadTime); ok != 0 || at != float64(monday0930.Unix()) {
		t.Errorf("after a refused reload: successful %v at %v, want 0 at the start", ok, at)
	}
	now = now.Add(time.Hour)
	m.ConfigReloaded(true)
	if ok, at := testutil.ToFloat64(m.reloadOK), testutil.ToFloat64(m.reloadTime); ok != 1 || at != float64(now.Unix()) {
		t.Errorf("after a good reload: successful %v at %v", ok, at)
	}
}

// TestAgentView: one hotline_agent_state series per agent and state (1 for
// the current one), calls in progress by queue, and an agent's calls,
// talk time and ratings.
func TestAgentView(t *testing.T) {
	m := newTest(t, Options{NoRuntimeMetrics: true})
	agents := []AgentStatus{{Agent: "alice", State: "paused"}, {Agent: "bob", State: "on_call"}}
	m.SetAgentStateSource(func() []AgentStatus { return agents })
	m.SetQueueCallsSource(func() map[string]int { return map[string]int{"1900": 2, "": 1} })
	m.AgentCallEnded("bob", 90*time.Second, 4)
	m.AgentCallEnded("bob", 30*time.Second, 0)   // not rated
	m.AgentCallEnded("", time.Minute, 5)         // nobody: not counted
	m.AgentCallEnded("carol", 10*time.Second, 9) // out of range: not rated
	m.AgentCallEnded("dave", 20*time.Second, 2)
	want := `
# HELP hotline_agent_calls_total Calls an agent answered (counted when they end).
# TYPE hotline_agent_calls_total counter
hotline_agent_calls_total{agent="bob"} 2
hotline_agent_calls_total{agent="carol"} 1
hotline_agent_calls_total{agent="dave"} 1
# HELP hotline_agent_talk_seconds_total Talk time of the calls an agent answered.
# TYPE hotline_agent_talk_seconds_total counter
hotline_agent_talk_seconds_total{agent="bob"} 120
hotline_agent_talk_seconds_total{agent="carol"} 10
hotline_agent_talk_seconds_total{agent="dave"} 20
# HELP hotline_agent_csat_score Post-call CSAT ratings (1-5) of the calls an agent answered.
# TYPE hotline_agent_csat_score histogram
hotline_agent_csat_score_bucket{agent="bob",le="1"} 0
hotline_agent_csat_score_bucket{agent="bob",le="2"} 0
hotline_agent_csat_score_bucket{agent="bob",le="3"} 0
hotline_agent_csat_score_bucket{agent="bob",le="4"} 1
hotline_agent_csat_score_bucket{agent="bob",le="5"} 1
hotline_agent_csat_score_bucket{agent="bob",le="+Inf"} 1
hotline_agent_csat_score_sum{agent="bob"} 4
hotline_agent_csat_score_count{agent="bob"} 1
hotline_agent_csat_score_bucket{agent="dave",le="1"} 0
hotline_agent_csat_score_bucket{agent="dave",le="2"} 1
hotline_agent_csat_score_bucket{agent="dave",le="3"} 1
hotline_agent_csat_score_bucket{agent="dave",le="4"} 1
hotline_agent_csat_score_bucket{agent="dave",le="5"} 1
hotline_agent_csat_score_bucket{agent="dave",le="+Inf"} 1
hotline_agent_csat_score_sum{agent="dave"} 2
hotline_agent_csat_score_count{agent="dave"} 1
# HELP hotline_queue_calls_active Calls in progress by queue (unrouted: not in a queue yet).
# TYPE hotline_queue_calls_active gauge
hotline_queue_calls_active{queue="1900"} 2
hotline_queue_calls_active{queue="unrouted"} 1
`
	if err := testutil.GatherAndCompare(m.Registry(), strings.NewReader(want), NameAgentCalls, NameAgentTalk, NameAgentCSAT, NameQueueCallsActive); err != nil {
		t.Error(err)
	}
	// states gathers hotline_agent_state: how many series, and the state
	// each agent is in (the series with 1).
	states := func() (int, map[string]string) {
		t.Helper()
		mfs, err := m.Registry().Gather()
		if err != nil {
			t.Fatal(err)
		}
		ones := map[string]string{}
		n := 0
		for _, mf := range mfs {
			switch mf.GetName() {
			case NameAgentState:
				for _, s := range mf.GetMetric() {
					n++
					l := map[string]string{}
					for _, lp := range s.GetLabel() {
						l[lp.GetName()] = lp.GetValue()
					}
					if s.GetGauge().GetValue() == 1 {
						ones[l["agent"]] += l["state"]
					}
				}
			case NameAgentCSAT:
				if c := mf.GetMetric()[0].GetHistogram().GetSampleCount(); c != 1 {
					t.Errorf("bob's CSAT count %d, want 1", c)
				}
			}
		}
		return n, ones
	}
	if n, ones := states(); n != 2*len(AgentStates) || len(ones) != 2 || ones["alice"] != "paused" || ones["bob"] != "on_call" {
		t.Errorf("hotline_agent_state: %d series, current %v", n, ones)
	}
	// The samples are kept between scrapes: the next one shows the
	// states of then, and no agent that has left the list.
	agents = []AgentStatus{{Agent: "alice", State: "available"}, {Agent: "carol", State: "on_call"}, {Agent: "alice", State: "on_call"}}
	if n, ones := states(); n != 2*len(AgentStates) || len(ones) != 2 || ones["alice"] != "available" || ones["carol"] != "on_call" {
		t.Errorf("hotline_agent_state after the states changed: %d series, current %v, want alice available and carol on_call", n, ones)
	}
}
