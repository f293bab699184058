package callflow

import (
	"errors"
	"testing"

	"hotline/audio"
	"hotline/routing/config"
	"hotline/routing/rules"
)

// TestRunAfterHours: a call the rules send to an after-hours action gets
// it (answered, the message played) and never enters the queue.
func TestRunAfterHours(t *testing.T) {
	c := newInbound(t, "alice")
	c.prompts = map[string]*audio.Clip{"closed": clip(t, 800)}
	c.decision = rules.Decision{Action: config.ActionMessage, Message: "closed"}
	Run(c)
	if !c.answered || !equal(c.kinds(), []string{"clip"}) || !errors.Is(c.cause(), ErrAfterHours) {
		t.Errorf("answered %v, played %v, cause %v; want answered, the message, after-hours", c.answered, c.kinds(), c.cause())
	}
	if len(c.queued) != 0 || c.offered != 0 || len(c.connected) != 0 {
		t.Errorf("queued %v, offered %d, connected %v: an after-hours call entered the queue", c.queued, c.offered, c.connected)
	}
}

// TestRunQueue: a call the rules send to a queue (no keypad questions
// configured) is queued, offered and bridged to the free agent.
func TestRunQueue(t *testing.T) {
	c := newInbound(t, "alice")
	done := make(chan struct{})
	go func() {
		defer close(done)
		Run(c)
	}()
	c.waitBridged(t, "alice")
	close(c.agentGone)
	waitDone(t, done)
	if !errors.Is(c.cause(), ErrAgentHangup) || c.offered != 1 || len(c.queued) == 0 || !c.connectedTo("alice") {
		t.Errorf("cause %v, offered %d, queued %v; want alice bridged and the call offered once", c.cause(), c.offered, c.queued)
	}
}
