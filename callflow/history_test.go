package callflow

import (
	"testing"
	"time"

	"hotline/survey"
)

// The history's record of a surveyed call: wait from the queue entry,
// time to answer from the INVITE, talk until the agent left less the
// hold, the hold, the queue's name, and where the survey starts.
func TestHistoryTimes(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	csat := 4
	r := Build(Timeline{CallID: "c1", Queue: "general", Agent: "alice", Arrived: at(0), Queued: at(8),
		Bridged: at(20), AgentLeft: at(80), Survey: survey.Result{Ran: true, CSAT: &csat},
		Holds: []Period{{Start: at(30), End: at(45)}}}, at(90), ErrCallerHangup)
	c := r.History()
	if c.Queue != "general" || c.Wait != 12 || c.Answer != 20 || c.Talk != 45 || c.Hold != 15 || c.SurveyStart == nil || !c.SurveyStart.Equal(at(80)) ||
		c.CSAT == nil || *c.CSAT != 4 {
		t.Fatalf("record %+v (survey start %v)", c, c.SurveyStart)
	}
}

// A transferred call's history row lists its agents in order and its
// transfers; the agent it names is the last (credited with the CSAT).
func TestHistoryTransfers(t *testing.T) {
	at := time.Date(2026, 12, 2, 17, 0, 0, 0, time.UTC)
	c := Record{CallID: "c1", Agent: "bob", Agents: []string{"alice", "bob"},
		Transfers: []Transfer{{Kind: "blind", At: at, By: "alice", Target: "agent:bob"}}}.History()
	if c.Agent != "bob" {
		t.Errorf("agent %q, want bob", c.Agent)
	}
	if got, want := string(c.Legs), `[{"role":"agent","agent":"alice"},{"role":"agent","agent":"bob"}]`; got != want {
		t.Errorf("legs %s, want %s", got, want)
	}
	if got, want := string(c.Transfers), `[{"kind":"blind","at":"2026-12-02T17:00:00Z","by":"alice","target":"agent:bob"}]`; got != want {
		t.Errorf("transfers %s, want %s", got, want)
	}
	out := Record{CallID: "c3", Agent: "alice", Agents: []string{"alice"}, Outside: "+84901234567",
		Transfers: []Transfer{{Kind: "api", At: at, By: "sue", Target: "number:+84901234567"}}}.History()
	if got, want := string(out.Legs), `[{"role":"agent","agent":"alice"},{"role":"outside","number":"+84901234567"}]`; got != want {
		t.Errorf("legs of a call transferred outside %s, want %s", got, want)
	}
	if got, want := string(out.Transfers), `[{"kind":"api","at":"2026-12-02T17:00:00Z","by":"sue","target":"number:+84901234567"}]`; got != want {
		t.Errorf("transfers %s, want %s", got, want)
	}
	if plain := (Record{CallID: "c2"}).History(); plain.Legs != nil || plain.Transfers != nil {
		t.Errorf("a call without agents or transfers: legs %s transfers %s, want none", plain.Legs, plain.Transfers)
	}
}

// A monitored call's history row lists each supervisor's session: who,
// which agent, how they joined, start, end and the modes in order.
func TestHistoryMonitors(t *testing.T) {
	at := func(s int) time.Time { return time.Date(2026, 12, 2, 17, 0, s, 0, time.UTC) }
	c := Record{CallID: "c1", Agent: "alice", Agents: []string{"alice"}, Monitors: []Monitoring{{
		Supervisor: "sue", Agent: "alice", Via: MonitorViaCode, Start: at(1), End: at(9),
		Modes: []ModeChange{{Mode: "listen", At: at(1)}, {Mode: "whisper", At: at(4)}}}}}.History()
	want := `[{"supervisor":"sue","agent":"alice","via":"code","start":"2026-12-02T17:00:01Z","end":"2026-12-02T17:00:09Z",` +
		`"modes":[{"mode":"listen","at":"2026-12-02T17:00:01Z"},{"mode":"whisper","at":"2026-12-02T17:00:04Z"}]}]`
	if got := string(c.Monitors); got != want {
		t.Errorf("monitors %s, want %s", got, want)
	}
	if plain := (Record{CallID: "c2"}).History(); plain.Monitors != nil {
		t.Errorf("an unmonitored call: monitors %s, want none", plain.Monitors)
	}
}
