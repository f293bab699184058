package callflow

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"hotline/routing/acd"
	"hotline/routing/config"
	"hotline/routing/config/configtest"
)

// TestRequeue: where a blind transfer puts the caller. To an agent who
// cannot take a call: back in their queue ahead of callers already
// waiting, counted returned. To an agent who can: offered to that agent
// only, counted once the agent answers. To a queue: in that queue,
// counted completed. Nowhere to go: an error, counted failed.
func TestRequeue(t *testing.T) {
	rc := configtest.BaseConfig(configtest.Agents("alice", "bob")...)
	rc.Queues = []config.QueueDef{{Name: "sales"}, {Name: "support"}}
	rc = configtest.MustValid(t, rc)
	newCall := func(t *testing.T) *fakeInbound {
		c := newInbound(t)
		a, err := acd.New(rc, acd.Options{LoginOnRegister: true})
		if err != nil {
			t.Fatal(err)
		}
		c.acd = a
		return c
	}
	request := func(c *fakeInbound, id string) acd.CallRequest {
		r := c.Request()
		r.ID, r.Queue = id, "sales"
		return r
	}

	t.Run("agent unavailable", func(t *testing.T) {
		c := newCall(t)
		early, err := c.acd.Enqueue(request(c, "early"))
		if err != nil {
			t.Fatal(err)
		}
		defer early.Close()
		c.decision.Queue = "support"
		qc, outcome, err := Requeue(c, "blind", TransferToAgent, "bob", "sales") // bob is not logged in
		if err != nil {
			t.Fatal(err)
		}
		defer qc.Close()
		if st := qc.status(); outcome != TransferReturned || st.Queue != "sales" || st.Position != 0 || st.Agent != "" {
			t.Errorf("outcome %s, status %+v; want returned, first in sales for anyone", outcome, st)
		}
		if st := early.Status(); st.Position != 1 {
			t.Errorf("the caller waiting before is at %d; want behind the returned one", st.Position)
		}
		if !slices.Equal(c.counted, []string{"blind agent returned"}) || c.returnTo != "" {
			t.Errorf("counted %q, return to %q; want returned counted, nothing to return to", c.counted, c.returnTo)
		}
	})

	t.Run("agent available", func(t *testing.T) {
		c := newCall(t)
		if err := c.acd.SetRegistered("bob", true); err != nil {
			t.Fatal(err)
		}
		c.decision.Queue = "sales"
		qc, outcome, err := Requeue(c, "attended", TransferToAgent, "bob", "support")
		if err != nil {
			t.Fatal(err)
		}
		defer qc.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if off, err := qc.Next(ctx); outcome != TransferCompleted || err != nil || !slices.Equal(off.Agents, []string{"bob"}) {
			t.Errorf("outcome %s, offer %+v (%v); want completed so far, offered to bob", outcome, off, err)
		}
		if len(c.counted) != 0 || c.returnTo != "support" {
			t.Errorf("counted %q, return to %q; want nothing counted yet, back to support if bob does not answer", c.counted, c.returnTo)
		}
		c.returnTo, c.counted = "support", nil
		TransferAnswered(c)
		if !slices.Equal(c.counted, []string{"blind agent completed"}) {
			t.Errorf("counted %q once bob answered; want completed", c.counted)
		}
	})

	t.Run("queue", func(t *testing.T) {
		c := newCall(t)
		c.decision.Queue = "support"
		qc, outcome, err := Requeue(c, "api", TransferToQueue, "", "sales")
		if err != nil {
			t.Fatal(err)
		}
		defer qc.Close()
		if st := qc.status(); outcome != TransferCompleted || st.Queue != "support" {
			t.Errorf("outcome %s, status %+v; want completed, in support", outcome, st)
		}
		if !slices.Equal(c.counted, []string{"api queue completed"}) || c.returnTo != "" {
			t.Errorf("counted %q, return to %q; want completed counted", c.counted, c.returnTo)
		}
	})

	t.Run("nowhere", func(t *testing.T) {
		c := newCall(t)
		c.decision.Queue = "gone"
		_, outcome, err := Requeue(c, "blind", TransferToQueue, "", "sales")
		if !errors.Is(err, acd.ErrUnknownQueue) || outcome != TransferFailed || !slices.Equal(c.counted, []string{"blind queue failed"}) {
			t.Errorf("err %v, outcome %s, counted %q; want unknown queue, failed and counted", err, outcome, c.counted)
		}
	})
}
