package acd

import (
	"context"
	"errors"
	"hotline/routing/callbacks"
	"hotline/routing/config"
	"hotline/routing/config/configtest"
	"hotline/routing/directory"
	"hotline/routing/internal/routingtest"
	"hotline/routing/rules"
	"path/filepath"
	"reflect"
	"testing"
	"time"
)

func TestACDRegistrationAndLogin(t *testing.T) {
	c := configtest.MustValid(t, configtest.BaseConfig(configtest.Agents("alice")...))
	clk := routingtest.NewClock()
	a, peers := buildACD(t, c, Options{Now: clk.Now})
	f := &acdFixture{t: t, clk: clk, acd: a, peers: peers}
	f.checkPeersAtEnd()
	f.wantState("alice", StateLoggedOut)
	if err := a.Login("alice"); !errors.Is(err, ErrNotRegistered) {
		t.Fatalf("Login unregistered = %v, want ErrNotRegistered", err)
	}
	if err := a.Login("nobody"); !errors.Is(err, ErrUnknownAgent) {
		t.Fatalf("Login unknown = %v", err)
	}
	// Registering alone does not log in.
	if err := a.SetRegistered("alice", true); err != nil {
		t.Fatal(err)
	}
	f.wantState("alice", StateLoggedOut)
	call := f.enqueue(CallRequest{ID: "c1"})
	f.noOffer(call)
	if err := a.Login("alice"); err != nil {
		t.Fatal(err)
	}
	if o := f.offer(call); !reflect.DeepEqual(o.Agents, []string{"alice"}) {
		t.Fatalf("offer %v", o.Agents)
	}
	f.wantState("alice", StateRinging)
	// Registration lost: logged out once the offer is over.
	if err := a.SetRegistered("alice", false); err != nil {
		t.Fatal(err)
	}
	if err := call.NoAnswer("alice"); err != nil {
		t.Fatal(err)
	}
	f.wantState("alice", StateLoggedOut)
	call.Close()
}

func TestACDLoginOnRegister(t *testing.T) {
	f := newACD(t, configtest.BaseConfig(configtest.Agents("alice")...), func(o *Options) { o.LoginOnRegister = true })
	if err := f.acd.SetRegistered("alice", false); err != nil {
		t.Fatal(err)
	}
	f.wantState("alice", StateLoggedOut)
	if err := f.acd.SetRegistered("alice", true); err != nil {
		t.Fatal(err)
	}
	f.wantState("alice", StateAvailable)
}

func TestACDPauseUnpause(t *testing.T) {
	f := newACD(t, configtest.BaseConfig(configtest.Agents("alice", "bob")...))
	if err := f.acd.Pause("alice", "lunch"); err != nil {
		t.Fatal(err)
	}
	info, _ := f.acd.Agent("alice")
	if info.State != StatePaused || info.PauseReason != "lunch" {
		t.Fatalf("alice = %s %q", info.State, info.PauseReason)
	}
	c1 := f.enqueue(CallRequest{ID: "c1"})
	if o := f.offer(c1); o.Agents[0] != "bob" {
		t.Fatalf("offered to %v, want bob (alice paused)", o.Agents)
	}
	c2 := f.enqueue(CallRequest{ID: "c2"})
	f.noOffer(c2)
	if err := f.acd.Unpause("alice"); err != nil {
		t.Fatal(err)
	}
	if o := f.offer(c2); o.Agents[0] != "alice" {
		t.Fatalf("offered to %v, want alice", o.Agents)
	}
	if err := f.acd.Logout("bob"); err != nil {
		t.Fatal(err)
	}
	if err := f.acd.Pause("bob", "x"); !errors.Is(err, ErrNotLoggedIn) {
		t.Fatalf("Pause logged-out = %v", err)
	}
	// Pausing during a call takes effect after it.
	if err := c2.Answered("alice"); err != nil {
		t.Fatal(err)
	}
	if err := f.acd.Pause("alice", "break"); err != nil {
		t.Fatal(err)
	}
	f.wantState("alice", StateOnCall)
	if err := c2.Hangup(); err != nil {
		t.Fatal(err)
	}
	f.wantState("alice", StatePaused)
}

func TestACDAutoPauseAfterNoAnswers(t *testing.T) {
	c := configtest.BaseConfig(configtest.Agents("alice")...)
	c.Queue.AutoPauseAfter = 2
	c.Queue.RetryDelay = time.Second
	f := newACD(t, c)
	call := f.enqueue(CallRequest{ID: "c1"})
	f.offer(call)
	if err := call.NoAnswer("alice"); err != nil {
		t.Fatal(err)
	}
	f.wantState("alice", StateAvailable)
	f.clk.Add(2 * time.Second)
	f.acd.Tick()
	f.offer(call)
	if err := call.NoAnswer("alice"); err != nil {
		t.Fatal(err)
	}
	info, _ := f.acd.Agent("alice")
	if info.State != StatePaused || info.PauseReason != PauseNoAnswer {
		t.Fatalf("alice = %s %q after 2 no-answers, want paused no-answer", info.State, info.PauseReason)
	}
	if err := call.NoAnswer("alice"); !errors.Is(err, ErrNotOffered) {
		t.Fatalf("second report = %v, want ErrNotOffered", err)
	}
}

func TestACDRetryDelay(t *testing.T) {
	c := configtest.BaseConfig(configtest.Agents("alice")...)
	c.Queue.RetryDelay = 5 * time.Second
	f := newACD(t, c)
	call := f.enqueue(CallRequest{ID: "c1"})
	f.offer(call)
	if err := call.NoAnswer("alice"); err != nil {
		t.Fatal(err)
	}
	f.noOffer(call)
	// Alice may take another call meanwhile.
	other := f.enqueue(CallRequest{ID: "c2"})
	f.offer(other)
	if err := other.NoAnswer("alice"); err != nil {
		t.Fatal(err)
	}
	f.clk.Add(4 * time.Second)
	f.acd.Tick()
	f.noOffer(call)
	f.clk.Add(time.Second)
	f.acd.Tick()
	if o := f.offer(call); o.Agents[0] != "alice" {
		t.Fatalf("offer %v", o.Agents)
	}
}

func TestACDStrategies(t *testing.T) {
	tests := []struct {
		strategy string
		// prepare runs before the call; want is the agent offered.
		prepare func(f *acdFixture)
		want    string
	}{
		{config.StrategyLongestIdle, nil, "a1"},
		{config.StrategyLongestIdle, func(f *acdFixture) { f.takeCall("a1", time.Minute) }, "a2"},
		{config.StrategyTopDown, func(f *acdFixture) { f.takeCall("a1", time.Minute) }, "a1"},
		{config.StrategyFewestCalls, func(f *acdFixture) {
			f.takeCall("a1", time.Minute)
			f.takeCall("a1", time.Minute)
			f.takeCall("a2", time.Minute)
		}, "a3"},
		{config.StrategyLeastTalkTime, func(f *acdFixture) {
			f.takeCall("a1", time.Minute)
			f.takeCall("a2", 3*time.Minute)
			f.takeCall("a3", 2*time.Minute)
		}, "a1"},
		{config.StrategyRoundRobin, func(f *acdFixture) { f.takeCall("a2", time.Minute) }, "a3"},
		{config.StrategyRoundRobin, func(f *acdFixture) { f.takeCall("a3", time.Minute) }, "a1"},
	}
	for _, tt := range tests {
		t.Run(tt.strategy, func(t *testing.T) {
			c := configtest.BaseConfig(configtest.Agents("a1", "a2", "a3")...)
			c.Queues = []config.QueueDef{{Name: "q", Strategy: tt.strategy}}
			f := newACD(t, c)
			if tt.prepare != nil {
				tt.prepare(f)
			}
			call := f.enqueue(CallRequest{ID: "c"})
			if o := f.offer(call); len(o.Agents) != 1 || o.Agents[0] != tt.want {
				t.Fatalf("%s offered %v, want %s", tt.strategy, o.Agents, tt.want)
			}
		})
	}
}

// takeCall routes a call to a given agent (by making the others busy
// momentarily) and ends it after talk.
func (f *acdFixture) takeCall(agent string, talk time.Duration) {
	f.t.Helper()
	var paused []string
	for _, ag := range f.acd.Agents() {
		if ag.Username != agent && ag.State == StateAvailable {
			if err := f.acd.Pause(ag.Username, "test"); err != nil {
				f.t.Fatal(err)
			}
			paused = append(paused, ag.Username)
		}
	}
	f.acd.mu.Lock()
	f.acd.seq++
	id := callID(int(f.acd.seq)) + "-take"
	f.acd.mu.Unlock()
	c := f.enqueue(CallRequest{ID: id})
	if o := f.offer(c); o.Agents[0] != agent {
		f.t.Fatalf("takeCall: offered %v, want %s", o.Agents, agent)
	}
	f.answerAndHangup(c, agent, talk)
	for _, p := range paused {
		if err := f.acd.Unpause(p); err != nil {
			f.t.Fatal(err)
		}
	}
}

func TestACDRandomStrategyReachesEveryone(t *testing.T) {
	c := configtest.BaseConfig(configtest.Agents("a1", "a2", "a3")...)
	c.Queues = []config.QueueDef{{Name: "q", Strategy: config.StrategyRandom}}
	f := newACD(t, c)
	seen := map[string]int{}
	for i := 0; i < 60; i++ {
		call := f.enqueue(CallRequest{ID: callID(i)})
		o := f.offer(call)
		seen[o.Agents[0]]++
		call.Abandon()
	}
	if len(seen) != 3 {
		t.Fatalf("random strategy offered only %v", seen)
	}
}

func TestACDRingAll(t *testing.T) {
	c := configtest.BaseConfig(configtest.Agents("a1", "a2", "a3")...)
	c.Queues = []config.QueueDef{{Name: "q", Strategy: config.StrategyRingAll}}
	f := newACD(t, c)
	if err := f.acd.Pause("a3", "x"); err != nil {
		t.Fatal(err)
	}
	call := f.enqueue(CallRequest{ID: "c"})
	o := f.offer(call)
	if !reflect.DeepEqual(o.Agents, []string{"a1", "a2"}) {
		t.Fatalf("ring-all offered %v, want a1 a2", o.Agents)
	}
	f.wantState("a1", StateRinging)
	f.wantState("a2", StateRinging)
	if err := call.Answered("a2"); err != nil {
		t.Fatal(err)
	}
	f.wantState("a1", StateAvailable)
	f.wantState("a2", StateOnCall)
	if err := call.NoAnswer("a1"); !errors.Is(err, ErrNotOffered) {
		t.Fatalf("late NoAnswer = %v, want ErrNotOffered", err)
	}
	if info, _ := f.acd.Agent("a1"); info.MissedInRow != 0 {
		t.Fatalf("a1 missed %d, want 0 (another agent answered)", info.MissedInRow)
	}
}

func TestACDPriorityThenWaitTime(t *testing.T) {
	f := newACD(t, configtest.BaseConfig(configtest.Agents("alice")...))
	first := f.enqueue(CallRequest{ID: "first"})
	f.offer(first)
	if err := first.Answered("alice"); err != nil {
		t.Fatal(err)
	}
	low1 := f.enqueue(CallRequest{ID: "low1", Priority: 0})
	f.clk.Add(time.Second)
	low2 := f.enqueue(CallRequest{ID: "low2", Priority: 0})
	f.clk.Add(time.Second)
	high := f.enqueue(CallRequest{ID: "high", Priority: 10})
	if s := high.Status(); s.Position != 0 {
		t.Fatalf("high priority position %d, want 0", s.Position)
	}
	if s := low2.Status(); s.Position != 2 {
		t.Fatalf("low2 position %d, want 2", s.Position)
	}
	for _, want := range []*QueuedCall{high, low1, low2} {
		if err := f.acd.Agents()[0].State; err != StateOnCall {
			t.Fatalf("alice %s", err)
		}
		// Free alice: the call to serve next gets her.
		cur := f.acd.byName["alice"].call
		if err := cur.Hangup(); err != nil {
			t.Fatal(err)
		}
		o := f.offer(want)
		if err := want.Answered(o.Agents[0]); err != nil {
			t.Fatal(err)
		}
	}
}

func TestACDSkills(t *testing.T) {
	ag := configtest.Agents("junior", "senior")
	ag[0].Skills = map[string]int{"complaints": 2}
	ag[1].Skills = map[string]int{"complaints": 4, "english": 3}
	f := newACD(t, configtest.BaseConfig(ag...))
	call := f.enqueue(CallRequest{ID: "c", Skills: []rules.SkillReq{{Skill: "complaints", Level: 3}}})
	if o := f.offer(call); o.Agents[0] != "senior" {
		t.Fatalf("offered %v, want senior", o.Agents)
	}
	nobody := f.enqueue(CallRequest{ID: "c2", Skills: []rules.SkillReq{{Skill: "french", Level: 1}}})
	f.noOffer(nobody)
	any := f.enqueue(CallRequest{ID: "c3"})
	if o := f.offer(any); o.Agents[0] != "junior" {
		t.Fatalf("offered %v, want junior", o.Agents)
	}
}

func TestACDWrapUp(t *testing.T) {
	c := configtest.BaseConfig(configtest.Agents("alice")...)
	c.Queues = []config.QueueDef{{Name: "q", WrapUp: 30 * time.Second}}
	f := newACD(t, c)
	call := f.enqueue(CallRequest{ID: "c"})
	f.offer(call)
	f.answerAndHangup(call, "alice", time.Minute)
	f.wantState("alice", StateWrapUp)
	next := f.enqueue(CallRequest{ID: "c2"})
	f.noOffer(next)
	f.clk.Add(29 * time.Second)
	f.acd.Tick()
	f.noOffer(next)
	f.clk.Add(time.Second)
	f.acd.Tick()
	f.offer(next)
	// Ending wrap-up early.
	f.answerAndHangup(next, "alice", time.Minute)
	if err := f.acd.EndWrapUp("alice"); err != nil {
		t.Fatal(err)
	}
	f.wantState("alice", StateAvailable)
}

func TestACDMaxWaitAndOverflow(t *testing.T) {
	c := configtest.BaseConfig(config.Agent{Username: "alice", Queues: []string{"main"}}, config.Agent{Username: "bob", Queues: []string{"backup"}})
	c.Queues = []config.QueueDef{
		{Name: "main", MaxWait: time.Minute, Overflow: "backup"},
		{Name: "backup", MaxWait: time.Minute},
	}
	f := newACD(t, c)
	if err := f.acd.Pause("alice", "x"); err != nil {
		t.Fatal(err)
	}
	if err := f.acd.Pause("bob", "x"); err != nil {
		t.Fatal(err)
	}
	call := f.enqueue(CallRequest{ID: "c", Queue: "main"})
	f.clk.Add(59 * time.Second)
	f.acd.Tick()
	if s := call.Status(); s.Queue != "main" {
		t.Fatalf("queue %s before max wait", s.Queue)
	}
	f.clk.Add(time.Second)
	f.acd.Tick()
	if s := call.Status(); s.Queue != "backup" {
		t.Fatalf("queue %s after max wait, want backup", s.Queue)
	}
	if err := f.acd.Unpause("bob"); err != nil {
		t.Fatal(err)
	}
	if o := f.offer(call); o.Agents[0] != "bob" || o.Queue != "backup" {
		t.Fatalf("offer %+v", o)
	}
	call.Close()
	if err := f.acd.Pause("bob", "x"); err != nil {
		t.Fatal(err)
	}
	// No overflow: the call ends with ErrMaxWait.
	late := f.enqueue(CallRequest{ID: "late", Queue: "backup"})
	f.clk.Add(time.Minute)
	f.acd.Tick()
	if _, err := late.Next(context.Background()); !errors.Is(err, ErrMaxWait) {
		t.Fatalf("Next after max wait = %v, want ErrMaxWait", err)
	}
	q := f.acd.Queues()
	if q[0].Overflowed != 1 || q[1].TimedOut != 1 {
		t.Fatalf("stats %+v", q)
	}
}

func TestACDMaxLength(t *testing.T) {
	c := configtest.BaseConfig(configtest.Agents("alice")...)
	c.Queues = []config.QueueDef{{Name: "main", MaxLength: 1, Overflow: "spill"}, {Name: "spill", MaxLength: 1}}
	f := newACD(t, c)
	if err := f.acd.Pause("alice", "x"); err != nil {
		t.Fatal(err)
	}
	c1 := f.enqueue(CallRequest{ID: "c1", Queue: "main"})
	c2 := f.enqueue(CallRequest{ID: "c2", Queue: "main"})
	if c1.Status().Queue != "main" || c2.Status().Queue != "spill" {
		t.Fatalf("queues %s %s, want main spill", c1.Status().Queue, c2.Status().Queue)
	}
	if _, err := f.acd.Enqueue(CallRequest{ID: "c3", Queue: "main"}); !errors.Is(err, ErrQueueFull) {
		t.Fatalf("third call = %v, want ErrQueueFull", err)
	}
	c1.Close()
	f.enqueue(CallRequest{ID: "c4", Queue: "main"})
	if _, err := f.acd.Enqueue(CallRequest{ID: "c4", Queue: "main"}); !errors.Is(err, ErrDuplicateCall) {
		t.Fatalf("duplicate = %v", err)
	}
	if _, err := f.acd.Enqueue(CallRequest{ID: "c5", Queue: "nope"}); !errors.Is(err, ErrUnknownQueue) {
		t.Fatalf("unknown queue = %v", err)
	}
}

func TestACDEscalation(t *testing.T) {
	ag := []config.Agent{
		{Username: "mid", Skills: map[string]int{"tech": 3}, Queues: []string{"tech"}},
		{Username: "general", Queues: []string{"general"}},
	}
	c := configtest.BaseConfig(ag...)
	c.Queue.RetryDelay = time.Hour
	c.Queues = []config.QueueDef{
		{Name: "tech", Escalation: []config.EscalationStep{
			{After: 30 * time.Second, RelaxSkills: 2},
			{After: 60 * time.Second, Widen: []string{"general"}, DropSkills: true},
		}},
		{Name: "general"},
	}
	f := newACD(t, c)
	call := f.enqueue(CallRequest{ID: "c", Queue: "tech", Skills: []rules.SkillReq{{Skill: "tech", Level: 5}}})
	f.noOffer(call)
	if err := f.acd.Pause("general", "x"); err != nil {
		t.Fatal(err)
	}
	f.clk.Add(30 * time.Second)
	f.acd.Tick()
	o := f.offer(call) // tech 5 relaxed to 3
	if o.Agents[0] != "mid" {
		t.Fatalf("offer %v, want mid", o.Agents)
	}
	if err := f.acd.Unpause("general"); err != nil {
		t.Fatal(err)
	}
	if err := call.NoAnswer("mid"); err != nil {
		t.Fatal(err)
	}
	f.noOffer(call) // general is not in the tech queue yet
	f.clk.Add(30 * time.Second)
	f.acd.Tick()
	if o := f.offer(call); o.Agents[0] != "general" {
		t.Fatalf("offer %v after widening, want general", o.Agents)
	}
}

func TestACDPreferredAgent(t *testing.T) {
	c := configtest.BaseConfig(configtest.Agents("alice", "bob")...)
	c.Queues = []config.QueueDef{{Name: "q", PreferredAgent: config.PreferredConfig{Timeout: 10 * time.Second}}}
	f := newACD(t, c)
	loyal := directory.Customer{Number: "+84912345678", Segment: directory.SegmentLoyal, LastAgent: "bob"}
	call := f.enqueue(CallRequest{ID: "c", Customer: loyal})
	if o := f.offer(call); o.Agents[0] != "bob" || !o.Preferred {
		t.Fatalf("offer %+v, want bob preferred (alice idles longer)", o)
	}
	call.Close()

	// The preferred agent is busy: the call waits for them a few seconds.
	if err := f.acd.Pause("alice", "x"); err != nil {
		t.Fatal(err)
	}
	b := f.enqueue(CallRequest{ID: "b"})
	if o := f.offer(b); o.Agents[0] != "bob" {
		t.Fatalf("offer %v, want bob", o.Agents)
	}
	if err := b.Answered("bob"); err != nil {
		t.Fatal(err)
	}
	if err := f.acd.Unpause("alice"); err != nil {
		t.Fatal(err)
	}
	call2 := f.enqueue(CallRequest{ID: "c2", Customer: loyal})
	f.noOffer(call2)
	f.clk.Add(10 * time.Second)
	f.acd.Tick()
	if o := f.offer(call2); o.Agents[0] != "alice" || o.Preferred {
		t.Fatalf("offer %+v after the window, want alice", o)
	}

	// Segments without the step, and a logged-out last agent, go anywhere.
	call2.Close()
	lowValue := f.enqueue(CallRequest{ID: "c3", Customer: directory.Customer{Segment: directory.SegmentLowValue, LastAgent: "bob"}})
	if o := f.offer(lowValue); o.Agents[0] != "alice" {
		t.Fatalf("low_value offer %v, want alice", o.Agents)
	}
}

func TestACDAbandonAndRejoin(t *testing.T) {
	c := configtest.BaseConfig(configtest.Agents("alice")...)
	c.Queue.RejoinWindow = 2 * time.Minute
	f := newACD(t, c)
	if err := f.acd.Pause("alice", "x"); err != nil {
		t.Fatal(err)
	}
	early := f.enqueue(CallRequest{ID: "early", Caller: "+84900000001"})
	f.clk.Add(10 * time.Second)
	mid := f.enqueue(CallRequest{ID: "mid", Caller: "+84900000002"})
	f.clk.Add(20 * time.Second)
	early.Abandon()
	early.Abandon() // idempotent
	q := f.acd.Queues()[0]
	if q.Abandoned != 1 || q.AbandonedWait != 30*time.Second {
		t.Fatalf("abandoned %d wait %s, want 1 and 30s", q.Abandoned, q.AbandonedWait)
	}
	f.clk.Add(time.Minute)
	again := f.enqueue(CallRequest{ID: "again", Caller: "+84900000001"})
	if p := again.Status().Position; p != 0 {
		t.Fatalf("returning caller at position %d, want 0 (old place)", p)
	}
	if p := mid.Status().Position; p != 1 {
		t.Fatalf("mid at %d, want 1", p)
	}
	// Too late: back of the queue.
	again.Abandon()
	f.clk.Add(2*time.Minute + time.Second)
	f.acd.Tick()
	late := f.enqueue(CallRequest{ID: "late", Caller: "+84900000001"})
	if p := late.Status().Position; p != 1 {
		t.Fatalf("late caller at %d, want 1", p)
	}
}

func TestACDEstimatedWait(t *testing.T) {
	c := configtest.BaseConfig(configtest.Agents("a1", "a2")...)
	f := newACD(t, c)
	for _, ag := range []string{"a1", "a2"} {
		f.takeCall(ag, 2*time.Minute)
	}
	for _, ag := range []string{"a1", "a2"} {
		if err := f.acd.Pause(ag, "x"); err != nil {
			t.Fatal(err)
		}
	}
	var calls []*QueuedCall
	for i := 0; i < 4; i++ {
		calls = append(calls, f.enqueue(CallRequest{ID: callID(i)}))
	}
	s := calls[3].Status()
	if s.Position != 3 {
		t.Fatalf("position %d", s.Position)
	}
	// Everyone paused: one slot assumed; 4 calls of 2 minutes.
	if s.EstimatedWait != 8*time.Minute {
		t.Fatalf("estimated wait %s, want 8m", s.EstimatedWait)
	}
	if err := f.acd.Unpause("a1"); err != nil {
		t.Fatal(err)
	}
	if err := f.acd.Pause("a1", "busy"); err != nil { // staffed, not available
		t.Fatal(err)
	}
	if err := f.acd.Unpause("a2"); err != nil {
		t.Fatal(err)
	}
	// a2 took call 0; call 3 is third in line now with one staffed agent.
	if s := calls[3].Status(); s.Position != 3 || s.EstimatedWait != 8*time.Minute {
		t.Fatalf("status %+v", s)
	}
}

func TestACDNextContext(t *testing.T) {
	f := newACD(t, configtest.BaseConfig(configtest.Agents("alice")...))
	if err := f.acd.Pause("alice", "x"); err != nil {
		t.Fatal(err)
	}
	call := f.enqueue(CallRequest{ID: "c"})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := call.Next(ctx)
		done <- err
	}()
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Next = %v, want context.Canceled", err)
	}
	// Still queued: a later Next gets the offer when alice is back.
	got := make(chan Offer, 1)
	go func() {
		o, err := call.Next(context.Background())
		if err == nil {
			got <- o
		}
		close(got)
	}()
	if err := f.acd.Unpause("alice"); err != nil {
		t.Fatal(err)
	}
	select {
	case o := <-got:
		if o.Agents[0] != "alice" {
			t.Fatalf("offer %v", o.Agents)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no offer")
	}
	if err := call.Answered("alice"); err != nil {
		t.Fatal(err)
	}
	if _, err := call.Next(context.Background()); !errors.Is(err, ErrCallEnded) {
		t.Fatalf("Next after answer = %v", err)
	}
}

func TestACDQueuedCallback(t *testing.T) {
	path := filepath.Join(t.TempDir(), "callbacks.json")
	clk := routingtest.NewClock()
	store, err := callbacks.OpenStore(path, clk.Now)
	if err != nil {
		t.Fatal(err)
	}
	f := newACD(t, configtest.BaseConfig(configtest.Agents("alice")...), func(o *Options) { o.Callbacks = store; o.Now = clk.Now })
	f.clk = clk
	if err := f.acd.Pause("alice", "x"); err != nil {
		t.Fatal(err)
	}
	first := f.enqueue(CallRequest{ID: "first", Priority: 3})
	arrived := clk.Now()
	clk.Add(time.Minute)
	second := f.enqueue(CallRequest{ID: "second", Priority: 3})
	cb, err := first.RequestCallback("+84912345678")
	if err != nil {
		t.Fatal(err)
	}
	if !cb.Arrived.Equal(arrived) || cb.Kind != callbacks.Queued || cb.Priority != 3 {
		t.Fatalf("callback %+v", cb)
	}
	if second.Status().Position != 0 {
		t.Fatal("second is not first after the callback request")
	}
	// Survives a restart.
	store2, err := callbacks.OpenStore(path, clk.Now)
	if err != nil {
		t.Fatal(err)
	}
	due := store2.Due(clk.Now())
	if len(due) != 1 || due[0].ID != cb.ID {
		t.Fatalf("due after reopen %+v", due)
	}
	// The dialer enqueues it with its original place: ahead of second.
	back := f.enqueue(CallRequest{ID: "cb", Queue: due[0].Queue, Priority: due[0].Priority, Arrived: due[0].Arrived})
	if p := back.Status().Position; p != 0 {
		t.Fatalf("callback position %d, want 0", p)
	}
	if f.acd.Queues()[0].Callbacks != 1 {
		t.Fatal("callback not counted")
	}
}
