package main

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"hotline/cluster"
	"hotline/internal/e2e"
	"hotline/internal/kamailiotest"
	"hotline/internal/redistest"
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
	return startHotlineClusterWith(t, clusterSetup{yaml: yamlFmt, observerYAML: clusterYAML,
		rtpBase: 27200, rtpPorts: 200, observerRTP: 27800})
}

// clusterSetup is how startHotlineClusterWith starts a test cluster.
type clusterSetup struct {
	// yaml configures each node; observerYAML the observer (both with
	// clusterYAML's verbs).
	yaml, observerYAML string
	// Node i's RTP ports are rtpBase+rtpPorts*i .. +rtpPorts-1; the
	// observer's (it takes no calls) observerRTP .. +99.
	rtpBase, rtpPorts, observerRTP int
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
		base := s.rtpBase + s.rtpPorts*i
		p := startProcess(t, fmt.Sprintf(s.yaml, addr, base, base+s.rtpPorts-1,
			filepath.Join(dir, "spool"), filepath.Join(dir, "recordings"), hc.redis.URL(), name))
		hc.nodes = append(hc.nodes, &clusterNode{name: name, addr: addr, p: p})
		addrs = append(addrs, addr)
	}
	hc.edge = kamailiotest.Start(t, kamailiotest.Options{Nodes: addrs})

	c, err := parseConfig("observer", []byte(fmt.Sprintf(s.observerYAML, "127.0.0.1:0", s.observerRTP, s.observerRTP+99, "/x", "/y", hc.redis.URL(), "observer")))
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

// TestE2EClusterNodeKilledAndEdgeRestarted: two calls on two nodes; one
// node is SIGKILLed: the call on the other node goes on with clean audio,
// the dead node's agent is available again within the lease. Then
// Kamailio restarts during a call: the call goes on, and a new call is
// served.
func TestE2EClusterNodeKilledAndEdgeRestarted(t *testing.T) {
	skipShort(t)
	hc := startHotlineCluster(t)
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
	victim.p.kill(t)
	killed := time.Now()
	took := hc.waitState(t, victimAgent, acd.StateAvailable, 10*time.Second)
	t.Logf("%s's agent %s available again %s after the SIGKILL (lease 3s)", victim.name, victimAgent, took.Round(100*time.Millisecond))
	if since := time.Since(killed); since > 30*time.Second {
		t.Errorf("agent free only after %s, want within the lease", since)
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
