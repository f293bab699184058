package metrics

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"testing"
	"time"
)

// BenchmarkScrapeAgents2600 is one scrape of /metrics (text format, as
// Prometheus asks for it) with 2,600 agents, each with a state and a
// call counted: what a contact centre of that size pays per scrape.
func BenchmarkScrapeAgents2600(b *testing.B) { benchScrape(b, "") }

// BenchmarkScrapeAgents2600OneFamily is the same scrape asking for one
// family (name[]), as the benchmark's polls do.
func BenchmarkScrapeAgents2600OneFamily(b *testing.B) {
	benchScrape(b, "?name[]="+NameOverloadShedding)
}

func benchScrape(b *testing.B, scrapeQuery string) {
	before := liveHeap()
	m := New(Options{Now: func() time.Time { return monday0930 }})
	agents := make([]AgentStatus, 2600)
	for i := range agents {
		agents[i] = AgentStatus{Agent: fmt.Sprintf("a%05d", i), State: AgentStates[i%len(AgentStates)]}
		m.AgentCallEnded(agents[i].Agent, time.Minute, 1+i%5)
	}
	m.SetAgentStateSource(func() []AgentStatus { return agents })
	h := m.Handler()
	b.ReportAllocs()
	for b.Loop() {
		req := httptest.NewRequest(http.MethodGet, "/metrics"+scrapeQuery, nil)
		req.Header.Set("Accept", "text/plain;version=0.0.4")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatalf("status %d", rec.Code)
		}
		_, _ = io.Copy(io.Discard, rec.Body)
	}
	b.StopTimer()
	// What the metrics keep between scrapes (every collection pass of
	// the garbage collector marks it): live-B, the heap in use after a
	// collection, less what it was before the metrics were made.
	b.ReportMetric(float64(liveHeap()-before), "live-B")
	runtime.KeepAlive(m)
}

// liveHeap is the heap in use after a garbage collection.
func liveHeap() int64 {
	runtime.GC()
	runtime.GC() // and what sync.Pools kept through the first
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return int64(ms.HeapAlloc)
}
