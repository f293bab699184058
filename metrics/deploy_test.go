package metrics

import (
	"encoding/json"
	"fmt"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

// deployDir is the repository's deploy/ directory.
const deployDir = "../deploy"

// datasourceUID is the uid provisioned in
// deploy/grafana/provisioning/datasources/prometheus.yml.
const datasourceUID = "hotline-prometheus"

func TestDeployPromtool(t *testing.T) {
	pt := promtool(t)
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

// rules is what the tests need of the rules file.
type rules struct {
	Groups []struct {
		Name  string `yaml:"name"`
		Rules []struct {
			Record string `yaml:"record"`
			Alert  string `yaml:"alert"`
			Expr   string `yaml:"expr"`
		} `yaml:"rules"`
	} `yaml:"groups"`
}

func loadRules(t *testing.T) rules {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(deployDir, "prometheus", "rules", "hotline.rules.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var r rules
	if err := yaml.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	return r
}

// query is one PromQL expression found in a dashboard or rules file.
type query struct {
	where string // "dashboard / panel" or "rule NAME"
	expr  string
}

type dashboard struct {
	file       string
	Title      string          `json:"title"`
	UID        string          `json:"uid"`
	Panels     []dashPanel     `json:"panels"`
	Templating json.RawMessage `json:"templating"`
}

type dashPanel struct {
	Title      string       `json:"title"`
	Datasource *dsRef       `json:"datasource"`
	Targets    []dashTarget `json:"targets"`
	Panels     []dashPanel  `json:"panels"` // rows
}

type dsRef struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

type dashTarget struct {
	Expr       string `json:"expr"`
	Datasource *dsRef `json:"datasource"`
}

func loadDashboards(t *testing.T) []dashboard {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(deployDir, "grafana", "dashboards", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 2 {
		t.Fatalf("want at least two dashboards, found %v", files)
	}
	var out []dashboard
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var d dashboard
		if err := json.Unmarshal(b, &d); err != nil {
			t.Fatalf("%s: not valid JSON: %v", f, err)
		}
		d.file = filepath.Base(f)
		out = append(out, d)
	}
	return out
}

// panelQueries lists every panel expression of a dashboard, checking the
// datasource of each.
func panelQueries(t *testing.T, d dashboard) []query {
	t.Helper()
	var out []query
	var walk func([]dashPanel)
	walk = func(ps []dashPanel) {
		for _, p := range ps {
			walk(p.Panels)
			if p.Datasource != nil && p.Datasource.UID != datasourceUID {
				t.Errorf("%s / %s: datasource uid %q, want %q", d.file, p.Title, p.Datasource.UID, datasourceUID)
			}
			for _, tg := range p.Targets {
				if tg.Datasource != nil && tg.Datasource.UID != datasourceUID {
					t.Errorf("%s / %s: target datasource uid %q", d.file, p.Title, tg.Datasource.UID)
				}
				if strings.TrimSpace(tg.Expr) == "" {
					t.Errorf("%s / %s: target without expr", d.file, p.Title)
					continue
				}
				out = append(out, query{where: d.file + " / " + p.Title, expr: tg.Expr})
			}
		}
	}
	walk(d.Panels)
	return out
}

var labelValuesRE = regexp.MustCompile(`^label_values\(\s*([a-zA-Z_:][a-zA-Z0-9_:]*)\s*,\s*[a-zA-Z_][a-zA-Z0-9_]*\s*\)$`)

// variableMetrics returns the metric each template variable reads.
func variableMetrics(t *testing.T, d dashboard) map[string]string {
	t.Helper()
	var tmpl struct {
		List []struct {
			Name       string          `json:"name"`
			Type       string          `json:"type"`
			Definition string          `json:"definition"`
			Query      json.RawMessage `json:"query"`
		} `json:"list"`
	}
	if err := json.Unmarshal(d.Templating, &tmpl); err != nil {
		t.Fatalf("%s: templating: %v", d.file, err)
	}
	out := map[string]string{}
	for _, v := range tmpl.List {
		if v.Type != "query" {
			continue
		}
		m := labelValuesRE.FindStringSubmatch(strings.TrimSpace(v.Definition))
		if m == nil {
			t.Errorf("%s: variable %s: %q is not label_values(metric, label)", d.file, v.Name, v.Definition)
			continue
		}
		out[v.Name] = m[1]
	}
	return out
}

var (
	stringRE  = regexp.MustCompile(`"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'`)
	bracesRE  = regexp.MustCompile(`\{[^{}]*\}`)
	rangeRE   = regexp.MustCompile(`\[[^\[\]]*\]`)
	groupRE   = regexp.MustCompile(`\b(by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)`)
	offsetRE  = regexp.MustCompile(`\boffset\s+-?[0-9a-zA-Z_$]+`)
	identRE   = regexp.MustCompile(`[a-zA-Z_:][a-zA-Z0-9_:]*`)
	keywordRE = regexp.MustCompile(`^(and|or|unless|bool|by|without|on|ignoring|group_left|group_right|offset|inf|nan|Inf|NaN)$`)
	// A number such as 1e3 or 0x1f also matches identRE after its first digit.
	numberTailRE = regexp.MustCompile(`[0-9.]$`)
)

// metricNames returns the metric names a PromQL expression selects. It is
// a small lexer, not a parser: it drops strings, label matchers, ranges,
// grouping clauses and offsets, then takes identifiers not followed by
// "(" (functions and aggregations) and not keywords.
func metricNames(expr string) []string {
	e := stringRE.ReplaceAllString(expr, `""`)
	e = bracesRE.ReplaceAllString(e, " ")
	e = rangeRE.ReplaceAllString(e, " ")
	e = groupRE.ReplaceAllString(e, " ")
	e = offsetRE.ReplaceAllString(e, " ")
	seen := map[string]bool{}
	var out []string
	for _, loc := range identRE.FindAllStringIndex(e, -1) {
		name := e[loc[0]:loc[1]]
		if loc[0] > 0 && numberTailRE.MatchString(e[:loc[0]]) {
			continue // part of a number like 1e3
		}
		rest := strings.TrimLeft(e[loc[1]:], " \t\n")
		if strings.HasPrefix(rest, "(") || keywordRE.MatchString(name) {
			continue
		}
		if !seen[name] {
			seen[name] = true
			out = append(out, name)
		}
	}
	return out
}

func TestMetricNamesLexer(t *testing.T) {
	got := metricNames(`sum by (queue, hour) ((hotline_csat_score_sum{le=~"3|3.0", x="a{b}"} unless hotline_csat_score_sum offset 1d) or increase(hotline_x_total[$__range])) / on (queue) group_left(y) queue:rule:ratio > bool 1e3`)
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
	r := loadRules(t)
	records := map[string]bool{}
	for _, g := range r.Groups {
		for _, rl := range g.Rules {
			if rl.Record != "" {
				records[rl.Record] = true
			}
		}
	}
	check := func(where, expr string) {
		names := metricNames(expr)
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
	for _, d := range loadDashboards(t) {
		if d.UID == "" || uids[d.UID] {
			t.Errorf("%s: missing or duplicate uid %q", d.file, d.UID)
		}
		uids[d.UID] = true
		qs := panelQueries(t, d)
		if len(qs) == 0 {
			t.Errorf("%s: no queries", d.file)
		}
		for _, q := range qs {
			check(q.where, q.expr)
		}
		for name, metric := range variableMetrics(t, d) {
			check(d.file+" variable "+name, metric)
		}
	}
	// The provisioned datasource carries the uid the dashboards use.
	b, err := os.ReadFile(filepath.Join(deployDir, "grafana", "provisioning", "datasources", "prometheus.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var ds struct {
		Datasources []struct {
			UID string `yaml:"uid"`
		} `yaml:"datasources"`
	}
	if err := yaml.Unmarshal(b, &ds); err != nil || len(ds.Datasources) != 1 || ds.Datasources[0].UID != datasourceUID {
		t.Errorf("datasource provisioning: %+v %v", ds, err)
	}
}

// substitute replaces Grafana variables for a query against Prometheus.
func substitute(expr string) string {
	return strings.NewReplacer(
		"$__rate_interval", "1m",
		"$__interval", "15s",
		"$__range", "1h",
		"$queue", ".*",
		"$segment", ".*",
		"$reason", ".*",
	).Replace(expr)
}

// promResult is an instant vector from /api/v1/query.
type promResult []struct {
	Metric map[string]string `json:"metric"`
	Value  [2]any            `json:"value"`
}

func (r promResult) value(i int) float64 {
	s, _ := r[i].Value[1].(string)
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return math.NaN()
	}
	return v
}

type promClient struct {
	base string
	hc   *http.Client
}

func (c promClient) get(path string, params url.Values, out any) error {
	res, err := c.hc.Get(c.base + path + "?" + params.Encode())
	if err != nil {
		return err
	}
	defer res.Body.Close()
	var body struct {
		Status string          `json:"status"`
		Error  string          `json:"error"`
		Data   json.RawMessage `json:"data"`
	}
	if err := json.NewDecoder(res.Body).Decode(&body); err != nil {
		return fmt.Errorf("%s: %d: %w", path, res.StatusCode, err)
	}
	if body.Status != "success" {
		return fmt.Errorf("%s: %s", path, body.Error)
	}
	return json.Unmarshal(body.Data, out)
}

func (c promClient) query(expr string) (promResult, error) {
	var data struct {
		ResultType string     `json:"resultType"`
		Result     promResult `json:"result"`
	}
	if err := c.get("/api/v1/query", url.Values{"query": {expr}}, &data); err != nil {
		return nil, err
	}
	if data.ResultType != "vector" {
		return nil, fmt.Errorf("result type %s", data.ResultType)
	}
	return data.Result, nil
}

// waitFor polls expr until cond holds on its result or the deadline passes.
func (c promClient) waitFor(t *testing.T, expr string, deadline time.Time, cond func(promResult) bool) promResult {
	t.Helper()
	var last promResult
	var lastErr error
	for time.Now().Before(deadline) {
		last, lastErr = c.query(expr)
		if lastErr == nil && cond(last) {
			return last
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s: last %v %v", expr, last, lastErr)
	return nil
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// startPrometheus runs a real Prometheus scraping target every second
// with the deploy rules loaded, and stops it at cleanup.
func startPrometheus(t *testing.T, target string) promClient {
	t.Helper()
	bin, err := exec.LookPath("prometheus")
	if err != nil {
		t.Fatal("prometheus not found (Debian package prometheus): `make test` installs it")
	}
	rulesFile, err := filepath.Abs(filepath.Join(deployDir, "prometheus", "rules", "hotline.rules.yml"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	conf := fmt.Sprintf(`global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
rule_files:
  - %q
scrape_configs:
  - job_name: hotline
    static_configs:
      - targets: [%q]
`, rulesFile, target)
	confFile := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(confFile, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	logFile, err := os.Create(filepath.Join(dir, "prometheus.log"))
	if err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	cmd := exec.Command(bin,
		"--config.file="+confFile,
		"--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr,
		"--enable-feature=exemplar-storage",
		"--log.level=warn",
	)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	setPdeathsig(cmd)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		logFile.Close()
		if t.Failed() {
			if b, err := os.ReadFile(logFile.Name()); err == nil {
				t.Logf("prometheus log:\n%s", b)
			}
		}
	})
	c := promClient{base: "http://" + addr, hc: &http.Client{Timeout: 5 * time.Second}}
	deadline := time.Now().Add(15 * time.Second)
	for {
		res, err := c.hc.Get(c.base + "/-/ready")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == 200 {
				return c
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("prometheus not ready at %s: %v", addr, err)
		}
		time.Sleep(100 * time.Millisecond)
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
	m.SetRegistrationSource(func() int { return 3 })
	m.SetRTPSource(func() []RTPStats {
		return []RTPStats{{PacketsIn: 500, PacketsOut: 500, JitterIn: 2 * time.Millisecond}}
	})
	m.SetBacklogSource(func() Backlog { return Backlog{Files: 1, Bytes: 4096, Uploaded: 3} })

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
		m.NPS(c, 10)
		c = call("at_risk", "complaint", 17, 40, 200*time.Second, OutcomeAnswered)
		m.CSAT(c, 200*time.Second, 2)
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

	prom := startPrometheus(t, strings.TrimPrefix(srv.URL, "http://"))
	deadline := time.Now().Add(30 * time.Second)
	offered := func(want float64) func(promResult) bool {
		return func(r promResult) bool { return len(r) == 1 && r.value(0) == want }
	}
	// The first round is scraped as the series' first samples; the second
	// makes rates over them non-zero.
	round()
	prom.waitFor(t, `sum(hotline_calls_offered_total)`, deadline, offered(4))
	round()
	prom.waitFor(t, `sum(hotline_calls_offered_total)`, deadline, offered(8))

	// Recording rules: wait until each has been evaluated on the second
	// round, then check each recorded series and expression has data.
	r := loadRules(t)
	var records []string
	for _, g := range r.Groups {
		for _, rl := range g.Rules {
			if rl.Record == "" {
				continue
			}
			records = append(records, rl.Record)
			res, err := prom.query(rl.Expr)
			if err != nil || len(res) == 0 {
				t.Errorf("rule %s: expression returns no data (%v): %s", rl.Record, err, rl.Expr)
			}
		}
	}
	for _, rec := range records {
		prom.waitFor(t, rec, deadline, func(r promResult) bool { return len(r) > 0 })
	}
	// Rates need the second round: wait until the service level is a number.
	prom.waitFor(t, `queue:hotline_service_level:ratio_rate5m`, deadline, func(r promResult) bool {
		return len(r) == 1 && !math.IsNaN(r.value(0))
	})

	// Every dashboard expression returns data.
	var all []query
	for _, d := range loadDashboards(t) {
		all = append(all, panelQueries(t, d)...)
	}
	for _, q := range all {
		res, err := prom.query(substitute(q.expr))
		if err != nil {
			t.Errorf("%s: %v\n%s", q.where, err, q.expr)
			continue
		}
		if len(res) == 0 {
			t.Errorf("%s: no data\n%s", q.where, substitute(q.expr))
		}
	}

	// CSAT by hour is exactly what was pressed: 5 at 09:xx, 2 at 17:xx.
	byHour := func(title string) map[string]float64 {
		for _, q := range all {
			if strings.HasSuffix(q.where, " / "+title) {
				res, err := prom.query(substitute(q.expr))
				if err != nil {
					t.Fatal(err)
				}
				out := map[string]float64{}
				for i := range res {
					out[res[i].Metric["hour"]] = res.value(i)
				}
				return out
			}
		}
		t.Fatalf("no panel %q", title)
		return nil
	}
	expect := func(title string, want map[string]float64) {
		got := byHour(title)
		if fmt.Sprint(sortedKeys(got)) != fmt.Sprint(sortedKeys(want)) {
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
		res, err := prom.query(rec.expr)
		if err != nil || len(res) != 1 || res.value(0) != rec.want {
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
	err = prom.get("/api/v1/query_exemplars", url.Values{
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

func sortedKeys(m map[string]float64) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
