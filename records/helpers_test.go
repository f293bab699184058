package records_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"testing"
	"time"

	"hotline/internal/pgtest"
	"hotline/records"
)

// testLog logs to the test output with -v only.
func testLog(t testing.TB) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

// fileConfig is a file-backend configuration in a temporary directory.
func fileConfig(t testing.TB) records.Config {
	c := records.Config{Backend: records.BackendFile, SpoolDir: t.TempDir(), StateDir: t.TempDir()}
	c.File.Dir = t.TempDir()
	c.File.LookBackDays = 3660
	c.SetDefaults()
	c.FlushInterval = 20 * time.Millisecond
	c.RetryInterval = 100 * time.Millisecond
	return c
}

// pgConfig is a postgres-backend configuration on a fresh database of srv.
func pgConfig(t testing.TB, srv *pgtest.Server, db string) records.Config {
	c := records.Config{Backend: records.BackendPostgres, SpoolDir: t.TempDir(), StateDir: t.TempDir()}
	c.Postgres.DSN = srv.NewDatabase(t, db)
	c.SetDefaults()
	c.FlushInterval = 20 * time.Millisecond
	c.RetryInterval = 100 * time.Millisecond
	return c
}

func open(t testing.TB, c records.Config) *records.Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := records.Open(ctx, c, records.Options{Log: testLog(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func flush(t testing.TB, s *records.Store) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
}

var base = time.Date(2026, 11, 28, 22, 0, 0, 0, time.UTC)

func ip(v int) *int { return &v }

// sample is call i of a deterministic set: three agents, two queues,
// every fourth call abandoned, ratings 1-5 on answered calls, spread
// over several days (17 minutes apart).
func sample(i int) (records.Call, []records.Event) {
	arrived := base.Add(time.Duration(i) * 17 * time.Minute)
	c := records.Call{
		CallID: fmt.Sprintf("call-%05d", i), Direction: "inbound", Hotline: "1900",
		Queue: []string{"default", "vip"}[i%2], Customer: fmt.Sprintf("+8490%07d", i%7),
		Segment: []string{"standard", "vip", "at_risk"}[i%3], Reason: "billing",
		Arrived: arrived, Queued: records.TimePtr(arrived.Add(5 * time.Second)),
		Ended: arrived.Add(3 * time.Minute), Wait: float64(i%60) + 0.25,
	}
	evs := []records.Event{{At: arrived.Add(5 * time.Second), Kind: records.EventEnteredQueue, CallID: c.CallID, Queue: c.Queue, Customer: c.Customer, Position: 1 + i%3}}
	if i%4 == 3 {
		c.Outcome = "abandoned"
		evs = append(evs, records.Event{At: c.Ended, Kind: records.EventAbandoned, CallID: c.CallID, Queue: c.Queue, Position: 1, Duration: c.Wait})
		return c, evs
	}
	c.Outcome = "answered"
	c.Agent = []string{"alice", "bob", "carol"}[i%3]
	c.Connected = records.TimePtr(arrived.Add(time.Duration(5+i%60) * time.Second))
	c.Answer, c.Talk = c.Wait+5, 120.5
	c.CSAT = ip(1 + i%5)
	c.Recording = "recordings/" + c.CallID + ".wav"
	if i%5 == 0 { // transferred, then monitored
		c.Legs = []byte(`[{"role":"agent","agent":"dave"},{"role":"agent","agent":"` + c.Agent + `"}]`)
		c.Transfers = []byte(`[{"kind":"blind","at":"2026-11-28T10:00:00Z","by":"dave","target":"agent:` + c.Agent + `"}]`)
		c.Monitors = []byte(`[{"supervisor":"sue","agent":"` + c.Agent + `","via":"code","start":"2026-11-28T10:01:00Z",` +
			`"end":"2026-11-28T10:02:00Z","modes":[{"mode":"listen","at":"2026-11-28T10:01:00Z"},{"mode":"barge","at":"2026-11-28T10:01:30Z"}]}]`)
	}
	evs = append(evs,
		records.Event{At: c.Connected.Add(-2 * time.Second), Kind: records.EventOffered, CallID: c.CallID, Agent: c.Agent, Queue: c.Queue},
		records.Event{At: *c.Connected, Kind: records.EventConnected, CallID: c.CallID, Agent: c.Agent, Queue: c.Queue, Duration: c.Wait},
		records.Event{At: c.Ended, Kind: records.EventCompleteCaller, CallID: c.CallID, Agent: c.Agent, Queue: c.Queue, Duration: c.Talk},
		records.Event{At: c.Ended, Kind: records.EventSurveyAnswer, CallID: c.CallID, Customer: c.Customer, Detail: []byte(fmt.Sprintf(`{"question":"csat","answer":%d}`, *c.CSAT))})
	return c, evs
}

// load hands calls [from, to) of the sample set to s.
func load(s *records.Store, from, to int) {
	for i := from; i < to; i++ {
		c, evs := sample(i)
		for j, e := range evs {
			e.ID = fmt.Sprintf("%s-e%d", c.CallID, j)
			s.Event(e)
		}
		s.Call(c)
	}
}
