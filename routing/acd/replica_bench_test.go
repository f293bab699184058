package acd

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"hotline/cluster"
	"hotline/internal/redistest"
	"hotline/routing/config"
	"hotline/routing/config/configtest"
)

// nodeGuard is the Guard of a node (cmd/hotline's guard): reservations in
// Redis.
type nodeGuard struct{ n *cluster.Node }

func (g nodeGuard) Reserve(agent, call string) (bool, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	return g.n.Reserve(ctx, agent, call)
}

func (g nodeGuard) Release(agent, call string) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_ = g.n.Release(ctx, agent, call)
}

// redisReplicas builds n replicas of c sharing their log and their
// reservations in srv, as n Hotline nodes do, every agent registered and
// logged in, and a ticker (the first node's) ticking every 250ms.
func redisReplicas(tb testing.TB, srv *redistest.Server, c *config.Config, n int, log *slog.Logger) []*ACD {
	tb.Helper()
	configtest.MustValid(tb, c)
	replicas := make([]*ACD, n)
	for i := range replicas {
		cc := cluster.Config{RedisURL: srv.URL(), Node: fmt.Sprintf("n%d", i)}
		cc.SetDefaults("")
		node, err := cluster.Join(context.Background(), cc, cluster.Options{Shared: []byte("routing bench")})
		if err != nil {
			tb.Fatal(err)
		}
		ctx, stop := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); node.Run(ctx) }()
		lazy := &lazyLog{}
		a, err := New(c, Options{Replication: lazy, Guard: nodeGuard{node}, Seed: 1, Logger: log})
		if err != nil {
			tb.Fatal(err)
		}
		l, err := node.OpenLog(context.Background(), "acd", a.ApplyOp)
		if err != nil {
			tb.Fatal(err)
		}
		lazy.l = l
		tb.Cleanup(func() { stop(); <-done; l.Close(); _ = node.Close(context.Background()) })
		replicas[i] = a
	}
	for _, ag := range c.Agents {
		if err := replicas[0].SetRegistered(ag.Username, true); err != nil {
			tb.Fatal(err)
		}
		if err := replicas[0].Login(ag.Username); err != nil {
			tb.Fatal(err)
		}
	}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); replicas[0].Run(ctx, 250*time.Millisecond) }()
	tb.Cleanup(func() { stop(); <-done })
	return replicas
}

// BenchmarkReplicatedSetup measures what the shared log and the
// reservations add to a call's setup on three replicas sharing a real
// redis-server, as three Hotline nodes do (no SIP): calls arrive at a
// steady rate spread over the nodes; each is enqueued, takes its offer
// (reserving the agent), is answered and hung up after hold. setup-p50/
// p99-ms is Enqueue → offer taken → Answered returned; refused counts
// offers the reservation refused (each costs the caller guardBackoff).
// few-agents reuses each agent as soon as she is free. The schedule runs
// once whatever b.N (use -benchtime=1x).
func BenchmarkReplicatedSetup(b *testing.B) {
	for _, tc := range []struct {
		name   string
		agents int
		rate   int
		hold   time.Duration
	}{
		{"agents=800", 800, 40, time.Second},
		{"few-agents", 3, 40, 60 * time.Millisecond},
	} {
		b.Run(tc.name, func(b *testing.B) {
			srv := redistest.Start(b)
			c := configtest.BaseConfig(manyAgents(tc.agents)...)
			c.Queue.RetryDelay = time.Millisecond // a refused agent may be offered again at once
			withdrawn := &countHandler{msg: "offer withdrawn: the agent is held elsewhere"}
			nodes := redisReplicas(b, srv, c, 3, slog.New(withdrawn))
			var refused atomic.Int64
			var mu sync.Mutex
			var setup []time.Duration
			var wg sync.WaitGroup
			dur := 3 * time.Second
			every := time.NewTicker(time.Second / time.Duration(tc.rate))
			defer every.Stop()
			b.ResetTimer()
			for i := 0; i < int(dur/(time.Second/time.Duration(tc.rate))); i++ {
				<-every.C
				wg.Add(1)
				go func() {
					defer wg.Done()
					a := nodes[i%len(nodes)]
					t0 := time.Now()
					qc, err := a.Enqueue(CallRequest{ID: fmt.Sprintf("c%d", i), Queue: config.DefaultQueueName})
					if err != nil {
						b.Error(err)
						return
					}
					ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
					defer cancel()
					now, cancelNow := context.WithCancel(ctx)
					cancelNow()
					o, err := qc.Next(now)
					if err != nil {
						refused.Add(1) // not offered at once (answered, waiting)
						if o, err = qc.Next(ctx); err != nil {
							b.Error(err)
							qc.Abandon()
							return
						}
					}
					if err := qc.Answered(o.Agents[0]); err != nil {
						b.Error(err)
						qc.Abandon()
						return
					}
					d := time.Since(t0)
					mu.Lock()
					setup = append(setup, d)
					mu.Unlock()
					time.Sleep(tc.hold)
					if err := qc.Hangup(); err != nil {
						b.Error(err)
					}
				}()
			}
			wg.Wait()
			b.StopTimer()
			if len(setup) == 0 {
				b.Fatal("no call set up")
			}
			slices.Sort(setup)
			ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
			b.ReportMetric(ms(setup[len(setup)/2]), "setup-p50-ms")
			b.ReportMetric(ms(setup[len(setup)*99/100]), "setup-p99-ms")
			b.ReportMetric(ms(setup[len(setup)-1]), "setup-max-ms")
			b.ReportMetric(float64(refused.Load()), "not-at-once")
			b.ReportMetric(float64(withdrawn.n.Load()), "refused")
		})
	}
}

// countHandler counts the log records with message msg.
type countHandler struct {
	msg string
	n   atomic.Int64
}

func (h *countHandler) Enabled(context.Context, slog.Level) bool { return true }

func (h *countHandler) Handle(_ context.Context, r slog.Record) error {
	if r.Message == h.msg {
		h.n.Add(1)
	}
	return nil
}

func (h *countHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *countHandler) WithGroup(string) slog.Handler      { return h }
