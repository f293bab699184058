package main

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"hotline/deploy"
	"hotline/internal/e2e"
	"hotline/internal/pgtest"
	"hotline/records"
)

// A call from SIPp answered by a baresip agent is in the history: the
// API answers it by agent and by customer, with its recording key and
// times, from the file backend and from a real PostgreSQL (where the row
// is in the calls table).
func TestE2ECallInHistory(t *testing.T) {
	skipShort(t)
	pg := pgtest.Start(t)
	for _, backend := range []string{records.BackendFile, records.BackendPostgres} {
		t.Run(backend, func(t *testing.T) {
			dsn := ""
			if backend == records.BackendPostgres {
				dsn = pg.NewDatabase(t, "e2e_history")
			}
			a := startApp(t, func(c *Config) {
				c.Records.Backend = backend
				c.Records.Postgres.DSN = dsn
				c.Records.FlushInterval = 50 * time.Millisecond
			})
			agent := startAgent(t, a, "alice", e2e.BaresipOptions{ToneHz: agentHz, AutoAnswer: true})
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			res := e2e.RunSIPp(ctx, t, e2e.SIPpOptions{
				Target:   a.sipAddr("udp"),
				Service:  "1900",
				Caller:   "0912345678",
				Scenario: e2e.UACPlayPCAP(tonePCAP(t, 2*time.Second), 3*time.Second),
			})
			res.RequireCalls(t, 1, 0)
			if _, err := agent.WaitEvent(ctx, e2e.EventCallClosed); err != nil {
				t.Fatal(err)
			}
			waitIdle(t, a)

			type row struct {
				CallID    string     `json:"call_id"`
				Agent     string     `json:"agent"`
				Customer  string     `json:"customer"`
				Outcome   string     `json:"outcome"`
				Recording string     `json:"recording"`
				Arrived   time.Time  `json:"arrived"`
				Connected *time.Time `json:"connected"`
				Ended     time.Time  `json:"ended"`
				Talk      float64    `json:"talk_seconds"`
				Answer    float64    `json:"answer_seconds"`
			}
			var page struct {
				Calls []row  `json:"calls"`
				Error string `json:"error"`
			}
			waitFor(t, 10*time.Second, "the call in the history", func() bool {
				page.Calls = nil
				code := httpJSON(t, "GET", a.apiURL("/api/v1/history/calls?agent=alice"), "", &page)
				return code == 200 && len(page.Calls) == 1
			})
			c := page.Calls[0]
			if c.Outcome != "answered" || c.Recording == "" || c.Connected == nil || c.Talk < 1 || c.Answer <= 0 ||
				!c.Ended.After(*c.Connected) || c.Connected.Before(c.Arrived) {
				t.Fatalf("history row %+v", c)
			}
			var byCustomer struct {
				Calls []row `json:"calls"`
			}
			if code := httpJSON(t, "GET", a.apiURL("/api/v1/customers/"+url.PathEscape(c.Customer)+"/calls"), "", &byCustomer); code != 200 ||
				len(byCustomer.Calls) != 1 || byCustomer.Calls[0].CallID != c.CallID {
				t.Fatalf("customer %q's calls: %d %+v", c.Customer, code, byCustomer.Calls)
			}
			// Alice's queue_log: logged in, offered the call, connected,
			// the caller hung up, wrap-up.
			var ev struct {
				Events []records.Event `json:"events"`
			}
			waitFor(t, 10*time.Second, "alice's events", func() bool {
				ev.Events = nil
				return httpJSON(t, "GET", a.apiURL("/api/v1/agents/alice/events?limit=100"), "", &ev) == 200 && len(ev.Events) >= 5
			})
			var kinds []string
			for i := len(ev.Events) - 1; i >= 0; i-- {
				if e := ev.Events[i]; e.CallID == c.CallID || e.CallID == "" {
					kinds = append(kinds, e.Kind)
				}
			}
			if got := strings.Join(kinds, " "); got != "login offered connected wrap_up complete_caller" && got != "login offered connected complete_caller wrap_up" {
				t.Fatalf("alice's events: %s", got)
			}
			if backend == records.BackendPostgres {
				conn, err := pgx.Connect(ctx, dsn)
				if err != nil {
					t.Fatal(err)
				}
				defer conn.Close(ctx)
				var agent, rec string
				if err := conn.QueryRow(ctx, "SELECT agent, recording FROM calls WHERE call_id = $1", c.CallID).Scan(&agent, &rec); err != nil ||
					agent != "alice" || rec != c.Recording {
					t.Fatal(fmt.Errorf("row of %s in calls: %q %q %w", c.CallID, agent, rec, err))
				}
			}
		})
	}
}

// `hotline migrate` brings an empty PostgreSQL to the latest schema, then
// has nothing to do; with the file backend it refuses (exit 2).
func TestMigrateCommand(t *testing.T) {
	pg := pgtest.Start(t)
	dsn := pg.NewDatabase(t, "migrate_cmd")
	example := string(deploy.ExampleConfig())
	pgConf := strings.Replace(example, "  backend: file           # file or postgres\n",
		"  backend: postgres\n  postgres: {dsn: \""+dsn+"\"}\n", 1)
	if pgConf == example {
		t.Fatal("the example's records.backend line moved; update this test")
	}
	path := filepath.Join(t.TempDir(), "hotline.yaml")
	if err := os.WriteFile(path, []byte(pgConf), 0o600); err != nil {
		t.Fatal(err)
	}
	var out syncBuffer
	if code := run([]string{"migrate", "-config", path}, stdio{out: &out, err: &out}); code != 0 {
		t.Fatalf("migrate: exit %d: %s", code, out.String())
	}
	want := fmt.Sprintf("schema at version %d", records.LatestVersion())
	if !strings.Contains(out.String(), want) {
		t.Fatalf("migrate said %q, want %q", out.String(), want)
	}
	out = syncBuffer{}
	if code := run([]string{"migrate", "-config", path}, stdio{out: &out, err: &out}); code != 0 || !strings.Contains(out.String(), "already at version") {
		t.Fatalf("second migrate: exit %d: %s", code, out.String())
	}
	out = syncBuffer{}
	if code := run([]string{"migrate"}, stdio{out: &out, err: &out}); code != 2 || !strings.Contains(out.String(), "only the postgres backend") {
		t.Fatalf("migrate with the file backend: exit %d: %s", code, out.String())
	}
}
