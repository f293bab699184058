package main

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"hotline/api"
	"hotline/internal/e2e"
	"hotline/routing/callbacks"
)

// apiURL is the base URL of a node's API (from its log).
func (n *clusterNode) apiURL(t *testing.T) string {
	t.Helper()
	return "http://" + n.p.logAttr(t, "API listening", "addr")
}

func (n *clusterNode) callbacks(t *testing.T) []api.Callback {
	t.Helper()
	var cbs []api.Callback
	if code := httpJSON(t, "GET", n.apiURL(t)+"/api/v1/callbacks", "", &cbs); code != 200 {
		t.Fatalf("GET %s's callbacks: %d", n.name, code)
	}
	return cbs
}

// TestE2EClusterCallbackShared: three nodes, each with a callback dialer
// and the outbound gateway (SIPp as the customer's phone). A callback
// requested through node0's API is listed alike by every node's API and
// dialled once: one node rings the agent, then calls the customer; the
// gateway gets one INVITE; every node lists it completed after one
// attempt.
func TestE2EClusterCallbackShared(t *testing.T) {
	skipShort(t)
	customer := e2e.StartSIPp(t, e2e.SIPpOptions{Scenario: e2e.UASAnswer(e2e.UASAnswerOptions{}), Timeout: 90 * time.Second})
	yaml := strings.Replace(clusterYAML, "\nsip:\n", fmt.Sprintf("\nsip:\n  outbound: {gateway: %q, from: \"1900\", interval: 200ms, max_attempts: 1}\n", customer.Addr()), 1)
	hc := startHotlineClusterYAML(t, yaml)
	alice := hc.agent(t, "alice")
	ctx, cancel := context.WithTimeout(context.Background(), 80*time.Second)
	defer cancel()

	// Requested through node0's API; due in two seconds, so that every
	// node lists it pending first.
	var queues []api.Queue
	if code := httpJSON(t, "GET", hc.nodes[0].apiURL(t)+"/api/v1/queues", "", &queues); code != 200 || len(queues) == 0 {
		t.Fatalf("GET queues: %d %+v", code, queues)
	}
	due := time.Now().Add(2 * time.Second).UTC().Truncate(time.Second)
	var cb api.Callback
	body := fmt.Sprintf(`{"number": "+84912000111", "queue": %q, "due": %q}`, queues[0].Name, due.Format(time.RFC3339))
	if code := httpJSON(t, "POST", hc.nodes[0].apiURL(t)+"/api/v1/callbacks", body, &cb); code != 200 || cb.ID == "" {
		t.Fatalf("POST callback on node0: %d %+v", code, cb)
	}
	for _, n := range hc.nodes {
		got := n.callbacks(t)
		if len(got) != 1 || got[0].ID != cb.ID || got[0].Number != "+84912000111" || got[0].Status != callbacks.Pending || !got[0].Due.Equal(due) {
			t.Fatalf("%s lists %+v, want node0's pending %s", n.name, got, cb.ID)
		}
	}

	// One node rings alice, then calls the customer.
	if _, err := alice.WaitEvent(ctx, e2e.EventCallEstablished); err != nil {
		t.Fatalf("alice did not get the callback: %v", err)
	}
	waitFor(t, 20*time.Second, "the customer called", func() bool { return sippGotInvite(t, customer) })
	time.Sleep(2 * time.Second) // talk; every dialer runs rounds meanwhile
	if err := alice.Hangup(ctx); err != nil {
		t.Fatal(err)
	}
	res, err := customer.Wait(ctx) // the customer got the BYE
	if err != nil {
		t.Fatal(err)
	}
	res.RequireCalls(t, 1, 0) // one INVITE reached the gateway
	if _, err := alice.WaitEvent(ctx, e2e.EventCallClosed); err != nil {
		t.Fatal(err)
	}
	var dialled []string
	for _, n := range hc.nodes {
		if c := strings.Count(n.p.logs.String(), "agent took the callback; calling the customer"); c > 0 {
			dialled = append(dialled, fmt.Sprintf("%s×%d", n.name, c))
		}
	}
	if len(dialled) != 1 || !strings.HasSuffix(dialled[0], "×1") {
		t.Fatalf("the customer was called by %v, want once by one node", dialled)
	}
	for _, n := range hc.nodes {
		waitFor(t, 10*time.Second, n.name+" lists the callback completed", func() bool {
			got := n.callbacks(t)
			return len(got) == 1 && got[0].Status == callbacks.Completed && got[0].Attempts == 1 && got[0].LastResult == "answered"
		})
	}
	if n := len(eventsOf(alice, e2e.EventCallEstablished)); n != 1 {
		t.Errorf("alice had %d calls, want the one callback", n)
	}
	t.Logf("dialled by %v", dialled)

	// Redis restarts empty: the nodes re-publish what they know; a
	// callback due later, requested on node2, is listed by every node
	// again, as is the completed one.
	later := time.Now().Add(time.Hour).UTC().Truncate(time.Second)
	var cb2 api.Callback
	body = fmt.Sprintf(`{"number": "+84912000333", "queue": %q, "due": %q}`, queues[0].Name, later.Format(time.RFC3339))
	if code := httpJSON(t, "POST", hc.nodes[2].apiURL(t)+"/api/v1/callbacks", body, &cb2); code != 200 {
		t.Fatalf("POST callback on node2: %d %+v", code, cb2)
	}
	hc.redis.Restart(t)
	for _, n := range hc.nodes {
		waitFor(t, 10*time.Second, n.name+" lists both callbacks after the Redis restart", func() bool {
			got := n.callbacks(t)
			return len(got) == 2 && got[0].ID == cb.ID && got[0].Status == callbacks.Completed && got[0].Attempts == 1 &&
				got[1].ID == cb2.ID && got[1].Status == callbacks.Pending && got[1].Due.Equal(later)
		})
	}
}

const calledCustomer = "agent took the callback; calling the customer"

// TestE2EClusterCallbackNodeKilledMidDial: the node dialling a callback
// is SIGKILLed while the customer talks to the agent. Its claim lapses
// with the lease; another node dials the callback again, counting the
// dead node's attempt: completed after two attempts, listed so by the
// surviving nodes.
func TestE2EClusterCallbackNodeKilledMidDial(t *testing.T) {
	skipShort(t)
	customer := e2e.StartSIPp(t, e2e.SIPpOptions{Scenario: e2e.UASAnswer(e2e.UASAnswerOptions{HangupAfter: 4 * time.Second}),
		Calls: 2, Timeout: 100 * time.Second})
	yaml := strings.Replace(clusterYAML, "\nsip:\n", fmt.Sprintf("\nsip:\n  outbound: {gateway: %q, from: \"1900\", interval: 200ms, max_attempts: 3, retry_delay: 1s}\n", customer.Addr()), 1)
	hc := startHotlineClusterYAML(t, yaml)
	alice := hc.agent(t, "alice")
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Second)
	defer cancel()

	var queues []api.Queue
	if code := httpJSON(t, "GET", hc.nodes[0].apiURL(t)+"/api/v1/queues", "", &queues); code != 200 || len(queues) == 0 {
		t.Fatalf("GET queues: %d %+v", code, queues)
	}
	var cb api.Callback
	body := fmt.Sprintf(`{"number": "+84912000222", "queue": %q}`, queues[0].Name)
	if code := httpJSON(t, "POST", hc.nodes[1].apiURL(t)+"/api/v1/callbacks", body, &cb); code != 200 || cb.ID == "" {
		t.Fatalf("POST callback on node1: %d %+v", code, cb)
	}
	if _, err := alice.WaitEvent(ctx, e2e.EventCallEstablished); err != nil {
		t.Fatalf("alice did not get the callback: %v", err)
	}
	var victim *clusterNode
	waitFor(t, 20*time.Second, "a node calling the customer", func() bool {
		for _, n := range hc.nodes {
			if strings.Contains(n.p.logs.String(), calledCustomer) {
				victim = n
				return true
			}
		}
		return false
	})
	waitFor(t, 10*time.Second, "the customer answered", func() bool { return sippGotInvite(t, customer) })
	time.Sleep(500 * time.Millisecond)
	victim.p.kill(t)
	killed := time.Now()
	var survivors []*clusterNode
	for _, n := range hc.nodes {
		if n != victim {
			survivors = append(survivors, n)
		}
	}
	// The dead node's attempt is counted; the callback is still pending.
	for _, n := range survivors {
		got := n.callbacks(t)
		if len(got) != 1 || got[0].ID != cb.ID || got[0].Status != callbacks.Pending || got[0].Attempts != 1 {
			t.Fatalf("%s lists %+v after the SIGKILL, want %s pending after 1 attempt", n.name, got, cb.ID)
		}
	}
	if err := alice.Hangup(ctx); err != nil { // her end of the dead node's call
		t.Fatal(err)
	}
	if _, err := alice.WaitEvent(ctx, e2e.EventCallClosed); err != nil {
		t.Fatal(err)
	}

	// Another node takes it over once the lease (3s) lapsed.
	if _, err := alice.WaitEvent(ctx, e2e.EventCallEstablished); err != nil {
		t.Fatalf("the callback was not dialled again: %v", err)
	}
	t.Logf("dialled again %s after the SIGKILL (lease 3s)", time.Since(killed).Round(100*time.Millisecond))
	for _, n := range survivors {
		waitFor(t, 30*time.Second, n.name+" lists the callback completed", func() bool {
			got := n.callbacks(t)
			return len(got) == 1 && got[0].Status == callbacks.Completed && got[0].Attempts == 2 && got[0].LastResult == "answered"
		})
	}
	var again []string
	for _, n := range survivors {
		if c := strings.Count(n.p.logs.String(), calledCustomer); c > 0 {
			again = append(again, fmt.Sprintf("%s×%d", n.name, c))
		}
	}
	if len(again) != 1 || !strings.HasSuffix(again[0], "×1") {
		t.Fatalf("after the SIGKILL the customer was called by %v, want once by one surviving node", again)
	}
}
