package cluster

import (
	"fmt"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"hotline/internal/redistest"
)

// TestLogSubmitLatency measures how long Submit takes (append, then read
// back and applied on the submitting node) with three nodes sharing the
// log, at a steady rate of submits spread over the nodes plus a ticker's
// 4 ticks a second, as a three-node Hotline at 40 calls/s submits (about
// four ops per call). It reports the p50 and p99 and fails when the p99
// is past a generous bound (the machine may be busy).
func TestLogSubmitLatency(t *testing.T) {
	srv := redistest.Start(t)
	const nodes = 3
	rate, dur := 160, 3*time.Second
	if os.Getenv("HOTLINE_LOG_LATENCY_LONG") != "" {
		dur = 10 * time.Second
	}
	logs := make([]*Log, nodes)
	for i := range logs {
		n, _ := join(t, srv, fmt.Sprintf("n%d", i))
		l, err := n.OpenLog(t.Context(), "acd", func(string, []byte) any { return nil })
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(l.Close)
		logs[i] = l
	}
	var mu sync.Mutex
	var lat []time.Duration
	var wg sync.WaitGroup
	submit := func(l *Log, op string) {
		defer wg.Done()
		start := time.Now()
		if _, err := l.Submit([]byte(op)); err != nil {
			t.Error(err)
			return
		}
		mu.Lock()
		lat = append(lat, time.Since(start))
		mu.Unlock()
	}
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	every := time.NewTicker(time.Second / time.Duration(rate))
	defer every.Stop()
	end := time.After(dur)
	for i := 0; ; i++ {
		select {
		case <-tick.C:
			wg.Add(1)
			go submit(logs[0], `{"k":"tick"}`)
			continue
		case <-every.C:
			wg.Add(1)
			go submit(logs[i%nodes], `{"k":"enqueue","call":"c`+fmt.Sprint(i)+`"}`)
			continue
		case <-end:
		}
		break
	}
	wg.Wait()
	slices.Sort(lat)
	p := func(q float64) time.Duration { return lat[int(q*float64(len(lat)-1))] }
	t.Logf("%d submits over 3 nodes: p50 %v, p90 %v, p99 %v, max %v", len(lat), p(0.5), p(0.9), p(0.99), lat[len(lat)-1])
	if p(0.99) > 500*time.Millisecond {
		t.Errorf("Submit p99 %v, want under 500ms", p(0.99))
	}
}
