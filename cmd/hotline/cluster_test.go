package main

import (
	"context"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"hotline/cluster"
	"hotline/internal/redistest"
	"hotline/routing/acd"
	"hotline/routing/callbacks"
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

// TestClusterNonceAcrossNodes: a REGISTER challenged by node a and
// answered to node b is accepted (the edge may send the retry of an
// agent's request to another node).
func TestClusterNonceAcrossNodes(t *testing.T) {
	srv := redistest.Start(t)
	a := startApp(t, clusterConfig(srv, "a"))
	b := startApp(t, clusterConfig(srv, "b"))
	ua, err := sipgo.NewUA(sipgo.WithUserAgent("nonce-test-phone"))
	if err != nil {
		t.Fatal(err)
	}
	defer ua.Close()
	client, err := sipgo.NewClient(ua, sipgo.WithClientHostname("127.0.0.1"))
	if err != nil {
		t.Fatal(err)
	}
	uri := func(ap *testApp) sip.Uri {
		host, port, _ := net.SplitHostPort(ap.sipAddr("tcp"))
		p, _ := strconv.Atoi(port)
		return sip.Uri{Scheme: "sip", Host: host, Port: p, UriParams: params("transport", "tcp")}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	reg := sip.NewRequest(sip.REGISTER, uri(a))
	reg.SetTransport("TCP")
	reg.AppendHeader(&sip.ToHeader{Address: sip.Uri{Scheme: "sip", User: "alice", Host: "127.0.0.1"}})
	reg.AppendHeader(&sip.FromHeader{Address: sip.Uri{Scheme: "sip", User: "alice", Host: "127.0.0.1"}, Params: params("tag", sip.GenerateTagN(8))})
	reg.AppendHeader(&sip.ContactHeader{Address: sip.Uri{Scheme: "sip", User: "alice", Host: "127.0.0.1", Port: 5998, UriParams: params("transport", "tcp")}})
	reg.AppendHeader(sip.NewHeader("Expires", "600"))
	res, err := client.Do(ctx, reg)
	if err != nil || res.StatusCode != 401 {
		t.Fatalf("REGISTER to a: %v %v, want 401", res, err)
	}
	ag, _ := a.cfg.Agent("alice")
	reg.Recipient = uri(b) // the retry goes to node b
	res, err = client.DoDigestAuth(ctx, reg, res, sipgo.DigestAuth{Username: "alice", Password: ag.Password})
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != 200 {
		t.Fatalf("a's challenge answered to b: %d %s, want 200", res.StatusCode, res.Reason)
	}
}

// TestClusterMovesFileCallbacks: a node that ran alone kept callbacks in
// its callbacks.file; joining a cluster moves the pending ones to Redis
// (attempts kept), listed by every node, and marks them moved in the
// file so that the next start does not move them again.
func TestClusterMovesFileCallbacks(t *testing.T) {
	path := filepath.Join(t.TempDir(), "callbacks.json")
	file, err := callbacks.OpenStore(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	pending, err := file.Add(callbacks.Callback{Kind: callbacks.Queued, Number: "+84912000031", Queue: "default"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := file.Claim(pending.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := file.Dialing(pending.ID, "call-1"); err != nil {
		t.Fatal(err)
	}
	if err := file.Retry(pending.ID, time.Now().Add(time.Hour), "busy"); err != nil { // due in an hour
		t.Fatal(err)
	}
	done, err := file.Add(callbacks.Callback{Kind: callbacks.Queued, Number: "+84912000032", Queue: "default"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := file.Claim(done.ID); err != nil {
		t.Fatal(err)
	}
	if err := file.Complete(done.ID); err != nil {
		t.Fatal(err)
	}

	srv := redistest.Start(t)
	withFile := func(node string) func(c *Config) {
		return func(c *Config) {
			clusterConfig(srv, node)(c)
			c.Callbacks.File = path
		}
	}
	a := startApp(t, withFile("a"))
	b := startApp(t, clusterConfig(srv, "b"))
	for name, app := range map[string]*testApp{"a": a, "b": b} {
		got := app.callbacks.List()
		if len(got) != 1 || got[0].Number != pending.Number || got[0].Status != callbacks.Pending || got[0].Attempts != 1 ||
			got[0].LastResult != "busy" || time.Until(got[0].Due) < 59*time.Minute {
			t.Fatalf("%s lists %+v, want the file's pending callback with its attempt", name, got)
		}
	}
	moved := a.callbacks.List()[0]
	again, err := callbacks.OpenStore(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, cb := range again.List() {
		switch cb.ID {
		case pending.ID:
			if cb.Status != callbacks.Failed || cb.LastResult != "moved to the cluster as "+moved.ID {
				t.Errorf("the file keeps %+v, want it marked moved to %s", cb, moved.ID)
			}
		case done.ID:
			if cb.Status != callbacks.Completed {
				t.Errorf("the file keeps %+v, want it completed as it was", cb)
			}
		}
	}
	// A second node with the same file (or a restart) moves nothing again.
	c := startApp(t, withFile("c"))
	if got := c.callbacks.List(); len(got) != 1 {
		t.Fatalf("after another start: %+v, want the one callback", got)
	}
}
