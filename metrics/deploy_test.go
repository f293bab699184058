package metrics

import (
	"fmt"
	"math"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"hotline/internal/promtest"
)

func TestDeployPromtool(t *testing.T) {
	pt := promtool(t)
	deployDir := promtest.DeployDir(t)
	rulesDir := filepath.Join(deployDir, "prometheus", "rules")
	for _, args := range [][]string{
		{"check", "config", filepath.Join(deployDir, "prometheus", "prometheus.yml")},
		{"check", "rules", filepath.Join(rulesDir, "hotline.rules.yml")},
	} {
		out, err := exec.Command(pt, args...).CombinedOutput()
		if err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	cmd := exec.Command(pt, "test", "rules", "hotline.rules.test.yml")
	cmd.Dir = rulesDir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("promtool test rules: %v\n%s", err, out)
	}
}

func TestMetricNamesLexer(t *testing.T) {
	got := promtest.MetricNames(`sum by (queue, hour) ((hotline_csat_score_sum{le=~"3|3.0", x="a{b}"} unless hotline_csat_score_sum offset 1d) or increase(hotline_x_total[$__range])) / on (queue) group_left(y) queue:rule:ratio > bool 1e3`)
	want := []string{"hotline_csat_score_sum", "hotline_x_total", "queue:rule:ratio"}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("got %v, want %v", got, want)
	}
}

// Every expression in every dashboard (and every rule) names only series
// the metrics package exports or recording rules define.
func TestDashboardsReferenceExportedMetrics(t *testing.T) {
	known := map[string]bool{}
	for _, n := range SeriesNames() {
		known[n] = true
	}
	// Prometheus adds up for every scrape target (the HotlineDown alert).
	known["up"] = true
	r := promtest.LoadRules(t)
	records := map[string]bool{}
	for _, g := range r.Groups {
		for _, rl := range g.Rules {
			if rl.Record != "" {
				records[rl.Record] = true
			}
		}
	}
	check := func(where, expr string) {
		names := promtest.MetricNames(expr)
		if len(names) == 0 {
			t.Errorf("%s: no metric in %q", where, expr)
		}
		for _, n := range names {
			if !known[n] && !records[n] {
				t.Errorf("%s: %s is neither a Hotline metric nor a recording rule (in %q)", where, n, expr)
			}
		}
	}
	for _, g := range r.Groups {
		for _, rl := range g.Rules {
			check("rule "+rl.Record+rl.Alert, rl.Expr)
		}
	}
	uids := map[string]bool{}
	for _, d := range promtest.LoadDashboards(t) {
		if d.UID == "" || uids[d.UID] {
			t.Errorf("%s: missing or duplicate uid %q", d.File, d.UID)
		}
		uids[d.UID] = true
		qs := promtest.PanelQueries(t, d)
		if len(qs) == 0 {
			t.Errorf("%s: no queries", d.File)
		}
		for _, q := range qs {
			check(q.Where, q.Expr)
		}
		for name, metric := range promtest.VariableMetrics(t, d) {
			check(d.File+" variable "+name, metric)
		}
	}
	// The provisioned datasource is the default Prometheus one, which the
	// dashboards' datasource variable picks.
	b, err := os.ReadFile(filepath.Join(promtest.DeployDir(t), "grafana", "provisioning", "datasources", "prometheus.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var ds struct {
		Datasources []struct {
			Type      string `yaml:"type"`
			IsDefault bool   `yaml:"isDefault"`
		} `yaml:"datasources"`
	}
	if err := yaml.Unmarshal(b, &ds); err != nil || len(ds.Datasources) != 1 || ds.Datasources[0].Type != "prometheus" || !ds.Datasources[0].IsDefault {
		t.Errorf("datasource provisioning: %+v %v, want one default prometheus datasource", ds, err)
	}
}

// TestDashboardsTimeZone: the dashboards show time (and "today") in the
// hotline's time zone, the one of the hour and weekday labels: that of
// the compose configuration they are provisioned with.
func TestDashboardsTimeZone(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(promtest.DeployDir(t), "compose", "hotline.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var c struct {
		Metrics Config `yaml:"metrics"`
	}
	if err := yaml.Unmarshal(b, &c); err != nil || c.Metrics.TimeZone == "" {
		t.Fatalf("compose/hotline.yaml metrics.time_zone: %q %v", c.Metrics.TimeZone, err)
	}
	for _, d := range promtest.LoadDashboards(t) {
		if d.Timezone != c.Metrics.TimeZone {
			t.Errorf("%s: timezone %q, want the hotline's %q (metrics.time_zone)", d.File, d.Timezone, c.Metrics.TimeZone)
		}
	}
}

// TestEndToEndPrometheus feeds known calls, lets a real Prometheus scrape
// them, and evaluates every dashboard expression and recording rule.
func TestEndToEndPrometheus(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a real Prometheus")
	}
	loc, err := (&Config{TimeZone: "Asia/Ho_Chi_Minh"}).Location()
	if err != nil {
		t.Fatal(err)
	}
	m := New(Options{Location: loc, Version: "e2e"})
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	m.SetQueueSource(func() []QueueStatus {
		return []QueueStatus{{Queue: "1900", Waiting: 2, LongestWait: 45 * time.Second, Open: true}}
	})
	m.SetAgentSource(func() []AgentCount {
		return []AgentCount{{Queue: "1900", State: "available", Count: 1}, {Queue: "1900", State: "on_call", Count: 2}}
	})
	m.SetActiveCallsSource(func() int { return 2 })
	m.SetQueueCallsSource(func() map[string]int { return map[string]int{"1900": 2} })
	m.SetAgentStateSource(func() []AgentStatus {
		return []AgentStatus{{Agent: "alice", State: "available"}, {Agent: "bob", State: "on_call"}}
	})
	m.SetRegistrationSource(func() int { return 3 })
	m.SetRTPSource(func() []RTPStats {
		return []RTPStats{{PacketsIn: 500, PacketsOut: 500, JitterIn: 2 * time.Millisecond}}
	})
	m.SetBacklogSource(func() Backlog { return Backlog{Files: 1, Bytes: 4096, Uploaded: 3} })
	m.SetRecordsSource(func() Records { return Records{Written: 16, Spooled: 4, SpoolBatches: 1, BackendDown: true, Held: 2} })
	// The in-kernel relay's counters (absent when it is not running).
	m.SetRTPKernelSource(func() (RTPKernel, bool) { return RTPKernel{Relayed: 900, RingFull: 2, TooLong: 1}, true })

	day := time.Date(2024, 6, 3, 0, 0, 0, 0, loc) // a Monday in the hotline's zone
	n := 0
	call := func(segment, reason string, hour, minute int, wait time.Duration, outcome Outcome) Call {
		n++
		c := Call{ID: fmt.Sprintf("e2e-call-%d", n), Queue: "1900", Segment: segment, Reason: reason,
			Arrived: day.Add(time.Duration(hour)*time.Hour + time.Duration(minute)*time.Minute)}
		m.CallOffered(c)
		m.QueueWait(c, outcome, wait)
		if outcome == OutcomeAnswered {
			m.HandleTime(c, 4*time.Minute, 30*time.Second)
		}
		return c
	}
	// Each round: a 09:xx caller waits 10 s and rates 5; a 17:xx caller
	// waits 200 s and rates 2; another 17:xx caller gives up after 60 s;
	// a 09:xx caller hangs up on the survey.
	round := func() {
		c := call("loyal", "billing", 9, 15, 10*time.Second, OutcomeAnswered)
		m.CSAT(c, 10*time.Second, 5)
		m.AgentCallEnded("alice", 4*time.Minute, 5)
		m.NPS(c, 10)
		c = call("at_risk", "complaint", 17, 40, 200*time.Second, OutcomeAnswered)
		m.CSAT(c, 200*time.Second, 2)
		m.AgentCallEnded("bob", 4*time.Minute, 2)
		m.NPS(c, 3)
		call("potential", "order", 17, 50, 60*time.Second, OutcomeAbandoned)
		c = call("loyal", "order", 9, 45, 5*time.Second, OutcomeAnswered)
		m.SurveyNoResponse(c, QuestionCSAT)
		m.AgentNoAnswer("1900", NoAnswerTimeout)
		m.SIPRequest(In, "INVITE")
		m.SIPResponse(Out, "INVITE", 200)
		m.Registration(RegistrationSuccess)
		m.RecordingUploaded(200 * time.Millisecond)
	}

	prom := promtest.Start(t, strings.TrimPrefix(srv.URL, "http://"))
	deadline := time.Now().Add(30 * time.Second)
	offered := func(want float64) func(promtest.Vector) bool {
		return func(r promtest.Vector) bool { return len(r) == 1 && r.Value(0) == want }
	}
	// The first round is scraped as the series' first samples; the second
	// makes rates over them non-zero.
	round()
	prom.WaitFor(t, `sum(hotline_calls_offered_total)`, deadline, offered(4))
	round()
	prom.WaitFor(t, `sum(hotline_calls_offered_total)`, deadline, offered(8))

	// Recording rules: wait until each has been evaluated on the second
	// round, then check each recorded series and expression has data.
	r := promtest.LoadRules(t)
	var records []string
	for _, g := range r.Groups {
		for _, rl := range g.Rules {
			if rl.Record == "" {
				continue
			}
			records = append(records, rl.Record)
			res, err := prom.Query(rl.Expr)
			if err != nil || len(res) == 0 {
				t.Errorf("rule %s: expression returns no data (%v): %s", rl.Record, err, rl.Expr)
			}
		}
	}
	for _, rec := range records {
		prom.WaitFor(t, rec, deadline, func(r promtest.Vector) bool { return len(r) > 0 })
	}
	// Rates need the second round: wait until the service level is a number.
	prom.WaitFor(t, `queue:hotline_service_level:ratio_rate5m`, deadline, func(r promtest.Vector) bool {
		return len(r) == 1 && !math.IsNaN(r.Value(0))
	})

	// Every dashboard expression returns data.
	all := promtest.AllPanelQueries(t)
	for _, q := range all {
		res, err := prom.Query(promtest.Substitute(q.Expr))
		if err != nil {
			t.Errorf("%s: %v\n%s", q.Where, err, q.Expr)
			continue
		}
		if len(res) == 0 {
			t.Errorf("%s: no data\n%s", q.Where, promtest.Substitute(q.Expr))
		}
	}

	// CSAT by hour is exactly what was pressed: 5 at 09:xx, 2 at 17:xx.
	byHour := func(title string) map[string]float64 {
		for _, q := range all {
			if strings.HasSuffix(q.Where, " / "+title) {
				res, err := prom.Query(promtest.Substitute(q.Expr))
				if err != nil {
					t.Fatal(err)
				}
				out := map[string]float64{}
				for i := range res {
					out[res[i].Metric["hour"]] = res.Value(i)
				}
				return out
			}
		}
		t.Fatalf("no panel %q", title)
		return nil
	}
	expect := func(title string, want map[string]float64) {
		got := byHour(title)
		if fmt.Sprint(promtest.SortedKeys(got)) != fmt.Sprint(promtest.SortedKeys(want)) {
			t.Errorf("%s: hours %v, want %v", title, got, want)
			return
		}
		for h, w := range want {
			if math.Abs(got[h]-w) > 1e-9 {
				t.Errorf("%s: hour %s = %v, want %v", title, h, got[h], w)
			}
		}
	}
	expect("Average CSAT by hour of day", map[string]float64{"9": 5, "17": 2})
	expect("Satisfied (4-5) share by hour of day", map[string]float64{"9": 1, "17": 0})
	expect("NPS by hour of day", map[string]float64{"9": 100, "17": -100})
	// Hour 9: 2 rated, 2 hung up on the survey; hour 17: all rated.
	expect("CSAT response rate by hour of day", map[string]float64{"9": 0.5, "17": 1})
	for _, rec := range []struct {
		expr string
		want float64
	}{
		{`queue_hour:hotline_csat_score:avg1d{queue="1900",hour="9"}`, 5},
		{`queue_hour:hotline_csat_score:avg1d{queue="1900",hour="17"}`, 2},
		{`queue_hour:hotline_csat_satisfied:ratio1d{queue="1900",hour="9"}`, 1},
		{`queue_hour:hotline_csat_satisfied:ratio1d{queue="1900",hour="17"}`, 0},
	} {
		res, err := prom.Query(rec.expr)
		if err != nil || len(res) != 1 || res.Value(0) != rec.want {
			t.Errorf("%s = %v (%v), want %v", rec.expr, res, err, rec.want)
		}
	}

	// The call ids reached Prometheus as exemplars of the wait histogram.
	var ex []struct {
		Exemplars []struct {
			Labels map[string]string `json:"labels"`
		} `json:"exemplars"`
	}
	now := time.Now()
	err = prom.Get("/api/v1/query_exemplars", url.Values{
		"query": {`hotline_queue_wait_seconds_bucket`},
		"start": {strconv.FormatInt(now.Add(-time.Minute).Unix(), 10)},
		"end":   {strconv.FormatInt(now.Add(time.Minute).Unix(), 10)},
	}, &ex)
	found := false
	for _, s := range ex {
		for _, e := range s.Exemplars {
			if strings.HasPrefix(e.Labels[ExemplarLabel], "e2e-call-") {
				found = true
			}
		}
	}
	if err != nil || !found {
		t.Errorf("no call-id exemplar in Prometheus: %v %+v", err, ex)
	}
}

// TestClusterGaugesNotSummedAcrossNodes: the agent and queue gauges come
// from the ACD that every node of a cluster shares, so every node
// exports the whole hotline's values. Every dashboard query and rule
// takes them through max (or min/avg) by their own labels, never a sum
// over instances, which would count them once per node.
func TestClusterGaugesNotSummedAcrossNodes(t *testing.T) {
	shared := []string{NameAgents, NameAgentState, NameCallersWaiting, NameLongestWait, NameQueueOpen,
		NameServiceLevelThreshold, NameServiceLevelTarget}
	use := regexp.MustCompile(`\b(` + strings.Join(shared, "|") + `)\b([^_:a-z]|$)`)
	wrapped := regexp.MustCompile(`\b(max|min|avg)\s*(by\s*\([^)]*\)\s*)?\(\s*$`)
	check := func(where, expr string) {
		for _, m := range use.FindAllStringSubmatchIndex(expr, -1) {
			if !wrapped.MatchString(expr[:m[0]]) {
				t.Errorf("%s: %s is not taken through max/min/avg by its labels (every node exports the shared ACD's value): %q",
					where, expr[m[2]:m[3]], expr)
			}
		}
	}
	// Counters of the shared ACD (calls lost with a node): every node
	// exports the hotline's count, so their increase or rate is taken
	// through max by its labels.
	sharedCounters := []string{NameCallsLost}
	useCounter := regexp.MustCompile(`\b(` + strings.Join(sharedCounters, "|") + `)\b([^_:a-z]|$)`)
	wrappedCounter := regexp.MustCompile(`\b(max|min|avg)\s*(by\s*\([^)]*\)\s*)?\(\s*(increase|rate|irate|resets)\(\s*$`)
	checkCounter := func(where, expr string) {
		for _, m := range useCounter.FindAllStringSubmatchIndex(expr, -1) {
			if !wrappedCounter.MatchString(expr[:m[0]]) {
				t.Errorf("%s: %s is not taken through max/min/avg of its increase or rate (every node exports the shared ACD's count): %q",
					where, expr[m[2]:m[3]], expr)
			}
		}
	}
	used := false
	for _, g := range promtest.LoadRules(t).Groups {
		for _, rl := range g.Rules {
			check("rule "+rl.Record+rl.Alert, rl.Expr)
			checkCounter("rule "+rl.Record+rl.Alert, rl.Expr)
			used = used || useCounter.MatchString(rl.Expr)
		}
	}
	for _, d := range promtest.LoadDashboards(t) {
		for _, q := range promtest.PanelQueries(t, d) {
			check(q.Where, q.Expr)
			checkCounter(q.Where, q.Expr)
			used = used || useCounter.MatchString(q.Expr)
		}
	}
	if !used {
		t.Errorf("no rule or panel uses %v", sharedCounters)
	}
}
