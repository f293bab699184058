package callflow

import (
	"errors"
	"testing"
	"time"

	"hotline/audio"
	"hotline/routing/config"
	"hotline/routing/rules"
)

// fakeQueueCall is a call sent to a queue.
type fakeQueueCall struct {
	*fakeKeypadCall
	decision rules.Decision
	away     []rules.Decision
	joining  []bool
}

func (c *fakeQueueCall) Decision() rules.Decision { return c.decision }
func (c *fakeQueueCall) TurnedAway(d rules.Decision, joining bool) {
	c.away, c.joining = append(c.away, d), append(c.joining, joining)
}

// TestQueueEmpty: an empty queue turns a joining caller away with its
// when_empty.join policy (the queue's after-hours action for
// after_hours) and a waiting one with its leave policy (the message).
func TestQueueEmpty(t *testing.T) {
	rc := &config.Config{Queues: []config.QueueDef{{Name: "sales",
		WhenEmpty:  config.EmptyPolicy{Join: config.EmptyAfterHours, Leave: config.EmptyRefuse, Message: "nobody"},
		AfterHours: config.ActionConfig{Type: config.ActionVoicemail, Message: "closed"}}}}
	newCall := func() *fakeQueueCall {
		ac := newActionCall(map[string]*audio.Clip{"nobody": clip(t, 800), "closed": clip(t, 800)})
		ac.record, ac.max = true, 10*time.Millisecond
		return &fakeQueueCall{fakeKeypadCall: &fakeKeypadCall{fakeActionCall: ac, routing: rc},
			decision: rules.Decision{Action: config.ActionQueue, Queue: "sales", Rule: "r1"}}
	}
	c := newCall()
	QueueEmpty(c, true)
	if len(c.away) != 1 || !c.joining[0] || c.away[0].Action != config.ActionVoicemail || c.away[0].Rule != "r1" ||
		len(c.recorded) != 1 || !errors.Is(c.cause(), ErrAfterHours) {
		t.Errorf("joining: turned away %+v, recorded %v, cause %v; want the voicemail, after-hours", c.away, c.recorded, c.cause())
	}
	c = newCall()
	QueueEmpty(c, false)
	if len(c.away) != 1 || c.joining[0] || c.away[0].Action != config.ActionMessage || c.away[0].Message != "nobody" ||
		len(c.recorded) != 0 || !errors.Is(c.cause(), ErrQueueEmpty) {
		t.Errorf("waiting: turned away %+v, cause %v; want the message, queue empty", c.away, c.cause())
	}
}
