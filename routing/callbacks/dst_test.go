package callbacks

import (
	"testing"
	"time"

	"hotline/routing/config"
	"hotline/routing/config/configtest"
	"hotline/routing/directory"
	"hotline/routing/rules"
	"hotline/routing/schedule"
)

// berlinRouter is a queue open 08:00-20:00 every day in Europe/Berlin
// (a zone with daylight saving time; the example's Asia/Ho_Chi_Minh has
// none) and the default quiet hours 21:00-08:00.
func berlinRouter(t *testing.T) (*config.Config, *rules.Router) {
	t.Helper()
	day := []string{"08:00-20:00"}
	c := configtest.BaseConfig(configtest.Agents("alice")...)
	c.Schedules = []schedule.Config{{Name: "berlin", Zone: "Europe/Berlin", Weekly: schedule.WeeklyHours{
		Mon: day, Tue: day, Wed: day, Thu: day, Fri: day, Sat: day, Sun: day}}}
	c.Queues = []config.QueueDef{{Name: "general", Schedule: "berlin"}}
	c.Rules = []config.RuleConfig{{Name: "all", Queue: "general"}}
	c.Callbacks = config.CallbackConfig{Queue: "general"} // default quiet hours
	configtest.MustValid(t, c)
	if got := c.Callbacks.QuietHours; len(got) != 1 || got[0] != "21:00-08:00" {
		t.Fatalf("default quiet hours %v, want [21:00-08:00]", got)
	}
	r, err := rules.NewRouter(c)
	if err != nil {
		t.Fatal(err)
	}
	return c, r
}

// TestCallbackTimesAcrossDST: on the nights the clocks change (Europe/Berlin
// 2026-03-29 02:00 CET -> 03:00 CEST, 2026-10-25 03:00 CEST -> 02:00 CET),
// on New Year's Eve and at weekends, the callback window and the
// follow-up's "next business day" land on 08:00 local time, whatever the
// UTC offset that day: what the customer sees is a call at 08:00.
func TestCallbackTimesAcrossDST(t *testing.T) {
	c, r := berlinRouter(t)
	w := NewWindow(c, r)
	f := NewFollowUps(c, r)
	utc := func(y int, m time.Month, d, hh, mm int) time.Time { return time.Date(y, m, d, hh, mm, 0, 0, time.UTC) }
	window := []struct {
		name   string
		at     time.Time
		want   time.Time
		wantQO bool // the queue is open at the instant
	}{
		{"spring-forward night 01:30 CET: 08:00 CEST", utc(2026, 3, 29, 0, 30), utc(2026, 3, 29, 6, 0), false},
		{"spring-forward day 07:59 CEST: 08:00 CEST", utc(2026, 3, 29, 5, 59), utc(2026, 3, 29, 6, 0), false},
		{"spring-forward day 08:00 CEST: now", utc(2026, 3, 29, 6, 0), utc(2026, 3, 29, 6, 0), true},
		{"eve of spring-forward, 20:30 CET: next day 08:00 CEST", utc(2026, 3, 28, 19, 30), utc(2026, 3, 29, 6, 0), false},
		{"fall-back night, first 02:30 CEST: 08:00 CET", utc(2026, 10, 25, 0, 30), utc(2026, 10, 25, 7, 0), false},
		{"fall-back night, second 02:30 CET: 08:00 CET", utc(2026, 10, 25, 1, 30), utc(2026, 10, 25, 7, 0), false},
		{"fall-back day 19:59 CET: now", utc(2026, 10, 25, 18, 59), utc(2026, 10, 25, 18, 59), true},
		{"fall-back day 20:00 CET: next day 08:00 CET", utc(2026, 10, 25, 19, 0), utc(2026, 10, 26, 7, 0), false},
		{"saturday 23:30 UTC (sunday 00:30 CET): sunday 08:00", utc(2026, 12, 5, 23, 30), utc(2026, 12, 6, 7, 0), false},
		{"sunday 03:00 UTC: sunday 08:00 CET", utc(2026, 12, 6, 3, 0), utc(2026, 12, 6, 7, 0), false},
		{"new year's eve 23:59 UTC: 1 January 08:00 CET", utc(2026, 12, 31, 23, 59), utc(2027, 1, 1, 7, 0), false},
	}
	for _, tt := range window {
		got, ok := w.Next("general", "", tt.at)
		if !ok || !got.Equal(tt.want) {
			t.Errorf("window, %s: %v %v, want %v", tt.name, got, ok, tt.want)
		}
		if open := r.QueueOpen("general", tt.at); open != tt.wantQO {
			t.Errorf("queue open at %s: %v, want %v", tt.name, open, tt.wantQO)
		}
	}
	cust := directory.Customer{ID: "C1", Number: "+4930123456"}
	follow := []struct {
		name  string
		ended time.Time
		want  time.Time
	}{
		{"call at 23:30 CET before spring-forward: 08:00 CEST next day", utc(2026, 3, 28, 22, 30), utc(2026, 3, 29, 6, 0)},
		{"call at 00:30 CET on the spring-forward day: next day", utc(2026, 3, 28, 23, 30), utc(2026, 3, 30, 6, 0)},
		{"call at 23:30 CEST before fall-back: 08:00 CET next day", utc(2026, 10, 24, 21, 30), utc(2026, 10, 25, 7, 0)},
		{"call in the repeated hour (second 02:30): next day", utc(2026, 10, 25, 1, 30), utc(2026, 10, 26, 7, 0)},
		{"call at 23:30 CET on new year's eve: 1 January", utc(2026, 12, 31, 22, 30), utc(2027, 1, 1, 7, 0)},
	}
	for _, tt := range follow {
		cb, ok := f.Plan(tt.ended, cust, "complaint", 0)
		if !ok || !cb.Due.Equal(tt.want) {
			t.Errorf("follow-up, %s: %+v %v, want due %v", tt.name, cb, ok, tt.want)
		}
	}
}
