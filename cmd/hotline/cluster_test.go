package main

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"hotline/cluster"
	"hotline/internal/redistest"
	"hotline/routing/acd"
)

// clusterConfig puts a node named node into the cluster on srv.
func clusterConfig(srv *redistest.Server, node string) func(c *Config) {
	return func(c *Config) {
		c.Cluster = cluster.Config{RedisURL: srv.URL(), Node: node, Lease: 3 * time.Second, Heartbeat: 200 * time.Millisecond}
		c.Cluster.SetDefaults("")
	}
}

// startErr starts Hotline on the example configuration changed by mutate
// and returns the error start gave (it must give one).
func startErr(t *testing.T, mutate func(c *Config)) error {
	t.Helper()
	c, err := loadConfig("")
	if err != nil {
		t.Fatal(err)
	}
	for i := range c.SIP.Listen {
		c.SIP.Listen[i].Addr = net.JoinHostPort("127.0.0.1", freeSIPPort(t))
	}
	c.API.Listen, c.Metrics.Listen = "127.0.0.1:0", "127.0.0.1:0"
	c.Recording.SpoolDir = t.TempDir()
	c.Recording.File.Dir = t.TempDir()
	mutate(c)
	a, err := start(context.Background(), c, c.Log.logger(&syncBuffer{}), time.Now)
	if err == nil {
		_ = a.shutdown(context.Background())
		t.Fatal("start succeeded, want an error")
	}
	return err
}

// TestClusterJoinErrors: Redis unreachable at start, or a node whose
// shared configuration differs: Hotline does not start, with an error
// that says why.
func TestClusterJoinErrors(t *testing.T) {
	srv := redistest.Start(t)
	startApp(t, clusterConfig(srv, "a"))

	err := startErr(t, func(c *Config) {
		clusterConfig(srv, "b")(c)
		c.Agents = c.Agents[:len(c.Agents)-1] // one agent fewer
	})
	if msg := err.Error(); !strings.Contains(msg, "shared configuration differs") || !strings.Contains(msg, "node b") || !strings.Contains(msg, "node a") {
		t.Errorf("node with other agents: %v, want a config mismatch naming b and a", err)
	}

	l, lerr := net.Listen("tcp", "127.0.0.1:0")
	if lerr != nil {
		t.Fatal(lerr)
	}
	dead := l.Addr().String()
	l.Close()
	err = startErr(t, func(c *Config) {
		c.Cluster = cluster.Config{RedisURL: "redis://" + dead + "/0", Node: "c"}
		c.Cluster.SetDefaults("")
	})
	if msg := err.Error(); !strings.Contains(msg, "Redis unreachable") || !strings.Contains(msg, dead) {
		t.Errorf("Redis down: %v, want Redis unreachable naming %s", err, dead)
	}
}

// TestClusterSharesAgents: an agent whose phone registers on node a is
// registered and available on node b too (one ACD over both), and a
// pause on b is seen on a.
func TestClusterSharesAgents(t *testing.T) {
	srv := redistest.Start(t)
	a := startApp(t, clusterConfig(srv, "a"))
	b := startApp(t, clusterConfig(srv, "b"))
	ag, _ := a.cfg.Agent("alice")
	if code := register(t, a, "alice", ag.Password); code != 200 {
		t.Fatalf("REGISTER on a: %d", code)
	}
	waitFor(t, 5*time.Second, "alice available on b", func() bool {
		info, _ := b.acd.Agent("alice")
		return info.Registered && info.State == acd.StateAvailable
	})
	if err := b.acd.Pause("alice", "lunch"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "alice paused on a", func() bool {
		info, _ := a.acd.Agent("alice")
		return info.State == acd.StatePaused && info.PauseReason == "lunch"
	})
	// b finds alice's phone (registered on a) in Redis.
	waitFor(t, 5*time.Second, "alice's binding shared", func() bool {
		bs, err := b.cluster.node.Bindings(context.Background(), "alice")
		return err == nil && len(bs) == 1 && bs[0].Contact.Port == 5998
	})
}
