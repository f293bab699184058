package records_test

import (
	"context"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"hotline/internal/pgtest"
	"hotline/records"
)

func at(hhmm string) time.Time {
	t, err := time.Parse("2006-01-02 15:04", "2026-11-30 "+hhmm)
	if err != nil {
		panic(err)
	}
	return t
}

// reportData is a small day whose figures are worked out by hand below.
func reportData(s *records.Store) {
	call := func(id, hhmm, customer, agent, outcome string, wait, talk, wrap float64, csat, nps *int) {
		arrived := at(hhmm)
		c := records.Call{CallID: id, Queue: "q1", Customer: customer, Segment: "standard", Reason: "billing", Agent: agent,
			Arrived: arrived, Queued: records.TimePtr(arrived.Add(5 * time.Second)), Ended: arrived.Add(10 * time.Minute),
			Outcome: outcome, Wait: wait, Talk: talk, WrapUp: wrap, CSAT: csat, NPS: nps}
		s.Call(c)
	}
	call("c1", "10:00", "+84900000001", "alice", "answered", 10, 100, 20, ip(5), ip(10))
	call("c2", "10:10", "+84900000002", "alice", "answered", 30, 200, 10, ip(2), ip(3))
	call("c3", "10:20", "+84900000001", "", "abandoned", 40, 0, 0, nil, nil) // c1's customer again
	call("c4", "11:05", "+84900000003", "bob", "answered", 5, 50, 0, ip(4), ip(8))
	ev := func(hhmm, kind, reason string) {
		s.Event(records.Event{At: at(hhmm), Kind: kind, Agent: "alice", Reason: reason})
	}
	ev("09:00", records.EventLogin, "")
	ev("10:30", records.EventPause, "lunch")
	ev("11:00", records.EventUnpause, "")
	ev("17:00", records.EventLogout, "")
}

func near(t *testing.T, what string, got, want float64) {
	t.Helper()
	if math.Abs(got-want) > 1e-9 {
		t.Errorf("%s = %v, want %v", what, got, want)
	}
}

// The report views compute the contact-centre figures of a day worked
// out by hand: offered, answered, abandoned, ASA, AHT, service level,
// CSAT, NPS and first-contact resolution per hour and day; an agent's
// occupancy and pause by reason.
func TestReportViews(t *testing.T) {
	srv := pgtest.Start(t)
	c := pgConfig(t, srv, "reports")
	s := open(t, c)
	reportData(s)
	flush(t, s)
	conn := connect(t, c.Postgres.DSN)
	ctx := context.Background()

	var offered, answered, abandoned, inSL int
	var asa, aht, sl, csat, nps, fcr float64
	row := conn.QueryRow(ctx, `SELECT offered, answered, abandoned, answered_in_sl, asa_seconds, aht_seconds, service_level, csat_avg, nps, fcr
		FROM report_queue_hour WHERE queue = 'q1' AND bucket = '2026-11-30T10:00:00Z'`)
	if err := row.Scan(&offered, &answered, &abandoned, &inSL, &asa, &aht, &sl, &csat, &nps, &fcr); err != nil {
		t.Fatal(err)
	}
	if offered != 3 || answered != 2 || abandoned != 1 || inSL != 1 {
		t.Errorf("10:00: offered %d answered %d abandoned %d in SL %d, want 3 2 1 1", offered, answered, abandoned, inSL)
	}
	near(t, "ASA", asa, 20)    // (10 + 30) / 2
	near(t, "AHT", aht, 165)   // (120 + 210) / 2
	near(t, "SL", sl, 1.0/3)   // c1 within 20 s, of 3 offered
	near(t, "CSAT", csat, 3.5) // 5, 2
	near(t, "NPS", nps, 0)     // one promoter, one detractor
	near(t, "FCR", fcr, 0.5)   // c1 was followed by c3 within 7 days
	row = conn.QueryRow(ctx, `SELECT offered, service_level, nps, fcr FROM report_queue_day WHERE queue = 'q1' AND bucket = '2026-11-30T00:00:00Z'`)
	if err := row.Scan(&offered, &sl, &nps, &fcr); err != nil {
		t.Fatal(err)
	}
	if offered != 4 {
		t.Errorf("day offered %d", offered)
	}
	near(t, "day SL", sl, 0.5)
	near(t, "day NPS", nps, 0)
	near(t, "day FCR", fcr, 2.0/3)
	var n15 int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM report_queue_15m WHERE queue = 'q1'`).Scan(&n15); err != nil || n15 != 3 {
		t.Errorf("15-minute buckets: %d %v, want 3 (10:00, 10:15, 11:00)", n15, err)
	}

	var logged, paused, occ float64
	if err := conn.QueryRow(ctx, `SELECT logged_in_seconds, paused_seconds, occupancy FROM report_agent_day WHERE agent = 'alice'`).Scan(&logged, &paused, &occ); err != nil {
		t.Fatal(err)
	}
	near(t, "alice logged in", logged, 8*3600)
	near(t, "alice paused", paused, 1800)
	near(t, "alice occupancy", occ, 330.0/(8*3600-1800))
	var reason string
	var secs float64
	if err := conn.QueryRow(ctx, `SELECT reason, seconds FROM report_agent_pause_day WHERE agent = 'alice'`).Scan(&reason, &secs); err != nil || reason != "lunch" {
		t.Fatalf("pause: %q %v", reason, err)
	}
	near(t, "lunch", secs, 1800)
	var satisfied, responses int
	if err := conn.QueryRow(ctx, `SELECT sum(satisfied), sum(csat_responses) FROM report_satisfaction WHERE segment = 'standard' AND hour = 10 AND weekday = 1`).Scan(&satisfied, &responses); err != nil ||
		satisfied != 1 || responses != 2 {
		t.Errorf("satisfaction Monday 10:00: %d of %d (%v), want 1 of 2", satisfied, responses, err)
	}
}

var (
	timeFilterRE = regexp.MustCompile(`\$__timeFilter\(([a-z_.]+)\)`)
)

// grafanaSQL replaces the Grafana macros and variables the history
// dashboard uses, for the range [from, to).
func grafanaSQL(sql string, from, to time.Time, queues []string) string {
	sql = timeFilterRE.ReplaceAllString(sql, "$1 BETWEEN '"+from.Format(time.RFC3339)+"' AND '"+to.Format(time.RFC3339)+"'")
	q := make([]string, len(queues))
	for i, s := range queues {
		q[i] = "'" + s + "'"
	}
	return strings.ReplaceAll(sql, "$queue", strings.Join(q, ","))
}

// Every panel of the history dashboard (and its queue variable) returns
// rows with a value, against a real PostgreSQL holding calls and agent
// events; the provisioned datasource carries the uid the panels use.
func TestHistoryDashboardQueries(t *testing.T) {
	path := filepath.Join("..", "deploy", "grafana", "dashboards", "history", "hotline-history.json")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Panels []struct {
			Title      string `json:"title"`
			Datasource struct {
				UID string `json:"uid"`
			} `json:"datasource"`
			Targets []struct {
				RawSQL string `json:"rawSql"`
			} `json:"targets"`
		} `json:"panels"`
		Templating struct {
			List []struct {
				Name  string `json:"name"`
				Query string `json:"query"`
			} `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(data, &d); err != nil {
		t.Fatal(err)
	}
	ds, err := os.ReadFile(filepath.Join("..", "deploy", "grafana", "provisioning", "datasources", "postgres.yml"))
	if err != nil || !strings.Contains(string(ds), "uid: hotline-postgres") {
		t.Fatalf("postgres datasource provisioning: %v", err)
	}
	srv := pgtest.Start(t)
	c := pgConfig(t, srv, "dashboard")
	s := open(t, c)
	reportData(s)
	load(s, 0, 300)
	flush(t, s)
	conn := connect(t, c.Postgres.DSN)
	ctx := context.Background()
	from, to := time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC), time.Date(2026, 12, 5, 0, 0, 0, 0, time.UTC)

	var queues []string
	for _, v := range d.Templating.List {
		rows, err := conn.Query(ctx, v.Query)
		if err != nil {
			t.Fatalf("variable %s: %v", v.Name, err)
		}
		queues, err = pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil || len(queues) < 2 {
			t.Fatalf("variable %s: %v %v", v.Name, queues, err)
		}
	}
	if len(d.Panels) < 8 {
		t.Fatalf("%d panels", len(d.Panels))
	}
	for _, p := range d.Panels {
		if p.Datasource.UID != "hotline-postgres" || len(p.Targets) == 0 {
			t.Errorf("%s: datasource %q, %d targets", p.Title, p.Datasource.UID, len(p.Targets))
		}
		for _, tg := range p.Targets {
			sql := grafanaSQL(tg.RawSQL, from, to, queues)
			rows, err := conn.Query(ctx, sql)
			if err != nil {
				t.Errorf("%s: %v\n%s", p.Title, err, sql)
				continue
			}
			n, valued := 0, false
			for rows.Next() {
				n++
				vals, err := rows.Values()
				if err != nil {
					t.Fatal(err)
				}
				for _, v := range vals[1:] {
					valued = valued || v != nil
				}
			}
			if err := rows.Err(); err != nil {
				t.Errorf("%s: %v", p.Title, err)
			}
			if n == 0 || !valued {
				t.Errorf("%s: %d rows, a value: %v\n%s", p.Title, n, valued, sql)
			}
		}
	}
}
