package callbacks

import (
	"testing"
	"time"

	"hotline/routing/config"
	"hotline/routing/config/configtest"
	"hotline/routing/directory"
	"hotline/routing/rules"
)

// careRouter is the care configuration with follow-ups in the general
// queue and quiet hours 21:00-08:30, and its router.
func careRouter(t *testing.T) (*config.Config, *rules.Router) {
	t.Helper()
	c := configtest.CareConfig()
	c.Callbacks = config.CallbackConfig{Queue: "general", QuietHours: []string{"21:00-08:30"}}
	configtest.MustValid(t, c)
	r, err := rules.NewRouter(c)
	if err != nil {
		t.Fatal(err)
	}
	return c, r
}

func newPolicy(t *testing.T) *Policy {
	return NewPolicy(careRouter(t))
}

// A caller who asked for a callback after hours is called when their
// queue's schedule next opens, keeping their arrival as their place.
func TestPolicyAfterHours(t *testing.T) {
	p := newPolicy(t)
	hcm, _ := time.LoadLocation("Asia/Ho_Chi_Minh")
	at := func(m time.Month, d, hh, mm int) time.Time { return time.Date(2026, m, d, hh, mm, 0, 0, hcm) }
	cust := directory.Customer{ID: "C1", Number: "+84912345678"}
	tests := []struct {
		name  string
		queue string
		at    time.Time
		want  time.Time
	}{
		{"closed evening: next opening", "general", at(11, 25, 21, 0), at(11, 26, 8, 0)},
		{"saturday afternoon: monday", "general", at(11, 28, 13, 0), at(11, 30, 8, 0)},
		{"queue without schedule: now", "oncall", at(11, 25, 21, 0), at(11, 25, 21, 0)},
	}
	for _, tt := range tests {
		cb := p.AfterHours(tt.at, cust, rules.Decision{Action: config.ActionCallback, Queue: tt.queue, Priority: 7})
		if !cb.Due.Equal(tt.want) || !cb.Arrived.Equal(tt.at) || cb.Kind != Queued || cb.Queue != tt.queue ||
			cb.Priority != 7 || cb.Number != cust.Number || cb.CustomerID != cust.ID || cb.Reason != "after hours" {
			t.Errorf("%s: %+v, want due %v", tt.name, cb, tt.want)
		}
	}
}

// A finished call is followed up after a complaint an agent handled or a
// low rating, never when it was itself a callback.
func TestPolicyFollowUp(t *testing.T) {
	p := newPolicy(t)
	hcm, _ := time.LoadLocation("Asia/Ho_Chi_Minh")
	ended := time.Date(2026, 11, 25, 10, 0, 0, 0, hcm)
	next := time.Date(2026, 11, 26, 8, 30, 0, 0, hcm)
	cust := directory.Customer{ID: "C1", Number: "+84912345678"}
	tests := []struct {
		name   string
		e      Ended
		reason string // "" : no follow-up
	}{
		{"complaint answered", Ended{At: ended, Customer: cust, Reason: "complaint", Answered: true}, "complaint"},
		{"complaint abandoned", Ended{At: ended, Customer: cust, Reason: "complaint"}, ""},
		{"low rating", Ended{At: ended, Customer: cust, Reason: "order", Answered: true, CSAT: 1}, "low rating 1"},
		{"good rating", Ended{At: ended, Customer: cust, Reason: "order", Answered: true, CSAT: 5}, ""},
		{"callback with a low rating", Ended{At: ended, Customer: cust, Answered: true, Callback: true, CSAT: 1}, ""},
	}
	for _, tt := range tests {
		cb, ok := p.FollowUp(tt.e)
		if tt.reason == "" {
			if ok {
				t.Errorf("%s: follow-up %+v, want none", tt.name, cb)
			}
			continue
		}
		if !ok || cb.Kind != FollowUp || cb.Reason != tt.reason || !cb.Due.Equal(next) || cb.Number != cust.Number {
			t.Errorf("%s: %+v %v, want a follow-up (%s) due %v", tt.name, cb, ok, tt.reason, next)
		}
	}
}
