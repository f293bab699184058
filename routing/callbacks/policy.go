package callbacks

import (
	"time"

	"hotline/routing/config"
	"hotline/routing/directory"
	"hotline/routing/rules"
)

// Policy is the callbacks' business policy: when the callback of a caller
// who called after hours is due, and which finished calls are followed
// up. It is immutable and safe for concurrent use.
type Policy struct {
	router    *rules.Router
	followUps *FollowUps
}

// NewPolicy builds the policy of a validated configuration; r supplies the
// compiled schedules.
func NewPolicy(c *config.Config, r *rules.Router) *Policy {
	return &Policy{router: r, followUps: NewFollowUps(c, r)}
}

// AfterHours returns the callback of a caller who got the callback action
// at `at`: due when the queue's schedule next opens (keeping the customers'
// quiet hours is the dialer's job, through Window), keeping the caller's
// arrival as their place. Add it to a Store.
func (p *Policy) AfterHours(at time.Time, cust directory.Customer, d rules.Decision) Callback {
	due := at
	if sc, ok := p.router.QueueSchedule(d.Queue); ok {
		if next, ok := sc.NextOpen(at, nil); ok {
			due = next
		}
	}
	return Callback{Kind: Queued, Number: cust.Number, CustomerID: cust.ID,
		Queue: d.Queue, Priority: d.Priority, Reason: "after hours", Arrived: at, Due: due}
}

// Ended is what the policy looks at of a finished call.
type Ended struct {
	At       time.Time
	Customer directory.Customer
	// Reason is the call's reason (from the reason menu, a rule).
	Reason string
	// Answered is true when an agent took the call: only then does its
	// reason (a complaint) call for a follow-up.
	Answered bool
	// Callback is true for a call Hotline placed to call a customer back;
	// it is not followed up by another.
	Callback bool
	// CSAT is the caller's rating, 0 for none.
	CSAT int
}

// FollowUp returns the follow-up callback a finished call calls for: after
// a complaint an agent handled or a low rating (see FollowUps), never after
// a callback. Add it to a Store.
func (p *Policy) FollowUp(e Ended) (Callback, bool) {
	if e.Callback {
		return Callback{}, false
	}
	reason := ""
	if e.Answered {
		reason = e.Reason
	}
	return p.followUps.Plan(e.At, e.Customer, reason, e.CSAT)
}
