package routing

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestCallbackStorePersists(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cb", "callbacks.json")
	clk := newTestClock()
	s, err := OpenCallbackStore(path, clk.Now)
	if err != nil {
		t.Fatal(err)
	}
	now := clk.Now()
	a, err := s.Add(Callback{Kind: CallbackQueued, Number: "+84911111111", Queue: "general", Arrived: now.Add(-time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.Add(Callback{Kind: CallbackFollowUp, Number: "+84922222222", Queue: "general", Due: now.Add(24 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if due := s.Due(now); len(due) != 1 || due[0].ID != a.ID {
		t.Fatalf("due now: %+v", due)
	}
	if _, err := s.Claim(a.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Claim(a.ID); !errors.Is(err, ErrNoCallback) {
		t.Fatalf("second claim: %v", err)
	}
	if len(s.Due(now)) != 0 {
		t.Fatal("a claimed callback is still due")
	}

	// Restart: the claim is released, both callbacks are still there.
	s2, err := OpenCallbackStore(path, clk.Now)
	if err != nil {
		t.Fatal(err)
	}
	if got := s2.List(); len(got) != 2 || got[0].ID != a.ID || got[0].Claimed || got[0].Attempts != 1 || got[1].ID != b.ID {
		t.Fatalf("after restart: %+v", got)
	}
	if err := s2.Retry(a.ID, now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if len(s2.Due(now)) != 0 || len(s2.Due(now.Add(24*time.Hour))) != 2 {
		t.Fatal("retry time not honoured")
	}
	if err := s2.Complete(a.ID); err != nil {
		t.Fatal(err)
	}
	if err := s2.Complete(a.ID); !errors.Is(err, ErrNoCallback) {
		t.Fatalf("second complete: %v", err)
	}
	// New ids do not collide with old ones after a restart.
	s3, err := OpenCallbackStore(path, clk.Now)
	if err != nil {
		t.Fatal(err)
	}
	c, err := s3.Add(Callback{Number: "+84933333333"})
	if err != nil {
		t.Fatal(err)
	}
	if c.ID == a.ID || c.ID == b.ID {
		t.Fatalf("id %s reused", c.ID)
	}
	if err := os.WriteFile(path, []byte("{"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenCallbackStore(path, clk.Now); err == nil {
		t.Fatal("corrupt file accepted")
	}
}

func TestFollowUps(t *testing.T) {
	c := careConfig()
	c.Callbacks = CallbackConfig{Queue: "general", QuietHours: []string{"21:00-08:30"}}
	mustValid(t, c)
	r, err := NewRouter(c)
	if err != nil {
		t.Fatal(err)
	}
	f := NewFollowUps(c, r)
	hcm, _ := time.LoadLocation("Asia/Ho_Chi_Minh")
	at := func(m time.Month, d, hh, mm int) time.Time { return time.Date(2026, m, d, hh, mm, 0, 0, hcm) }
	cust := Customer{ID: "C1", Number: "+84912345678"}
	tests := []struct {
		name   string
		ended  time.Time
		cust   Customer
		reason string
		csat   int
		want   time.Time // zero: no follow-up
	}{
		{"satisfied, no complaint", at(11, 25, 10, 0), cust, "order", 5, time.Time{}},
		{"no rating", at(11, 25, 10, 0), cust, "order", 0, time.Time{}},
		{"complaint: next business day, after quiet hours", at(11, 25, 10, 0), cust, "complaint", 0, at(11, 26, 8, 30)},
		{"low rating", at(11, 25, 10, 0), cust, "order", 2, at(11, 26, 8, 30)},
		{"open complaint", at(11, 25, 10, 0), Customer{Number: "+84900000001", History: History{OpenComplaint: true}}, "", 0, at(11, 26, 8, 30)},
		{"friday: saturday morning is open", at(11, 27, 15, 0), cust, "complaint", 0, at(11, 28, 8, 30)},
		{"saturday: sunday closed, monday", at(11, 28, 11, 0), cust, "complaint", 0, at(11, 30, 8, 30)},
		{"the day before an override closing", at(11, 23, 15, 0), cust, "complaint", 1, at(11, 25, 8, 30)},
		{"customer's own quiet hours", at(11, 25, 10, 0), Customer{Number: "+84900000002", QuietHours: "20:00-10:00"}, "complaint", 0, at(11, 26, 10, 0)},
	}
	for _, tt := range tests {
		cb, ok := f.Plan(tt.ended, tt.cust, tt.reason, tt.csat)
		if tt.want.IsZero() {
			if ok {
				t.Errorf("%s: follow-up %+v, want none", tt.name, cb)
			}
			continue
		}
		if !ok || !cb.Due.Equal(tt.want) || cb.Kind != CallbackFollowUp || cb.Queue != "general" || cb.Number != tt.cust.Number {
			t.Errorf("%s: %+v %v, want due %v", tt.name, cb, ok, tt.want)
		}
	}
	// A fixed delay instead of the next business day.
	c.Callbacks.FollowUpDelay = 2 * time.Hour
	f = NewFollowUps(c, r)
	if cb, ok := f.Plan(at(11, 25, 10, 0), cust, "complaint", 0); !ok || !cb.Due.Equal(at(11, 25, 12, 0)) {
		t.Fatalf("2h delay: %+v", cb)
	}
	if cb, ok := f.Plan(at(11, 25, 19, 0), cust, "complaint", 0); !ok || !cb.Due.Equal(at(11, 26, 8, 30)) {
		t.Fatalf("2h delay past closing: %+v", cb)
	}
}
