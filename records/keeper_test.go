package records_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"hotline/records"
)

// What one run's Keeper saved, the next run's Keeper puts back, kinds in
// the order given; a kind that did not change is not written again, and
// a kind that cannot be restored does not stop the others.
func TestKeeperSavesAndRestoresAcrossRestart(t *testing.T) {
	ctx := context.Background()
	c := fileConfig(t)
	bindings := []string{"alice@127.0.0.1:5062", "bob@127.0.0.1:5064"}
	agents := []string{"alice:paused", "bob:available"}
	kinds := func(restored *[]string, failAgents bool) []records.Kept {
		return []records.Kept{
			{Kind: "registrations", Snapshot: func() any { return bindings },
				Restore: records.RestoreList(func(b []string) (int, error) {
					*restored = append(*restored, b...)
					return len(b), nil
				})},
			{Kind: "agents", Snapshot: func() any { return agents },
				Restore: records.RestoreList(func(a []string) (int, error) {
					if failAgents {
						return 0, errors.New("refused")
					}
					*restored = append(*restored, a...)
					return len(a), nil
				})},
		}
	}

	s := open(t, c)
	k := records.NewKeeper(s, testLog(t), kinds(nil, false)...)
	k.Save(ctx)
	agentsFile := filepath.Join(c.StateDir, "agents.json")
	if err := os.Remove(agentsFile); err != nil {
		t.Fatalf("agents not saved: %v", err)
	}
	k.Save(ctx) // nothing changed: not written again
	if _, err := os.Stat(agentsFile); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("unchanged state written again: %v", err)
	}
	agents = []string{"alice:available", "bob:available"}
	k.Save(ctx)
	_ = s.Close()

	var restored []string
	records.NewKeeper(open(t, c), testLog(t), kinds(&restored, false)...).Restore(ctx)
	want := append(append([]string{}, bindings...), agents...)
	if !reflect.DeepEqual(restored, want) {
		t.Fatalf("restored %q, want %q (registrations first)", restored, want)
	}

	restored = nil
	records.NewKeeper(open(t, c), testLog(t), kinds(&restored, true)...).Restore(ctx)
	if !reflect.DeepEqual(restored, bindings) {
		t.Fatalf("with the agents refused, restored %q, want the registrations %q", restored, bindings)
	}

	// A kind never saved is skipped; a corrupt one is reported, not fatal.
	if err := os.WriteFile(filepath.Join(c.StateDir, "registrations.json"), []byte("{"), 0o600); err != nil {
		t.Fatal(err)
	}
	restored = nil
	records.NewKeeper(open(t, c), testLog(t), append(kinds(&restored, false),
		records.Kept{Kind: "never_saved", Snapshot: func() any { return nil },
			Restore: func(json.RawMessage) (int, error) { t.Error("restore of a kind never saved"); return 0, nil }})...).Restore(ctx)
	if !reflect.DeepEqual(restored, agents) {
		t.Fatalf("with the registrations corrupt, restored %q, want the agents %q", restored, agents)
	}
}

// A kind with a Generation is snapshotted only when its generation moved
// since it was saved (a registrar with thousands of phones is not read
// each second for nothing); one the store refused is tried again at the
// next Save although its generation stayed the same.
func TestKeeperSnapshotsOnlyWhenTheGenerationMoved(t *testing.T) {
	ctx := context.Background()
	c := fileConfig(t)
	s := open(t, c)
	defer func() { _ = s.Close() }()
	var gen uint64 = 7
	bindings := []string{"alice@127.0.0.1:5062"}
	snapshots := 0
	k := records.NewKeeper(s, testLog(t), records.Kept{Kind: "registrations",
		Snapshot:   func() any { snapshots++; return bindings },
		Restore:    records.RestoreList(func(b []string) (int, error) { return len(b), nil }),
		Generation: func() uint64 { return gen }})
	file := filepath.Join(c.StateDir, "registrations.json")
	saved := func() []string {
		t.Helper()
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatalf("state not saved: %v", err)
		}
		var doc struct {
			Value []string `json:"value"`
		}
		if err := json.Unmarshal(data, &doc); err != nil {
			t.Fatal(err)
		}
		return doc.Value
	}

	// The store refuses (the file's place is taken): tried again.
	if err := os.MkdirAll(file, 0o750); err != nil {
		t.Fatal(err)
	}
	k.Save(ctx)
	k.Save(ctx)
	if snapshots != 2 {
		t.Fatalf("%d snapshots while the store refused, want 2 (tried again)", snapshots)
	}
	if err := os.Remove(file); err != nil {
		t.Fatal(err)
	}
	k.Save(ctx)
	if got := saved(); !reflect.DeepEqual(got, bindings) || snapshots != 3 {
		t.Fatalf("saved %q after %d snapshots, want %q after 3", got, snapshots, bindings)
	}

	k.Save(ctx)
	k.Save(ctx)
	if snapshots != 3 {
		t.Fatalf("%d snapshots with the generation unchanged, want still 3", snapshots)
	}
	bindings = []string{"alice@127.0.0.1:5062", "bob@127.0.0.1:5064"}
	gen++
	k.Save(ctx)
	if got := saved(); !reflect.DeepEqual(got, bindings) || snapshots != 4 {
		t.Fatalf("after the generation moved: saved %q after %d snapshots, want %q after 4", got, snapshots, bindings)
	}
}
