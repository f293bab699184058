package routing

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"
)

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func newTestPool(names ...string) (*Pool, *fakeClock) {
	clk := &fakeClock{t: time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)}
	var agents []Agent
	for _, n := range names {
		agents = append(agents, Agent{Username: n, Password: "x", Name: n})
	}
	return NewPool(agents, clk.now), clk
}

func state(p *Pool, name string) AgentState {
	for _, a := range p.Agents() {
		if a.Username == name {
			return a.State
		}
	}
	return ""
}

func TestPoolOfflineAgentsGetNoCalls(t *testing.T) {
	p, _ := newTestPool("alice", "bob")
	if id, ok := p.TryAcquire("c1", nil); ok {
		t.Fatalf("got %q with nobody registered", id)
	}
	if err := p.SetOnline("bob", true); err != nil {
		t.Fatal(err)
	}
	id, ok := p.TryAcquire("c1", nil)
	if !ok || id != "bob" {
		t.Fatalf("TryAcquire = %q, %v; want bob", id, ok)
	}
	if s := state(p, "bob"); s != StateRinging {
		t.Fatalf("bob is %s, want ringing", s)
	}
	if err := p.SetOnline("mallory", true); !errors.Is(err, ErrUnknownAgent) {
		t.Fatalf("unknown agent: err = %v", err)
	}
}

func TestPoolLongestIdleFirst(t *testing.T) {
	p, clk := newTestPool("alice", "bob", "carol")
	for _, n := range []string{"carol", "alice", "bob"} {
		_ = p.SetOnline(n, true)
		clk.advance(time.Second)
	}
	var got []string
	for i := 0; i < 3; i++ {
		id, ok := p.TryAcquire(fmt.Sprint("c", i), nil)
		if !ok {
			t.Fatal("no agent")
		}
		got = append(got, id)
	}
	want := []string{"carol", "alice", "bob"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("order %v, want %v", got, want)
	}
	// bob finishes first, then carol: bob has now been idle longest.
	p.Release("bob")
	clk.advance(time.Second)
	p.Release("carol")
	if id, _ := p.TryAcquire("c9", nil); id != "bob" {
		t.Fatalf("got %s, want bob (idle longest)", id)
	}
}

func TestPoolSkipAndAnswered(t *testing.T) {
	p, _ := newTestPool("alice", "bob")
	_ = p.SetOnline("alice", true)
	_ = p.SetOnline("bob", true)
	skipAlice := func(a string) bool { return a == "alice" }
	id, ok := p.TryAcquire("c1", skipAlice)
	if !ok || id != "bob" {
		t.Fatalf("got %q, want bob", id)
	}
	if _, ok := p.TryAcquire("c2", func(a string) bool { return true }); ok {
		t.Fatal("an agent was handed out although every agent is skipped")
	}
	p.Answered("bob")
	if s := state(p, "bob"); s != StateOnCall {
		t.Fatalf("bob is %s, want on_call", s)
	}
	// An agent who unregisters during a call stays on it, then goes offline.
	_ = p.SetOnline("bob", false)
	if s := state(p, "bob"); s != StateOnCall {
		t.Fatalf("bob is %s after unregistering mid-call, want on_call", s)
	}
	p.Release("bob")
	if s := state(p, "bob"); s != StateOffline {
		t.Fatalf("bob is %s after the call, want offline", s)
	}
}

func TestPoolWaitersServedInArrivalOrder(t *testing.T) {
	p, _ := newTestPool("alice")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	type res struct {
		call, agent string
	}
	out := make(chan res, 3)
	for i := 0; i < 3; i++ {
		call := fmt.Sprint("c", i)
		go func() {
			id, err := p.Acquire(ctx, call, time.Now(), nil, 0)
			if err == nil {
				out <- res{call, id}
			}
		}()
		// make arrival order deterministic
		for p.Waiting() != i+1 {
			time.Sleep(time.Millisecond)
		}
	}
	_ = p.SetOnline("alice", true)
	for i := 0; i < 3; i++ {
		r := <-out
		if want := fmt.Sprint("c", i); r.call != want {
			t.Fatalf("served %s, want %s first", r.call, want)
		}
		p.Release(r.agent)
	}
}

func TestPoolTryAcquireTakesOnlyWhatWaitersCannot(t *testing.T) {
	p, _ := newTestPool("alice", "bob")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	got := make(chan string, 1)
	go func() {
		id, _ := p.Acquire(ctx, "waiting", time.Now(), func(a string) bool { return a == "alice" }, 0)
		got <- id
	}()
	for p.Waiting() != 1 {
		time.Sleep(time.Millisecond)
	}
	_ = p.SetOnline("alice", true)
	// alice is skipped by the waiter, so a newcomer may have her.
	if id, ok := p.TryAcquire("new", nil); !ok || id != "alice" {
		t.Fatalf("TryAcquire = %q, %v; want alice", id, ok)
	}
	_ = p.SetOnline("bob", true)
	if id := <-got; id != "bob" {
		t.Fatalf("waiter got %q, want bob", id)
	}
	if id, ok := p.TryAcquire("new2", nil); ok {
		t.Fatalf("TryAcquire got %q with every agent busy", id)
	}
}

func TestPoolRequeuedCallKeepsItsPlace(t *testing.T) {
	p, _ := newTestPool("alice")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	t0 := time.Now()
	got := make(chan string, 2)
	// "late" arrived after "early", but "early" comes back to the queue
	// (its agent did not answer) after "late" started waiting.
	go func() {
		if _, err := p.Acquire(ctx, "late", t0.Add(time.Second), nil, 0); err == nil {
			got <- "late"
		}
	}()
	for p.Waiting() != 1 {
		time.Sleep(time.Millisecond)
	}
	go func() {
		if _, err := p.Acquire(ctx, "early", t0, nil, 0); err == nil {
			got <- "early"
		}
	}()
	for p.Waiting() != 2 {
		time.Sleep(time.Millisecond)
	}
	_ = p.SetOnline("alice", true)
	if first := <-got; first != "early" {
		t.Fatalf("%s was served first, want the call that arrived first", first)
	}
	p.Release("alice")
	<-got
}

func TestPoolAcquireContextEnds(t *testing.T) {
	p, _ := newTestPool("alice")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := p.Acquire(ctx, "c1", time.Now(), nil, 0); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want deadline exceeded", err)
	}
	if n := p.Waiting(); n != 0 {
		t.Fatalf("%d waiters left behind", n)
	}
}

func TestPoolRecheckSeesSkipChange(t *testing.T) {
	p, _ := newTestPool("alice")
	_ = p.SetOnline("alice", true)
	var mu sync.Mutex
	blocked := true
	skip := func(string) bool { mu.Lock(); defer mu.Unlock(); return blocked }
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	done := make(chan string, 1)
	go func() {
		id, _ := p.Acquire(ctx, "c1", time.Now(), skip, 5*time.Millisecond)
		done <- id
	}()
	for p.Waiting() != 1 {
		time.Sleep(time.Millisecond)
	}
	mu.Lock()
	blocked = false
	mu.Unlock()
	if id := <-done; id != "alice" {
		t.Fatalf("got %q, want alice once the retry delay passed", id)
	}
}

// TestPoolRandomised drives the pool with many concurrent callers and
// random agent behaviour and checks the invariants: an agent never has
// two offers at once, a call never rings two agents at once, and no caller
// waits while an agent it may take is available.
func TestPoolRandomised(t *testing.T) {
	names := []string{"a1", "a2", "a3", "a4", "a5"}
	p, _ := newTestPool(names...)
	for _, n := range names {
		_ = p.SetOnline(n, true)
	}
	var mu sync.Mutex
	busy := map[string]string{} // agent -> call
	ringing := map[string]string{}
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for i := 0; i < 40; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			call := fmt.Sprint("call", i)
			r := rand.New(rand.NewPCG(uint64(i), 7))
			for attempt := 0; attempt < 5; attempt++ {
				id, err := p.Acquire(ctx, call, time.Now(), nil, 0)
				if err != nil {
					errs <- fmt.Errorf("%s: %w", call, err)
					return
				}
				mu.Lock()
				if other, ok := busy[id]; ok {
					errs <- fmt.Errorf("agent %s offered %s while on %s", id, call, other)
				}
				if other, ok := ringing[call]; ok {
					errs <- fmt.Errorf("call %s offered to %s while ringing %s", call, id, other)
				}
				busy[id] = call
				ringing[call] = id
				mu.Unlock()
				time.Sleep(time.Duration(r.IntN(300)) * time.Microsecond)
				answered := r.IntN(3) > 0
				mu.Lock()
				delete(busy, id)
				delete(ringing, call)
				mu.Unlock()
				if answered {
					p.Answered(id)
					p.Release(id)
					return
				}
				p.Release(id)
			}
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	for _, a := range p.Agents() {
		if a.State != StateAvailable {
			t.Errorf("agent %s ended %s, want available", a.Username, a.State)
		}
	}
	if n := p.Waiting(); n != 0 {
		t.Errorf("%d callers still waiting with every agent free", n)
	}
}

func TestConfigValidate(t *testing.T) {
	c := Config{
		Hotlines: []Hotline{{Number: "1900"}, {Number: "1900"}, {Number: "bad number"}},
		Agents:   []Agent{{Username: "alice", Password: "x"}, {Username: "alice"}, {Username: "b@d", Password: "y"}},
	}
	c.SetDefaults()
	c.Queue.RingTimeout = 10 * time.Millisecond
	err := c.Validate()
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{
		`hotlines[1].number: "1900" is already used by hotlines[0]`,
		`hotlines[2].number: "bad number" is not a dialable number`,
		`agents[1].username: "alice" is already used by agents[0]`,
		`agents[1].password: must not be empty`,
		`agents[2].username: "b@d" has characters not allowed`,
		`queue.ring_timeout: must be at least 1s`,
	} {
		if !contains(err.Error(), want) {
			t.Errorf("missing %q in:\n%v", want, err)
		}
	}
	ok := Config{Hotlines: []Hotline{{Number: "1900"}}, Agents: []Agent{{Username: "alice", Password: "x"}}}
	ok.SetDefaults()
	if err := ok.Validate(); err != nil {
		t.Fatalf("valid config: %v", err)
	}
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }
