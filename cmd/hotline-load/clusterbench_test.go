package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"math"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestClusterHarness runs the three-node part's harness for real, small:
// redis-server, three Hotline nodes and the shipped Kamailio edge;
// agents register through the edge, one short call-rate step goes
// through it, every call is answered, recorded and uploaded, and the
// edge spread the calls over all three nodes.
func TestClusterHarness(t *testing.T) {
	if testing.Short() {
		t.Skip("starts redis-server, kamailio and three Hotline processes")
	}
	work := t.TempDir()
	bin := filepath.Join(work, "hotline")
	if out, err := exec.Command("go", "build", "-o", bin, "../hotline").CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/hotline: %v\n%s", err, out)
	}
	repo, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	pr := &procs{}
	defer pr.stopAll()
	const agents = 6
	c, err := startCluster(ctx, pr, bin, repo, filepath.Join(work, "cluster"), 3,
		hotlineOpts{Agents: agents, RTPMin: 10000, RTPMax: 10599})
	if err != nil {
		t.Fatal(err)
	}
	defer c.stop()

	media, err := newMediaEngine(1, 64)
	if err != nil {
		t.Fatal(err)
	}
	mctx, stopMedia := context.WithCancel(ctx)
	var mwg sync.WaitGroup
	mwg.Add(1)
	go func() { defer mwg.Done(); media.run(mctx) }()
	defer func() { stopMedia(); mwg.Wait() }()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	g, err := newLoadGen(media, c.edgeAddr, "1900", log)
	if err != nil {
		t.Fatal(err)
	}
	defer g.close()
	if err := registerAll(ctx, g, c.nodes, agents); err != nil {
		t.Fatal(err)
	}

	d := &driver{cfg: benchConfig{StepDur: 2 * time.Second, Hold: 500 * time.Millisecond}, log: log, media: media}
	up0 := c.nodes.uploaded(ctx)
	s := d.rateStep(ctx, c.nodes, g, 3) // 6 calls
	if !s.pass() || s.Attempted != 6 {
		t.Fatalf("step: %d calls, %s", s.Attempted, s.why())
	}
	// Refusals are read from every node (none at this rate): a step that
	// refuses says by which signal, as on one node.
	if m := c.nodes.refusedByReason(ctx); len(m) == 0 || reasonDelta(nil, m) != "" {
		t.Errorf("refusals by reason over the nodes: %v, want every reason read, none refused", m)
	}
	if s.Uploaded != 6 || len(s.To200) != 6 {
		t.Errorf("%d recordings uploaded, %d setup times, want 6 each", s.Uploaded, len(s.To200))
	}
	for i, u := range c.nodes.uploaded(ctx) {
		if u == up0[i] {
			t.Errorf("node%d recorded no call: the edge did not spread them (%v -> %v)", i+1, up0, c.nodes.uploaded(ctx))
		}
	}
}

// The three-node part's report keeps one table row shape and names
// what it compares.
func TestClusterReport(t *testing.T) {
	lat := func(d time.Duration) *rateStep {
		return &rateStep{Rate: 40, Attempted: 2, Uploaded: 2, Expected: 2, To200: []time.Duration{d, d}}
	}
	r := &clusterResults{Cfg: defaultClusterConfig(true), OneRate: 300, ClusterRate: 150,
		OneLatency: lat(12 * time.Millisecond), ClusterLatency: lat(15 * time.Millisecond), Spread: []uint64{5, 5, 4},
		ClusterSteps: []rateStep{*lat(time.Millisecond)}}
	var b bytes.Buffer
	writeFigures(&b, r.figures())
	r.writeDetails(&b)
	out := b.String()
	for _, want := range []string{"| C1 | recorded calls/s, three nodes", "| 150 | 150 | 150 | 1 |",
		"| C1b | three nodes / one node (x) | computed | 0.5 |", "edge add, p99", "node3 4"} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q", want)
		}
	}
	for _, f := range r.figures() {
		if strings.Contains(f.Name, "Redis + the edge add, p50") && math.Abs(f.S.Median-3) > 1e-9 {
			t.Errorf("added latency p50 = %v, want 3 ms", f.S.Median)
		}
	}
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "| one node") || strings.HasPrefix(l, "| three nodes") {
			if n := strings.Count(l, "|"); n != 12 {
				t.Errorf("row has %d separators, want 12: %s", n, l)
			}
		}
	}
	if t.Failed() {
		t.Log(out)
	}
}

// Each node of the three-node part gets a range Hotline accepts (an even
// rtp.port_min), inside the whole range, apart from the others': 4000-19999
// split in three once gave node2 9333 and the part did not start.
func TestSplitRTPRange(t *testing.T) {
	for _, c := range []struct{ lo, hi, n int }{{4000, 19999, 3}, {4000, 19999, 2}, {4001, 5000, 3}, {10000, 10599, 3}} {
		r := splitRTPRange(c.lo, c.hi, c.n)
		for i, p := range r {
			if p[0]%2 != 0 || p[0] < c.lo || p[1] > c.hi || p[1] <= p[0] {
				t.Errorf("%v: node %d gets %d-%d", c, i+1, p[0], p[1])
			}
			if i > 0 && p[0] <= r[i-1][1] {
				t.Errorf("%v: node %d's %d-%d overlaps node %d's %d-%d", c, i+1, p[0], p[1], i, r[i-1][0], r[i-1][1])
			}
		}
	}
}
