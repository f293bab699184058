package main

import (
	"testing"

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
