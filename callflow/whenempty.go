package callflow

import (
	"hotline/routing/config"
	"hotline/routing/rules"
)

// QueueCall is a call the rules sent to a queue, as the queue's scripts
// see it.
type QueueCall interface {
	KeypadCall
	// Decision is where the rules sent the call.
	Decision() rules.Decision
	// TurnedAway counts a caller the queue turns away because nobody
	// takes its calls, on joining it or waiting in it; joining, d becomes
	// the call's decision (the call never entered the queue).
	TurnedAway(d rules.Decision, joining bool)
}

// QueueEmpty carries out the queue's when_empty policy for a caller it
// turns away because nobody takes its calls: arriving (joining: Join,
// the call never entered the queue and its record says after-hours) or
// waiting when the last agent left (Leave: the call leaves the queue
// like at its maximum wait). refuse plays when_empty.message; after_hours
// runs the queue's after-hours action (message, callback or voicemail; a
// queue action plays when_empty.message).
func QueueEmpty(c QueueCall, joining bool) {
	cur := c.Decision()
	q, _ := c.Routing().QueueByName(cur.Queue)
	policy, when := q.WhenEmpty.Leave, "leave"
	if joining {
		policy, when = q.WhenEmpty.Join, "join"
	}
	d := rules.Decision{Action: config.ActionMessage, Message: q.WhenEmpty.Message, Queue: cur.Queue, Rule: cur.Rule}
	if policy == config.EmptyAfterHours && q.AfterHours.Type != config.ActionQueue {
		d.Action, d.Message = q.AfterHours.Type, q.AfterHours.Message
	}
	c.Log().Info("queue empty: caller turned away", "queue", d.Queue, "when", when, "action", d.Action, "message", d.Message)
	c.TurnedAway(d, joining)
	if joining {
		RunAction(c, d, ErrAfterHours)
		return
	}
	RunAction(c, d, ErrQueueEmpty)
}
