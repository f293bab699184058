package callflow

import (
	"errors"
	"slices"
	"testing"
	"time"

	"hotline/routing/acd"
	"hotline/routing/config"
	"hotline/routing/config/configtest"
)

// TestCheckOutsideNumber: a transfer calls only numbers within
// allowed_prefixes, through a gateway; no prefix at all allows nothing.
func TestCheckOutsideNumber(t *testing.T) {
	for _, tc := range []struct {
		number   string
		gateway  bool
		prefixes []string
		want     error
	}{
		{"+84912345678", true, []string{"+84"}, nil},
		{"0912345678", true, []string{"+84", "0"}, nil},
		{"+1900555000", true, []string{"+84"}, ErrNumberNotAllowed},
		{"+84912345678", true, nil, ErrNoAllowedPrefix},
		{"+84912345678", true, []string{""}, ErrNumberNotAllowed}, // an empty prefix allows nothing
		{"+84912345678", false, []string{"+84"}, ErrNoGateway},
	} {
		err := CheckOutsideNumber(tc.number, tc.gateway, tc.prefixes)
		if !errors.Is(err, tc.want) || (tc.want == nil && err != nil) {
			t.Errorf("%s (gateway %v, prefixes %q): %v, want %v", tc.number, tc.gateway, tc.prefixes, err, tc.want)
		}
	}
}

// TestOutsideOutcome: how the INVITE ended decides what the referrer is
// told, how the transfer is counted and whether the caller goes back.
func TestOutsideOutcome(t *testing.T) {
	for _, tc := range []struct {
		what  string
		dial  OutsideDial
		ended bool
		want  OutsideResult
	}{
		{"answered", OutsideDial{Answered: true}, false, OutsideResult{Code: 200, Reason: "OK", Outcome: TransferCompleted}},
		{"busy", OutsideDial{Status: 486, Reason: "Busy Here"}, false, OutsideResult{Code: 486, Reason: "Busy Here", Outcome: TransferReturned, Back: true}},
		{"no reason", OutsideDial{Status: 503}, false, OutsideResult{Code: 503, Reason: "Failed", Outcome: TransferReturned, Back: true}},
		{"redirect", OutsideDial{Status: 302, Reason: "Moved"}, false, OutsideResult{Code: 503, Reason: "Service Unavailable", Outcome: TransferReturned, Back: true}},
		{"no answer", OutsideDial{NoAnswer: true}, false, OutsideResult{Code: 480, Reason: "Temporarily Unavailable", Outcome: TransferReturned, Back: true}},
		{"no codec", OutsideDial{NoUsableSDP: true}, false, OutsideResult{Code: 488, Reason: "Not Acceptable Here", Outcome: TransferReturned, Back: true}},
		{"no response", OutsideDial{}, false, OutsideResult{Code: 503, Reason: "Service Unavailable", Outcome: TransferReturned, Back: true}},
		{"caller gone", OutsideDial{Status: 486}, true, OutsideResult{Code: 487, Reason: "Request Terminated", Outcome: TransferAbandoned}},
		{"caller gone as it answered", OutsideDial{Answered: true}, true, OutsideResult{Code: 487, Reason: "Request Terminated", Outcome: TransferAbandoned}},
	} {
		if got := OutsideOutcome(tc.dial, tc.ended); got != tc.want {
			t.Errorf("%s: %+v, want %+v", tc.what, got, tc.want)
		}
	}
}

// TestOutsideDone: a caller whose outside party was not reached goes back
// to their queue ahead of the callers waiting there, counted returned;
// one who reached it is counted completed and queued nowhere; one who
// cannot be queued again is counted failed and the referrer told 503.
func TestOutsideDone(t *testing.T) {
	rc := configtest.BaseConfig(configtest.Agents("alice")...)
	rc.Queues = []config.QueueDef{{Name: "sales"}}
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
	t.Run("back first in line", func(t *testing.T) {
		c := newCall(t)
		early := c.Request()
		early.ID, early.Queue = "early", "sales"
		eq, err := c.acd.Enqueue(early)
		if err != nil {
			t.Fatal(err)
		}
		defer eq.Close()
		busy := OutsideOutcome(OutsideDial{Status: 486, Reason: "Busy Here"}, false)
		qc, res, err := OutsideDone(c, "blind", busy, "sales")
		if err != nil || qc == nil {
			t.Fatalf("%v, %v; want queued again", qc, err)
		}
		defer qc.Close()
		if st := qc.status(); st.Queue != "sales" || st.Position != 0 {
			t.Errorf("status %+v, want first in sales", st)
		}
		if res.Code != 486 || !slices.Equal(c.counted, []string{"blind number returned"}) {
			t.Errorf("told %d, counted %q; want 486, returned", res.Code, c.counted)
		}
	})
	t.Run("answered", func(t *testing.T) {
		c := newCall(t)
		qc, res, err := OutsideDone(c, "api", OutsideOutcome(OutsideDial{Answered: true}, false), "sales")
		if qc != nil || err != nil || res.Code != 200 || !slices.Equal(c.counted, []string{"api number completed"}) {
			t.Errorf("%v %+v %v, counted %q; want not queued, 200, completed", qc, res, err, c.counted)
		}
	})
	t.Run("caller gone", func(t *testing.T) {
		c := newCall(t)
		qc, res, err := OutsideDone(c, "blind", OutsideOutcome(OutsideDial{}, true), "sales")
		if qc != nil || err != nil || res.Code != 487 || !slices.Equal(c.counted, []string{"blind number abandoned"}) {
			t.Errorf("%v %+v %v, counted %q; want not queued, 487, abandoned", qc, res, err, c.counted)
		}
	})
	t.Run("nowhere to go back to", func(t *testing.T) {
		c := newCall(t)
		qc, res, err := OutsideDone(c, "blind", OutsideOutcome(OutsideDial{NoAnswer: true}, false), "gone")
		if qc != nil || !errors.Is(err, acd.ErrUnknownQueue) || res.Code != 503 || res.Outcome != TransferFailed ||
			!slices.Equal(c.counted, []string{"blind number failed"}) {
			t.Errorf("%v %+v %v, counted %q; want an error, 503, failed", qc, res, err, c.counted)
		}
	})
}

// TestTransferState: what a transfer notes in the call's record. A blind
// transfer to a queue moves the call there and gives it the reason
// "transfer" (a reason set before stays); an outside or agent one keeps
// the queue; each returns the queue the caller came from. An attended
// one makes the target the last agent.
func TestTransferState(t *testing.T) {
	at := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	st := TransferState{Queue: "sales", Agent: "alice", Agents: []string{"alice"}}
	if kind := st.LastKind(); kind != TransferBlind {
		t.Errorf("last kind with no transfer: %q, want blind", kind)
	}
	if from := st.Blind(Transfer{Kind: "blind", At: at, By: "alice", Target: "queue:complaints"}, "complaints"); from != "sales" {
		t.Errorf("came from %q, want sales", from)
	}
	if st.Queue != "complaints" || st.Reason != ReasonTransfer || st.By != "alice" || len(st.Transfers) != 1 {
		t.Errorf("after the blind transfer to complaints: %+v", st)
	}
	st.Reason = "billing"
	if from := st.Blind(Transfer{Kind: "api", At: at, By: "sue", Target: "number:+84912345678"}, ""); from != "complaints" {
		t.Errorf("came from %q, want complaints", from)
	}
	if st.Queue != "complaints" || st.Reason != "billing" || st.By != "sue" || st.LastKind() != "api" {
		t.Errorf("after the outside transfer: %+v; want complaints, billing kept, by sue", st)
	}
	st.Attended(Transfer{Kind: "attended", At: at, By: "bob", Target: "agent:carol"}, "carol")
	var targets []string
	for _, tr := range st.Transfers {
		targets = append(targets, tr.Target)
	}
	if st.Agent != "carol" || !slices.Equal(st.Agents, []string{"alice", "carol"}) || st.By != "bob" ||
		!slices.Equal(targets, []string{"queue:complaints", "number:+84912345678", "agent:carol"}) || st.Queue != "complaints" {
		t.Errorf("after the attended transfer: %+v", st)
	}
}
