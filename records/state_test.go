package records_test

import (
	"context"
	"os"
	"reflect"
	"testing"
	"time"

	"hotline/internal/pgtest"
	"hotline/records"
)

type agentState struct {
	Agent  string `json:"agent"`
	Paused bool   `json:"paused"`
	Reason string `json:"reason"`
}

// State saved by one store is loaded by the next (a restart), with both
// backends; with postgres, a node with an empty state directory finds the
// database's copy, and a save made while PostgreSQL was down (kept
// locally) wins over the database's older copy and reaches the database
// once it is back.
func TestStateSurvivesRestart(t *testing.T) {
	srv := pgtest.Start(t)
	ctx := context.Background()
	for name, c := range map[string]records.Config{"file": fileConfig(t), "postgres": pgConfig(t, srv, "state")} {
		t.Run(name, func(t *testing.T) {
			s := open(t, c)
			var none []agentState
			if ok, err := s.LoadState(ctx, "agents", &none); ok || err != nil {
				t.Fatalf("empty: %v %v", ok, err)
			}
			want := []agentState{{"alice", true, "lunch ☕ 'quoted'"}, {"bob", false, ""}}
			if err := s.SaveState(ctx, "agents", want); err != nil {
				t.Fatal(err)
			}
			if err := s.SaveState(ctx, "../etc/passwd", want); err == nil {
				t.Fatal("a kind that is a path was accepted")
			}
			_ = s.Close()
			s2 := open(t, c)
			var got []agentState
			if ok, err := s2.LoadState(ctx, "agents", &got); !ok || err != nil || !reflect.DeepEqual(got, want) {
				t.Fatalf("after restart: %v %v %+v", ok, err, got)
			}
			if name != "postgres" {
				return
			}
			_ = s2.Close()
			// Another disk: the database's copy.
			c2 := c
			c2.StateDir = t.TempDir()
			s3 := open(t, c2)
			got = nil
			if ok, err := s3.LoadState(ctx, "agents", &got); !ok || err != nil || !reflect.DeepEqual(got, want) {
				t.Fatalf("from the database: %v %v %+v", ok, err, got)
			}
			// Saved while PostgreSQL is down: the local copy is newer.
			srv.Stop()
			newer := []agentState{{"alice", false, ""}}
			if err := s3.SaveState(ctx, "agents", newer); err != nil {
				t.Fatal(err)
			}
			srv.Restart(t)
			got = nil
			if ok, err := s3.LoadState(ctx, "agents", &got); !ok || err != nil || !reflect.DeepEqual(got, newer) {
				t.Fatalf("after a save during an outage: %v %v %+v", ok, err, got)
			}
			if _, err := os.Stat(c2.StateDir + "/agents.json"); err != nil {
				t.Fatal(err)
			}
			// The database gets the save it missed once it is back,
			// though the state did not change again: another node
			// started on an empty disk takes it, not the older copy.
			c3 := c
			c3.StateDir, c3.SpoolDir = t.TempDir(), t.TempDir()
			deadline := time.Now().Add(10 * time.Second)
			for {
				s4 := open(t, c3)
				got = nil
				ok, err := s4.LoadState(ctx, "agents", &got)
				_ = s4.Close()
				if err == nil && ok && reflect.DeepEqual(got, newer) {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("the database's copy 10 s after the outage: %v %v %+v, want %+v", ok, err, got, newer)
				}
				time.Sleep(100 * time.Millisecond)
			}
		})
	}
}

// TestNodesKeepTheirOwnRegistrations: two nodes of a cluster share the
// database. Each keeps its phones' bindings under its own kind
// (registrations@<node>): a node restarted on an empty disk gets its
// own, not the node that saved last. A node upgraded from the one
// shared kind finds its own bindings under the old name in its state
// directory, never another node's from the database.
func TestNodesKeepTheirOwnRegistrations(t *testing.T) {
	srv := pgtest.Start(t)
	ctx := context.Background()
	base := pgConfig(t, srv, "state_nodes")
	node := func() records.Config {
		c := base
		c.StateDir, c.SpoolDir = t.TempDir(), t.TempDir()
		return c
	}
	ca, cb := node(), node()
	a, b := open(t, ca), open(t, cb)
	// Before the upgrade both saved under the one kind; b last.
	if err := a.SaveState(ctx, "registrations", []string{"alice@a"}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(10 * time.Millisecond)
	if err := b.SaveState(ctx, "registrations", []string{"bob@b"}); err != nil {
		t.Fatal(err)
	}
	restore := func(s *records.Store, kind string) []string {
		t.Helper()
		var got []string
		k := records.NewKeeper(s, testLog(t), records.Kept{Kind: kind, LocalFallback: "registrations",
			Snapshot: func() any { return got },
			Restore: records.RestoreList(func(b []string) (int, error) {
				got = append(got, b...)
				return len(b), nil
			})})
		k.Restore(ctx)
		return got
	}
	if got := restore(a, records.NodeKind("registrations", "a")); !reflect.DeepEqual(got, []string{"alice@a"}) {
		t.Fatalf("node a after the upgrade restored %v, want its own alice@a (from its state directory, not b's from the database)", got)
	}
	// Each node saves its own kind; b again last.
	if err := a.SaveState(ctx, records.NodeKind("registrations", "a"), []string{"alice@a", "carol@a"}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(10 * time.Millisecond)
	if err := b.SaveState(ctx, records.NodeKind("registrations", "b"), []string{"bob@b"}); err != nil {
		t.Fatal(err)
	}
	_ = a.Close()
	a2 := open(t, node()) // node a on an empty disk
	if got := restore(a2, records.NodeKind("registrations", "a")); !reflect.DeepEqual(got, []string{"alice@a", "carol@a"}) {
		t.Fatalf("node a on an empty disk restored %v, want its own bindings from the database", got)
	}
	for _, bad := range []string{"registrations@", "registrations@a/b", "registrations@../x", "@a", "registrations@a@b"} {
		if err := a2.SaveState(ctx, bad, []string{}); err == nil {
			t.Errorf("kind %q accepted", bad)
		}
	}
}
