package main

// Hotline at fixed, awkward instants (a Saturday night, a Sunday, lunch
// time, New Year's Eve, a holiday) on the example configuration: what a
// supervisor sees on the wallboard (is the queue open?) and in the
// callback list (when will the customer be called?). Hotline's clock is
// injected, so these tests give the same answers whenever they run.

import (
	"strings"
	"testing"
	"time"

	"hotline/api"
	"hotline/metrics"
	"hotline/routing/config"
	"hotline/routing/config/configtest"
	"hotline/sip"
)

// fixedClock reads at when Hotline starts and runs on from there.
func fixedClock(at time.Time) func() time.Time {
	t0 := time.Now()
	return func() time.Time { return at.Add(time.Since(t0)) }
}

// retryDelay is sip.outbound.retry_delay in these tests: a callback the
// dialer took while nobody could answer it is due again this much later,
// a time no schedule boundary has.
const retryDelay = 7 * time.Minute

// instantApp starts Hotline at the instant at with the dialer on (its
// gateway a loopback port nobody answers: with no agent logged in nobody
// is called anyway); engine adds the example's routing engine.
func instantApp(t *testing.T, at time.Time, engine bool, mutate func(c *Config)) *testApp {
	t.Helper()
	var e config.Config
	if engine {
		e = configtest.ExampleEngine(t, "../../deploy/hotline.example.yaml")
	}
	return startAppClock(t, func(c *Config) {
		if engine {
			c.Schedules, c.Queues, c.Rules = e.Schedules, e.Queues, e.Rules
			file := c.Callbacks.File
			c.Callbacks = e.Callbacks
			c.Callbacks.File = file // in memory (startAppClock)
			for i := range c.Agents {
				c.Agents[i].Skills = map[string]int{"complaints": 4}
				c.Agents[i].Queues = []string{"general", "complaints"}
			}
		}
		c.SIP.Outbound = sip.Outbound{Gateway: "127.0.0.1:9", From: "1900", Interval: 100 * time.Millisecond, RingTimeout: 5 * time.Second,
			RetryDelay: retryDelay}
		if mutate != nil {
			mutate(c)
		}
		c.SIP.SetDefaults()
		c.Config.SetDefaults()
		if err := c.SIP.Validate(); err != nil {
			t.Fatal(err)
		}
		if err := c.Config.Validate(); err != nil {
			t.Fatal(err)
		}
	}, fixedClock(at))
}

// queueOpen reads hotline_queue_open{queue} as the metrics endpoint
// exports it.
func queueOpen(t *testing.T, a *testApp, queue string) float64 {
	t.Helper()
	mfs, err := a.metrics.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != metrics.NameQueueOpen {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "queue" && l.GetValue() == queue {
					return m.GetGauge().GetValue()
				}
			}
		}
	}
	t.Fatalf("no %s{queue=%q}", metrics.NameQueueOpen, queue)
	return 0
}

// callbackAt asks for a callback through the API, as a supervisor does,
// and waits for the dialer's decision, listed in GET /api/v1/callbacks:
// postponed to the calling hours (not claimed, due then), or tried at
// once: claimed and waiting in the queue for an agent, or, where the
// queue takes no calls while nobody is logged in, released and due
// retryDelay later.
func callbackAt(t *testing.T, a *testApp, queue string) (cb api.Callback, tried bool) {
	t.Helper()
	body := `{"number": "+84912000111", "queue": "` + queue + `", "reason": "clock test"}`
	if code := httpJSON(t, "POST", a.apiURL("/api/v1/callbacks"), body, &cb); code != 200 || cb.ID == "" {
		t.Fatalf("POST /api/v1/callbacks: %d %+v", code, cb)
	}
	created := cb.Due
	queued := func() bool { return strings.Contains(a.logs.String(), `msg="callback queued"`) }
	cb = waitCallback(t, a, "postponed or tried", func(c api.Callback) bool {
		return c.ID == cb.ID && (!c.Claimed && c.Due.After(created) || c.Claimed && queued())
	})
	logs := a.logs.String()
	postponed := strings.Contains(logs, "callback postponed to the calling hours")
	tried = queued() || strings.Contains(logs, `msg="callback released"`) && strings.Contains(logs, "nobody takes the queue's calls")
	if postponed == tried {
		t.Fatalf("the dialer's decision is unclear (postponed %v, tried %v): %+v", postponed, tried, cb)
	}
	if cb.Attempts != 0 || cb.Status != "pending" {
		t.Errorf("callback %+v, want pending with no attempt", cb)
	}
	return cb, tried
}

// takenAt says whether the callback was taken at once at at: waiting in
// the queue, due then, or tried and due again retryDelay later.
func takenAt(cb api.Callback, tried bool, at time.Time) bool {
	d := cb.Due.Sub(at)
	return tried && (cb.Claimed && d >= 0 && d < time.Minute || !cb.Claimed && d >= retryDelay && d < retryDelay+time.Minute)
}

// TestClockExampleEngineAtInstants: with the example's office schedule
// (Asia/Ho_Chi_Minh, which has no daylight saving time: mon 08-12 and
// 13-20, tue-fri 08-20, sat 08-12, closed on 2026-09-02 and 2026-12-31,
// 08-12 on 2026-12-24) and quiet hours 21:00-08:00, the queue's state and
// the time an API callback is called are those of the local calendar,
// at any instant.
func TestClockExampleEngineAtInstants(t *testing.T) {
	utc := func(y int, m time.Month, d, hh, mm int) time.Time { return time.Date(y, m, d, hh, mm, 0, 0, time.UTC) }
	for _, tt := range []struct {
		name string
		at   time.Time
		open bool
		due  time.Time // zero: called now (claimed at once)
	}{
		{"saturday 23:30 UTC = sunday 06:30: monday 08:00", utc(2026, 12, 5, 23, 30), false, utc(2026, 12, 7, 1, 0)},
		{"sunday 03:00 UTC = sunday 10:00: monday 08:00", utc(2026, 12, 6, 3, 0), false, utc(2026, 12, 7, 1, 0)},
		{"saturday 09:00: now", utc(2026, 12, 5, 2, 0), true, time.Time{}},
		{"monday lunch 12:30: 13:00", utc(2026, 12, 7, 5, 30), false, utc(2026, 12, 7, 6, 0)},
		{"friday 20:30: saturday 08:00", utc(2026, 12, 4, 13, 30), false, utc(2026, 12, 5, 1, 0)},
		{"24 December 13:00 (mornings only): 25 December 08:00", utc(2026, 12, 24, 6, 0), false, utc(2026, 12, 25, 1, 0)},
		{"31 December (closed): 1 January 2027 08:00", utc(2026, 12, 31, 2, 0), false, utc(2027, 1, 1, 1, 0)},
		{"new year's eve 23:59 UTC = 1 January 06:59: 08:00", utc(2026, 12, 31, 23, 59), false, utc(2027, 1, 1, 1, 0)},
		{"holiday 2 September: 3 September 08:00", utc(2026, 9, 2, 3, 0), false, utc(2026, 9, 3, 1, 0)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			a := instantApp(t, tt.at, true, nil)
			want := 0.0
			if tt.open {
				want = 1
			}
			if got := queueOpen(t, a, "general"); got != want {
				t.Errorf("hotline_queue_open{queue=general} = %v, want %v", got, want)
			}
			cb, tried := callbackAt(t, a, "general")
			if tt.due.IsZero() {
				if !takenAt(cb, tried, tt.at) {
					t.Errorf("callback %+v (tried %v), want it taken at once", cb, tried)
				}
				return
			}
			if tried || !cb.Due.Equal(tt.due) {
				t.Errorf("callback %+v (tried %v), want it postponed to %v", cb, tried, tt.due)
			}
		})
	}
}

// TestClockDefaultQuietHours: the example configuration as shipped (no
// schedule: always open) still keeps callbacks out of the default quiet
// hours (21:00-08:00 UTC): at 23:00 UTC, when CI once ran the cluster's
// callback tests, a callback waits until 08:00; with quiet_hours: [] (the
// tests' setting) it is taken at once, as at 10:00.
func TestClockDefaultQuietHours(t *testing.T) {
	night := time.Date(2026, 12, 5, 23, 0, 0, 0, time.UTC) // saturday
	a := instantApp(t, night, false, nil)
	if got := queueOpen(t, a, config.DefaultQueueName); got != 1 {
		t.Errorf("the default queue at 23:00: open %v, want 1 (no schedule)", got)
	}
	if cb, tried := callbackAt(t, a, config.DefaultQueueName); tried || !cb.Due.Equal(time.Date(2026, 12, 6, 8, 0, 0, 0, time.UTC)) {
		t.Errorf("callback at 23:00 UTC: %+v (tried %v), want it postponed to 08:00 UTC", cb, tried)
	}
	none := instantApp(t, night, false, func(c *Config) { c.Callbacks.QuietHours = []string{} })
	if cb, tried := callbackAt(t, none, config.DefaultQueueName); !takenAt(cb, tried, night) {
		t.Errorf("callback at 23:00 UTC without quiet hours: %+v (tried %v), want it taken at once", cb, tried)
	}
	morning := time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC)
	day := instantApp(t, morning, false, nil)
	if cb, tried := callbackAt(t, day, config.DefaultQueueName); !takenAt(cb, tried, morning) {
		t.Errorf("callback at 10:00 UTC: %+v (tried %v), want it taken at once", cb, tried)
	}
}
