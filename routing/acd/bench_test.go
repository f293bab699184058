package acd

import (
	"fmt"
	"hotline/routing/config"
	"hotline/routing/config/configtest"
	"hotline/routing/directory"
	"hotline/routing/rules"
	"slices"
	"testing"
	"time"
)

// timeOps runs op b.N times, timing each call, and reports the 50th and
// 99th percentiles (ns) besides the usual ns/op and allocs/op.
func timeOps(b *testing.B, op func(i int)) {
	b.Helper()
	durs := make([]time.Duration, b.N)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		op(i)
		durs[i] = time.Since(t0)
	}
	b.StopTimer()
	slices.Sort(durs)
	b.ReportMetric(float64(durs[len(durs)/2].Nanoseconds()), "p50-ns")
	b.ReportMetric(float64(durs[len(durs)*99/100].Nanoseconds()), "p99-ns")
}

func manyAgents(n int) []config.Agent {
	out := make([]config.Agent, n)
	for i := range out {
		out[i] = config.Agent{Username: fmt.Sprintf("agent%05d", i), Password: "pw", Skills: map[string]int{"complaints": 1 + i%5}}
	}
	return out
}

func BenchmarkDecide(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		b.Run(fmt.Sprintf("agents=%d", n), func(b *testing.B) {
			c := configtest.CareConfig()
			c.Agents = manyAgents(n)
			configtest.MustValid(b, c)
			r, err := rules.NewRouter(c)
			if err != nil {
				b.Fatal(err)
			}
			hcm, _ := time.LoadLocation("Asia/Ho_Chi_Minh")
			at := time.Date(2026, 11, 25, 17, 0, 0, 0, hcm)
			calls := []rules.Attributes{
				{Caller: "+84912345678", Dialled: "1900"},
				{Segment: directory.SegmentLoyal, Caller: "+84912345678", Dialled: "1900"},
				{Segment: directory.SegmentAtRisk, Reason: "complaint", Caller: "+84912345678"},
				{Style: directory.StyleProactive, Caller: "+84987654321", Dialled: "1900"},
			}
			var sink rules.Decision
			timeOps(b, func(i int) { sink = r.Decide(calls[i%len(calls)], at.Add(time.Duration(i)*time.Second)) })
			_ = sink
		})
	}
}

// BenchmarkAgentFree: every agent is busy and 100,000 calls wait. Each
// operation is one agent hanging up (and being offered the best waiting
// call, which they answer) plus one new call arriving at the back.
func BenchmarkAgentFree(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		b.Run(fmt.Sprintf("agents=%d/waiting=100000", n), func(b *testing.B) { benchAgentFree(b, n, 0) })
	}
}

// BenchmarkDispatch is BenchmarkAgentFree with the 50,000 oldest waiting
// calls needing a skill no agent has: a freed agent's call is behind them.
func BenchmarkDispatch(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		b.Run(fmt.Sprintf("agents=%d/waiting=100000/unservable=50000", n), func(b *testing.B) { benchAgentFree(b, n, 50000) })
	}
}

func benchAgentFree(b *testing.B, n, unservable int) {
	c := configtest.BaseConfig(manyAgents(n)...)
	f := newBenchACD(b, c)
	a := f.acd
	connected := make([]*QueuedCall, n)
	for i := 0; i < n; i++ {
		qc, err := a.Enqueue(CallRequest{ID: fmt.Sprintf("busy-%d", i), Queue: config.DefaultQueueName})
		if err != nil {
			b.Fatal(err)
		}
		o := f.offer(qc)
		if err := qc.Answered(o.Agents[0]); err != nil {
			b.Fatal(err)
		}
		connected[i] = qc
	}
	for i := 0; i < 100000; i++ {
		r := CallRequest{ID: fmt.Sprintf("wait-%d", i), Queue: config.DefaultQueueName, Priority: i % 3}
		if i < unservable {
			r.Skills = []rules.SkillReq{{Skill: "french", Level: 1}}
		}
		if _, err := a.Enqueue(r); err != nil {
			b.Fatal(err)
		}
	}
	ids := make([]string, b.N)
	for i := range ids {
		ids[i] = fmt.Sprintf("new-%d", i)
	}
	timeOps(b, func(i int) {
		k := i % n
		qc := connected[k]
		agent := qc.agent.name
		if err := qc.Hangup(); err != nil {
			b.Fatal(err)
		}
		next := agentCall(a, agent)
		if err := next.Answered(agent); err != nil {
			b.Fatal(err)
		}
		connected[k] = next
		if _, err := a.Enqueue(CallRequest{ID: ids[i], Queue: config.DefaultQueueName, Priority: i % 3}); err != nil {
			b.Fatal(err)
		}
	})
	if got := a.Waiting(); got != 100000 {
		b.Fatalf("%d calls waiting, want 100000", got)
	}
}

// agentCall returns the call an agent is offered or connected to.
func agentCall(a *ACD, agent string) *QueuedCall {
	a.mu.Lock()
	defer a.mu.Unlock()
	c := a.byName[agent].call
	c.pending = false
	return c
}

// BenchmarkCallArrival: agents wait for calls. Each operation is a call
// arriving (the strategy picks among every available agent), answered
// and hung up at once.
func BenchmarkCallArrival(b *testing.B) {
	for _, strategy := range []string{config.StrategyLongestIdle, config.StrategyRoundRobin, config.StrategyRandom, config.StrategyFewestCalls,
		config.StrategyLeastTalkTime, config.StrategyTopDown} {
		for _, n := range []int{1000, 10000} {
			b.Run(fmt.Sprintf("%s/agents=%d", strategy, n), func(b *testing.B) {
				c := configtest.BaseConfig(manyAgents(n)...)
				c.Queues = []config.QueueDef{{Name: "q", Strategy: strategy}}
				f := newBenchACD(b, c)
				a := f.acd
				ids := make([]string, b.N)
				for i := range ids {
					ids[i] = fmt.Sprintf("c-%d", i)
				}
				timeOps(b, func(i int) {
					qc, err := a.Enqueue(CallRequest{ID: ids[i], Queue: "q", Skills: []rules.SkillReq{{Skill: "complaints", Level: 2}}})
					if err != nil {
						b.Fatal(err)
					}
					a.mu.Lock()
					ag := qc.offer[0].name
					qc.pending = false
					a.mu.Unlock()
					if err := qc.Answered(ag); err != nil {
						b.Fatal(err)
					}
					if err := qc.Hangup(); err != nil {
						b.Fatal(err)
					}
				})
			})
		}
	}
}

// BenchmarkPick: the strategy's choice alone, among n available agents
// of whom 80% have the skill level the call needs (needs=common) or
// nobody has the skill (needs=none-has).
func BenchmarkPick(b *testing.B) {
	for _, strategy := range []string{config.StrategyLongestIdle, config.StrategyRoundRobin, config.StrategyRandom, config.StrategyFewestCalls,
		config.StrategyLeastTalkTime, config.StrategyTopDown} {
		for _, n := range []int{1000, 10000} {
			for _, needs := range []string{"common", "none-has"} {
				b.Run(fmt.Sprintf("%s/agents=%d/needs=%s", strategy, n, needs), func(b *testing.B) {
					c := configtest.BaseConfig(manyAgents(n)...)
					c.Queues = []config.QueueDef{{Name: "q", Strategy: strategy}}
					a := newBenchACD(b, c).acd
					a.mu.Lock()
					defer a.mu.Unlock()
					skill := rules.SkillReq{Skill: "complaints", Level: 2}
					if needs == "none-has" {
						skill = rules.SkillReq{Skill: "french", Level: 1}
					}
					call := &QueuedCall{acd: a, id: "probe", queue: a.queues[0], lists: a.queues[:1], state: callWaiting,
						needs: []skillNeed{{a.skillID(skill.Skill), int8(skill.Level)}}}
					now := a.now()
					want := len(a.pickAgentsLocked(call, now))
					timeOps(b, func(int) {
						if got := len(a.pickAgentsLocked(call, now)); got != want {
							b.Fatalf("picked %d agents, then %d", want, got)
						}
					})
				})
			}
		}
	}
}

// BenchmarkTick: the periodic pass over 100,000 waiting calls.
func BenchmarkTick(b *testing.B) {
	c := configtest.BaseConfig(manyAgents(1000)...)
	f := newBenchACD(b, c)
	for _, ag := range c.Agents {
		if err := f.acd.Pause(ag.Username, "x"); err != nil {
			b.Fatal(err)
		}
	}
	for i := 0; i < 100000; i++ {
		if _, err := f.acd.Enqueue(CallRequest{ID: fmt.Sprintf("w-%d", i), Queue: config.DefaultQueueName}); err != nil {
			b.Fatal(err)
		}
	}
	timeOps(b, func(int) { f.acd.Tick() })
}

func newBenchACD(b *testing.B, c *config.Config) *acdFixture {
	b.Helper()
	c.Queue.MaxWait = 1000 * time.Hour
	for i := range c.Queues {
		c.Queues[i].MaxWait = 1000 * time.Hour
	}
	return newACD(b, c)
}
