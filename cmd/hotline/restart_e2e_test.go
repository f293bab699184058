package main

import (
	"context"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"hotline/internal/e2e"
	"hotline/internal/pgtest"
	"hotline/records"
	"hotline/routing/acd"
	"hotline/routing/callbacks"
	"hotline/routing/directory"
)

// A restart of Hotline with the example configuration's state in the
// data directory keeps the phone's registration (baresip does not
// register again: it still believes its binding good for an hour), the
// agent's pause, a pending callback and a caller's style answer; after
// the supervisor unpauses the agent, a call reaches the phone. With the
// postgres backend the second run has an empty state directory: the
// registrations and agent states come from PostgreSQL.
func TestE2ERestartKeepsState(t *testing.T) {
	skipShort(t)
	pg := pgtest.Start(t)
	for _, backend := range []string{records.BackendFile, records.BackendPostgres} {
		t.Run(backend, func(t *testing.T) {
			dsn := ""
			if backend == records.BackendPostgres {
				dsn = pg.NewDatabase(t, "restart")
			}
			restartKeepsState(t, backend, dsn)
		})
	}
}

func restartKeepsState(t *testing.T, backend, dsn string) {
	data := t.TempDir()
	port := freeSIPPort(t)
	stateDir := filepath.Join(data, "state")
	same := func(c *Config) {
		c.Records.Backend, c.Records.Postgres.DSN = backend, dsn
		for i := range c.SIP.Listen {
			c.SIP.Listen[i].Addr = net.JoinHostPort("127.0.0.1", port)
		}
		c.Records.StateDir = stateDir
		c.Records.File.Dir = filepath.Join(data, "records")
		c.Records.SpoolDir = filepath.Join(data, "records-spool")
		c.Directory.StateFile = filepath.Join(data, "directory-state.json")
		c.Callbacks.File = filepath.Join(data, "callbacks.json")
	}
	a1 := startApp(t, same)
	agent := startAgent(t, a1, "alice", e2e.BaresipOptions{ToneHz: agentHz, AutoAnswer: true})
	if err := a1.acd.Pause("alice", "training"); err != nil {
		t.Fatal(err)
	}
	cb, err := a1.callbacks.Add(callbacks.Callback{Kind: callbacks.Queued, Number: "+84912345678", Queue: "default",
		Reason: "promised before the restart", Arrived: time.Now(), Due: time.Now().Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if err := a1.directory.SetStyle("0987654321", directory.StyleReactive); err != nil {
		t.Fatal(err)
	}
	a1.stop(t)
	if backend == records.BackendPostgres {
		stateDir = filepath.Join(data, "another-disk")
	}

	a2 := startApp(t, same)
	info, _ := a2.acd.Agent("alice")
	if !info.Registered || info.State != acd.StatePaused || info.PauseReason != "training" {
		t.Fatalf("alice after the restart: registered=%v state=%s reason=%q, want registered, paused for training",
			info.Registered, info.State, info.PauseReason)
	}
	var cbs []callbacks.Callback
	if code := httpJSON(t, "GET", a2.apiURL("/api/v1/callbacks"), "", &cbs); code != 200 || len(cbs) != 1 || cbs[0].ID != cb.ID {
		t.Fatalf("callbacks after the restart: %d %+v", code, cbs)
	}
	if c := a2.directory.Lookup(context.Background(), "0987654321"); c.Style != directory.StyleReactive {
		t.Fatalf("style after the restart: %q", c.Style)
	}
	if err := a2.acd.Unpause("alice"); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	res := e2e.RunSIPp(ctx, t, e2e.SIPpOptions{
		Target:   a2.sipAddr("udp"),
		Service:  "1900",
		Caller:   "0912345678",
		Scenario: e2e.UACPlayPCAP(tonePCAP(t, 2*time.Second), 3*time.Second),
	})
	res.RequireCalls(t, 1, 0)
	if _, err := agent.WaitEvent(ctx, e2e.EventCallEstablished); err != nil {
		t.Fatalf("the call did not reach the phone registered before the restart: %v", err)
	}
	if strings.Contains(a2.logs.String(), "contact registered") {
		t.Fatal("the phone registered again: the test proves nothing")
	}
	waitIdle(t, a2)
}
