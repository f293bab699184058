package registrar

import (
	"encoding/json"
	"slices"
	"testing"
	"time"
)

// Bindings saved by one registrar and restored (through JSON) into a new
// one, as after a restart: the user is registered again at once (OnChange
// fires), the phone's contact and expiry are kept, and the binding still
// expires when it would have; expired bindings and unknown users are not
// restored.
func TestSaveRestoreAcrossRestart(t *testing.T) {
	f := newFixture(t)
	wantStatus(t, f.register("alice", "c1", 2, phoneA, "Expires: 600"), 200)
	wantStatus(t, f.register("bob", "c2", 7, phoneB, "Expires: 60"), 200)
	saved := f.r.Save()
	saved[0].Path = []string{"<sip:edge.example;lr>"} // as if through a proxy (Path is kept)
	if len(saved) != 2 || saved[0].Username != "alice" || saved[1].Username != "bob" {
		t.Fatalf("saved %+v", saved)
	}
	data, err := json.Marshal(append(saved, SavedBinding{Username: "mallory", Contact: "sip:m@10.0.0.9:5060", Expires: f.clock.Now().Add(time.Hour)}))
	if err != nil {
		t.Fatal(err)
	}

	// The restart, 2 minutes later: bob's binding has lapsed meanwhile.
	g := newFixture(t)
	g.clock.Advance(2 * time.Minute)
	var back []SavedBinding
	if err := json.Unmarshal(data, &back); err != nil {
		t.Fatal(err)
	}
	n, err := g.r.Restore(back)
	if n != 1 || err == nil {
		t.Fatalf("restored %d (%v), want alice only and an error naming mallory", n, err)
	}
	if got := g.drainEvents(); !slices.Equal(got, []event{{"alice", true}}) {
		t.Fatalf("events after restore = %v", got)
	}
	b := g.r.Lookup("alice")
	if len(b) != 1 || b[0].Contact.String() != saved[0].Contact || !b[0].Expires.Equal(saved[0].Expires) || b[0].CSeq != 2 ||
		len(b[0].Path) != 1 || b[0].Path[0] != "<sip:edge.example;lr>" {
		t.Fatalf("alice after restore: %+v, saved %+v", b, saved[0])
	}
	if len(g.r.Lookup("bob")) != 0 || len(g.r.Lookup("mallory")) != 0 {
		t.Fatal("an expired binding or an unknown user was restored")
	}
	// The phone's refresh (same Call-ID, next CSeq) is accepted as usual.
	wantStatus(t, g.register("alice", "c1", 3, phoneA, "Expires: 600"), 200)
	if b := g.r.Lookup("alice"); len(b) != 1 || b[0].CSeq != 3 {
		t.Fatalf("refresh after restore: %+v", b)
	}
	// And it expires when it would have.
	g.clock.Advance(601 * time.Second)
	g.r.sweep()
	if len(g.r.Lookup("alice")) != 0 {
		t.Fatal("restored binding never expires")
	}
}

// Generation moves with every change to the bindings (a registration, a
// refresh, a removal, an expiry the sweep drops, a restore) and only
// then: a keeper snapshots the bindings only when it moved.
func TestGenerationMovesWithTheBindings(t *testing.T) {
	f := newFixture(t)
	moved := func(what string, want bool, do func()) {
		t.Helper()
		g0 := f.r.Generation()
		do()
		if got := f.r.Generation() != g0; got != want {
			t.Errorf("%s: generation moved %v, want %v", what, got, want)
		}
	}
	moved("register", true, func() { wantStatus(t, f.register("alice", "c1", 2, phoneA, "Expires: 60"), 200) })
	moved("refresh", true, func() { wantStatus(t, f.register("alice", "c1", 3, phoneA, "Expires: 60"), 200) })
	moved("lookups, a save and a sweep with nothing expired", false, func() {
		f.r.Lookup("alice")
		f.r.Registered()
		f.r.Save()
		f.clock.Advance(30 * time.Second)
		f.r.sweep()
	})
	moved("expiry", true, func() { f.clock.Advance(31 * time.Second); f.r.sweep() })
	moved("register bob", true, func() { wantStatus(t, f.register("bob", "c2", 7, phoneB, "Expires: 600"), 200) })
	saved := f.r.Save()
	moved("unregister", true, func() { wantStatus(t, f.register("bob", "c2", 8, phoneB, "Expires: 0"), 200) })
	moved("restore", true, func() {
		if n, err := f.r.Restore(saved); n != 1 || err != nil {
			t.Fatalf("restored %d (%v)", n, err)
		}
	})
	moved("restoring what is there already", false, func() { _, _ = f.r.Restore(saved) })
}
