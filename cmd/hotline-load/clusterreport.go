package main

import (
	"fmt"
	"io"
	"math"
	"strings"
)

const toolCluster = "hotline-load (Go) through Kamailio (deploy/kamailio) to 3 nodes sharing redis-server"

// setupMS is a latency step's INVITE → 200 OK percentile in ms (NaN: none).
func setupMS(s *rateStep, p float64) float64 {
	if s == nil || len(s.To200) == 0 {
		return math.NaN()
	}
	return ms(DurationPercentile(s.To200, p))
}

// figures are the three-node lines of the summary table.
func (r *clusterResults) figures() []figure {
	var figs []figure
	add := func(f figure) { figs = append(figs, f) }
	add(figure{ID: "C1", Name: "recorded calls/s, three nodes behind Kamailio sharing Redis, total (same criteria as figure 1)",
		Unit: "calls/s", Tool: toolCluster, S: one(r.ClusterRate), Note: r.ClusterLimit})
	add(figure{ID: "C1a", Name: "recorded calls/s, one node alone, same run and agents", Unit: "calls/s", Tool: toolGo,
		S: one(r.OneRate), Note: r.OneLimit})
	if r.OneRate > 0 && !math.IsNaN(r.ClusterRate) {
		add(figure{ID: "C1b", Name: "three nodes / one node", Unit: "x", Tool: "computed", S: one(r.ClusterRate / r.OneRate)})
	}
	rate := fmt.Sprintf("at %.0f calls/s", r.Cfg.LatencyRate)
	for _, p := range []float64{50, 99} {
		one1, three := setupMS(r.OneLatency, p), setupMS(r.ClusterLatency, p)
		add(figure{ID: "C2", Name: fmt.Sprintf("call setup INVITE → 200 OK, p%.0f, one node, %s", p, rate), Unit: "ms", Tool: toolGo, S: one(one1)})
		add(figure{ID: "C2", Name: fmt.Sprintf("call setup INVITE → 200 OK, p%.0f, three nodes, %s", p, rate), Unit: "ms", Tool: toolCluster, S: one(three)})
		add(figure{ID: "C2", Name: fmt.Sprintf("setup latency Redis + the edge add, p%.0f (three nodes − one)", p), Unit: "ms", Tool: "computed",
			S: one(three - one1)})
	}
	return figs
}

// writeDetails writes the three-node part's method and steps.
func (r *clusterResults) writeDetails(w io.Writer) {
	c := r.Cfg
	fmt.Fprintln(w, "## Three nodes (issue 13)")
	fmt.Fprintln(w)
	fmt.Fprintf(w, "- One node: Hotline alone on the benchmark's configuration, %d agents, callers and agents straight to it.\n", c.Agents)
	fmt.Fprintf(w, "- Three nodes: redis-server (no persistence), %d Hotline processes with a `cluster:` section (same agents,\n", c.Nodes)
	fmt.Fprintln(w, "  each its own part of the RTP range) and Kamailio with the shipped `deploy/kamailio/kamailio.cfg` (dispatcher")
	fmt.Fprintln(w, "  round robin, CHILDREN=4) in front; agents REGISTER through Kamailio (Path), callers' INVITEs go to Kamailio.")
	fmt.Fprintln(w, "  Media goes straight to the node that has the call. Everything shares this machine's cores with the generator.")
	fmt.Fprintf(w, "- Call-rate steps: %s of launches, calls held %s with audio both ways, recorded (file backend); a step passes\n", c.StepDur, c.Hold)
	fmt.Fprintln(w, "  as in figure 1 (< 0.1% failed, generator on schedule, every call an agent answered recorded and uploaded),")
	fmt.Fprintln(w, "  counting the three nodes' recordings together. Doubling from the start rate (the cluster's from near the")
	fmt.Fprintf(w, "  one-node rate), then %d bisection step(s); one repetition.\n", c.SearchIters)
	fmt.Fprintf(w, "- Setup latency: %s of launches at %.0f calls/s (moderate on this machine), INVITE sent → 200 OK received at\n", c.LatencyDur, c.LatencyRate)
	fmt.Fprintf(w, "  the caller; the agents ring for %s before answering, on both set-ups.\n", agentRing)
	if len(r.Spread) > 0 {
		var parts []string
		for i, n := range r.Spread {
			parts = append(parts, fmt.Sprintf("node%d %d", i+1, n))
		}
		fmt.Fprintf(w, "- Recordings uploaded per node over the three-node steps: %s.\n", strings.Join(parts, ", "))
		fmt.Fprintf(w, "- Average CPU over the three-node steps: nodes %.2f cores together, Kamailio %.2f, redis-server %.2f.\n",
			r.NodeCores, r.EdgeCores, r.RedisCores)
	}
	fmt.Fprintln(w, "- Hotline CPU in the table below is the nodes' together; Kamailio's counts its worker processes.")
	if r.LoadBefore != "" {
		fmt.Fprintf(w, "- Load average of the machine (1, 5, 15 min) at the part's start: %s; at its end: %s.\n", r.LoadBefore, r.LoadAfter)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| set-up | step | calls/s | calls | failed | 200 without a 180 first | INVITE→200 p50/p99 ms | INVITE→agent's INVITE p50/p99 ms | recordings uploaded / calls connected to an agent | Hotline CPU s | result |")
	fmt.Fprintln(w, "|---|---|---:|---:|---:|---:|---|---|---|---:|---|")
	row := func(setup, kind string, s rateStep) {
		res := "pass"
		if !s.pass() {
			res = "FAIL: " + s.why()
		}
		fmt.Fprintf(w, "| %s | %s | %.0f | %d | %d | %d | %.2f / %.2f | %.2f / %.2f | %d/%d | %.1f | %s |\n", setup, kind, s.Rate, s.Attempted, s.Failed,
			s.Queued, ms(DurationPercentile(s.To200, 50)), ms(DurationPercentile(s.To200, 99)),
			ms(DurationPercentile(s.ToAgent, 50)), ms(DurationPercentile(s.ToAgent, 99)), s.Uploaded, s.Expected,
			s.HotlineCPU.Seconds(), res)
	}
	if r.OneLatency != nil {
		row("one node", "latency", *r.OneLatency)
	}
	for _, s := range r.OneSteps {
		row("one node", "rate", s)
	}
	if r.ClusterLatency != nil {
		row("three nodes", "latency", *r.ClusterLatency)
	}
	for _, s := range r.ClusterSteps {
		row("three nodes", "rate", s)
	}
	fmt.Fprintln(w)
}
