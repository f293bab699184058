package records_test

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"testing"
	"time"

	"hotline/internal/pgtest"
	"hotline/records"
)

// benchmarkRecording measures what recording calls costs Hotline's
// process: each op is one call record and its events (entered queue,
// offered, connected, completed, survey answer) handed to the store,
// batched and written by the backend. It reports the CPU time per call
// and the share of one core that 1,000 calls per second take.
func benchmarkRecording(b *testing.B, c records.Config) {
	s := open(b, c)
	evs := make([][]records.Event, 1000)
	calls := make([]records.Call, 1000)
	for i := range calls {
		calls[i], evs[i] = sample(i)
	}
	b.ReportAllocs()
	b.ResetTimer()
	cpu0, wall0 := cpuTime(b), time.Now()
	for i := 0; i < b.N; i++ {
		c := calls[i%1000]
		c.CallID = fmt.Sprintf("bench-%d", i)
		for _, e := range evs[i%1000] {
			e.CallID = c.CallID
			s.Event(e)
		}
		s.Call(c)
		if i%1000 == 999 { // 1,000 calls per batch interval at most, as at 1,000 calls/s
			flush(b, s)
		}
	}
	flush(b, s)
	b.StopTimer()
	cpu := cpuTime(b) - cpu0
	perCall := cpu / time.Duration(b.N)
	b.ReportMetric(float64(perCall.Nanoseconds())/1000, "cpu-µs/call")
	b.ReportMetric(100*float64(perCall*1000)/float64(time.Second), "%core@1000calls/s")
	b.ReportMetric(float64(b.N)/time.Since(wall0).Seconds(), "calls/s")
	if st := s.Stats(); st.Spooled > 0 {
		b.Fatalf("spooled during the benchmark: %+v", st)
	}
}

func BenchmarkRecordingFile(b *testing.B) { benchmarkRecording(b, fileConfig(b)) }

func BenchmarkRecordingPostgres(b *testing.B) {
	srv := pgtest.Start(b)
	benchmarkRecording(b, pgConfig(b, srv, "bench_rec"))
}

// BenchmarkHistoryQuery1M loads a million calls (30 agents, 4 queues,
// 200,000 customers over 90 days) with the shipped indexes and times the
// history API's queries: an agent's calls, a customer's, an agent's calls
// rated 2 or less, a queue over one day, the next page of a cursor and
// the unfiltered newest page. It reports the p50 and p99 latency.
func BenchmarkHistoryQuery1M(b *testing.B) {
	srv := pgtest.Start(b)
	c := pgConfig(b, srv, "bench_query")
	s := open(b, c) // migrates
	b.StopTimer()
	ctx := context.Background()
	db := connect(b, c.Postgres.DSN)
	start := time.Now()
	if _, err := db.Exec(ctx, `INSERT INTO calls (call_id, queue, customer, segment, agent, arrived, queued, connected, ended,
		wait_seconds, answer_seconds, talk_seconds, outcome, csat, recording)
		SELECT 'call-' || lpad(i::text, 8, '0'),
		       (ARRAY['general','vip','complaints','oncall'])[1 + i % 4],
		       '+849' || lpad((i % 200000)::text, 8, '0'),
		       (ARRAY['standard','vip','at_risk','loyal'])[1 + i % 4],
		       CASE WHEN i % 5 = 0 THEN '' ELSE 'agent' || (i % 30) END,
		       t, t + interval '5 seconds', CASE WHEN i % 5 = 0 THEN NULL ELSE t + interval '40 seconds' END, t + interval '5 minutes',
		       35, 40, 240,
		       CASE WHEN i % 5 = 0 THEN 'abandoned' ELSE 'answered' END,
		       CASE WHEN i % 5 = 0 OR i % 3 = 0 THEN NULL ELSE 1 + (i / 7) % 5 END,
		       'recordings/' || i || '.wav'
		FROM (SELECT i, TIMESTAMPTZ '2026-09-01' + (i * interval '7776 milliseconds') AS t FROM generate_series(1, 1000000) i) g`); err != nil {
		b.Fatal(err)
	}
	if _, err := db.Exec(ctx, "ANALYZE calls"); err != nil {
		b.Fatal(err)
	}
	b.Logf("1,000,000 calls loaded in %s", time.Since(start).Round(time.Millisecond))
	queries := []string{
		"agent=agent7",
		"customer=%2B84900012345",
		"agent=agent13&csat_max=2",
		"queue=vip&from=2026-10-15&to=2026-10-16",
		"segment=at_risk&outcome=abandoned&limit=100",
		"",
		"from=2026-11-01&agent=agent7&csat_max=1",
	}
	parsed := make([]records.CallQuery, len(queries))
	for i, q := range queries {
		v, _ := url.ParseQuery(q)
		var err error
		if parsed[i], err = records.ParseCallQuery(v); err != nil {
			b.Fatal(err)
		}
		p, err := s.Calls(ctx, parsed[i])
		if err != nil || len(p.Calls) == 0 {
			b.Fatalf("%s: %d rows, %v", q, len(p.Calls), err)
		}
	}
	var lat []time.Duration
	b.StartTimer()
	for i := 0; i < b.N; i++ {
		q := parsed[i%len(parsed)]
		t0 := time.Now()
		p, err := s.Calls(ctx, q)
		if err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(t0))
		if p.Next != "" && i%2 == 1 { // and the next page, through the cursor
			q.After, _ = records.DecodeCursor(p.Next)
			t0 = time.Now()
			if _, err := s.Calls(ctx, q); err != nil {
				b.Fatal(err)
			}
			lat = append(lat, time.Since(t0))
		}
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
}
