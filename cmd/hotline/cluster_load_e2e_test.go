package main

import (
	"context"
	"fmt"
	"math"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"hotline/internal/e2e"
	"hotline/routing/acd"
)

// loadAgents is how many agents (and concurrent calls) the SIGKILL
// under load test runs.
const loadAgents = 21

// startLoadCluster is startHotlineCluster with loadAgents agents (a00,
// a01, ...).
func startLoadCluster(t *testing.T) *hotlineCluster {
	t.Helper()
	var agents strings.Builder
	for i := range loadAgents {
		fmt.Fprintf(&agents, "  - {username: a%02d, password: a%02d-secret}\n", i, i)
	}
	yaml := strings.Replace(clusterYAML, "  - {username: alice, password: alice-secret}\n  - {username: bob, password: bob-secret}\n", agents.String(), 1)
	if yaml == clusterYAML {
		t.Fatal("clusterYAML changed: cannot set the agents")
	}
	return startHotlineClusterWith(t, clusterSetup{yaml: yaml, observerYAML: yaml, rtpPorts: 400, snapshots: true})
}

// longestGap is the longest run of silent 20 ms frames between the first
// and the last sounding one.
func longestGap(samples []int16, rate int) time.Duration {
	frame := rate / 50
	var active []bool
	for off := 0; off+frame <= len(samples); off += frame {
		var sum float64
		for _, s := range samples[off : off+frame] {
			sum += float64(s) * float64(s)
		}
		active = append(active, math.Sqrt(sum/float64(frame)) > e2e.SilenceThreshold)
	}
	first, last := -1, -1
	for i, a := range active {
		if a {
			if first < 0 {
				first = i
			}
			last = i
		}
	}
	gap, run := 0, 0
	for i := first; i >= 0 && i <= last; i++ {
		if active[i] {
			run = 0
			continue
		}
		run++
		gap = max(gap, run)
	}
	return time.Duration(gap) * e2e.FrameDuration
}

// TestE2EClusterNodeKilledUnderLoad: 21 calls at once, spread by the edge
// over three nodes, each answered by its own agent; one node is
// SIGKILLed mid-call. The calls on the other nodes go on to their end
// with clean audio (the agents hear the caller's tone throughout, no gap
// over 300 ms); the dead node's calls are lost (their callers' calls
// fail) and ended in the shared ACD, each reported lost by the other
// nodes; its agents are available again within the lease (3 s here, at
// most 30 s) and never stay busy.
func TestE2EClusterNodeKilledUnderLoad(t *testing.T) {
	skipShort(t)
	hc := startLoadCluster(t)
	agents := map[string]*e2e.Baresip{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i := range loadAgents {
		wg.Add(1)
		go func() {
			defer wg.Done()
			user := fmt.Sprintf("a%02d", i)
			b := hc.agent(t, user)
			mu.Lock()
			agents[user] = b
			mu.Unlock()
		}()
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	const hold = 14 * time.Second
	callers := e2e.StartSIPp(t, e2e.SIPpOptions{Target: hc.edge.Addr, Service: "1900",
		Scenario: e2e.UACPlayPCAP(tonePCAP(t, hold), hold+time.Second), Calls: loadAgents, Rate: 20, Concurrent: loadAgents,
		Timeout: 120 * time.Second})
	var calls []acd.CallStatus
	waitFor(t, 20*time.Second, fmt.Sprintf("%d calls connected cluster-wide", loadAgents), func() bool {
		_ = hc.obs.Sync()
		calls = hc.obs.Calls()
		n := 0
		for _, c := range calls {
			if c.Agent != "" && c.State == "connected" {
				n++
			}
		}
		return n == loadAgents
	})
	perNode := map[*clusterNode][]acd.CallStatus{}
	for _, c := range calls {
		n := hc.nodeOf(c.ID)
		if n == nil {
			t.Fatalf("call %s on no node", c.ID)
		}
		perNode[n] = append(perNode[n], c)
	}
	if len(perNode) != 3 {
		t.Fatalf("calls on %d nodes, want the edge to spread them over 3", len(perNode))
	}
	victim := hc.nodeOf(calls[0].ID)
	lostAgents := map[string]bool{}
	for _, c := range perNode[victim] {
		lostAgents[c.Agent] = true
	}
	lost0 := hc.obs.Queues()[0].Lost
	time.Sleep(3 * time.Second) // mid-call
	victim.p.kill(t)
	killed := time.Now()
	for a := range lostAgents {
		hc.waitState(t, a, acd.StateAvailable, 30*time.Second)
	}
	took := time.Since(killed)
	t.Logf("%s (%d calls) killed; its agents available again after %s (lease 3s); calls per node %v",
		victim.name, len(lostAgents), took.Round(100*time.Millisecond), func() []int {
			var out []int
			for _, n := range hc.nodes {
				out = append(out, len(perNode[n]))
			}
			return out
		}())
	if took > 30*time.Second {
		t.Errorf("the dead node's agents free only after %s, want within the lease (at most 30 s)", took)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	res, err := callers.Wait(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := loadAgents - len(lostAgents); res.Stats.Successful != want {
		t.Errorf("callers: %s, want %d successful (the calls on the surviving nodes)", res, want)
	}
	// The dead node's calls are ended in the shared ACD, each reported
	// lost (with its node) by the surviving nodes.
	_ = hc.obs.Sync()
	if got := hc.obs.Queues()[0].Lost - lost0; got != len(lostAgents) {
		t.Errorf("queue counts %d calls lost, want the dead node's %d", got, len(lostAgents))
	}
	for _, c := range hc.obs.Calls() {
		t.Errorf("call %s still in the ACD after the callers finished: %+v", c.ID, c)
	}
	for _, n := range hc.nodes {
		if n == victim {
			continue
		}
		logs := n.p.logs.String()
		for _, c := range perNode[victim] {
			if !regexp.MustCompile(`call lost with its node.*call_id=` + regexp.QuoteMeta(c.ID)).MatchString(logs) {
				t.Errorf("%s did not report the dead node's call %s lost", n.name, c.ID)
			}
		}
	}
	worstGap, leastActive := time.Duration(0), time.Hour
	for user, b := range agents {
		if lostAgents[user] {
			_ = b.Hangup(ctx) // the phone still holds the dead leg
			continue
		}
		if _, err := b.WaitEvent(ctx, e2e.EventCallClosed); err != nil {
			t.Fatalf("%s: %v", user, err)
		}
		wavs := b.ReceivedWAVs()
		if len(wavs) == 0 {
			t.Fatalf("%s recorded nothing", user)
		}
		s, rate, err := e2e.ReadWAV(wavs[len(wavs)-1])
		if err != nil {
			t.Fatal(err)
		}
		tone, active, gap := e2e.DominantTone(s, rate, tones), e2e.ActiveDuration(s, rate), longestGap(s, rate)
		worstGap, leastActive = max(worstGap, gap), min(leastActive, active)
		if tone != callerHz || active < hold-2*time.Second || gap > 300*time.Millisecond {
			t.Errorf("%s (surviving node) heard %v Hz for %s, longest gap %s; want the caller's tone for the whole call, no gap over 300ms",
				user, tone, active, gap)
		}
	}
	t.Logf("surviving calls: %d successful; agents heard the caller for at least %s, longest gap %s", res.Stats.Successful, leastActive, worstGap)
	for user := range agents {
		if st := hc.state(user); st != acd.StateAvailable {
			t.Errorf("%s is %s after every call ended, want available", user, st)
		}
	}
}

func TestLongestGap(t *testing.T) {
	tone := e2e.ToneSamples(callerHz, time.Second, 8000, 8000)
	s := append(append(append([]int16{}, tone...), make([]int16, 4000)...), tone...)
	s = append(make([]int16, 8000), s...) // silence before the call's audio does not count
	if got := longestGap(s, 8000); got != 500*time.Millisecond {
		t.Errorf("longestGap = %s, want 500ms", got)
	}
	if got := longestGap(tone, 8000); got != 0 {
		t.Errorf("longestGap of a steady tone = %s, want 0", got)
	}
}
