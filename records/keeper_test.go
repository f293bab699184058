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
