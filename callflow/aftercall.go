package callflow

import (
	"errors"
	"log/slog"
	"time"

	"hotline/routing/callbacks"
	"hotline/routing/directory"
)

// AfterCall is what follows a finished call: the customer's history
// notes it (one more call, who took it, the rating), and a complaint an
// agent handled or a low rating schedules a follow-up callback (never
// after a callback).
type AfterCall struct {
	// NoteCall updates the customer's history (directory.Directory's);
	// nil: no history is kept.
	NoteCall func(number, agent string, csat int, at time.Time) error
	// Policy decides the follow-up; nil: none.
	Policy *callbacks.Policy
	// Store keeps the follow-up callbacks (required with Policy).
	Store callbacks.Keeper
	Log   *slog.Logger
}

// CallEnded handles the record of a finished call. Nothing is lost
// silently: a history or a follow-up not stored is logged.
func (a *AfterCall) CallEnded(r Record) {
	csat := 0
	if r.Survey.CSAT != nil {
		csat = *r.Survey.CSAT
	}
	if a.NoteCall != nil && r.Caller != "" {
		if err := a.NoteCall(r.Caller, r.Agent, csat, r.Ended); err != nil && !errors.Is(err, directory.ErrNoNumber) {
			a.Log.Warn("customer history not updated", "call_id", r.CallID, "error", err)
		}
	}
	if a.Policy == nil {
		return
	}
	cb, ok := a.Policy.FollowUp(callbacks.Ended{At: r.Ended, Customer: r.Customer, Reason: r.Reason,
		Answered: r.Outcome == OutcomeAnswered, Callback: r.Direction == DirectionCallback, CSAT: csat})
	if !ok {
		return
	}
	cb, err := a.Store.Add(cb)
	if err != nil {
		a.Log.Error("follow-up callback not stored", "call_id", r.CallID, "error", err)
		return
	}
	a.Log.Info("follow-up callback scheduled", "call_id", r.CallID, "callback", cb.ID, "due", cb.Due, "reason", cb.Reason)
}
