package main

import (
	"context"
	"fmt"
	"math"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"hotline/internal/e2e"
	"hotline/internal/promtest"
	"hotline/metrics"
	"hotline/routing/config"
)

// docQuery returns the PromQL query that metrics/doc.go documents in the
// indented block following the paragraph starting with heading.
func docQuery(t *testing.T, heading string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(filepath.Dir(promtest.DeployDir(t)), "metrics", "doc.go"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(b), "\n")
	for i, l := range lines {
		if !strings.HasPrefix(l, "// "+heading) {
			continue
		}
		var q []string
		for _, l := range lines[i+1:] {
			switch {
			case strings.HasPrefix(l, "//\t"):
				q = append(q, strings.TrimSpace(strings.TrimPrefix(l, "//\t")))
			case len(q) > 0:
				return strings.Join(q, " ")
			}
		}
	}
	t.Fatalf("metrics/doc.go documents no query after %q", heading)
	return ""
}

// expectByLabel checks that v, keyed by label, is exactly want.
func expectByLabel(t *testing.T, what string, v promtest.Vector, label string, want map[string]float64) {
	t.Helper()
	got := v.ByLabel(label)
	if fmt.Sprint(promtest.SortedKeys(got)) != fmt.Sprint(promtest.SortedKeys(want)) {
		t.Errorf("%s: by %s %v, want %v", what, label, got, want)
		return
	}
	for k, w := range want {
		if math.Abs(got[k]-w) > 1e-9 {
			t.Errorf("%s: %s=%s is %v, want %v", what, label, k, got[k], w)
		}
	}
}

// TestE2EPrometheusSeesSurveyByHour: Hotline's clock reads 09:10 and then
// 17:10 in Asia/Ho_Chi_Minh. A caller gives up in the queue while no agent
// is logged in; then SIPp callers, whose agent (baresip) hangs up after
// 2 s, rate the call by keypad: 5 and 5 at 09:xx, 2 at 17:xx (and answer
// the NPS question: 10 and 9, then 3). A real Prometheus scrapes Hotline
// with the repository's recording rules. Every panel expression of every
// dashboard and every recording rule then returns a number (the in-kernel
// relay's panel none when that relay is not running), and the CSAT by
// hour query documented in metrics/doc.go gives exactly what was pressed.
func TestE2EPrometheusSeesSurveyByHour(t *testing.T) {
	skipShort(t)
	const zone = "Asia/Ho_Chi_Minh"
	loc, err := time.LoadLocation(zone)
	if err != nil {
		t.Fatal(err)
	}
	// Hotline's clock: now, shifted so that it reads hh:10 today in the
	// hotline's zone when at(hh) is called. It only ever moves forward
	// (between calls), so wrap-up and registrations stay consistent.
	var offset atomic.Int64
	clock := func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }
	day := time.Now().In(loc)
	at := func(hour int) {
		target := time.Date(day.Year(), day.Month(), day.Day(), hour, 10, 0, 0, loc)
		offset.Store(int64(time.Until(target)))
	}
	weekday := strings.ToLower(day.Weekday().String()[:3])
	at(9)

	const queue = "1900"
	a := startAppClock(t, func(c *Config) {
		c.Metrics.TimeZone = zone
		c.Survey.NPS = true
		// The queue is named after the hotline number (the default
		// configuration's only queue is "default").
		c.Queues = []config.QueueDef{{Name: queue}}
		c.Rules = []config.RuleConfig{{Name: "default", Queue: queue}}
		c.Callbacks.Queue = queue
		// The clock jumps 8 hours ahead between calls: the agent's
		// registration must outlive the jump.
		c.SIP.Registrar.MaxExpires = 48 * time.Hour
		c.Config.SetDefaults()
		if err := c.Config.Validate(); err != nil {
			t.Fatal(err)
		}
	}, clock)
	prom := promtest.Start(t, a.metricsSrv.Addr().String())

	ctx, cancel := context.WithTimeout(context.Background(), 80*time.Second)
	defer cancel()
	wait := func(expr string, bound time.Duration, cond func(promtest.Vector) bool) promtest.Vector {
		t.Helper()
		return prom.WaitFor(t, expr, time.Now().Add(bound), cond)
	}
	equals := func(want float64) func(promtest.Vector) bool {
		return func(v promtest.Vector) bool { return len(v) == 1 && v.Value(0) == want }
	}
	// Prometheus scrapes Hotline before the first call, so it sees the
	// series a call creates at zero before they count the call.
	wait(`up{job="hotline"}`, 15*time.Second, equals(1))
	wait(`hotline_build_info`, 5*time.Second, equals(1))

	// 09:10, nobody logged in: a caller is answered with hold music,
	// waits (the wallboard sees them) and hangs up after 4 s.
	abandoner := e2e.StartSIPp(t, e2e.SIPpOptions{
		Target:   a.sipAddr("udp"),
		Service:  "1900",
		Caller:   "0901000001",
		Scenario: e2e.UACPlayPCAP("", 4*time.Second),
	})
	wait(`hotline_queue_callers_waiting{queue="1900"}`, 4*time.Second, equals(1))
	res, err := abandoner.Wait(ctx)
	if err != nil {
		t.Fatal(err)
	}
	res.RequireCalls(t, 1, 0)
	waitIdle(t, a)

	agent := startAgent(t, a, "alice", e2e.BaresipOptions{ToneHz: agentHz, AutoAnswer: true, RegisterInterval: 24 * time.Hour})
	rate := func(caller string, keys ...string) {
		t.Helper()
		hangUpAfter(ctx, agent, 2*time.Second)
		pcaps := make([]string, len(keys))
		for i, k := range keys {
			pcaps[i] = e2e.DTMFPCAP(k)
		}
		res := e2e.RunSIPp(ctx, t, e2e.SIPpOptions{
			Target:   a.sipAddr("udp"),
			Service:  "1900",
			Caller:   caller,
			Scenario: e2e.UACKeypad(tonePCAP(t, time.Second), 4*time.Second, pcaps, 2*time.Second, 30*time.Second),
			Timeout:  40 * time.Second,
		})
		res.RequireCalls(t, 1, 0)
		waitIdle(t, a)
		if t.Failed() {
			t.FailNow()
		}
	}
	// Two ratings of 5 at 09:xx: the second moves a series Prometheus
	// already has, which rate()-based panels need. Then one of 2 at 17:xx.
	rate("0901000002", "5", "1", "0")
	rate("0901000003", "5", "9", "pound")
	at(17)
	rate("0901000004", "2", "3", "pound")

	// Prometheus has scraped every call and evaluated the rules on it.
	wait(`sum(hotline_csat_score_count)`, 10*time.Second, equals(3))
	wait(`queue_hour:hotline_csat_score:avg1d{queue="1900",hour="17"}`, 10*time.Second, equals(2))
	wait(`queue:hotline_service_level:ratio_rate5m{queue="1900"}`, 10*time.Second, func(v promtest.Vector) bool { return v.HasNumber() })

	// Every recording rule, and every panel expression of every
	// dashboard, returns a number. (The CSAT half of "CSAT against wait
	// over time (1 h)" is not compared with the ratings: its rate() misses
	// the first rating of every series, so it shows 5 for 5, 5 and 2.)
	var all []promtest.Query
	for _, rl := range promtest.LoadRules(t).Recording() {
		all = append(all, promtest.Query{Where: "rule " + rl.Record, Expr: rl.Expr}, promtest.Query{Where: "recorded " + rl.Record, Expr: rl.Record})
	}
	panels := promtest.AllPanelQueries(t)
	if len(panels) == 0 {
		t.Fatal("no panel queries in the dashboards")
	}
	all = append(all, panels...)
	// The in-kernel relay's counters exist only while it runs (rtp.kernel
	// auto where the system permits it, or on): without it, their panel
	// has no data, and must have none.
	_, kernel := a.sip.RTPKernel()
	for _, q := range all {
		expr := promtest.Substitute(q.Expr)
		v, err := prom.Query(expr)
		switch {
		case err != nil:
			t.Errorf("%s: %v\n%s", q.Where, err, expr)
		case !kernel && slices.Contains(promtest.MetricNames(q.Expr), metrics.NameRTPKernel):
			if len(v) != 0 {
				t.Errorf("%s: data without the kernel relay (%v)\n%s", q.Where, v, expr)
			}
		case !v.HasNumber():
			t.Errorf("%s: no data (%v)\n%s", q.Where, v, expr)
		}
	}
	panel := func(title string) promtest.Vector {
		t.Helper()
		for _, q := range panels {
			if strings.HasSuffix(q.Where, " / "+title) {
				v, err := prom.Query(promtest.Substitute(q.Expr))
				if err != nil {
					t.Fatalf("%s: %v", title, err)
				}
				return v
			}
		}
		t.Fatalf("no panel %q", title)
		return nil
	}
	query := func(expr string) promtest.Vector {
		t.Helper()
		v, err := prom.Query(expr)
		if err != nil {
			t.Fatalf("%s: %v", expr, err)
		}
		return v
	}

	// CSAT by hour is what the callers pressed: the query of the metrics
	// documentation, the dashboard panels and the recording rules.
	csatByHour := map[string]float64{"9": 5, "17": 2}
	satisfiedByHour := map[string]float64{"9": 1, "17": 0}
	expectByLabel(t, "documented CSAT by hour", query(docQuery(t, "Average CSAT for each hour 0-23")), "hour", csatByHour)
	expectByLabel(t, "documented satisfied share by hour", query(docQuery(t, "Share of satisfied (4-5) callers by hour")), "hour", satisfiedByHour)
	expectByLabel(t, "panel Average CSAT by hour of day", panel("Average CSAT by hour of day"), "hour", csatByHour)
	expectByLabel(t, "panel Satisfied (4-5) share by hour of day", panel("Satisfied (4-5) share by hour of day"), "hour", satisfiedByHour)
	expectByLabel(t, "rule queue_hour:hotline_csat_score:avg1d", query(`queue_hour:hotline_csat_score:avg1d{queue="1900"}`), "hour", csatByHour)
	expectByLabel(t, "rule queue_hour:hotline_csat_satisfied:ratio1d", query(`queue_hour:hotline_csat_satisfied:ratio1d{queue="1900"}`), "hour", satisfiedByHour)
	expectByLabel(t, "panel NPS by hour of day", panel("NPS by hour of day"), "hour", map[string]float64{"9": 100, "17": -100})
	expectByLabel(t, "panel CSAT response rate by hour of day", panel("CSAT response rate by hour of day"), "hour", map[string]float64{"9": 1, "17": 1})
	expectByLabel(t, "panel Average CSAT by weekday", panel("Average CSAT by weekday"), "weekday", map[string]float64{weekday: 4})
	expectByLabel(t, "panel Average CSAT by queue", panel("Average CSAT by queue"), "queue", map[string]float64{queue: 4})

	// The queue saw four callers at hotline 1900: three answered at once
	// (within the service level), one who gave up after waiting.
	expectByLabel(t, "calls offered", query(`sum by (queue) (hotline_calls_offered_total)`), "queue", map[string]float64{queue: 4})
	expectByLabel(t, "queue waits by outcome", query(`sum by (outcome) (hotline_queue_wait_seconds_count{queue="1900"})`), "outcome",
		map[string]float64{"answered": 3, "abandoned": 1, "callback": 0, "overflow": 0, "timeout": 0})
	expectByLabel(t, "queue waits by hour", query(`sum by (hour) (hotline_queue_wait_by_hour_seconds_count{queue="1900"})`), "hour", map[string]float64{"9": 3, "17": 1})
	if v := query(`sum(hotline_queue_wait_seconds_sum{queue="1900",outcome="abandoned"})`); len(v) != 1 || !(v.Value(0) >= 1) {
		t.Errorf("abandoned caller's wait %v, want the seconds they held", v)
	}
	for title, want := range map[string]float64{
		"Calls offered today":    4,
		"Abandoned today":        1,
		"Abandonment rate today": 0.25,
		"Service level today":    0.75,
		"Callers waiting now":    0,
	} {
		if v := panel(title); len(v) != 1 || math.Abs(v.Value(0)-want) > 1e-9 {
			t.Errorf("panel %s: %v, want %v", title, v, want)
		}
	}
	if v := panel("Handle time today (average)"); len(v) != 1 || !(v.Value(0) > 0) {
		t.Errorf("panel Handle time today (average): %v, want the agents' talk time", v)
	}

	// Call ids are exemplars of the CSAT histogram, never labels.
	var ex []struct {
		SeriesLabels map[string]string `json:"seriesLabels"`
		Exemplars    []struct {
			Labels map[string]string `json:"labels"`
		} `json:"exemplars"`
	}
	now := time.Now()
	if err := prom.Get("/api/v1/query_exemplars", url.Values{
		"query": {`hotline_csat_score_bucket`},
		"start": {strconv.FormatInt(now.Add(-5*time.Minute).Unix(), 10)},
		"end":   {strconv.FormatInt(now.Add(time.Minute).Unix(), 10)},
	}, &ex); err != nil {
		t.Fatal(err)
	}
	ids := map[string]bool{}
	for _, s := range ex {
		for _, e := range s.Exemplars {
			if id := e.Labels["call_id"]; id != "" && strings.Contains(a.logs.String(), "call_id="+id) {
				ids[id] = true
			}
		}
	}
	if len(ids) == 0 {
		t.Errorf("no exemplar of hotline_csat_score carries a call id Hotline logged: %+v", ex)
	}
	if v := query(`count({__name__=~"hotline_.+", call_id!=""})`); len(v) != 0 {
		t.Errorf("series with a call_id label: %v", v)
	}
}
