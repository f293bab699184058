package callflow_test

import (
	"slices"
	"testing"

	"hotline/callflow"
)

// TestBridges: a bridge joins two legs until either is split off; split
// undoes every bridge of the leg (each once, in order) and no other.
func TestBridges(t *testing.T) {
	var bs callflow.Bridges[string] // the zero value has no bridge
	var undone []string
	undo := func(name string) func() { return func() { undone = append(undone, name) } }
	bs.Join("caller", "agent", undo("caller-agent"))
	bs.Join("agent", "supervisor", undo("agent-supervisor"))
	bs.Join("caller", "outside", undo("caller-outside"))
	if !bs.Joined("agent", "caller") || !bs.Joined("caller", "agent") || bs.Joined("caller", "supervisor") {
		t.Fatal("Joined: want caller-agent both ways, not caller-supervisor")
	}
	bs.Split("agent")
	if want := []string{"caller-agent", "agent-supervisor"}; !slices.Equal(undone, want) {
		t.Errorf("split agent undid %q, want %q", undone, want)
	}
	if bs.Joined("caller", "agent") || !bs.Joined("outside", "caller") {
		t.Error("after splitting the agent: want caller-agent gone and caller-outside kept")
	}
	bs.Split("agent") // nothing left to undo
	bs.Split("caller")
	if want := []string{"caller-agent", "agent-supervisor", "caller-outside"}; !slices.Equal(undone, want) {
		t.Errorf("undid %q, want %q (each bridge once)", undone, want)
	}
}
