package callflow

import (
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"hotline/routing/callbacks"
	"hotline/routing/config"
	"hotline/routing/config/configtest"
	"hotline/routing/directory"
	"hotline/routing/rules"
	"hotline/survey"
)

type noted struct {
	number, agent string
	csat          int
}

func TestAfterCall(t *testing.T) {
	c := configtest.CareConfig()
	c.Callbacks = config.CallbackConfig{Queue: "general"}
	configtest.MustValid(t, c)
	r, err := rules.NewRouter(c)
	if err != nil {
		t.Fatal(err)
	}
	hcm, _ := time.LoadLocation("Asia/Ho_Chi_Minh")
	ended := time.Date(2026, 11, 25, 10, 0, 0, 0, hcm)
	store, err := callbacks.OpenStore(filepath.Join(t.TempDir(), "callbacks.json"), func() time.Time { return ended })
	if err != nil {
		t.Fatal(err)
	}
	var notes []noted
	a := &AfterCall{Policy: callbacks.NewPolicy(c, r), Store: store, Log: slog.New(slog.DiscardHandler),
		NoteCall: func(number, agent string, csat int, _ time.Time) error {
			notes = append(notes, noted{number, agent, csat})
			return nil
		}}
	cust := directory.Customer{ID: "C1", Number: "+84912345678"}
	low := 1
	a.CallEnded(Record{CallID: "1", Caller: cust.Number, Agent: "alice", Customer: cust, Reason: "complaint",
		Outcome: OutcomeAnswered, Direction: DirectionInbound, Ended: ended})
	a.CallEnded(Record{CallID: "2", Caller: cust.Number, Agent: "bob", Customer: cust, Outcome: OutcomeAnswered,
		Direction: DirectionCallback, Ended: ended, Survey: survey.Result{Ran: true, CSAT: &low}})
	a.CallEnded(Record{CallID: "3", Customer: directory.Customer{}, Outcome: OutcomeAbandoned, Ended: ended})

	if len(notes) != 2 || notes[0] != (noted{cust.Number, "alice", 0}) || notes[1] != (noted{cust.Number, "bob", 1}) {
		t.Errorf("history notes %+v, want alice's call then bob's rated 1 (none without a caller number)", notes)
	}
	list := store.List()
	if len(list) != 1 || list[0].Kind != callbacks.FollowUp || list[0].Number != cust.Number || list[0].Reason != "complaint" {
		t.Fatalf("callbacks %+v, want one follow-up of the complaint (none after the callback)", list)
	}
}
