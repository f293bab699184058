package callbacks

import (
	"errors"
	"hotline/routing/config/configtest"
	"hotline/routing/directory"
	"hotline/routing/internal/routingtest"
	"hotline/routing/rules"
	"hotline/routing/schedule"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestCallbackStorePersists(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cb", "callbacks.json")
	clk := routingtest.NewClock()
	s, err := OpenStore(path, clk.Now)
	if err != nil {
		t.Fatal(err)
	}
	now := clk.Now()
	a, err := s.Add(Callback{Kind: Queued, Number: "+84911111111", Queue: "general", Arrived: now.Add(-time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.Add(Callback{Kind: FollowUp, Number: "+84922222222", Queue: "general", Due: now.Add(24 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if a.Status != Pending {
		t.Fatalf("new callback status %q", a.Status)
	}
	if due := s.Due(now); len(due) != 1 || due[0].ID != a.ID {
		t.Fatalf("due now: %+v", due)
	}
	if _, err := s.Dialing(a.ID, "x"); !errors.Is(err, ErrNotClaimed) {
		t.Fatalf("dialing an unclaimed callback: %v", err)
	}
	if c, err := s.Claim(a.ID); err != nil || c.Attempts != 0 || !c.Claimed {
		t.Fatalf("claim: %+v %v (a claim is not an attempt)", c, err)
	}
	if _, err := s.Claim(a.ID); !errors.Is(err, ErrNoCallback) {
		t.Fatalf("second claim: %v", err)
	}
	if len(s.Due(now)) != 0 {
		t.Fatal("a claimed callback is still due")
	}
	if c, err := s.Dialing(a.ID, "call-1"); err != nil || c.Attempts != 1 || c.LastCallID != "call-1" || !c.LastAttempt.Equal(now) {
		t.Fatalf("dialing: %+v %v", c, err)
	}

	// Restart while the call is placed (a crash: nothing released it):
	// the claim is released, the attempt is kept, both callbacks are there.
	s2, err := OpenStore(path, clk.Now)
	if err != nil {
		t.Fatal(err)
	}
	if got := s2.List(); len(got) != 2 || got[0].ID != a.ID || got[0].Claimed || got[0].Attempts != 1 ||
		got[0].Status != Pending || got[1].ID != b.ID {
		t.Fatalf("after restart: %+v", got)
	}
	if due := s2.Due(now); len(due) != 1 || due[0].ID != a.ID {
		t.Fatalf("the interrupted callback is not due again: %+v", due)
	}
	if _, err := s2.Claim(a.ID); err != nil {
		t.Fatal(err)
	}
	if err := s2.Retry(a.ID, now.Add(time.Hour), "busy"); err != nil {
		t.Fatal(err)
	}
	if len(s2.Due(now)) != 0 || len(s2.Due(now.Add(24*time.Hour))) != 2 {
		t.Fatal("retry time not honoured")
	}
	if got := s2.List()[0]; got.LastResult != "busy" || got.Claimed {
		t.Fatalf("after retry: %+v", got)
	}
	if err := s2.Complete(a.ID); err != nil {
		t.Fatal(err)
	}
	if err := s2.Complete(a.ID); !errors.Is(err, ErrNoCallback) {
		t.Fatalf("second complete: %v", err)
	}
	if err := s2.Fail(b.ID, "attempts"); err != nil {
		t.Fatal(err)
	}
	for _, op := range []func() error{
		func() error { _, err := s2.Claim(b.ID); return err },
		func() error { return s2.Retry(b.ID, now, "") },
		func() error { return s2.Fail(b.ID, "again") },
	} {
		if err := op(); !errors.Is(err, ErrNoCallback) {
			t.Fatalf("operation on a failed callback: %v", err)
		}
	}
	if len(s2.Due(now.Add(48*time.Hour))) != 0 {
		t.Fatal("a finished callback is due")
	}
	// New ids do not collide with old ones after a restart; finished
	// callbacks stay listed with their status.
	s3, err := OpenStore(path, clk.Now)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]Callback{}
	for _, cb := range s3.List() {
		got[cb.ID] = cb
	}
	if got[a.ID].Status != Completed || got[a.ID].Finished.IsZero() || got[b.ID].Status != Failed || got[b.ID].LastResult != "attempts" {
		t.Fatalf("finished callbacks after restart: %+v", got)
	}
	c, err := s3.Add(Callback{Number: "+84933333333"})
	if err != nil {
		t.Fatal(err)
	}
	if c.ID == a.ID || c.ID == b.ID {
		t.Fatalf("id %s reused", c.ID)
	}
	// A week later the completed one is gone; the failed one stays.
	clk.Add(8 * 24 * time.Hour)
	if _, err := s3.Add(Callback{Number: "+84944444444"}); err != nil {
		t.Fatal(err)
	}
	got = map[string]Callback{}
	for _, cb := range s3.List() {
		got[cb.ID] = cb
	}
	if _, ok := got[a.ID]; ok || got[b.ID].Status != Failed {
		t.Fatalf("a week later: %+v", got)
	}
	if err := os.WriteFile(path, []byte("{"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenStore(path, clk.Now); err == nil {
		t.Fatal("corrupt file accepted")
	}
}

// A file written before callbacks had a status: every callback is pending.
func TestCallbackStoreReadsOldFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "callbacks.json")
	old := `{"seq": 3, "callbacks": [{"id": "cb-3", "kind": "queued", "number": "+84911111111", "queue": "general",
	  "due": "2026-11-23T08:00:00Z", "arrived": "2026-11-23T08:00:00Z", "attempts": 1, "claimed": true}]}`
	if err := os.WriteFile(path, []byte(old), 0o644); err != nil {
		t.Fatal(err)
	}
	clk := routingtest.NewClock()
	s, err := OpenStore(path, clk.Now)
	if err != nil {
		t.Fatal(err)
	}
	if due := s.Due(clk.Now()); len(due) != 1 || due[0].Status != Pending || due[0].Claimed || due[0].Attempts != 1 {
		t.Fatalf("due: %+v", due)
	}
}

// The window: the callback schedule (else the queue's) must be open and
// the customer outside quiet hours (their own, else the configured ones).
func TestCallbackWindow(t *testing.T) {
	c, r := careRouter(t)
	w := NewWindow(c, r)
	hcm, _ := time.LoadLocation("Asia/Ho_Chi_Minh")
	at := func(m time.Month, d, hh, mm int) time.Time { return time.Date(2026, m, d, hh, mm, 0, 0, hcm) }
	tests := []struct {
		name, queue, quiet string
		t, want            time.Time
	}{
		{"open, not quiet: now", "general", "", at(11, 25, 10, 0), at(11, 25, 10, 0)},
		{"open but quiet (08:00-08:30)", "general", "", at(11, 25, 8, 5), at(11, 25, 8, 30)},
		{"closed (evening): next morning after quiet hours", "general", "", at(11, 25, 20, 30), at(11, 26, 8, 30)},
		{"customer's own quiet hours", "general", "20:00-10:00", at(11, 25, 9, 0), at(11, 25, 10, 0)},
		{"customer's quiet hours end after closing", "general", "12:00-23:00", at(11, 28, 11, 0), at(11, 28, 11, 0)},
		{"saturday afternoon: monday", "general", "", at(11, 28, 13, 0), at(11, 30, 8, 30)},
		{"queue without schedule: only quiet hours (UTC)", "oncall", "", time.Date(2026, 11, 25, 23, 0, 0, 0, time.UTC), time.Date(2026, 11, 26, 8, 30, 0, 0, time.UTC)},
	}
	for _, tt := range tests {
		got, ok := w.Next(tt.queue, tt.quiet, tt.t)
		if !ok || !got.Equal(tt.want) {
			t.Errorf("%s: %v %v, want %v", tt.name, got, ok, tt.want)
		}
	}
	// callbacks.schedule overrides the queue's; a schedule never open
	// gives no time at all.
	c.Schedules = append(c.Schedules, schedule.Config{Name: "never", Zone: "UTC"})
	c.Callbacks.Schedule = "never"
	configtest.MustValid(t, c)
	r, err := rules.NewRouter(c)
	if err != nil {
		t.Fatal(err)
	}
	if got, ok := NewWindow(c, r).Next("general", "", at(11, 25, 10, 0)); ok {
		t.Errorf("a schedule never open gave %v", got)
	}
}

func TestFollowUps(t *testing.T) {
	c, r := careRouter(t)
	f := NewFollowUps(c, r)
	hcm, _ := time.LoadLocation("Asia/Ho_Chi_Minh")
	at := func(m time.Month, d, hh, mm int) time.Time { return time.Date(2026, m, d, hh, mm, 0, 0, hcm) }
	cust := directory.Customer{ID: "C1", Number: "+84912345678"}
	tests := []struct {
		name   string
		ended  time.Time
		cust   directory.Customer
		reason string
		csat   int
		want   time.Time // zero: no follow-up
	}{
		{"satisfied, no complaint", at(11, 25, 10, 0), cust, "order", 5, time.Time{}},
		{"no rating", at(11, 25, 10, 0), cust, "order", 0, time.Time{}},
		{"complaint: next business day, after quiet hours", at(11, 25, 10, 0), cust, "complaint", 0, at(11, 26, 8, 30)},
		{"low rating", at(11, 25, 10, 0), cust, "order", 2, at(11, 26, 8, 30)},
		{"open complaint", at(11, 25, 10, 0), directory.Customer{Number: "+84900000001", History: directory.History{OpenComplaint: true}}, "", 0, at(11, 26, 8, 30)},
		{"friday: saturday morning is open", at(11, 27, 15, 0), cust, "complaint", 0, at(11, 28, 8, 30)},
		{"saturday: sunday closed, monday", at(11, 28, 11, 0), cust, "complaint", 0, at(11, 30, 8, 30)},
		{"the day before an override closing", at(11, 23, 15, 0), cust, "complaint", 1, at(11, 25, 8, 30)},
		{"customer's own quiet hours", at(11, 25, 10, 0), directory.Customer{Number: "+84900000002", QuietHours: "20:00-10:00"}, "complaint", 0, at(11, 26, 10, 0)},
	}
	for _, tt := range tests {
		cb, ok := f.Plan(tt.ended, tt.cust, tt.reason, tt.csat)
		if tt.want.IsZero() {
			if ok {
				t.Errorf("%s: follow-up %+v, want none", tt.name, cb)
			}
			continue
		}
		if !ok || !cb.Due.Equal(tt.want) || cb.Kind != FollowUp || cb.Queue != "general" || cb.Number != tt.cust.Number {
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

// Every change of a callback is reported, with what happened, in order.
func TestStoreOnChange(t *testing.T) {
	s, err := OpenStore("", nil)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	s.OnChange(func(cb Callback, change string) { got = append(got, cb.ID+" "+change+" "+cb.Status) })
	cb, err := s.Add(Callback{Kind: Queued, Number: "+8490", Queue: "q"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Claim(cb.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Dialing(cb.ID, "call-1"); err != nil {
		t.Fatal(err)
	}
	if err := s.Retry(cb.ID, time.Now(), "busy"); err != nil {
		t.Fatal(err)
	}
	if err := s.Fail(cb.ID, "gave up"); err != nil {
		t.Fatal(err)
	}
	cb2, _ := s.Add(Callback{Kind: FollowUp, Number: "+8491", Queue: "q"})
	_, _ = s.Claim(cb2.ID)
	if err := s.Complete(cb2.ID); err != nil {
		t.Fatal(err)
	}
	want := cb.ID + " added pending," + cb.ID + " claimed pending," + cb.ID + " dialing pending," + cb.ID + " retry pending," +
		cb.ID + " failed failed," + cb2.ID + " added pending," + cb2.ID + " claimed pending," + cb2.ID + " completed completed"
	if strings.Join(got, ",") != want {
		t.Fatalf("changes:\n%s\nwant\n%s", strings.Join(got, ","), want)
	}
}

// A customer's complaint is open while a follow-up callback for it is
// pending: not once it is done, not for a low rating's follow-up, not for
// another number.
func TestOpenComplaint(t *testing.T) {
	cbs := []Callback{
		{Number: "+84900000001", Kind: FollowUp, Status: Pending, Reason: ReasonComplaint},
		{Number: "+84900000002", Kind: FollowUp, Status: Completed, Reason: ReasonComplaint},
		{Number: "+84900000003", Kind: FollowUp, Status: Pending, Reason: "low rating"},
		{Number: "+84900000004", Kind: Queued, Status: Pending, Reason: ReasonComplaint},
	}
	for number, want := range map[string]bool{"+84900000001": true, "+84900000002": false, "+84900000003": false,
		"+84900000004": false, "+84900000005": false, "": false} {
		if got := OpenComplaint(cbs, number); got != want {
			t.Errorf("OpenComplaint(%q) = %v, want %v", number, got, want)
		}
	}
}
