package acd

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"os/exec"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"hotline/cluster"
	"hotline/internal/redistest"
	"hotline/routing/config"
	"hotline/routing/config/configtest"
	"hotline/routing/internal/routingtest"
)

// The ACD tests run against every ACD backend, so that they cannot drift
// apart: TestMain runs the package's tests once on the one-node ACD, then
// runs the ACD tests again in a child process with acdBackendEnv set:
// "redis" (two replicas sharing their log in a real redis-server through
// package cluster) or, with -short, "replicated" (two replicas sharing an
// in-process log). Every fixture of a replicated run checks at its end
// (and the randomised test after every step) that the replicas agree.
const acdBackendEnv = "HOTLINE_ACD_BACKEND"

func TestMain(m *testing.M) {
	code := m.Run()
	if code == 0 && os.Getenv(acdBackendEnv) == "" {
		code = rerunOnBackend()
	}
	os.Exit(code)
}

// rerunOnBackend runs the ACD tests (or the tests -run asked for) again
// on the replicated backend.
func rerunOnBackend() int {
	backend := "redis"
	run := "ACD"
	var args []string
	for _, a := range os.Args[1:] {
		switch {
		case strings.HasPrefix(a, "-test.run="):
			run = strings.TrimPrefix(a, "-test.run=")
			continue
		case a == "-test.short=true" || a == "-test.short":
			backend = "replicated"
		case strings.HasPrefix(a, "-test.bench=") && a != "-test.bench=":
			return 0 // benchmarks pick their backends themselves
		}
		args = append(args, a)
	}
	args = append(args, "-test.run="+run)
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), acdBackendEnv+"="+backend)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	fmt.Printf("=== routing/acd: ACD tests again on the %q backend\n", backend)
	if err := cmd.Run(); err != nil {
		fmt.Printf("--- FAIL: ACD tests on the %q backend: %v\n", backend, err)
		return 1
	}
	return 0
}

// buildACD builds the ACD a test uses: one node, or the first of two
// replicas on the backend of acdBackendEnv, and the other replicas.
func buildACD(t testing.TB, c *config.Config, o Options) (*ACD, []*ACD) {
	a, peers, _ := buildACDJoin(t, c, o)
	return a, peers
}

// buildACDJoin is buildACD, and on a replicated backend join, which
// starts one more replica from the latest snapshot of the first (as a
// node that joins a running cluster does) and returns it.
func buildACDJoin(t testing.TB, c *config.Config, o Options) (*ACD, []*ACD, func() *ACD) {
	t.Helper()
	backend := os.Getenv(acdBackendEnv)
	if backend == "" {
		a, err := New(c, o)
		if err != nil {
			t.Fatal(err)
		}
		return a, nil, nil
	}
	replicas := make([]*ACD, 2)
	var join func() *ACD
	switch backend {
	case "replicated":
		l := &memLog{}
		for i := range replicas {
			o.Replication = memHandle{l, i}
			a, err := New(c, o)
			if err != nil {
				t.Fatal(err)
			}
			replicas[i] = a
			l.replicas = append(l.replicas, a)
		}
		join = func() *ACD {
			l.mu.Lock() // between two ops
			defer l.mu.Unlock()
			data, err := l.replicas[0].Snapshot()
			if err != nil {
				t.Fatal(err)
			}
			o.Replication = memHandle{l, len(l.replicas)}
			a, err := New(c, o)
			if err != nil {
				t.Fatal(err)
			}
			if err := a.Restore(data); err != nil {
				t.Fatal(err)
			}
			l.replicas = append(l.replicas, a)
			return a
		}
	case "redis":
		srv := redistest.Start(t)
		open := func(i int, fromSnapshot bool) *ACD {
			cc := cluster.Config{RedisURL: srv.URL(), Node: fmt.Sprintf("n%d", i), Heartbeat: 50 * time.Millisecond}
			cc.SetDefaults("")
			node, err := cluster.Join(context.Background(), cc, cluster.Options{Shared: []byte("routing test")})
			if err != nil {
				t.Fatal(err)
			}
			if i == 0 { // the first node takes the snapshots (the ticker role)
				if err := node.Heartbeat(context.Background()); err != nil {
					t.Fatal(err)
				}
			}
			lazy := &lazyLog{}
			o.Replication = lazy
			a, err := New(c, o)
			if err != nil {
				t.Fatal(err)
			}
			restored := false
			restore := func(data []byte) error { restored = true; return a.Restore(data) }
			l, err := node.OpenLogWithSnapshots(context.Background(), "acd", a.ApplyOp,
				&cluster.Snapshots{Take: a.Snapshot, Restore: restore, Every: 25})
			if err != nil {
				t.Fatal(err)
			}
			if fromSnapshot && !restored {
				t.Fatalf("node n%d joined without a snapshot", i)
			}
			lazy.l = l
			t.Cleanup(func() { l.Close(); _ = node.Close(context.Background()) })
			return a
		}
		for i := range replicas {
			replicas[i] = open(i, false)
		}
		n := len(replicas)
		join = func() *ACD {
			n++
			return open(n-1, true)
		}
	default:
		t.Fatalf("%s=%q: want redis or replicated", acdBackendEnv, backend)
	}
	return replicas[0], replicas[1:], join
}

// checkPeersAtEnd makes the test fail if the replicas disagree when it
// ends, unless the test probed the first one's internals (probed).
func (f *acdFixture) checkPeersAtEnd() {
	f.t.Cleanup(func() {
		if f.probed {
			return
		}
		if err := checkPeers(f.acd, f.peers); err != nil {
			f.t.Errorf("replicas disagree at the end: %v", err)
		}
	})
}

// mirrorPending gives p's calls the pending flags of a's: the test takes
// offers (Next) from a only, while on a replica that does not own a call
// nobody does.
func mirrorPending(a, p *ACD) {
	a.mu.Lock()
	pending := map[string]bool{}
	for _, c := range a.live {
		pending[c.id] = c.pending
	}
	a.mu.Unlock()
	p.mu.Lock()
	for _, c := range p.live {
		c.pending = pending[c.id]
	}
	p.mu.Unlock()
}

// checkPeers says how peers differ from a (agents, calls, queues).
func checkPeers(a *ACD, peers []*ACD) error {
	// a, too, may not yet have applied what a peer submitted last
	if err := a.Sync(); err != nil {
		return err
	}
	for i, p := range peers {
		if err := p.Sync(); err != nil {
			return err
		}
		if got, want := p.Agents(), a.Agents(); !reflect.DeepEqual(got, want) {
			return fmt.Errorf("replica %d agents:\n%+v\nwant\n%+v", i+1, got, want)
		}
		if got, want := p.Calls(), a.Calls(); !reflect.DeepEqual(got, want) {
			return fmt.Errorf("replica %d calls:\n%+v\nwant\n%+v", i+1, got, want)
		}
		if got, want := p.Queues(), a.Queues(); !reflect.DeepEqual(got, want) {
			return fmt.Errorf("replica %d queues:\n%+v\nwant\n%+v", i+1, got, want)
		}
	}
	return nil
}

// memLog is a shared log of replicas in one process: Submit applies the
// op to every replica in turn, in one order.
type memLog struct {
	mu       sync.Mutex
	replicas []*ACD
	// lost[i]: replica i misses the ops (as with a Redis that died
	// before that replica read them)
	lost map[int]bool
	// after, when set, is called once every replica applied an op,
	// before Submit returns: what other nodes may do meanwhile.
	after func(op []byte)
}

type memHandle struct {
	l *memLog
	i int
}

func (h memHandle) Submit(op []byte) (any, error) {
	h.l.mu.Lock()
	var mine any
	for i, r := range h.l.replicas {
		if h.l.lost[i] {
			continue
		}
		res := r.ApplyOp(fmt.Sprintf("n%d", h.i), op)
		if i == h.i {
			mine = res
		}
	}
	after := h.l.after
	h.l.mu.Unlock()
	if after != nil {
		after(op)
	}
	return mine, nil
}

// lazyLog is a cluster.Log known only after the ACD it feeds exists.
type lazyLog struct{ l *cluster.Log }

func (z *lazyLog) Submit(op []byte) (any, error) { return z.l.Submit(op) }

// TestACDTwoNodesOneAgentRace: two calls arrive on two nodes at the same
// instant for the one free agent, many times: exactly one is offered the
// agent, the other waits and gets the agent when the first call ends.
// (On one node both calls arrive on the same ACD.)
func TestACDTwoNodesOneAgentRace(t *testing.T) {
	f := newACD(t, configtest.MustValid(t, configtest.BaseConfig(configtest.Agents("alice")...)))
	nodes := append([]*ACD{f.acd}, f.peers...)
	if len(nodes) == 1 {
		nodes = append(nodes, f.acd)
	}
	reps := 200
	if testing.Short() {
		reps = 50
	}
	wins := [2]int{}
	for rep := 0; rep < reps; rep++ {
		var qcs [2]*QueuedCall
		var errs [2]error
		var start, done sync.WaitGroup
		start.Add(1)
		for i := range qcs {
			done.Add(1)
			go func() {
				defer done.Done()
				start.Wait()
				qcs[i], errs[i] = nodes[i].Enqueue(CallRequest{ID: fmt.Sprintf("race-%d-%d", rep, i), Queue: "default"})
			}()
		}
		start.Done()
		done.Wait()
		for i, err := range errs {
			if err != nil {
				t.Fatalf("rep %d: Enqueue on node %d: %v", rep, i, err)
			}
		}
		winner, offered := -1, 0
		for i, qc := range qcs {
			if o, ok := f.tryOffer(qc); ok {
				if len(o.Agents) != 1 || o.Agents[0] != "alice" {
					t.Fatalf("rep %d: offer %v", rep, o.Agents)
				}
				offered++
				winner = i
			}
		}
		if offered != 1 {
			t.Fatalf("rep %d: %d calls were offered the one agent, want exactly 1", rep, offered)
		}
		wins[winner]++
		loser := 1 - winner
		if st := qcs[loser].Status().State; st != "waiting" {
			t.Fatalf("rep %d: the other call is %s, want waiting", rep, st)
		}
		if err := qcs[winner].Answered("alice"); err != nil {
			t.Fatal(err)
		}
		if err := qcs[winner].Hangup(); err != nil {
			t.Fatal(err)
		}
		if err := nodes[loser].Sync(); err != nil {
			t.Fatal(err)
		}
		if _, ok := f.tryOffer(qcs[loser]); !ok {
			t.Fatalf("rep %d: the waiting call was not offered alice once she was free", rep)
		}
		if err := qcs[loser].Answered("alice"); err != nil {
			t.Fatal(err)
		}
		if err := qcs[loser].Hangup(); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("%d races: first-arrived per node %v", reps, wins)
}

// memGuard holds reservations in memory (cluster.Node holds them in Redis).
type memGuard struct {
	mu   sync.Mutex
	held map[string]string
}

func (g *memGuard) Reserve(agent, call string) (bool, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if h, ok := g.held[agent]; ok && h != call {
		return false, nil
	}
	g.held[agent] = call
	return true, nil
}

func (g *memGuard) Release(agent, call string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.held[agent] == call {
		delete(g.held, agent)
	}
}

// TestGuardKeepsDivergedReplicasApart: a replica that missed the op of
// a call (lost with a Redis restart) believes the agent free and offers
// her another call: the reservation refuses it, the offer is withdrawn
// without counting as unanswered, and the call gets the agent once the
// first call ended.
func TestGuardKeepsDivergedReplicasApart(t *testing.T) {
	c := configtest.MustValid(t, configtest.BaseConfig(configtest.Agents("alice")...))
	clk := routingtest.NewClock()
	l := &memLog{lost: map[int]bool{}}
	g := &memGuard{held: map[string]string{}}
	var r [2]*ACD
	for i := range r {
		a, err := New(c, Options{Now: clk.Now, Replication: memHandle{l, i}, Guard: g})
		if err != nil {
			t.Fatal(err)
		}
		r[i] = a
		l.replicas = append(l.replicas, a)
	}
	if err := r[0].SetRegistered("alice", true); err != nil {
		t.Fatal(err)
	}
	if err := r[0].Login("alice"); err != nil {
		t.Fatal(err)
	}
	f := &acdFixture{t: t, clk: clk, acd: r[0]}

	l.lost[1] = true // replica 1 misses call A
	callA, err := r[0].Enqueue(CallRequest{ID: "A", Queue: "default"})
	if err != nil {
		t.Fatal(err)
	}
	l.lost[1] = false
	if o := f.offer(callA); o.Agents[0] != "alice" {
		t.Fatalf("A offered %v", o.Agents)
	}
	if err := callA.Answered("alice"); err != nil {
		t.Fatal(err)
	}
	callB, err := r[1].Enqueue(CallRequest{ID: "B", Queue: "default"})
	if err != nil {
		t.Fatal(err)
	}
	if o, ok := f.tryOffer(callB); ok {
		t.Fatalf("B was offered %v while alice talks on A (replica 1 missed A)", o.Agents)
	}
	if info, _ := r[1].Agent("alice"); info.MissedInRow != 0 || info.State == StatePaused {
		t.Errorf("the withdrawn offer counted against alice: %+v", info)
	}
	if err := callA.Hangup(); err != nil {
		t.Fatal(err)
	}
	clk.Add(guardRetry) // a refusal is no missed offer: not the retry delay
	r[1].Tick()
	if o := f.offer(callB); o.Agents[0] != "alice" {
		t.Fatalf("B offered %v after A ended", o.Agents)
	}
}

// TestGuardReleasedWhenCallEndedElsewhere: after a Redis restart a node
// judged call A's node lost (wrongly: A goes on) and NodeLost ended A on
// every replica, alice free there; A's reservation, re-published by its
// node, keeps her from ringing for B meanwhile. When A really ends, its
// node releases her although the replicas ended A long ago, and B, whose
// offer of her was refused, is offered her again within guardRetry, not
// after the retry delay of a missed offer: the caller does not wait with
// the agent free.
func TestGuardReleasedWhenCallEndedElsewhere(t *testing.T) {
	c := configtest.MustValid(t, configtest.BaseConfig(configtest.Agents("alice")...))
	if c.Queue.RetryDelay <= guardRetry {
		t.Fatalf("retry delay %v: the test needs one longer than guardRetry %v", c.Queue.RetryDelay, guardRetry)
	}
	clk, l, g, r, withdrawn := guardedReplicas(t, c)
	if err := r[0].SetRegistered("alice", true); err != nil {
		t.Fatal(err)
	}
	if err := r[0].Login("alice"); err != nil {
		t.Fatal(err)
	}
	f := &acdFixture{t: t, clk: clk, acd: r[0]}
	callA, err := r[0].Enqueue(CallRequest{ID: "A", Queue: "default"})
	if err != nil {
		t.Fatal(err)
	}
	if o := f.offer(callA); o.Agents[0] != "alice" {
		t.Fatalf("A offered %v", o.Agents)
	}
	if err := callA.Answered("alice"); err != nil {
		t.Fatal(err)
	}
	clk.Add(time.Second)
	if _, err := (memHandle{l, 1}).Submit(NodeLost("n0", clk.Now())); err != nil { // n1 judged n0 lost
		t.Fatal(err)
	}
	clk.Add(time.Minute) // past her wrap-up: every replica has alice available
	r[1].Tick()
	if st := f.state("alice"); st != StateAvailable {
		t.Fatalf("alice is %s after NodeLost ended A on the replicas, want available (the case under test)", st)
	}
	callB, err := r[1].Enqueue(CallRequest{ID: "B", Queue: "default"})
	if err != nil {
		t.Fatal(err)
	}
	if o, ok := f.tryOffer(callB); ok {
		t.Fatalf("B was offered %v while alice still talks on A", o.Agents)
	}
	if withdrawn.n.Load() != 1 {
		t.Fatalf("%d offers withdrawn, want B's of alice", withdrawn.n.Load())
	}

	clk.Add(guardRetry / 2)
	_ = callA.Hangup() // A ends on its node: ErrNotConnected, the replicas ended it already
	callA.Close()
	g.mu.Lock()
	held := maps.Clone(g.held)
	g.mu.Unlock()
	if len(held) != 0 {
		t.Fatalf("reservations after A ended on its node: %v, want none", held)
	}
	clk.Add(guardRetry / 2)
	r[1].Tick()
	o, ok := f.tryOffer(callB)
	if !ok || o.Agents[0] != "alice" {
		t.Fatalf("B offered %v (%t) %v after A ended (and after guardRetry), want alice", o.Agents, ok, guardRetry)
	}
	if info, _ := r[1].Agent("alice"); info.MissedInRow != 0 {
		t.Errorf("the withdrawn offer counted against alice: %+v", info)
	}
	if err := callB.Answered("alice"); err != nil {
		t.Fatal(err)
	}
	if err := callB.Hangup(); err != nil {
		t.Fatal(err)
	}
	if len(g.held) != 0 {
		t.Errorf("reservations after B ended: %v", g.held)
	}
}

// TestGuardReleasedBeforeAgentFreed: the moment a hang-up (or a ring
// without answer) is applied, every replica sees the agent free and
// another node may offer her its waiting call before the submitting node
// goes on: her reservation must be gone by then, or that offer would be
// refused and its caller kept waiting (guardBackoff) for nothing.
func TestGuardReleasedBeforeAgentFreed(t *testing.T) {
	c := configtest.MustValid(t, configtest.BaseConfig(configtest.Agents("alice")...))
	clk, l, _, r, withdrawn := guardedReplicas(t, c)
	if err := r[0].SetRegistered("alice", true); err != nil {
		t.Fatal(err)
	}
	if err := r[0].Login("alice"); err != nil {
		t.Fatal(err)
	}
	f := &acdFixture{t: t, clk: clk, acd: r[0]}
	for _, end := range []string{opHangup, opNoAnswer} {
		callA, err := r[0].Enqueue(CallRequest{ID: "A-" + end, Queue: "default"})
		if err != nil {
			t.Fatal(err)
		}
		if o := f.offer(callA); o.Agents[0] != "alice" {
			t.Fatalf("A offered %v", o.Agents)
		}
		if end == opHangup {
			if err := callA.Answered("alice"); err != nil {
				t.Fatal(err)
			}
		}
		callB, err := r[1].Enqueue(CallRequest{ID: "B-" + end, Queue: "default"})
		if err != nil {
			t.Fatal(err)
		}
		var offerB Offer
		var offeredB bool
		l.after = func(op []byte) {
			if strings.Contains(string(op), `"k":"`+end+`"`) {
				l.after = nil
				offerB, offeredB = f.tryOffer(callB) // node 1, at once
			}
		}
		if end == opHangup {
			err = callA.Hangup()
		} else {
			err = callA.NoAnswer("alice")
		}
		if err != nil {
			t.Fatal(err)
		}
		if !offeredB || offerB.Agents[0] != "alice" || withdrawn.n.Load() != 0 {
			t.Fatalf("after %s of A: B offered %v (%t), %d offers withdrawn; want alice, none withdrawn", end, offerB.Agents, offeredB, withdrawn.n.Load())
		}
		if err := callB.Answered("alice"); err != nil {
			t.Fatal(err)
		}
		if err := callB.Hangup(); err != nil {
			t.Fatal(err)
		}
		callA.Abandon()
	}
}

// BenchmarkCallSetupShared: the setup latency the shared ACD adds. One
// call arrives (Enqueue: until its offer is ready), is answered and hung
// up, with 100 agents: on one node, and on the first of three replicas
// sharing their log in a real redis-server (each op goes through Redis
// and back). Reports p50/p99 of the Enqueue alone (setup-p50-ns,
// setup-p99-ns) besides the whole cycle.
func BenchmarkCallSetupShared(b *testing.B) {
	for _, nodes := range []int{1, 3} {
		b.Run(fmt.Sprintf("nodes=%d", nodes), func(b *testing.B) {
			c := configtest.BaseConfig(manyAgents(100)...)
			c.Queues = []config.QueueDef{{Name: "q", Strategy: config.StrategyLongestIdle}}
			configtest.MustValid(b, c)
			clk := routingtest.NewClock()
			o := Options{Now: clk.Now}
			var a *ACD
			if nodes == 1 {
				var err error
				if a, err = New(c, o); err != nil {
					b.Fatal(err)
				}
			} else {
				srv := redistest.Start(b)
				for i := 0; i < nodes; i++ {
					cc := cluster.Config{RedisURL: srv.URL(), Node: fmt.Sprintf("n%d", i)}
					cc.SetDefaults("")
					node, err := cluster.Join(context.Background(), cc, cluster.Options{Shared: []byte("bench")})
					if err != nil {
						b.Fatal(err)
					}
					lazy := &lazyLog{}
					o.Replication = lazy
					r, err := New(c, o)
					if err != nil {
						b.Fatal(err)
					}
					if lazy.l, err = node.OpenLog(context.Background(), "acd", r.ApplyOp); err != nil {
						b.Fatal(err)
					}
					b.Cleanup(func() { lazy.l.Close(); _ = node.Close(context.Background()) })
					if i == 0 {
						a = r
					}
				}
			}
			for _, ag := range c.Agents {
				if err := a.SetRegistered(ag.Username, true); err != nil {
					b.Fatal(err)
				}
				if err := a.Login(ag.Username); err != nil {
					b.Fatal(err)
				}
			}
			setup := make([]time.Duration, 0, b.N)
			timeOps(b, func(i int) {
				t0 := time.Now()
				qc, err := a.Enqueue(CallRequest{ID: fmt.Sprintf("c-%d", i), Queue: "q"})
				if err != nil {
					b.Fatal(err)
				}
				setup = append(setup, time.Since(t0))
				ctx, cancel := context.WithCancel(context.Background())
				cancel()
				off, err := qc.Next(ctx)
				if err != nil {
					b.Fatalf("no offer at once: %v", err)
				}
				if err := qc.Answered(off.Agents[0]); err != nil {
					b.Fatal(err)
				}
				if err := qc.Hangup(); err != nil {
					b.Fatal(err)
				}
			})
			slices.Sort(setup)
			b.ReportMetric(float64(setup[len(setup)/2].Nanoseconds()), "setup-p50-ns")
			b.ReportMetric(float64(setup[len(setup)*99/100].Nanoseconds()), "setup-p99-ns")
		})
	}
}

// TestGuardRefusalOffersNextAgentAtOnce: when the reservation refuses
// the offered agent (held elsewhere), the call is offered the next free
// agent at once, not after guardBackoff.
func TestGuardRefusalOffersNextAgentAtOnce(t *testing.T) {
	c := configtest.MustValid(t, configtest.BaseConfig(configtest.Agents("alice", "bob")...))
	clk := routingtest.NewClock()
	l := &memLog{}
	g := &memGuard{held: map[string]string{"alice": "elsewhere"}}
	a, err := New(c, Options{Now: clk.Now, Replication: memHandle{l, 0}, Guard: g})
	if err != nil {
		t.Fatal(err)
	}
	l.replicas = append(l.replicas, a)
	for _, ag := range []string{"alice", "bob"} {
		if err := a.SetRegistered(ag, true); err != nil {
			t.Fatal(err)
		}
		if err := a.Login(ag); err != nil {
			t.Fatal(err)
		}
		clk.Add(time.Second) // alice is idle longest: offered first
	}
	f := &acdFixture{t: t, clk: clk, acd: a}
	qc, err := a.Enqueue(CallRequest{ID: "A", Queue: "default"})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	o, ok := f.tryOffer(qc)
	if !ok || len(o.Agents) != 1 || o.Agents[0] != "bob" {
		t.Fatalf("offer %v (%t) after alice was refused, want bob at once", o.Agents, ok)
	}
	if d := time.Since(start); d >= guardBackoff {
		t.Errorf("offer took %v, want less than guardBackoff %v", d, guardBackoff)
	}
}

// TestGuardRingAllReleasedWhenAnswered: a ring-all call rings alice and
// bob; bob answers. Alice's reservation goes before the answer is
// applied, so that another node offering her its waiting call the moment
// it sees her free is not refused (and its caller not kept waiting), and
// bob's stays until the call ends.
func TestGuardRingAllReleasedWhenAnswered(t *testing.T) {
	c := configtest.BaseConfig(configtest.Agents("alice", "bob")...)
	c.Queues = []config.QueueDef{{Name: "q", Strategy: config.StrategyRingAll}}
	configtest.MustValid(t, c)
	clk, l, g, r, withdrawn := guardedReplicas(t, c)
	for _, ag := range []string{"alice", "bob"} {
		if err := r[0].SetRegistered(ag, true); err != nil {
			t.Fatal(err)
		}
		if err := r[0].Login(ag); err != nil {
			t.Fatal(err)
		}
	}
	f := &acdFixture{t: t, clk: clk, acd: r[0]}
	callA, err := r[0].Enqueue(CallRequest{ID: "A", Queue: "q"})
	if err != nil {
		t.Fatal(err)
	}
	if o := f.offer(callA); !slices.Equal(o.Agents, []string{"alice", "bob"}) {
		t.Fatalf("A offered %v, want alice and bob rung at once", o.Agents)
	}
	callB, err := r[1].Enqueue(CallRequest{ID: "B", Queue: "q"})
	if err != nil {
		t.Fatal(err)
	}
	var offerB Offer
	var offeredB bool
	var heldAtApply map[string]string
	l.after = func(op []byte) {
		if strings.Contains(string(op), `"k":"`+opAnswered+`"`) {
			l.after = nil
			g.mu.Lock()
			heldAtApply = maps.Clone(g.held)
			g.mu.Unlock()
			offerB, offeredB = f.tryOffer(callB) // node 1, at once
		}
	}
	if err := callA.Answered("bob"); err != nil {
		t.Fatal(err)
	}
	if want := map[string]string{"bob": "A"}; !maps.Equal(heldAtApply, want) {
		t.Errorf("reservations when the answer was applied: %v, want %v (alice's released before)", heldAtApply, want)
	}
	if !offeredB || !slices.Equal(offerB.Agents, []string{"alice"}) || withdrawn.n.Load() != 0 {
		t.Fatalf("B offered %v (%t) as bob answered A, %d offers withdrawn; want alice at once, none withdrawn",
			offerB.Agents, offeredB, withdrawn.n.Load())
	}
	if err := callB.Answered("alice"); err != nil {
		t.Fatal(err)
	}
	g.mu.Lock()
	held := maps.Clone(g.held)
	g.mu.Unlock()
	if want := map[string]string{"alice": "B", "bob": "A"}; !maps.Equal(held, want) {
		t.Errorf("reservations while both talk: %v, want %v", held, want)
	}
	for _, qc := range []*QueuedCall{callA, callB} {
		if err := qc.Hangup(); err != nil {
			t.Fatal(err)
		}
	}
	if len(g.held) != 0 {
		t.Errorf("reservations after both calls ended: %v", g.held)
	}
}

// TestGuardRingAllReleasedWhenAnsweredRedis: the same with the
// reservations of two Hotline nodes in a real redis-server (their log
// too): when node 1 applies bob's answer, alice is no longer reserved,
// bob is (for the call) until it ends, and node 1's waiting call is
// offered alice without a withdrawal.
func TestGuardRingAllReleasedWhenAnsweredRedis(t *testing.T) {
	c := configtest.BaseConfig(configtest.Agents("alice", "bob")...)
	c.Queues = []config.QueueDef{{Name: "q", Strategy: config.StrategyRingAll}}
	configtest.MustValid(t, c)
	srv := redistest.Start(t)
	withdrawn := &countHandler{msg: "offer withdrawn: the agent is held elsewhere"}
	var r [2]*ACD
	var nodes [2]*cluster.Node
	type seen struct {
		held bool
		err  error
	}
	atApply := make(chan seen, 1)
	for i := range r {
		cc := cluster.Config{RedisURL: srv.URL(), Node: fmt.Sprintf("n%d", i)}
		cc.SetDefaults("")
		node, err := cluster.Join(context.Background(), cc, cluster.Options{Shared: []byte("ring-all test")})
		if err != nil {
			t.Fatal(err)
		}
		ctx, stop := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); node.Run(ctx) }()
		lazy := &lazyLog{}
		a, err := New(c, Options{Replication: lazy, Guard: nodeGuard{node}, Logger: slog.New(withdrawn)})
		if err != nil {
			t.Fatal(err)
		}
		apply := a.ApplyOp
		if i == 1 {
			apply = func(origin string, data []byte) any {
				var op Op
				if json.Unmarshal(data, &op) == nil && op.Kind == opAnswered && op.Call == "A" {
					_, held, err := node.Holder(context.Background(), "alice")
					select {
					case atApply <- seen{held, err}:
					default:
					}
				}
				return a.ApplyOp(origin, data)
			}
		}
		l, err := node.OpenLog(context.Background(), "acd", apply)
		if err != nil {
			t.Fatal(err)
		}
		lazy.l = l
		t.Cleanup(func() { stop(); <-done; l.Close(); _ = node.Close(context.Background()) })
		r[i], nodes[i] = a, node
	}
	for _, ag := range []string{"alice", "bob"} {
		if err := r[0].SetRegistered(ag, true); err != nil {
			t.Fatal(err)
		}
		if err := r[0].Login(ag); err != nil {
			t.Fatal(err)
		}
	}
	f := &acdFixture{t: t, acd: r[0]}
	holder := func(agent string) string {
		t.Helper()
		res, ok, err := nodes[1].Holder(context.Background(), agent)
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			return ""
		}
		return res.Node + "/" + res.Offer
	}
	callA, err := r[0].Enqueue(CallRequest{ID: "A", Queue: "q"})
	if err != nil {
		t.Fatal(err)
	}
	if o := f.offer(callA); !slices.Equal(o.Agents, []string{"alice", "bob"}) {
		t.Fatalf("A offered %v, want alice and bob rung at once", o.Agents)
	}
	if a, b := holder("alice"), holder("bob"); a != "n0/A" || b != "n0/A" {
		t.Fatalf("reservations while A rings: alice %q, bob %q; want both n0/A", a, b)
	}
	callB, err := r[1].Enqueue(CallRequest{ID: "B", Queue: "q"})
	if err != nil {
		t.Fatal(err)
	}
	if err := callA.Answered("bob"); err != nil {
		t.Fatal(err)
	}
	if err := r[1].Sync(); err != nil {
		t.Fatal(err)
	}
	select {
	case s := <-atApply:
		if s.err != nil || s.held {
			t.Errorf("node 1 applied bob's answer while alice was still reserved (%v): want her released before", s.err)
		}
	default:
		t.Fatal("node 1 never applied bob's answer")
	}
	if a, b := holder("alice"), holder("bob"); a != "" || b != "n0/A" {
		t.Errorf("reservations after bob answered: alice %q, bob %q; want alice none, bob n0/A", a, b)
	}
	f1 := &acdFixture{t: t, acd: r[1]}
	if o := f1.offer(callB); !slices.Equal(o.Agents, []string{"alice"}) || withdrawn.n.Load() != 0 {
		t.Fatalf("B offered %v, %d offers withdrawn; want alice, none withdrawn", o.Agents, withdrawn.n.Load())
	}
	if a := holder("alice"); a != "n1/B" {
		t.Errorf("alice reserved by %q, want n1/B", a)
	}
	if err := callB.Answered("alice"); err != nil {
		t.Fatal(err)
	}
	for _, qc := range []*QueuedCall{callA, callB} {
		if err := qc.Hangup(); err != nil {
			t.Fatal(err)
		}
	}
	if a, b := holder("alice"), holder("bob"); a != "" || b != "" {
		t.Errorf("reservations after both calls ended: alice %q, bob %q", a, b)
	}
}

// TestGuardRingAllFailedAnswerKeepsOthers: an answer the ACD refuses (bob
// already reported as not taking the call) leaves the agents still rung
// for the call reserved for it.
func TestGuardRingAllFailedAnswerKeepsOthers(t *testing.T) {
	c := configtest.BaseConfig(configtest.Agents("alice", "bob")...)
	c.Queues = []config.QueueDef{{Name: "q", Strategy: config.StrategyRingAll}}
	configtest.MustValid(t, c)
	clk := routingtest.NewClock()
	l := &memLog{}
	g := &memGuard{held: map[string]string{}}
	a, err := New(c, Options{Now: clk.Now, Replication: memHandle{l, 0}, Guard: g})
	if err != nil {
		t.Fatal(err)
	}
	l.replicas = append(l.replicas, a)
	for _, ag := range []string{"alice", "bob"} {
		if err := a.SetRegistered(ag, true); err != nil {
			t.Fatal(err)
		}
		if err := a.Login(ag); err != nil {
			t.Fatal(err)
		}
	}
	f := &acdFixture{t: t, clk: clk, acd: a}
	callA, err := a.Enqueue(CallRequest{ID: "A", Queue: "q"})
	if err != nil {
		t.Fatal(err)
	}
	if o := f.offer(callA); !slices.Equal(o.Agents, []string{"alice", "bob"}) {
		t.Fatalf("A offered %v, want alice and bob", o.Agents)
	}
	if err := callA.NoAnswer("bob"); err != nil {
		t.Fatal(err)
	}
	if err := callA.Answered("bob"); !errors.Is(err, ErrNotOffered) {
		t.Fatalf("bob's late answer: %v, want ErrNotOffered", err)
	}
	g.mu.Lock()
	held := maps.Clone(g.held)
	g.mu.Unlock()
	if want := map[string]string{"alice": "A"}; !maps.Equal(held, want) {
		t.Fatalf("reservations after the refused answer: %v, want %v (alice still rung for A)", held, want)
	}
	if err := callA.Answered("alice"); err != nil {
		t.Fatal(err)
	}
	if err := callA.Hangup(); err != nil {
		t.Fatal(err)
	}
	if len(g.held) != 0 {
		t.Errorf("reservations after the call ended: %v", g.held)
	}
}

// guardedReplicas is two replicas of the ACD on one in-memory log, sharing
// one reservation guard, with a count of the offers withdrawn because the
// agent was held elsewhere.
func guardedReplicas(t *testing.T, c *config.Config) (*routingtest.Clock, *memLog, *memGuard, [2]*ACD, *countHandler) {
	t.Helper()
	clk := routingtest.NewClock()
	l := &memLog{}
	g := &memGuard{held: map[string]string{}}
	var r [2]*ACD
	withdrawn := &countHandler{msg: "offer withdrawn: the agent is held elsewhere"}
	for i := range r {
		a, err := New(c, Options{Now: clk.Now, Replication: memHandle{l, i}, Guard: g, Logger: slog.New(withdrawn)})
		if err != nil {
			t.Fatal(err)
		}
		r[i] = a
		l.replicas = append(l.replicas, a)
	}
	return clk, l, g, r, withdrawn
}

// TestWithdrawAfterLostReservation: alice is offered call A on this node
// while her reservation is lost to another node's offer (Redis was out of
// reach too long). Withdraw ends the offer through the log without
// counting it as unanswered (no ring-no-answer event, no auto-pause after
// one miss: alice stays available) and releases nothing of the other
// offer's; A is offered bob at once, and alice again for A only after
// guardRetry.
func TestWithdrawAfterLostReservation(t *testing.T) {
	c := configtest.BaseConfig(configtest.Agents("alice", "bob")...)
	c.Queue.AutoPauseAfter = 1
	c = configtest.MustValid(t, c)
	clk, _, g, r, _ := guardedReplicas(t, c)
	a := r[0]
	if err := a.SetRegistered("alice", true); err != nil {
		t.Fatal(err)
	}
	if err := a.Login("alice"); err != nil {
		t.Fatal(err)
	}
	f := &acdFixture{t: t, clk: clk, acd: a}
	qc, err := a.Enqueue(CallRequest{ID: "A", Queue: "default"})
	if err != nil {
		t.Fatal(err)
	}
	if o, ok := f.tryOffer(qc); !ok || !slices.Equal(o.Agents, []string{"alice"}) {
		t.Fatalf("offer %v (%t), want alice", o.Agents, ok)
	}
	g.mu.Lock()
	g.held["alice"] = "B@node2" // taken by another node's offer meanwhile
	g.mu.Unlock()
	if err := qc.Withdraw("alice"); err != nil {
		t.Fatalf("Withdraw: %v", err)
	}
	if info, _ := a.Agent("alice"); info.State != StateAvailable {
		t.Errorf("alice after her offer was withdrawn: %s (%s), want available (auto-pause after 1 miss must not count it)", info.State, info.PauseReason)
	}
	g.mu.Lock()
	if g.held["alice"] != "B@node2" {
		t.Errorf("the other offer's reservation of alice was released: %q", g.held["alice"])
	}
	g.mu.Unlock()
	g.mu.Lock()
	delete(g.held, "alice") // the other offer ended
	g.mu.Unlock()
	f.noOffer(qc) // alice is left out for guardRetry
	if err := a.SetRegistered("bob", true); err != nil {
		t.Fatal(err)
	}
	if err := a.Login("bob"); err != nil {
		t.Fatal(err)
	}
	if o, ok := f.tryOffer(qc); !ok || !slices.Equal(o.Agents, []string{"bob"}) {
		t.Fatalf("offer %v (%t) after alice's was withdrawn, want bob at once", o.Agents, ok)
	}
	if err := qc.NoAnswer("bob"); err != nil {
		t.Fatal(err)
	}
	clk.Add(guardRetry + time.Second)
	a.Tick()
	if o, ok := f.tryOffer(qc); !ok || !slices.Equal(o.Agents, []string{"alice"}) {
		t.Fatalf("offer %v (%t) after guardRetry, want alice again", o.Agents, ok)
	}
}
