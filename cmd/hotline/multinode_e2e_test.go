package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"hotline/api"
	"hotline/cluster"
	"hotline/internal/e2e"
	"hotline/internal/kamailiotest"
	"hotline/internal/proctest"
	"hotline/internal/redistest"
	"hotline/metrics"
	"hotline/routing/acd"
)

// hotlineCluster is three Hotline processes sharing a redis-server behind
// the shipped Kamailio edge, and an observer: a replica of their ACD in
// the test process (it takes no calls) to see the agents' states.
type hotlineCluster struct {
	redis *redistest.Server
	edge  *kamailiotest.Edge
	nodes []*clusterNode
	obs   *acd.ACD
}

type clusterNode struct {
	name, addr string
	p          *hotlineProcess
	// config is the node's configuration (YAML), to start it again.
	config string
}

// clusterYAML configures each node of the test cluster. Tests run at any
// hour, so customers have no quiet hours: a callback due now is dialled
// now, not at 08:00 (CI once ran at 23:00 and the dialer waited).
const clusterYAML = `
sip:
  listen:
    - {transport: udp, addr: "%s"}
rtp: {ip: 127.0.0.1, port_min: %d, port_max: %d}
queue: {login_on_register: true}
hotlines: [{number: "1900"}]
agents:
  - {username: alice, password: alice-secret}
  - {username: bob, password: bob-secret}
api: {listen: "127.0.0.1:0"}
metrics: {listen: "127.0.0.1:0"}
recording:
  spool_dir: %s
  file: {dir: %s}
cluster: {redis_url: "%s", node: %s, lease: 3s, heartbeat: 200ms}
callbacks: {quiet_hours: []}
`

func startHotlineCluster(t *testing.T) *hotlineCluster {
	t.Helper()
	return startHotlineClusterYAML(t, clusterYAML)
}

// startHotlineClusterYAML starts the cluster with each node configured by
// yamlFmt, a variant of clusterYAML (the same verbs).
func startHotlineClusterYAML(t *testing.T, yamlFmt string) *hotlineCluster {
	t.Helper()
	return startHotlineClusterWith(t, clusterSetup{yaml: yamlFmt, observerYAML: yamlFmt, rtpPorts: 200})
}

// clusterSetup is how startHotlineClusterWith starts a test cluster.
type clusterSetup struct {
	// yaml configures each node; observerYAML the observer (both with
	// clusterYAML's verbs).
	yaml, observerYAML string
	// Each node has rtpPorts RTP ports of its own (proctest.FreeUDPRange);
	// the observer (it takes no calls) 100.
	rtpPorts int
	// snapshots: the observer's replica of the ACD restores from the
	// log's snapshots (a long test's log is compacted meanwhile).
	snapshots bool
}

// startHotlineClusterWith starts three nodes, the Kamailio edge and the
// observer as s says.
func startHotlineClusterWith(t *testing.T, s clusterSetup) *hotlineCluster {
	t.Helper()
	hc := &hotlineCluster{redis: redistest.Start(t)}
	var addrs []string
	for i := 0; i < 3; i++ {
		name := fmt.Sprintf("node%d", i)
		addr := net.JoinHostPort("127.0.0.1", freeSIPPort(t))
		dir := t.TempDir()
		rtpMin, rtpMax := proctest.FreeUDPRange(t, s.rtpPorts)
		config := fmt.Sprintf(s.yaml, addr, rtpMin, rtpMax,
			filepath.Join(dir, "spool"), filepath.Join(dir, "recordings"), hc.redis.URL(), name)
		p := startProcess(t, config)
		hc.nodes = append(hc.nodes, &clusterNode{name: name, addr: addr, p: p, config: config})
		addrs = append(addrs, addr)
	}
	hc.edge = kamailiotest.Start(t, kamailiotest.Options{Nodes: addrs})

	obsMin, obsMax := proctest.FreeUDPRange(t, 100)
	c, err := parseConfig("observer", []byte(fmt.Sprintf(s.observerYAML, "127.0.0.1:0", obsMin, obsMax, "/x", "/y", hc.redis.URL(), "observer")))
	if err != nil {
		t.Fatal(err)
	}
	cc := c.Cluster
	cc.Node = "observer"
	node, err := cluster.Join(context.Background(), cc, cluster.Options{Shared: sharedConfig(&c.Config)})
	if err != nil {
		t.Fatal(err)
	}
	lazy := &lateLog{}
	hc.obs, err = acd.New(&c.Config, acd.Options{LoginOnRegister: *c.Queue.LoginOnRegister, Replication: lazy})
	if err != nil {
		t.Fatal(err)
	}
	if s.snapshots {
		lazy.l, err = node.OpenLogWithSnapshots(context.Background(), "acd", hc.obs.ApplyOp,
			&cluster.Snapshots{Take: hc.obs.Snapshot, Restore: hc.obs.Restore})
	} else {
		lazy.l, err = node.OpenLog(context.Background(), "acd", hc.obs.ApplyOp)
	}
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); node.Run(ctx) }()
	t.Cleanup(func() { stop(); <-done; lazy.l.Close(); _ = node.Close(context.Background()) })
	return hc
}

// agent starts a baresip agent that registers through the edge.
func (hc *hotlineCluster) agent(t *testing.T, user string) *e2e.Baresip {
	t.Helper()
	b := e2e.StartBaresip(t, e2e.BaresipOptions{User: user, Password: user + "-secret", Registrar: hc.edge.Addr,
		ToneHz: agentHz, Record: true, AutoAnswer: true})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := b.WaitRegistered(ctx); err != nil {
		t.Fatalf("%s did not register through the edge: %v", user, err)
	}
	hc.waitState(t, user, acd.StateAvailable, 10*time.Second)
	return b
}

func (hc *hotlineCluster) state(user string) acd.AgentState {
	_ = hc.obs.Sync()
	info, _ := hc.obs.Agent(user)
	return info.State
}

func (hc *hotlineCluster) waitState(t *testing.T, user string, want acd.AgentState, bound time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	waitFor(t, bound, fmt.Sprintf("%s %s (cluster-wide)", user, want), func() bool { return hc.state(user) == want })
	return time.Since(start)
}

// caller calls the hotline through the edge.
func (hc *hotlineCluster) caller(t *testing.T, sc e2e.Scenario) *e2e.SIPp {
	t.Helper()
	return e2e.StartSIPp(t, e2e.SIPpOptions{Target: hc.edge.Addr, Service: "1900", Scenario: sc, Timeout: 90 * time.Second})
}

var ringingRE = regexp.MustCompile(`ringing agent.*call_id=(\S+)`)

// ringings counts, per node, the agent legs the node rang.
func (hc *hotlineCluster) ringings() []int {
	out := make([]int, len(hc.nodes))
	for i, n := range hc.nodes {
		out[i] = len(ringingRE.FindAllString(n.p.logs.String(), -1))
	}
	return out
}

// nodeOf returns the node whose log names the call.
func (hc *hotlineCluster) nodeOf(callID string) *clusterNode {
	for _, n := range hc.nodes {
		if strings.Contains(n.p.logs.String(), "call_id="+callID) {
			return n
		}
	}
	return nil
}

// noSecondCall fails when the agent was offered a call while on one:
// an INVITE arriving while a call was established.
func noSecondCall(t *testing.T, b *e2e.Baresip) {
	t.Helper()
	active := 0
	for _, ev := range b.Events() {
		switch ev.Type {
		case e2e.EventCallIncoming:
			if active > 0 {
				t.Errorf("%s got a call while on one: %+v", b.AOR, ev)
			}
		case e2e.EventCallEstablished:
			active++
		case e2e.EventCallClosed:
			if active > 0 {
				active--
			}
		}
	}
}

// TestE2EClusterOneAgentThreeNodes: three callers arrive at once, the
// edge spreads them over the three nodes, and the one agent takes them one
// after the other: never offered a second call while busy through another
// node. Each caller is served; each node rang the agent.
func TestE2EClusterOneAgentThreeNodes(t *testing.T) {
	skipShort(t)
	hc := startHotlineCluster(t)
	alice := hc.agent(t, "alice")
	var callers []*e2e.SIPp
	for i := 0; i < 3; i++ {
		callers = append(callers, hc.caller(t, e2e.UACRemoteBye(tonePCAP(t, 2*time.Second), 60*time.Second)))
		time.Sleep(100 * time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	for i := 0; i < 3; i++ {
		if _, err := alice.WaitEventFunc(ctx, func(ev e2e.Event) bool { return ev.Type == e2e.EventCallEstablished }, "call established"); err != nil {
			t.Fatalf("call %d never reached alice: %v", i+1, err)
		}
		hc.waitState(t, "alice", acd.StateOnCall, 5*time.Second)
		time.Sleep(2 * time.Second)
		if err := alice.Hangup(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := alice.WaitEvent(ctx, e2e.EventCallClosed); err != nil {
			t.Fatal(err)
		}
	}
	for i, c := range callers {
		res, err := c.Wait(ctx)
		if err != nil {
			t.Fatalf("caller %d: %v", i+1, err)
		}
		res.RequireCalls(t, 1, 0)
	}
	noSecondCall(t, alice)
	if r := hc.ringings(); r[0] != 1 || r[1] != 1 || r[2] != 1 {
		t.Errorf("agent legs rung per node %v, want one call on each of the three nodes", r)
	}
}

// clusterWaitingYAML is clusterYAML with a second hotline number, 1901,
// whose queue "waiting" only carol answers; carol never logs in, so its
// callers wait (when_empty: join) while alice and bob take 1900's.
func clusterWaitingYAML(t *testing.T) string {
	t.Helper()
	y := strings.Replace(clusterYAML, `hotlines: [{number: "1900"}]
agents:
  - {username: alice, password: alice-secret}
  - {username: bob, password: bob-secret}
`, `hotlines: [{number: "1900"}, {number: "1901"}]
agents:
  - {username: alice, password: alice-secret, queues: [general]}
  - {username: bob, password: bob-secret, queues: [general]}
  - {username: carol, password: carol-secret, queues: [waiting]}
queues: [{name: general}, {name: waiting}]
rules: [{numbers: ["1901"], queue: waiting}, {queue: general}]
`, 1)
	if y == clusterYAML {
		t.Fatal("clusterYAML changed: cannot add the waiting queue")
	}
	return y
}

// metricsAddr is the node's metrics listener (from its log).
func (n *clusterNode) metricsAddr(t *testing.T) string {
	t.Helper()
	return n.p.logAttr(t, "metrics listening", "addr")
}

// TestE2EClusterNodeKilledAndEdgeRestarted: two calls on two nodes and
// callers waiting (at least one on the victim); one node is SIGKILLed: the call
// on the other node goes on with clean audio, the dead node's agent is
// available again within the lease, and the dead node's calls (connected
// and waiting) are counted lost in every surviving node's /metrics
// (hotline_calls_lost_total{queue}). Then Kamailio restarts during a
// call: the call goes on, and a new call is served.
func TestE2EClusterNodeKilledAndEdgeRestarted(t *testing.T) {
	skipShort(t)
	hc := startHotlineClusterYAML(t, clusterWaitingYAML(t))
	alice, bob := hc.agent(t, "alice"), hc.agent(t, "bob")
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()

	c1 := hc.caller(t, e2e.UACPlayPCAP(tonePCAP(t, 8*time.Second), 9*time.Second))
	time.Sleep(200 * time.Millisecond)
	c2 := hc.caller(t, e2e.UACPlayPCAP(tonePCAP(t, 8*time.Second), 9*time.Second))
	for _, b := range []*e2e.Baresip{alice, bob} {
		if _, err := b.WaitEvent(ctx, e2e.EventCallEstablished); err != nil {
			t.Fatalf("%s: %v", b.AOR, err)
		}
	}
	var calls []acd.CallStatus
	waitFor(t, 5*time.Second, "both calls connected cluster-wide", func() bool {
		_ = hc.obs.Sync()
		calls = hc.obs.Calls()
		return len(calls) == 2 && calls[0].Agent != "" && calls[1].Agent != ""
	})
	victim, other := hc.nodeOf(calls[0].ID), hc.nodeOf(calls[1].ID)
	if victim == nil || other == nil || victim == other {
		t.Fatalf("calls on nodes %v and %v, want two different nodes", victim, other)
	}
	victimAgent := calls[0].Agent
	// Callers of 1901 wait (nobody answers its queue); the edge spreads
	// them round robin: three, one on each node (more should another
	// request have taken a turn, until one waits on the victim).
	var waiting []*e2e.SIPp
	waitingOnVictim := 0
	for len(waiting) < 3 || (waitingOnVictim == 0 && len(waiting) < 6) {
		waiting = append(waiting, e2e.StartSIPp(t, e2e.SIPpOptions{Target: hc.edge.Addr, Service: "1901",
			Scenario: e2e.UACRemoteBye("", 90*time.Second), Timeout: 100 * time.Second}))
		waitFor(t, 10*time.Second, fmt.Sprintf("%d callers waiting in queue waiting", len(waiting)), func() bool {
			_ = hc.obs.Sync()
			n, onVictim := 0, 0
			for _, c := range hc.obs.Calls() {
				if c.Queue == "waiting" && c.State == "waiting" {
					n++
					if hc.nodeOf(c.ID) == victim {
						onVictim++
					}
				}
			}
			waitingOnVictim = onVictim
			return n == len(waiting)
		})
	}
	if waitingOnVictim == 0 {
		t.Fatalf("no waiting caller on %s in %d, want the edge to spread them over the nodes", victim.name, len(waiting))
	}
	lostBefore := map[string]int{}
	for _, q := range hc.obs.Queues() {
		lostBefore[q.Name] = q.Lost
	}
	victim.p.kill(t)
	killed := time.Now()
	took := hc.waitState(t, victimAgent, acd.StateAvailable, 10*time.Second)
	t.Logf("%s's agent %s available again %s after the SIGKILL (lease 3s)", victim.name, victimAgent, took.Round(100*time.Millisecond))
	if since := time.Since(killed); since > 30*time.Second {
		t.Errorf("agent free only after %s, want within the lease", since)
	}
	// The dead node's connected caller and its waiting one(s) are lost,
	// and every surviving node's /metrics counts them by queue.
	wantLost := map[string]float64{"general": float64(lostBefore["general"] + 1), "waiting": float64(lostBefore["waiting"] + waitingOnVictim)}
	for _, n := range hc.nodes {
		if n == victim {
			continue
		}
		addr := n.metricsAddr(t)
		got := map[string]float64{}
		waitFor(t, 10*time.Second, n.name+"'s "+metrics.NameCallsLost, func() bool {
			for q := range wantLost {
				got[q] = metricSum(t, addr, metrics.NameCallsLost, map[string]string{"queue": q})
			}
			return got["general"] == wantLost["general"] && got["waiting"] == wantLost["waiting"]
		})
		t.Logf("%s: %s %v", n.name, metrics.NameCallsLost, got)
	}
	_ = hc.obs.Sync()
	for _, c := range hc.obs.Calls() {
		if c.Queue == "waiting" && hc.nodeOf(c.ID) == victim {
			t.Errorf("the dead node's waiting call %s is still queued: %+v", c.ID, c)
		}
	}
	for _, w := range waiting {
		w.Kill()
	}
	// The call on the other node goes on to its end with clean audio;
	// the dead node's caller is lost (its media was there).
	survivorAgent := alice
	if victimAgent == "alice" {
		survivorAgent = bob
	}
	var survivor, lost *e2e.SIPp
	select {
	case <-c1.Exited():
		survivor, lost = c1, c2
	case <-c2.Exited():
		survivor, lost = c2, c1
	case <-ctx.Done():
		t.Fatal("no caller finished")
	}
	res, err := survivor.Wait(ctx)
	if err != nil {
		t.Fatal(err)
	}
	res.RequireCalls(t, 1, 0)
	if _, err := survivorAgent.WaitEvent(ctx, e2e.EventCallClosed); err != nil { // its recording is complete
		t.Fatal(err)
	}
	if tone, active := heard(t, survivorAgent); tone != callerHz || active < 7*time.Second {
		t.Errorf("agent on the surviving node heard %v Hz for %s, want the caller's tone for the whole call", tone, active)
	}
	if r := lost.Kill(); r.Stats.Successful != 0 {
		t.Errorf("the dead node's caller: %s, want no successful call", r)
	}
	// The victim's agent still holds the dead leg in its phone; hang up.
	for _, b := range []*e2e.Baresip{alice, bob} {
		_ = b.Hangup(ctx)
	}

	// Kamailio restarts during a call: the call goes on (media never
	// crossed it, in-dialog requests are record-routed statelessly).
	hc.waitState(t, "alice", acd.StateAvailable, 10*time.Second)
	hc.waitState(t, "bob", acd.StateAvailable, 10*time.Second)
	time.Sleep(4 * time.Second) // the dead node has left the dispatcher set
	c3 := hc.caller(t, e2e.UACPlayPCAP(tonePCAP(t, 6*time.Second), 7*time.Second))
	waitFor(t, 15*time.Second, "call 3 connected to an agent", func() bool {
		return hc.state("alice") == acd.StateOnCall || hc.state("bob") == acd.StateOnCall
	})
	time.Sleep(time.Second)
	hc.edge.Restart(t)
	res, err = c3.Wait(ctx)
	if err != nil {
		t.Fatal(err)
	}
	res.RequireCalls(t, 1, 0)
	// New calls are served after the restart.
	c4 := hc.caller(t, e2e.UACPlayPCAP(tonePCAP(t, 2*time.Second), 3*time.Second))
	res, err = c4.Wait(ctx)
	if err != nil {
		t.Fatal(err)
	}
	res.RequireCalls(t, 1, 0)
}

// TestE2EClusterRedisRestart: Redis restarts (empty) during a call: the
// call goes on to its end with clean audio, the agent is freed when it
// ends, the nodes re-join and a new call is served after the restart.
func TestE2EClusterRedisRestart(t *testing.T) {
	skipShort(t)
	hc := startHotlineCluster(t)
	alice := hc.agent(t, "alice")
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()

	c1 := hc.caller(t, e2e.UACPlayPCAP(tonePCAP(t, 6*time.Second), 7*time.Second))
	if _, err := alice.WaitEvent(ctx, e2e.EventCallEstablished); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second)
	hc.redis.Restart(t) // back empty
	res, err := c1.Wait(ctx)
	if err != nil {
		t.Fatal(err)
	}
	res.RequireCalls(t, 1, 0)
	if _, err := alice.WaitEvent(ctx, e2e.EventCallClosed); err != nil { // her recording is complete
		t.Fatal(err)
	}
	if tone, active := heard(t, alice); tone != callerHz || active < 5*time.Second {
		t.Errorf("alice heard %v Hz for %s across the Redis restart, want the caller's tone for the whole call", tone, active)
	}
	hc.waitState(t, "alice", acd.StateAvailable, 10*time.Second)
	for _, n := range hc.nodes {
		waitFor(t, 10*time.Second, n.name+" joined again", func() bool {
			return strings.Contains(n.p.logs.String(), "joining again and re-publishing")
		})
	}
	c2 := hc.caller(t, e2e.UACPlayPCAP(tonePCAP(t, 2*time.Second), 3*time.Second))
	if _, err := alice.WaitEvent(ctx, e2e.EventCallEstablished); err != nil {
		t.Fatalf("no call after the Redis restart: %v", err)
	}
	res, err = c2.Wait(ctx)
	if err != nil {
		t.Fatal(err)
	}
	res.RequireCalls(t, 1, 0)
	noSecondCall(t, alice)
}

// TestE2EClusterNodeRestartRejoins: the node alice registered through
// is SIGKILLed, then started again with the same configuration; later it
// is stopped with SIGTERM and started again. Each time it rejoins from
// the shared ACD's snapshot (snapshot_every: 20, so one exists), and
// takes calls again: a call the edge gives it rings alice (bound through
// it) and is served; every node's API shows the same queues and agents.
func TestE2EClusterNodeRestartRejoins(t *testing.T) {
	skipShort(t)
	yaml := strings.Replace(clusterYAML, "heartbeat: 200ms}", "heartbeat: 200ms, snapshot_every: 20}", 1)
	if yaml == clusterYAML {
		t.Fatal("clusterYAML changed: cannot set snapshot_every")
	}
	hc := startHotlineClusterYAML(t, yaml)
	alice := hc.agent(t, "alice")
	var home *clusterNode
	homeIdx := -1
	for i, n := range hc.nodes {
		if regexp.MustCompile(`msg="contact registered".* user=alice `).MatchString(n.p.logs.String()) {
			home, homeIdx = n, i
		}
	}
	if home == nil {
		t.Fatal("no node logged alice's registration")
	}
	opt, err := redis.ParseURL(hc.redis.URL())
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(opt)
	defer rdb.Close()
	waitFor(t, 30*time.Second, "a snapshot of the shared ACD in Redis", func() bool {
		n, err := rdb.Exists(context.Background(), "hotline:log:acd:snap").Result()
		return err == nil && n == 1
	})
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()

	for _, how := range []string{"SIGKILL", "SIGTERM"} {
		if how == "SIGKILL" {
			home.p.kill(t)
			time.Sleep(4 * time.Second) // its lease (3s) lapses: the others judge it lost
		} else {
			home.p.stop(t)
		}
		home.p = startProcess(t, home.config)
		if how == "SIGTERM" {
			// Its phones' bindings are kept under its own kind (the
			// nodes may share a database), never the one shared name.
			state := filepath.Join(processWorkDir(t, processConfig(home.config)), "data", "state")
			if _, err := os.Stat(filepath.Join(state, "registrations@"+home.name+".json")); err != nil {
				t.Errorf("%s's own bindings not kept: %v", home.name, err)
			}
			if _, err := os.Stat(filepath.Join(state, "registrations.json")); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("a cluster node kept its bindings under the shared kind: %v", err)
			}
		}
		if snap := home.p.logAttr(t, "shared log opened", "snapshot"); snap == "none" {
			t.Fatalf("after %s %s rejoined without the snapshot (replayed %s changes)", how, home.name,
				home.p.logAttr(t, "shared log opened", "replayed"))
		}
		t.Logf("after %s %s rejoined from snapshot %s, replaying %s changes", how, home.name,
			home.p.logAttr(t, "shared log opened", "snapshot"), home.p.logAttr(t, "shared log opened", "replayed"))
		hc.waitState(t, "alice", acd.StateAvailable, 20*time.Second)

		// Calls one after the other until the edge gives one to the
		// restarted node (round robin, once its probes answer again):
		// each is served by alice.
		served := false
		for i := 0; i < 6 && !served; i++ {
			c := hc.caller(t, e2e.UACPlayPCAP(tonePCAP(t, 2*time.Second), 3*time.Second))
			if _, err := alice.WaitEvent(ctx, e2e.EventCallEstablished); err != nil {
				t.Fatalf("after %s, call %d never reached alice: %v", how, i+1, err)
			}
			res, err := c.Wait(ctx)
			if err != nil {
				t.Fatal(err)
			}
			res.RequireCalls(t, 1, 0)
			if _, err := alice.WaitEvent(ctx, e2e.EventCallClosed); err != nil {
				t.Fatal(err)
			}
			served = hc.ringings()[homeIdx] > 0
			hc.waitState(t, "alice", acd.StateAvailable, 10*time.Second)
		}
		if !served {
			t.Fatalf("after %s the edge gave %s no call in 6 (calls rung per node since: %v)", how, home.name, hc.ringings())
		}

		// Every node's API shows the same queues and agents.
		type agentView struct {
			User, State string
			Registered  bool
			Calls       int
		}
		view := func(n *clusterNode) string {
			var queues []api.Queue
			var agents []api.Agent
			if code := httpJSON(t, "GET", n.apiURL(t)+"/api/v1/queues", "", &queues); code != 200 {
				t.Fatalf("GET %s's queues: %d", n.name, code)
			}
			if code := httpJSON(t, "GET", n.apiURL(t)+"/api/v1/agents", "", &agents); code != 200 {
				t.Fatalf("GET %s's agents: %d", n.name, code)
			}
			var av []agentView
			for _, a := range agents {
				av = append(av, agentView{a.Username, a.State, a.Registered, a.Calls})
			}
			return fmt.Sprintf("queues %+v agents %+v", queues, av)
		}
		waitFor(t, 5*time.Second, "every node showing the same queues and agents", func() bool {
			first := view(hc.nodes[0])
			for _, n := range hc.nodes[1:] {
				if v := view(n); v != first {
					t.Logf("%s: %s\n%s: %s", hc.nodes[0].name, first, n.name, v)
					return false
				}
			}
			return true
		})
	}
	noSecondCall(t, alice)
}

// TestE2EClusterAllNodesShedding: every node sheds new calls (their
// pressure file says so): a caller coming through the Kamailio edge gets
// 503 with the nodes' Retry-After, as a caller of one node does, and not
// the 500 that RFC 3261's rule for proxies (16.7) would make of the last
// node's 503. The caller's carrier can then retry later or elsewhere.
func TestE2EClusterAllNodesShedding(t *testing.T) {
	skipShort(t)
	pressure := filepath.Join(t.TempDir(), "pressure")
	y := strings.Replace(clusterYAML, "sip:\n  listen:\n",
		"sip:\n  overload: {pressure_file: \""+pressure+"\", interval: 20ms, confirm: 1, hold: 0s, retry_after: 7s,"+
			" scheduling_lag: -1ms, socket_backlog: -1, cpu: -1, recorder_drops: -1, max_setups: -1, socket_delay: -1ms}\n  listen:\n", 1)
	if y == clusterYAML {
		t.Fatal("clusterYAML changed: cannot add the overload section")
	}
	hc := startHotlineClusterYAML(t, y)
	if err := os.WriteFile(pressure, []byte("1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, n := range hc.nodes {
		addr := n.metricsAddr(t)
		waitFor(t, 10*time.Second, n.name+" shedding", func() bool {
			return metricSum(t, addr, metrics.NameOverloadShedding, nil) == 1
		})
	}
	// The edge tries each node in turn; the last one's 503 reaches the
	// caller. Nodes not yet probed up, or out of the edge's set after
	// refusing (until their next probe: OPTIONS are answered while they
	// shed), leave the edge to refuse by itself with its own RETRY_AFTER
	// (5). Every answer is a 503 with a Retry-After; one from the nodes
	// carries theirs (7).
	fromNodes := false
	for deadline := time.Now().Add(15 * time.Second); !fromNodes && time.Now().Before(deadline); {
		got := inviteStatusAt(t, hc.edge.Addr)
		if got.status != 503 || (got.retryAfter != "7" && got.retryAfter != "5") {
			t.Fatalf("INVITE through the edge while every node sheds: %d with Retry-After %q, want 503 with the nodes' 7 or the edge's 5", got.status, got.retryAfter)
		}
		fromNodes = got.retryAfter == "7"
		if !fromNodes {
			time.Sleep(200 * time.Millisecond)
		}
	}
	if !fromNodes {
		t.Fatal("no INVITE through the edge got the nodes' 503 (Retry-After 7) in 15 s")
	}
	var refused float64
	for _, n := range hc.nodes {
		refused += metricSum(t, n.metricsAddr(t), metrics.NameCallsRefused, nil)
	}
	if refused == 0 {
		t.Error("no node counted a refused call: the 503s did not come from the nodes")
	}

	// A node's reload applies its own sip.overload.max_cps: the agents
	// and queues, the shared ACD's, are unchanged. A file that changes
	// them is refused (each node would have to apply it at the same
	// point of the shared log).
	n0 := hc.nodes[0]
	withCPS := strings.Replace(n0.config, "retry_after: 7s,", "retry_after: 7s, max_cps: 5,", 1)
	writeFile(t, n0.p.config, withCPS)
	if err := n0.p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, n0.name+" max_cps applied", func() bool {
		return strings.Contains(n0.p.logs.String(), `msg="sip.overload.max_cps applied"`)
	})
	if v := metricSum(t, n0.metricsAddr(t), metrics.NameOverloadMaxCPS, nil); v != 5 {
		t.Errorf("%s: %s %v after the reload, want 5", n0.name, metrics.NameOverloadMaxCPS, v)
	}
	writeFile(t, n0.p.config, strings.Replace(withCPS, "  - {username: bob, password: bob-secret}\n", "", 1))
	if err := n0.p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, n0.name+" refusing a reload that changes the agents", func() bool {
		return strings.Contains(n0.p.logs.String(), `msg="configuration not reloaded: the previous one stays in force"`)
	})
}
