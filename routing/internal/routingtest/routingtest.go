// Package routingtest holds what the routing packages' tests share: a
// fake clock and a reader of validation errors.
package routingtest

import (
	"sync"
	"time"

	"hotline/internal/cfg"
)

// Clock is a fake clock for the engine tests.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock returns a clock at Monday 23 November 2026, 09:00 UTC.
func NewClock() *Clock {
	// Monday 23 November 2026, 09:00 UTC.
	return &Clock{t: time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)}
}

// Now is the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Add moves the clock forward.
func (c *Clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// Set puts the clock at t.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

// ErrFields lists the fields named by a validation error.
func ErrFields(err error) map[string]string {
	out := map[string]string{}
	for _, fe := range cfg.Fields(err) {
		out[fe.Field] = fe.Msg
	}
	return out
}
