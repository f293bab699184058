package records_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"hotline/records"
)

// TestFileDefaultRangeFollowsClock: a query without "from" and "to" reads
// the look_back_days before the store's clock (here just after midnight in
// Berlin on the night the clocks go forward, 23:30 UTC the day before), not
// before the real time: the days in range answer, older and later ones do
// not.
func TestFileDefaultRangeFollowsClock(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	clock := time.Date(2026, 3, 29, 0, 30, 0, 0, berlin)
	c := fileConfig(t)
	c.File.LookBackDays = 2
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := records.Open(ctx, c, records.Options{Log: testLog(t), Now: func() time.Time { return clock }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })

	for id, arrived := range map[string]time.Time{
		"too-old":      time.Date(2026, 3, 26, 22, 0, 0, 0, time.UTC),
		"two-days-ago": time.Date(2026, 3, 27, 1, 0, 0, 0, time.UTC),
		"just-now":     time.Date(2026, 3, 29, 0, 10, 0, 0, berlin), // 23:10 UTC on the 28th
		"day-after":    time.Date(2026, 3, 30, 12, 0, 0, 0, time.UTC),
	} {
		s.Call(records.Call{CallID: id, Direction: "inbound", Hotline: "1900", Arrived: arrived, Ended: arrived.Add(time.Minute)})
	}
	flush(t, s)

	p, err := s.Calls(ctx, records.CallQuery{})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, c := range p.Calls {
		got = append(got, c.CallID)
	}
	if want := []string{"just-now", "two-days-ago"}; !slices.Equal(got, want) {
		t.Errorf("calls without from and to at %s: %v, want %v (look_back_days 2 before the store's clock)", clock, got, want)
	}
}
