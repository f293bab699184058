package cluster

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"hotline/internal/redistest"
	"hotline/sip/registrar"
)

var shared = []byte("agents: [alice, bob]\nqueues: [support]\n")

func testConfig(url, node string) Config {
	c := Config{RedisURL: url, Node: node, Lease: 3 * time.Second, Heartbeat: 100 * time.Millisecond, Settle: 500 * time.Millisecond}
	c.SetDefaults("")
	return c
}

// join joins node name to the cluster on srv, runs its heartbeat until
// the test ends (or stop is called) and closes it.
func join(t *testing.T, srv *redistest.Server, name string) (n *Node, stop func()) {
	t.Helper()
	return joinWith(t, srv, name, Options{Shared: shared})
}

// joinWith is join with options o.
func joinWith(t *testing.T, srv *redistest.Server, name string, o Options) (n *Node, stop func()) {
	t.Helper()
	cfg := testConfig(srv.URL(), name)
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	n, err := Join(context.Background(), cfg, o)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); n.Run(ctx) }()
	var once sync.Once
	stop = func() { once.Do(func() { cancel(); <-done }) }
	t.Cleanup(func() { stop(); _ = n.Close(context.Background()) })
	return n, stop
}

func TestJoinErrors(t *testing.T) {
	srv := redistest.Start(t)
	ctx := context.Background()

	t.Run("unreachable", func(t *testing.T) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		l.Close() // nothing listens there now
		_, err = Join(ctx, testConfig("redis://"+addr+"/0", "n1"), Options{Shared: shared})
		if !errors.Is(err, ErrUnreachable) || !strings.Contains(err.Error(), addr) {
			t.Fatalf("Join to a dead address: %v, want ErrUnreachable naming %s", err, addr)
		}
	})

	t.Run("config mismatch", func(t *testing.T) {
		join(t, srv, "n1")
		_, err := Join(ctx, testConfig(srv.URL(), "n2"), Options{Shared: []byte("agents: [alice]\n")})
		if !errors.Is(err, ErrConfigMismatch) || !strings.Contains(err.Error(), "n2") || !strings.Contains(err.Error(), "first set by node n1") {
			t.Fatalf("Join with another config: %v, want ErrConfigMismatch naming n2 and n1", err)
		}
		// The same configuration joins.
		join(t, srv, "n3")
	})

	t.Run("duplicate name", func(t *testing.T) {
		join(t, srv, "dup")
		start := time.Now()
		_, err := Join(ctx, testConfig(srv.URL(), "dup"), Options{Shared: shared})
		if !errors.Is(err, ErrDuplicateNode) {
			t.Fatalf("Join with a live node's name: %v, want ErrDuplicateNode", err)
		}
		if took := time.Since(start); took < 3*time.Second {
			t.Errorf("gave up after %s, want to wait out the lease (3s) for a killed previous run", took)
		}
	})

	t.Run("config validation", func(t *testing.T) {
		c := Config{RedisURL: "http://x", Node: "bad name", Lease: time.Minute, SnapshotEvery: 5}
		c.SetDefaults("")
		err := c.Validate()
		for _, want := range []string{"redis_url", "node", "lease", "snapshot_every"} {
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("Validate = %v, want a %s error", err, want)
			}
		}
		one := Config{}
		if one.Enabled() || one.Validate() != nil {
			t.Error("the empty config (one node) must be valid and disabled")
		}
	})
}

// TestReserveRace: two (then three) nodes reserve the one free agent at
// the same instant, many times: exactly one gets it each time, and the
// loser is told who holds it.
func TestReserveRace(t *testing.T) {
	srv := redistest.Start(t)
	nodes := []*Node{}
	for _, name := range []string{"a", "b", "c"} {
		n, _ := join(t, srv, name)
		nodes = append(nodes, n)
	}
	ctx := context.Background()
	const reps = 400
	for _, k := range []int{2, 3} {
		wins := make([]int, k)
		for rep := 0; rep < reps; rep++ {
			agent := fmt.Sprintf("agent-%d-%d", k, rep)
			var start, done sync.WaitGroup
			start.Add(1)
			got := make([]bool, k)
			errs := make([]error, k)
			for i := 0; i < k; i++ {
				done.Add(1)
				go func() {
					defer done.Done()
					start.Wait()
					got[i], errs[i] = nodes[i].Reserve(ctx, agent, fmt.Sprintf("call-%d-%s", rep, nodes[i].Name()))
				}()
			}
			start.Done()
			done.Wait()
			winners := 0
			for i := range got {
				if errs[i] != nil {
					t.Fatalf("rep %d: node %s: %v", rep, nodes[i].Name(), errs[i])
				}
				if got[i] {
					winners++
					wins[i]++
				}
			}
			if winners != 1 {
				t.Fatalf("rep %d with %d nodes: %d nodes got the agent, want exactly 1", rep, k, winners)
			}
			h, ok, err := nodes[0].Holder(ctx, agent)
			if err != nil || !ok || !got[slices.IndexFunc(nodes[:k], func(n *Node) bool { return n.Name() == h.Node })] {
				t.Fatalf("rep %d: holder %+v %v %v is not the winner", rep, h, ok, err)
			}
		}
		t.Logf("%d nodes, %d races: wins per node %v", k, reps, wins)
	}

	// A released agent can be reserved again; another node's release
	// does not free it.
	a, b := nodes[0], nodes[1]
	if ok, _ := a.Reserve(ctx, "alice", "call-1"); !ok {
		t.Fatal("alice not reserved")
	}
	if err := b.Release(ctx, "alice", "call-1"); err != nil {
		t.Fatal(err)
	}
	if ok, _ := b.Reserve(ctx, "alice", "call-2"); ok {
		t.Fatal("b's release freed a's reservation")
	}
	if err := a.Release(ctx, "alice", "call-1"); err != nil {
		t.Fatal(err)
	}
	if ok, _ := b.Reserve(ctx, "alice", "call-2"); !ok {
		t.Fatal("alice not reservable after a's release")
	}
}

// TestDeadNodeLease: a node that stops (SIGKILL: no release) keeps its
// agents reserved until its lease lapses, then they are free; a live
// node's reservation outlives the lease through its heartbeat.
func TestDeadNodeLease(t *testing.T) {
	srv := redistest.Start(t)
	ctx := context.Background()
	a, stopA := join(t, srv, "a")
	b, _ := join(t, srv, "b")
	live, _ := join(t, srv, "live")
	for _, r := range []struct {
		n     *Node
		agent string
	}{{a, "alice"}, {live, "bob"}} {
		if ok, err := r.n.Reserve(ctx, r.agent, "call-"+r.agent); !ok || err != nil {
			t.Fatalf("reserve %s: %v %v", r.agent, ok, err)
		}
	}
	stopA() // a dies: no more heartbeats, nothing released
	died := time.Now()
	lease := a.cfg.Lease

	time.Sleep(lease - time.Second)
	if ok, _ := b.Reserve(ctx, "alice", "call-b"); ok {
		t.Fatalf("alice reservable %s after a died, before its lease (%s) lapsed", time.Since(died), lease)
	}
	var freed time.Duration
	for freed == 0 && time.Since(died) < lease+2*time.Second {
		if ok, _ := b.Reserve(ctx, "alice", "call-b"); ok {
			freed = time.Since(died)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if freed == 0 {
		t.Fatalf("alice still reserved %s after a died (lease %s)", time.Since(died), lease)
	}
	t.Logf("a's agent free again %s after a died (lease %s)", freed.Round(10*time.Millisecond), lease)
	if names, _ := b.Live(ctx); slices.Contains(names, "a") {
		t.Errorf("live nodes %v still list the dead node a", names)
	}
	if ok, _ := b.Reserve(ctx, "bob", "call-b2"); ok {
		t.Error("bob, held by a live node, was reservable after the lease time")
	}
}

// fakeRegistrations is a registrar's state for ShareRegistrations.
type fakeRegistrations struct {
	mu sync.Mutex
	b  map[string][]registrar.Binding
}

func (f *fakeRegistrations) Registered() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for u := range f.b {
		out = append(out, u)
	}
	return out
}

func (f *fakeRegistrations) Lookup(u string) []registrar.Binding {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.b[u])
}

func (f *fakeRegistrations) set(u string, bs ...registrar.Binding) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(bs) == 0 {
		delete(f.b, u)
		return
	}
	f.b[u] = bs
}

func phone(user string, port int, path ...string) registrar.Binding {
	return registrar.Binding{
		Username: user, Contact: sip.Uri{Scheme: "sip", User: user, Host: "192.0.2.7", Port: port},
		Source: "10.0.0.1:5060", Transport: "UDP", Expires: time.Now().Add(time.Minute).Truncate(time.Millisecond),
		CallID: "reg-" + user, CSeq: 2, Path: path,
	}
}

// eventually retries f for up to 5 s.
func eventually(t *testing.T, what string, f func() error) {
	t.Helper()
	eventuallyWithin(t, 5*time.Second, what, f)
}

// eventuallyWithin is eventually with its own bound.
func eventuallyWithin(t *testing.T, bound time.Duration, what string, f func() error) {
	t.Helper()
	var err error
	for deadline := time.Now().Add(bound); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if err = f(); err == nil {
			return
		}
	}
	t.Fatalf("%s: %v", what, err)
}

func wantBindings(ctx context.Context, n *Node, user string, want ...registrar.Binding) func() error {
	return func() error {
		got, err := n.Bindings(ctx, user)
		if err != nil {
			return err
		}
		if len(got) != len(want) {
			return fmt.Errorf("%d bindings of %s, want %d", len(got), user, len(want))
		}
		for i := range want {
			g, w := got[i], want[i]
			if g.Contact.String() != w.Contact.String() || !g.Expires.Equal(w.Expires) || !slices.Equal(g.Path, w.Path) || g.CSeq != w.CSeq {
				return fmt.Errorf("binding %d = %+v, want %+v", i, g, w)
			}
		}
		return nil
	}
}

// TestRegistrationsShared: a phone registered on node a is found, with
// its Path, by node b; un-registering it on a removes it for b.
func TestRegistrationsShared(t *testing.T) {
	srv := redistest.Start(t)
	ctx := context.Background()
	a, _ := join(t, srv, "a")
	b, _ := join(t, srv, "b")
	regs := &fakeRegistrations{b: map[string][]registrar.Binding{}}
	a.ShareRegistrations(regs)
	alice := phone("alice", 5062, "<sip:10.0.0.1:5060;lr;received=sip:192.0.2.7:5062>")
	regs.set("alice", alice)
	eventually(t, "alice's phone seen from b", wantBindings(ctx, b, "alice", alice))
	regs.set("alice")
	eventually(t, "alice's phone gone for b", wantBindings(ctx, b, "alice"))
}

// fakeClock is a clock the test moves.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

// TestRegistrationExpiresByClock: the nodes judge a phone's binding by
// their clock (Options.Now, the registrar's), not the machine's: one
// registered on node a until 23:31 is reachable from node b up to the
// last millisecond before, not at 23:31, and a withdraws it from Redis at
// its next publication. The clock is moved, nothing sleeps; it is set to
// an instant days before the machine's, so that a node counting on the
// machine's clock would find the binding long expired.
func TestRegistrationExpiresByClock(t *testing.T) {
	srv := redistest.Start(t)
	ctx := context.Background()
	clock := &fakeClock{t: time.Date(2026, 11, 23, 23, 30, 0, 0, time.UTC)}
	a, _ := joinWith(t, srv, "a", Options{Shared: shared, Now: clock.Now})
	b, _ := joinWith(t, srv, "b", Options{Shared: shared, Now: clock.Now})
	regs := &fakeRegistrations{b: map[string][]registrar.Binding{}}
	a.ShareRegistrations(regs)
	expires := clock.Now().Add(time.Minute)
	alice := registrar.Binding{
		Username: "alice", Contact: sip.Uri{Scheme: "sip", User: "alice", Host: "192.0.2.7", Port: 5062},
		Source: "10.0.0.1:5060", Transport: "UDP", Expires: expires, CallID: "reg-alice", CSeq: 2,
	}
	regs.set("alice", alice) // the source keeps it past its expiry
	if err := a.SyncRegistrations(ctx); err != nil {
		t.Fatal(err)
	}
	if err := wantBindings(ctx, b, "alice", alice)(); err != nil {
		t.Fatalf("at 23:30: %v", err)
	}
	if ttl, err := a.rdb.PTTL(ctx, a.key("reg", "alice")).Result(); err != nil || ttl < 50*time.Second || ttl > 61*time.Second {
		t.Fatalf("the binding's key lives %v (%v) in Redis, want about the minute to its expiry", ttl, err)
	}
	clock.Set(expires.Add(-time.Millisecond))
	if err := wantBindings(ctx, b, "alice", alice)(); err != nil {
		t.Fatalf("1 ms before the expiry: %v", err)
	}
	clock.Set(expires)
	if err := wantBindings(ctx, b, "alice")(); err != nil {
		t.Fatalf("at the expiry: %v", err)
	}
	if got, err := b.OtherBindings(ctx, "alice"); err != nil || len(got) != 0 {
		t.Fatalf("b reaches alice's expired phone: %+v %v", got, err)
	}
	if err := a.SyncRegistrations(ctx); err != nil {
		t.Fatal(err)
	}
	if n, err := a.rdb.Exists(ctx, a.key("reg", "alice")).Result(); err != nil || n != 0 {
		t.Fatalf("the expired binding is still in Redis (%d, %v) after a's publication", n, err)
	}
}

// TestRedisRestart: Redis restarts empty. While it is down nothing is
// granted; once it is back the nodes join again and re-publish what they
// own (reservations, registrations), and another node
// hammering the reserved agent throughout never gets it.
func TestRedisRestart(t *testing.T) {
	srv := redistest.Start(t)
	ctx := context.Background()
	a, _ := join(t, srv, "a")
	b, _ := join(t, srv, "b")
	if ok, err := a.Reserve(ctx, "alice", "call-a"); !ok || err != nil {
		t.Fatalf("reserve: %v %v", ok, err)
	}
	regs := &fakeRegistrations{b: map[string][]registrar.Binding{}}
	bob := phone("bob", 5064, "<sip:10.0.0.1:5060;lr>")
	regs.set("bob", bob)
	a.ShareRegistrations(regs)
	eventually(t, "bob's phone published", wantBindings(ctx, b, "bob", bob))

	// b tries to take alice all along.
	stop := make(chan struct{})
	stole := make(chan string, 1)
	var hammer sync.WaitGroup
	hammer.Add(1)
	go func() {
		defer hammer.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			if ok, err := b.Reserve(ctx, "alice", "call-b"); ok {
				stole <- fmt.Sprintf("b got alice (err %v)", err)
				return
			}
			time.Sleep(2 * time.Millisecond)
		}
	}()
	defer func() { close(stop); hammer.Wait() }()

	srv.Stop()
	if ok, err := b.Reserve(ctx, "bob", "call-b"); ok || !errors.Is(err, ErrUnreachable) {
		t.Fatalf("Reserve with Redis down: %v %v, want ErrUnreachable", ok, err)
	}
	time.Sleep(300 * time.Millisecond)
	srv.Restart(t) // back, empty
	eventually(t, "both nodes joined again", func() error {
		if a.Rejoins() < 1 || b.Rejoins() < 1 {
			return fmt.Errorf("rejoins a=%d b=%d", a.Rejoins(), b.Rejoins())
		}
		return nil
	})
	time.Sleep(a.cfg.Settle + 500*time.Millisecond)
	select {
	case s := <-stole:
		t.Fatalf("during the Redis restart %s while a held her", s)
	default:
	}
	h, ok, err := b.Holder(ctx, "alice")
	if err != nil || !ok || h.Node != "a" || h.Offer != "call-a" {
		t.Fatalf("after the restart alice is held by %+v (%v, %v), want a's call-a", h, ok, err)
	}
	eventually(t, "bob's phone published again", wantBindings(ctx, b, "bob", bob))
	// New reservations are granted again after the settle window.
	if ok, err := b.Reserve(ctx, "carol", "call-c"); !ok || err != nil {
		t.Fatalf("new reservation after settling: %v %v", ok, err)
	}
}

// TestOneTicker: one live node at a time has the ticker role; when it
// dies another takes it within the lease.
func TestOneTicker(t *testing.T) {
	srv := redistest.Start(t)
	var nodes []*Node
	var stops []func()
	for _, name := range []string{"a", "b", "c"} {
		n, stop := join(t, srv, name)
		nodes, stops = append(nodes, n), append(stops, stop)
	}
	tickers := func() (out []int) {
		for i, n := range nodes {
			if n.Ticker() {
				out = append(out, i)
			}
		}
		return out
	}
	var first int
	eventually(t, "one ticker", func() error {
		if tk := tickers(); len(tk) != 1 {
			return fmt.Errorf("tickers %v, want one", tk)
		}
		first = tickers()[0]
		return nil
	})
	stops[first]()
	nodes[first].ticker.Store(false) // its Run stopped: it no longer acts
	// The dead node's ticker key lapses after the lease (3 s); the bound
	// leaves a loaded machine (CI under -race) time for the next heartbeat.
	eventuallyWithin(t, 10*time.Second, "another ticker after the first died", func() error {
		tk := tickers()
		if len(tk) != 1 || tk[0] == first {
			return fmt.Errorf("tickers %v, want one other than %d", tk, first)
		}
		return nil
	})
}

// TestLostNodesReservationsDropped: what a lost node held is dropped at
// once (its calls are ended through the log at the same time), nothing
// of another node's.
func TestLostNodesReservationsDropped(t *testing.T) {
	srv := redistest.Start(t)
	ctx := context.Background()
	a, _ := join(t, srv, "a")
	b, _ := join(t, srv, "b")
	for _, r := range []struct {
		n     *Node
		agent string
	}{{a, "carol"}, {b, "dave"}} {
		if ok, err := r.n.Reserve(ctx, r.agent, "call-"+r.agent); !ok || err != nil {
			t.Fatalf("reserve %s: %v %v", r.agent, ok, err)
		}
	}
	if err := b.dropReservations(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	if _, held, _ := b.Holder(ctx, "carol"); held {
		t.Error("the lost node's reservation of carol is still there")
	}
	if h, held, _ := a.Holder(ctx, "dave"); !held || h.Node != "b" {
		t.Errorf("b's reservation of dave: %+v %v, want kept", h, held)
	}
}

// TestNoNodeLostAcrossRedisRestart: Redis restarts (empty) between a
// node's heartbeat renewing its lease and its look at the live nodes (a
// loaded machine makes room for that): it finds no node live, itself
// included, and must not judge the others lost (that would end their
// calls in progress through the log and drop their reservations): they
// join again within a heartbeat. Nor does a node that renews its
// reservations then forget them (it re-publishes them when it joins
// again). A node that really leaves is judged lost.
func TestNoNodeLostAcrossRedisRestart(t *testing.T) {
	srv := redistest.Start(t)
	ctx := context.Background()
	open := func(name string) *Node { // heartbeats by hand
		n, err := Join(ctx, testConfig(srv.URL(), name), Options{Shared: shared})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = n.Close(context.Background()) })
		return n
	}
	a, b, c := open("a"), open("b"), open("c")
	var lost []string
	a.OnNodeLost(func(name string) { lost = append(lost, name) })
	beat := func(nodes ...*Node) {
		t.Helper()
		for _, n := range nodes {
			eventually(t, n.Name()+"'s heartbeat", func() error { return n.Heartbeat(ctx) })
		}
	}
	beat(a, b, c)
	if ok, err := b.Reserve(ctx, "alice", "call-b"); !ok || err != nil {
		t.Fatalf("reserve: %v %v", ok, err)
	}
	srv.Restart(t) // just after a's and b's heartbeats renewed their leases
	eventually(t, "a's look at the live nodes", func() error { return a.watchNodes(ctx) })
	if len(lost) != 0 {
		t.Fatalf("a judged %v lost when Redis restarted under it", lost)
	}
	// b renews its reservations: alice's is gone with Redis, not taken
	// by another: b restores it when it joins again.
	eventually(t, "b's renewal of its reservations", func() error { return b.renewReservations(ctx) })
	beat(a, b, c) // they join again
	if a.Rejoins() != 1 || b.Rejoins() != 1 || c.Rejoins() != 1 {
		t.Fatalf("rejoins %d %d %d, want 1 each", a.Rejoins(), b.Rejoins(), c.Rejoins())
	}
	if h, held, err := a.Holder(ctx, "alice"); err != nil || !held || h.Node != "b" {
		t.Fatalf("alice after the restart: %+v %v %v, want held by b", h, held, err)
	}
	_ = c.Close(ctx) // c leaves
	eventually(t, "a judging c lost", func() error {
		beat(a, b)
		if !slices.Equal(lost, []string{"c"}) {
			return fmt.Errorf("lost %v, want [c]", lost)
		}
		return nil
	})
	if h, held, err := a.Holder(ctx, "alice"); err != nil || !held || h.Node != "b" {
		t.Fatalf("alice after c left: %+v %v %v, want still held by b", h, held, err)
	}
}

// TestNonceSecretShared: every node gets the same nonce secret, and it
// survives a Redis restart (the nodes publish it again).
func TestNonceSecretShared(t *testing.T) {
	srv := redistest.Start(t)
	ctx := context.Background()
	a, _ := join(t, srv, "a")
	b, _ := join(t, srv, "b")
	sa, err := a.NonceSecret(ctx)
	if err != nil {
		t.Fatal(err)
	}
	sb, err := b.NonceSecret(ctx)
	if err != nil || string(sa) != string(sb) || len(sa) < 32 {
		t.Fatalf("secrets %q and %q (%v), want one shared secret", sa, sb, err)
	}
	srv.Restart(t)
	eventually(t, "nodes joined again", func() error {
		if a.Rejoins() < 1 || b.Rejoins() < 1 {
			return fmt.Errorf("rejoins %d %d", a.Rejoins(), b.Rejoins())
		}
		return nil
	})
	c, _ := join(t, srv, "c")
	sc, err := c.NonceSecret(ctx)
	if err != nil || string(sc) != string(sa) {
		t.Fatalf("a node joining after the restart got %q (%v), want the cluster's %q", sc, err, sa)
	}
}

// TestLogAcrossRedisRestart: entries submitted after Redis restarted
// empty are applied by every node, once each, in one order.
func TestLogAcrossRedisRestart(t *testing.T) {
	srv := redistest.Start(t)
	var mu sync.Mutex
	applied := map[string][]string{}
	open := func(n *Node) *Log {
		l, err := n.OpenLog(context.Background(), "test", func(origin string, data []byte) any {
			mu.Lock()
			defer mu.Unlock()
			applied[n.Name()] = append(applied[n.Name()], string(data))
			return len(applied[n.Name()])
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(l.Close)
		return l
	}
	a, _ := join(t, srv, "a")
	b, _ := join(t, srv, "b")
	la, lb := open(a), open(b)
	for i, l := range []*Log{la, lb, la} {
		if _, err := l.Submit([]byte(fmt.Sprintf("before-%d", i))); err != nil {
			t.Fatal(err)
		}
	}
	srv.Restart(t)
	eventually(t, "nodes joined again", func() error {
		if a.Rejoins() < 1 || b.Rejoins() < 1 {
			return fmt.Errorf("rejoins %d %d", a.Rejoins(), b.Rejoins())
		}
		return nil
	})
	for i, l := range []*Log{lb, la} {
		if _, err := l.Submit([]byte(fmt.Sprintf("after-%d", i))); err != nil {
			t.Fatal(err)
		}
	}
	want := []string{"before-0", "before-1", "before-2", "after-0", "after-1"}
	eventually(t, "both nodes applied every entry once", func() error {
		mu.Lock()
		defer mu.Unlock()
		for _, name := range []string{"a", "b"} {
			if !slices.Equal(applied[name], want) {
				return fmt.Errorf("%s applied %v, want %v", name, applied[name], want)
			}
		}
		return nil
	})
}

// countingRegistrar counts the reads of a real registrar's bindings.
type countingRegistrar struct {
	*registrar.Registrar
	lookups atomic.Int64
}

func (c *countingRegistrar) Lookup(u string) []registrar.Binding {
	c.lookups.Add(1)
	return c.Registrar.Lookup(u)
}

// TestRegistrationsPublishedOnlyWhenChanged: a node reads its registrar's
// bindings at a heartbeat only when they changed since it published them
// (thousands of phones are not marshalled each heartbeat for nothing); a
// new registration is published at the next one, and after a Redis
// restart everything is published again though nothing changed.
func TestRegistrationsPublishedOnlyWhenChanged(t *testing.T) {
	srv := redistest.Start(t)
	ctx := context.Background()
	a, _ := join(t, srv, "a")
	b, _ := join(t, srv, "b")
	reg := &countingRegistrar{Registrar: registrar.New(registrar.Config{},
		func(string) (registrar.Secret, bool) { return registrar.Secret{}, true }, nil, nil)}
	a.ShareRegistrations(reg)
	restore := func(p registrar.Binding) {
		t.Helper()
		if n, err := reg.Restore([]registrar.SavedBinding{{Username: p.Username, Contact: p.Contact.String(), Source: p.Source,
			Transport: p.Transport, Expires: p.Expires, CallID: p.CallID, CSeq: p.CSeq}}); n != 1 || err != nil {
			t.Fatalf("restore %s: %d %v", p.Username, n, err)
		}
	}
	alice, bob := phone("alice", 5062), phone("bob", 5064)
	restore(alice)
	eventually(t, "alice's phone seen from b", wantBindings(ctx, b, "alice", alice))

	time.Sleep(300 * time.Millisecond) // a heartbeat (100 ms) that found the change is over
	before := reg.lookups.Load()
	time.Sleep(500 * time.Millisecond) // five heartbeats, nothing changed
	if n := reg.lookups.Load() - before; n != 0 {
		t.Errorf("%d bindings read in five heartbeats with no registration changed, want 0", n)
	}

	restore(bob)
	eventually(t, "bob's phone seen from b", wantBindings(ctx, b, "bob", bob))

	// A Redis restart (what the heartbeat does when it finds the node
	// gone): the node publishes its bindings again.
	if err := a.rdb.Del(ctx, a.key("reg", "alice"), a.key("reg", "bob")).Err(); err != nil {
		t.Fatal(err)
	}
	a.regs.forget()
	eventually(t, "alice's phone published again", wantBindings(ctx, b, "alice", alice))
	eventually(t, "bob's phone published again", wantBindings(ctx, b, "bob", bob))
}
