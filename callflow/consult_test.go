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
	"hotline/routing/rules"
)

// TestRoutesConsult: a consultation is queued for its target agent only,
// in the held call's queue; a queue target is queued in that queue ahead
// of the callers already waiting. A target agent who cannot take
// it, or a full queue, is busy (the SIP side answers 486); a queue
// nobody staffs (when_empty refuse) is unavailable (480); an unknown
// target is neither.
func TestRoutesConsult(t *testing.T) {
	rc := configtest.BaseConfig(configtest.Agents("alice", "bob")...)
	rc.Queues = []config.QueueDef{{Name: "sales"}, {Name: "full", MaxLength: 1},
		{Name: "closed", WhenEmpty: config.EmptyPolicy{Join: config.EmptyRefuse}}}
	rc = configtest.MustValid(t, rc)
	a, err := acd.New(rc, acd.Options{LoginOnRegister: true})
	if err != nil {
		t.Fatal(err)
	}
	r := &Routes{Config: rc, ACD: a}
	held := rules.Decision{Action: config.ActionQueue, Queue: "sales", Priority: 2}
	// Nobody logged in yet: the closed queue refuses calls.
	if qc, err := r.Consult("d0", held, false, "closed"); qc != nil || !errors.Is(err, ErrConsultUnavailable) || !errors.Is(err, acd.ErrQueueEmpty) {
		t.Errorf("consult closed: %v, %v; want %v (%v)", qc, err, ErrConsultUnavailable, acd.ErrQueueEmpty)
	}
	if err := a.SetRegistered("bob", true); err != nil {
		t.Fatal(err)
	}

	qc, err := r.Consult("d1", held, true, "bob")
	if err != nil {
		t.Fatal(err)
	}
	if st := qc.status(); qc.ID() != "consult:d1" || st.Queue != "sales" || st.Priority != 2 {
		t.Errorf("consultation %s, status %+v; want consult:d1 in sales, priority 2", qc.ID(), st)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if off, err := qc.Next(ctx); err != nil || !slices.Equal(off.Agents, []string{"bob"}) {
		t.Errorf("offer %+v (%v); want bob rung", off, err)
	}
	qc.Close()

	waiting, err := a.Enqueue(acd.CallRequest{ID: "waiting", Queue: "sales"})
	if err != nil {
		t.Fatal(err)
	}
	defer waiting.Close()
	qq, err := r.Consult("d2", held, false, "sales")
	if err != nil {
		t.Fatal(err)
	}
	if st := qq.status(); st.Queue != "sales" || st.Position != 0 || st.Agent != "" {
		t.Errorf("status %+v; want first in sales for anyone, ahead of the caller waiting", st)
	}
	qq.Close()

	full, err := a.Enqueue(acd.CallRequest{ID: "first", Queue: "full"})
	if err != nil {
		t.Fatal(err)
	}
	defer full.Close()

	for _, tc := range []struct {
		toAgent   bool
		name      string
		want, acd error
	}{
		{true, "alice", ErrConsultBusy, acd.ErrAgentUnavailable}, // not logged in
		{false, "full", ErrConsultBusy, acd.ErrQueueFull},
	} {
		if qc, err := r.Consult("d3", held, tc.toAgent, tc.name); qc != nil || !errors.Is(err, tc.want) || !errors.Is(err, tc.acd) {
			t.Errorf("consult %s: %v, %v; want %v (%v)", tc.name, qc, err, tc.want, tc.acd)
		}
	}
	if qc, err := r.Consult("d4", held, false, "gone"); qc != nil || err == nil ||
		errors.Is(err, ErrConsultBusy) || errors.Is(err, ErrConsultUnavailable) {
		t.Errorf("consult to an unknown queue: %v, %v; want an error neither busy nor unavailable", qc, err)
	}
}
