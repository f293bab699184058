package metrics

import (
	"testing"
	"time"
)

// TestHourLabelOnDSTNights: a survey answered at fixed instants around the
// clock changes of a zone with daylight saving time is counted under the
// local hour and weekday a supervisor reads on the wall clock: both
// 02:30s of the fall-back night are hour 2 (two answers), the skipped hour
// of the spring-forward night never appears (01:30 CET, then 03:30 CEST),
// and Saturday 23:30 UTC is already Sunday.
func TestHourLabelOnDSTNights(t *testing.T) {
	loc, err := (&Config{TimeZone: "Europe/Berlin"}).Location()
	if err != nil {
		t.Fatal(err)
	}
	m := newTest(t, Options{Location: loc})
	for _, at := range []time.Time{
		time.Date(2026, 3, 29, 0, 30, 0, 0, time.UTC),   // 01:30 CET, sunday
		time.Date(2026, 3, 29, 1, 30, 0, 0, time.UTC),   // 03:30 CEST
		time.Date(2026, 10, 25, 0, 30, 0, 0, time.UTC),  // 02:30 CEST, sunday
		time.Date(2026, 10, 25, 1, 30, 0, 0, time.UTC),  // 02:30 CET
		time.Date(2026, 12, 5, 23, 30, 0, 0, time.UTC),  // saturday 23:30 UTC: sunday 00:30 CET
		time.Date(2026, 12, 31, 23, 30, 0, 0, time.UTC), // new year's eve 23:30 UTC: friday 00:30 CET
	} {
		m.CSAT(Call{ID: "x", Queue: "1900", Arrived: at}, time.Minute, 4)
	}
	got := map[[2]string]float64{}
	for _, s := range find(t, m, NameCSAT) {
		var hour, weekday string
		for _, lp := range s.GetLabel() {
			switch lp.GetName() {
			case "hour":
				hour = lp.GetValue()
			case "weekday":
				weekday = lp.GetValue()
			}
		}
		got[[2]string{hour, weekday}] += float64(s.GetHistogram().GetSampleCount())
	}
	want := map[[2]string]float64{{"1", "sun"}: 1, {"3", "sun"}: 1, {"2", "sun"}: 2, {"0", "sun"}: 1, {"0", "fri"}: 1}
	if len(got) != len(want) {
		t.Errorf("CSAT answers by (hour, weekday) %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("CSAT answers at hour %s on %s: %v, want %v (all: %v)", k[0], k[1], got[k], v, got)
		}
	}
}
