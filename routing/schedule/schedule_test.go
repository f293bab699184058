package schedule_test

import (
	"hotline/routing/config/configtest"
	"hotline/routing/internal/routingtest"
	"hotline/routing/schedule"
	"strings"
	"testing"
	"time"
)

func TestScheduleState(t *testing.T) {
	s, err := schedule.Compile(configtest.OfficeSchedule())
	if err != nil {
		t.Fatal(err)
	}
	hcm, _ := time.LoadLocation("Asia/Ho_Chi_Minh")
	at := func(y int, m time.Month, d, hh, mm int) time.Time { return time.Date(y, m, d, hh, mm, 0, 0, hcm) }
	tests := []struct {
		name string
		t    time.Time
		want schedule.State
	}{
		{"monday morning rush", at(2026, 11, 23, 8, 30), schedule.State{Open: true, Band: "monday-rush"}},
		{"monday 10:00", at(2026, 11, 23, 10, 0), schedule.State{Open: true}},
		{"monday lunch break", at(2026, 11, 23, 12, 30), schedule.State{}},
		{"monday late", at(2026, 11, 23, 16, 0), schedule.State{Open: true, Band: "late"}},
		{"monday 20:00 closed (end exclusive)", at(2026, 11, 23, 20, 0), schedule.State{}},
		{"before opening", at(2026, 11, 25, 7, 59), schedule.State{}},
		{"wednesday no rush band", at(2026, 11, 25, 8, 30), schedule.State{Open: true}},
		{"override closed", at(2026, 11, 24, 10, 0), schedule.State{}},
		{"override short hours", at(2026, 12, 24, 10, 59), schedule.State{Open: true}},
		{"override short hours end", at(2026, 12, 24, 11, 0), schedule.State{}},
		{"holiday", at(2026, 9, 2, 10, 0), schedule.State{}},
		{"saturday", at(2026, 11, 28, 9, 0), schedule.State{Open: true}},
		{"sunday", at(2026, 11, 29, 9, 0), schedule.State{}},
		// 02:00 UTC is 09:00 in Ho Chi Minh City.
		{"other zone input", time.Date(2026, 11, 23, 2, 0, 0, 0, time.UTC), schedule.State{Open: true, Band: "monday-rush"}},
	}
	for _, tt := range tests {
		if got := s.State(tt.t); got != tt.want {
			t.Errorf("%s: schedule.State = %+v, want %+v", tt.name, got, tt.want)
		}
	}
}

func TestScheduleDST(t *testing.T) {
	s, err := schedule.Compile(schedule.Config{Name: "berlin", Zone: "Europe/Berlin",
		Weekly: schedule.WeeklyHours{Sun: []string{"09:00-17:00"}, Mon: []string{"09:00-17:00"}}})
	if err != nil {
		t.Fatal(err)
	}
	// 29 March 2026: clocks go from 02:00 to 03:00; 09:00 local is 07:00 UTC.
	if !s.Open(time.Date(2026, 3, 29, 7, 0, 0, 0, time.UTC)) {
		t.Fatal("closed at 09:00 local on the DST day")
	}
	if s.Open(time.Date(2026, 3, 29, 6, 59, 0, 0, time.UTC)) {
		t.Fatal("open at 08:59 local on the DST day")
	}
}

func TestScheduleValidation(t *testing.T) {
	tests := []struct {
		name  string
		edit  func(*schedule.Config)
		field string
		msg   string
	}{
		{"bad zone", func(s *schedule.Config) { s.Zone = "Mars/Olympus" }, "zone", "not a known IANA time zone"},
		{"no zone", func(s *schedule.Config) { s.Zone = "" }, "zone", "IANA"},
		{"overlap", func(s *schedule.Config) { s.Weekly.Tue = []string{"08:00-12:00", "11:00-13:00"} }, "weekly.tue", "overlap"},
		{"bad time", func(s *schedule.Config) { s.Weekly.Wed = []string{"8h-12:00"} }, "weekly.wed[0]", "not a time of day"},
		{"end before start", func(s *schedule.Config) { s.Weekly.Thu = []string{"18:00-08:00"} }, "weekly.thu[0]", "end must be after the start"},
		{"minutes", func(s *schedule.Config) { s.Weekly.Fri = []string{"08:61-12:00"} }, "weekly.fri[0]", "not a time of day"},
		{"bad holiday", func(s *schedule.Config) { s.Holidays = []string{"2026-13-01"} }, "holidays[0]", "not a date"},
		{"override both", func(s *schedule.Config) {
			s.Overrides = []schedule.OverrideConfig{{Date: "2026-01-01", Closed: true, Hours: []string{"08:00-09:00"}}}
		}, "overrides[0]", "not both"},
		{"override empty", func(s *schedule.Config) { s.Overrides = []schedule.OverrideConfig{{Date: "2026-01-01"}} }, "overrides[0]", "closed: true"},
		{"override twice", func(s *schedule.Config) {
			s.Overrides = append(s.Overrides, schedule.OverrideConfig{Date: "2026-12-24", Closed: true})
		}, "overrides[2].date", "twice"},
		{"band day", func(s *schedule.Config) { s.Bands[1].Days = []string{"monday"} }, "bands[1].days[0]", "not one of"},
		{"band duplicate", func(s *schedule.Config) { s.Bands[1].Name = "late" }, "bands[1].name", "already used"},
		{"band hours", func(s *schedule.Config) { s.Bands[0].Hours = "16:00" }, "bands[0].hours", "not a range"},
	}
	for _, tt := range tests {
		sc := configtest.OfficeSchedule()
		tt.edit(&sc)
		_, err := schedule.Compile(sc)
		msg, ok := routingtest.ErrFields(err)[tt.field]
		if !ok || !strings.Contains(msg, tt.msg) {
			t.Errorf("%s: error %v, want field %s with %q", tt.name, err, tt.field, tt.msg)
		}
	}
}

func TestScheduleNextOpen(t *testing.T) {
	s, err := schedule.Compile(configtest.OfficeSchedule())
	if err != nil {
		t.Fatal(err)
	}
	hcm := s.Location()
	at := func(m time.Month, d, hh, mm int) time.Time { return time.Date(2026, m, d, hh, mm, 0, 0, hcm) }
	quiet := schedule.ParseQuiet([]string{"21:00-08:30"})
	tests := []struct {
		name     string
		from     time.Time
		quiet    []schedule.Span
		want     time.Time
		schedule *schedule.Schedule
	}{
		{"open now", at(11, 23, 9, 0), nil, at(11, 23, 9, 0), s},
		{"lunch break", at(11, 23, 12, 10), nil, at(11, 23, 13, 0), s},
		{"quiet morning", at(11, 25, 0, 0), quiet, at(11, 25, 8, 30), s},
		{"override closed day skipped", at(11, 24, 0, 0), quiet, at(11, 25, 8, 30), s},
		{"saturday evening to monday", at(11, 28, 18, 0), quiet, at(11, 30, 8, 30), s},
		{"no schedule: quiet hours in UTC", time.Date(2026, 11, 28, 22, 0, 0, 0, time.UTC), quiet,
			time.Date(2026, 11, 29, 8, 30, 0, 0, time.UTC), nil},
	}
	for _, tt := range tests {
		got, ok := tt.schedule.NextOpen(tt.from, tt.quiet)
		if !ok || !got.Equal(tt.want) {
			t.Errorf("%s: NextOpen = %v %v, want %v", tt.name, got, ok, tt.want)
		}
	}
	closed, err := schedule.Compile(schedule.Config{Name: "never", Zone: "UTC"})
	if err != nil {
		t.Fatal(err)
	}
	if got, ok := closed.NextOpen(at(11, 23, 9, 0), nil); ok {
		t.Fatalf("never-open schedule gave %v", got)
	}
}
