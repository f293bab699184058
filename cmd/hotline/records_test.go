package main

import (
	"testing"
	"time"

	"hotline/callflow"
	"hotline/records"
	"hotline/routing/acd"
)

// The ACD's event kinds are the history's: queueEvent copies them.
func TestQueueEventKindsAreHistoryKinds(t *testing.T) {
	for a, r := range map[string]string{
		acd.EventEnteredQueue: records.EventEnteredQueue, acd.EventOffered: records.EventOffered,
		acd.EventRingNoAnswer: records.EventRingNoAnswer, acd.EventConnected: records.EventConnected,
		acd.EventAbandoned: records.EventAbandoned, acd.EventCallbackRequest: records.EventCallbackRequest,
		acd.EventWrapUp: records.EventWrapUp, acd.EventLogin: records.EventLogin, acd.EventLogout: records.EventLogout,
		acd.EventPause: records.EventPause, acd.EventUnpause: records.EventUnpause,
	} {
		if a != r {
			t.Errorf("acd kind %q, records kind %q", a, r)
		}
	}
}

// A transferred call's history row lists its agents in order and its
// transfers; the agent it names is the last (credited with the CSAT).
func TestCallRecordTransfers(t *testing.T) {
	at := time.Date(2026, 12, 2, 17, 0, 0, 0, time.UTC)
	c := callRecord(callflow.Record{CallID: "c1", Agent: "bob", Agents: []string{"alice", "bob"},
		Transfers: []callflow.Transfer{{Kind: "blind", At: at, By: "alice", Target: "agent:bob"}}})
	if c.Agent != "bob" {
		t.Errorf("agent %q, want bob", c.Agent)
	}
	if got, want := string(c.Legs), `[{"role":"agent","agent":"alice"},{"role":"agent","agent":"bob"}]`; got != want {
		t.Errorf("legs %s, want %s", got, want)
	}
	if got, want := string(c.Transfers), `[{"kind":"blind","at":"2026-12-02T17:00:00Z","by":"alice","target":"agent:bob"}]`; got != want {
		t.Errorf("transfers %s, want %s", got, want)
	}
	if plain := callRecord(callflow.Record{CallID: "c2"}); plain.Legs != nil || plain.Transfers != nil {
		t.Errorf("a call without agents or transfers: legs %s transfers %s, want none", plain.Legs, plain.Transfers)
	}
}
