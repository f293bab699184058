package main

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"hotline/internal/e2e"
	"hotline/internal/redistest"
	"hotline/routing/acd"
)

// TestE2EClusterLostReservationStopsRinging: alice's phone (baresip) rings
// for a caller (SIPp) on node a when another node's offer takes her
// reservation in Redis, as after Redis was out of reach for longer than
// a reservation's lease. At its next heartbeat the node finds the
// reservation lost: her phone is CANCELled, she is not counted as having
// missed the call (still available, not paused), and once the other
// offer's reservation has ended she rings again for the same caller,
// long before the one-minute retry delay of a missed offer.
func TestE2EClusterLostReservationStopsRinging(t *testing.T) {
	skipShort(t)
	srv := redistest.Start(t)
	a := startApp(t, func(c *Config) {
		clusterConfig(srv, "a")(c)
		c.Queue.RingTimeout = 30 * time.Second
		c.Queue.RetryDelay = time.Minute
		c.Queue.AutoPauseAfter = 1
	})
	// Answers only after a minute: it just rings.
	agent := startAgent(t, a, "alice", e2e.BaresipOptions{AutoAnswer: true, AnswerDelay: time.Minute})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	e2e.StartSIPp(t, e2e.SIPpOptions{
		Target:   a.sipAddr("udp"),
		Service:  "1900",
		Scenario: e2e.UACPlayPCAP("", 15*time.Second),
	})
	if _, err := agent.WaitEvent(ctx, e2e.EventCallIncoming); err != nil {
		t.Fatalf("alice never rang: %v", err)
	}

	opt, err := redis.ParseURL(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(opt)
	defer rdb.Close()
	key := a.cfg.Cluster.KeyPrefix + "resv:alice"
	if n, err := rdb.Exists(ctx, key).Result(); err != nil || n != 1 {
		t.Fatalf("alice's reservation %s: exists %d (%v), want it held while she rings", key, n, err)
	}
	if err := rdb.Set(ctx, key, "node-b:another-offer", 3*time.Second).Err(); err != nil {
		t.Fatal(err)
	}
	lostAt := time.Now()
	ev, err := agent.WaitEvent(ctx, e2e.EventCallClosed)
	if err != nil {
		t.Fatalf("alice kept ringing after her reservation was lost: %v", err)
	}
	took := time.Since(lostAt)
	t.Logf("alice's ringing closed %s after the reservation was taken: %q", took.Round(time.Millisecond), ev.Param)
	if took > 5*time.Second { // heartbeats are 200 ms apart; the caller hangs up after 15 s
		t.Errorf("alice's ringing closed %s after the reservation was taken, want within a few heartbeats", took)
	}
	if info, _ := a.acd.Agent("alice"); info.State == acd.StatePaused {
		t.Errorf("alice paused (%s) after a withdrawn offer, want it not counted as missed", info.PauseReason)
	}
	if v, err := rdb.Get(ctx, key).Result(); err != nil || v != "node-b:another-offer" {
		t.Errorf("the other offer's reservation: %q (%v), want it left alone", v, err)
	}
	waitFor(t, 20*time.Second, "alice rung again for the caller", func() bool {
		n := 0
		for _, e := range agent.Events() {
			if e.Type == e2e.EventCallIncoming {
				n++
			}
		}
		return n >= 2
	})
	t.Logf("alice rang again %s after the reservation was taken", time.Since(lostAt).Round(time.Millisecond))
}
