package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"hotline/cluster"
	"hotline/routing/acd"
	"hotline/routing/callbacks"
	"hotline/routing/config"
	"hotline/sip/registrar"
)

// sharedConfig is what every node of a cluster must configure alike:
// hotline numbers, agents, queues and their settings, schedules, routing
// rules and the IVR. (The customer directory and the callback file are
// each node's own.)
func sharedConfig(c *config.Config) []byte {
	data, err := json.Marshal(struct {
		Hotlines  any `json:"hotlines"`
		Agents    any `json:"agents"`
		Queue     any `json:"queue"`
		Schedules any `json:"schedules"`
		Queues    any `json:"queues"`
		Rules     any `json:"rules"`
		IVR       any `json:"ivr"`
	}{c.Hotlines, c.Agents, c.Queue, c.Schedules, c.Queues, c.Rules, c.IVR})
	if err != nil {
		panic(err) // plain data: cannot fail
	}
	return data
}

// member is this node's membership of a cluster: the node, the ACD's
// shared log and what runs them.
type member struct {
	node *cluster.Node
	log  *lateLog
	// callbacks is the shared callback store (shareCallbacks).
	callbacks *cluster.Callbacks
	stop      context.CancelFunc
	done      chan struct{}
	// lost passes lost reservations on to the SIP server, once it exists.
	lost *lateLost
}

// lateLost passes the node's lost reservations (cluster.Options.OnLost)
// to the SIP server (sip.Server.ReservationLost), which is made after the
// node joins.
type lateLost struct {
	f atomic.Pointer[func(agent, call string)]
}

func (z *lateLost) set(f func(agent, call string)) { z.f.Store(&f) }

func (z *lateLost) lost(agent, call string) {
	if f := z.f.Load(); f != nil {
		(*f)(agent, call)
	}
}

// shareCallbacks opens the callback store every node shares and moves
// the node's own pending callbacks (its callbacks.file, from a run as one
// node) there: each is added to the shared store, then marked failed in
// the file with the id it has now, so that it moves once.
func (m *member) shareCallbacks(local *callbacks.Store, now func() time.Time, log *slog.Logger) (*cluster.Callbacks, error) {
	shared := m.node.Callbacks(cluster.CallbackOptions{Now: now, Logger: log})
	for _, cb := range local.List() {
		if cb.Status != callbacks.Pending {
			continue
		}
		moved, err := shared.Add(cb)
		if err != nil {
			return nil, fmt.Errorf("callbacks: moving %s to the cluster: %w", cb.ID, err)
		}
		if err := local.Fail(cb.ID, "moved to the cluster as "+moved.ID); err != nil {
			return nil, fmt.Errorf("callbacks: %s moved to the cluster as %s but not marked so in the file: %w", cb.ID, moved.ID, err)
		}
		log.Info("callback of this node's file moved to the cluster", "callback", cb.ID, "new_id", moved.ID)
	}
	m.callbacks = shared
	return shared, nil
}

// lateLog is the ACD's shared log, opened once the ACD (which applies
// it) exists.
type lateLog struct{ l *cluster.Log }

func (z *lateLog) Submit(op []byte) (any, error) {
	if z.l == nil {
		return nil, errors.New("cluster: the ACD's log is not open")
	}
	return z.l.Submit(op)
}

// joinCluster joins the cluster of c.Cluster (now: the registrar's clock,
// which the published registrations' expiries come from); nil without
// one.
func joinCluster(ctx context.Context, c *Config, now func() time.Time, log *slog.Logger) (*member, error) {
	if !c.Cluster.Enabled() {
		return nil, nil
	}
	// go-redis logs its connection retries through a process-wide logger
	// of its own; send them to ours (debug: heartbeat warnings say it).
	redis.SetLogger(redisLog{log.With("component", "redis")})
	lost := &lateLost{}
	node, err := cluster.Join(ctx, c.Cluster, cluster.Options{Shared: sharedConfig(&c.Config), Logger: log, Now: now, OnLost: lost.lost})
	if err != nil {
		return nil, fmt.Errorf("cluster: %w", err)
	}
	return &member{node: node, log: &lateLog{}, lost: lost}, nil
}

// run opens the ACD's shared log (restoring its snapshot and replaying
// what came after it) and starts the node's
// heartbeat; a node whose lease lapsed has its calls ended through the
// log.
func (m *member) run(ctx context.Context, queues *acd.ACD, now func() time.Time, log *slog.Logger) error {
	// Snapshots keep the log short; a node that starts (again) restores
	// the latest and applies what came after it.
	l, err := m.node.OpenLogWithSnapshots(ctx, "acd", queues.ApplyOp, &cluster.Snapshots{Take: queues.Snapshot, Restore: queues.Restore})
	if err != nil {
		return err
	}
	m.log.l = l
	m.node.OnNodeLost(func(name string) {
		if _, err := l.Submit(acd.NodeLost(name, now())); err != nil {
			log.Warn("lost node's calls not ended", "lost_node", name, "error", err)
		}
	})
	rctx, stop := context.WithCancel(context.WithoutCancel(ctx))
	m.stop, m.done = stop, make(chan struct{})
	go func() {
		defer close(m.done)
		if m.callbacks != nil { // claims renewed, callbacks re-published
			cbDone := make(chan struct{})
			go func() { defer close(cbDone); m.callbacks.Run(rctx) }()
			defer func() { <-cbDone }()
		}
		m.node.Run(rctx)
	}()
	return nil
}

// close leaves the cluster: the heartbeat stops, the log is closed and
// what the node holds in Redis is released.
func (m *member) close(ctx context.Context) error {
	if m == nil {
		return nil
	}
	if m.stop != nil {
		m.stop()
		<-m.done
	}
	if m.log.l != nil {
		m.log.l.Close()
	}
	return m.node.Close(ctx)
}

// remoteBindings looks up the phones' registrations other nodes hold;
// nil on one node. Redis unreachable: none (logged).
func (m *member) remoteBindings(log *slog.Logger) func(agent string) []registrar.Binding {
	if m == nil {
		return nil
	}
	return func(agent string) []registrar.Binding {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		b, err := m.node.OtherBindings(ctx, agent)
		if err != nil {
			log.Warn("other nodes' registrations not read", "agent", agent, "error", err)
		}
		return b
	}
}

// guard is the ACD's Guard: reservations in Redis (cluster.Node.Reserve).
type guard struct {
	node *cluster.Node
	log  *slog.Logger
}

func (g guard) Reserve(agent, call string) (bool, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	return g.node.Reserve(ctx, agent, call)
}

func (g guard) Release(agent, call string) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := g.node.Release(ctx, agent, call); err != nil {
		g.log.Warn("reservation not released; it lapses with the lease", "agent", agent, "call_id", call, "error", err)
	}
}

// redisLog is go-redis's logger on slog.
type redisLog struct{ log *slog.Logger }

func (r redisLog) Printf(ctx context.Context, format string, v ...any) {
	r.log.DebugContext(ctx, fmt.Sprintf(format, v...))
}

// publishRegistrations publishes this node's registrations now; nil on
// one node.
func (m *member) publishRegistrations(log *slog.Logger) func() {
	if m == nil {
		return nil
	}
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		if err := m.node.SyncRegistrations(ctx); err != nil {
			log.Warn("registrations not published now; the next heartbeat does", "error", err)
		}
	}
}
