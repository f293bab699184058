package main

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"hotline/internal/e2e"
	"hotline/internal/pgtest"
	"hotline/metrics"
	"hotline/records"
	"hotline/routing/config"
)

// supervisorHz is what the supervisor's phone sends.
const supervisorHz = 1700.0

// Tone levels (e2e.ToneLevel) telling a tone heard from one not heard.
const (
	toneHeard    = 0.1  // the phones send at about 0.4-0.5
	toneNotHeard = 0.01 // what must not be heard measures below 0.001
)

// TestE2ESupervisorListensWhispersBarges: a baresip caller talks to a
// baresip agent (alice); sue, a supervisor on a third baresip, dials
// *31alice#, then presses 5 (whisper) and 6 (barge). Each phone sends its
// own tone; what each phone received proves who heard whom: in listen
// only sue hears the others; in whisper alice hears sue, the caller does
// not; in barge everyone hears everyone. When the caller hangs up, sue's
// call ends too. Bob, an agent who is not a supervisor, is refused.
func TestE2ESupervisorListensWhispersBarges(t *testing.T) {
	skipShort(t)
	a, caller, agent, callerStart, agentStart := callToMonitor(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	// An agent who is not a supervisor is refused (and the call goes on).
	bob := startAgent(t, a, "bob", e2e.BaresipOptions{})
	if err := bob.Dial(ctx, "sip:*31alice%23@"+a.sipAddr("udp")); err != nil {
		t.Fatal(err)
	}
	if ev, err := bob.WaitEvent(ctx, e2e.EventCallClosed); err != nil || !strings.Contains(ev.Param, "403") {
		t.Errorf("bob monitoring alice: call closed with %q (%v), want 403 Not A Supervisor", ev.Param, err)
	}

	// Sue registers once alice has the call (she answers calls too).
	sue := startAgent(t, a, "sue", e2e.BaresipOptions{ToneHz: supervisorHz, Record: true})
	if err := sue.Dial(ctx, "sip:*31alice%23@"+a.sipAddr("udp")); err != nil {
		t.Fatal(err)
	}
	if _, err := sue.WaitEvent(ctx, e2e.EventCallEstablished); err != nil {
		t.Fatalf("supervisor not connected: %v", err)
	}
	sueStart := time.Now()
	const phase = 3 * time.Second
	time.Sleep(phase)
	whisperAt := time.Now()
	if _, err := sue.Command(ctx, "sndcode", "5"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(phase)
	bargeAt := time.Now()
	if _, err := sue.Command(ctx, "sndcode", "6"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(phase)
	end := time.Now()
	if err := caller.Hangup(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := sue.WaitEvent(ctx, e2e.EventCallClosed); err != nil {
		t.Fatalf("the supervisor's call did not end with the call: %v", err)
	}
	for _, b := range []*e2e.Baresip{agent, caller} {
		if _, err := b.WaitEvent(ctx, e2e.EventCallClosed); err != nil {
			t.Fatal(err)
		}
	}
	waitIdle(t, a)
	// The stored record (file backend) lists sue's session: by the
	// feature code, listen then whisper then barge, ending with the call.
	m := monitoredRecord(t, a)
	if m.Supervisor != "sue" || m.Agent != "alice" || m.Via != "code" || modesOf(m) != "listen whisper barge" ||
		m.Start.Before(sueStart.Add(-2*time.Second)) || m.Start.After(sueStart) ||
		m.Modes[1].At.Before(whisperAt) || m.Modes[1].At.After(bargeAt) || m.Modes[2].At.Before(bargeAt) || m.Modes[2].At.After(end) ||
		m.End.Before(end) {
		t.Errorf("stored monitoring %+v, want sue on alice by code, listen, whisper at %v, barge at %v, ending after %v",
			m, whisperAt, bargeAt, end)
	}
	// Metrics: one session, started in listen; it entered whisper and
	// barge once each and spent time in each mode.
	for _, c := range []struct {
		name, mode string
		want       float64
	}{
		{metrics.NameMonitorSessions, "listen", 1}, {metrics.NameMonitorSessions, "barge", 0},
		{metrics.NameMonitorModes, "listen", 1}, {metrics.NameMonitorModes, "whisper", 1}, {metrics.NameMonitorModes, "barge", 1},
	} {
		if got := a.metric(t, c.name, map[string]string{"mode": c.mode}); got != c.want {
			t.Errorf("%s{mode=%q} = %v, want %v", c.name, c.mode, got, c.want)
		}
	}
	for _, mode := range []string{"listen", "whisper", "barge"} {
		if got := a.metric(t, metrics.NameMonitorTime, map[string]string{"mode": mode}); got < 2 || got > 5 {
			t.Errorf("%s{mode=%q} = %v, want about 3 s", metrics.NameMonitorTime, mode, got)
		}
	}

	names := map[float64]string{callerHz: "the caller", agentHz: "the agent", supervisorHz: "the supervisor"}
	check := func(t *testing.T, who string, b *e2e.Baresip, start time.Time, from, to time.Time, want map[float64]bool) {
		t.Helper()
		wavs := b.ReceivedWAVs()
		if len(wavs) == 0 {
			t.Fatalf("%s recorded nothing", who)
		}
		s, rate, err := e2e.ReadWAV(wavs[len(wavs)-1])
		if err != nil {
			t.Fatal(err)
		}
		// A phone's recording may end a little before the call does.
		i, j := int(from.Sub(start).Seconds()*float64(rate)), min(int(to.Sub(start).Seconds()*float64(rate)), len(s))
		if i < 0 || j-i < rate/2 {
			t.Fatalf("%s's recording (%d samples) has no [%d, %d)", who, len(s), i, j)
		}
		for f, heard := range want {
			lvl := e2e.ToneLevel(s[i:j], rate, f)
			switch {
			case heard && lvl < toneHeard:
				t.Errorf("%s does not hear %s between %s and %s (level %.4f)", who, names[f], from.Sub(sueStart).Round(time.Millisecond), to.Sub(sueStart).Round(time.Millisecond), lvl)
			case !heard && lvl > toneNotHeard:
				t.Errorf("%s hears %s between %s and %s (level %.4f)", who, names[f], from.Sub(sueStart).Round(time.Millisecond), to.Sub(sueStart).Round(time.Millisecond), lvl)
			}
			t.Logf("%s, %s: %s level %.4f", who, fmt.Sprint(from.Sub(sueStart).Round(100*time.Millisecond)), names[f], lvl)
		}
	}
	settle, margin := 800*time.Millisecond, 300*time.Millisecond
	for _, p := range []struct {
		mode                   string
		from, to               time.Time
		callerHears, agentHear map[float64]bool
	}{
		{"listen", sueStart.Add(settle), whisperAt.Add(-margin),
			map[float64]bool{agentHz: true, supervisorHz: false}, map[float64]bool{callerHz: true, supervisorHz: false}},
		{"whisper", whisperAt.Add(settle), bargeAt.Add(-margin),
			map[float64]bool{agentHz: true, supervisorHz: false}, map[float64]bool{callerHz: true, supervisorHz: true}},
		{"barge", bargeAt.Add(settle), end.Add(-margin),
			map[float64]bool{agentHz: true, supervisorHz: true}, map[float64]bool{callerHz: true, supervisorHz: true}},
	} {
		t.Run(p.mode, func(t *testing.T) {
			check(t, "the caller", caller, callerStart, p.from, p.to, p.callerHears)
			check(t, "the agent", agent, agentStart, p.from, p.to, p.agentHear)
			check(t, "the supervisor", sue, sueStart, p.from, p.to, map[float64]bool{callerHz: true, agentHz: true})
		})
	}
}

// TestE2EMonitorThroughTheAPI: POST /api/v1/calls/{id}/monitor rings the
// supervisor's baresip, which auto-answers, and joins it in whisper: sue
// hears caller and agent, alice hears sue, the caller does not. Bad
// requests get clear answers: an agent who is not a supervisor 403, an
// unknown mode 400, an unknown call 404, a second monitor 409.
func TestE2EMonitorThroughTheAPI(t *testing.T) {
	skipShort(t)
	pg := pgtest.Start(t)
	dsn := pg.NewDatabase(t, "e2e_monitor")
	a, caller, agent, callerStart, agentStart := callToMonitor(t, func(c *Config) {
		c.Records.Backend = records.BackendPostgres
		c.Records.Postgres.DSN = dsn
		c.Records.FlushInterval = 50 * time.Millisecond
	})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var calls []struct {
		CallID string `json:"call_id"`
	}
	if code := httpJSON(t, "GET", a.apiURL("/api/v1/calls"), "", &calls); code != 200 || len(calls) != 1 {
		t.Fatalf("GET /api/v1/calls: %d %+v", code, calls)
	}
	url := a.apiURL("/api/v1/calls/" + calls[0].CallID + "/monitor")
	for _, bad := range []struct {
		url, body string
		code      int
	}{
		{url, `{"supervisor": "bob", "mode": "listen"}`, 403},
		{url, `{"supervisor": "sue", "mode": "spy"}`, 400},
		{a.apiURL("/api/v1/calls/no-such-call/monitor"), `{"supervisor": "sue"}`, 404},
	} {
		var e struct {
			Code string `json:"code"`
		}
		if code := httpJSON(t, "POST", bad.url, bad.body, &e); code != bad.code || e.Code == "" {
			t.Errorf("POST %s %s: %d %q, want %d with an error code", bad.url, bad.body, code, e.Code, bad.code)
		}
	}

	sue := startAgent(t, a, "sue", e2e.BaresipOptions{ToneHz: supervisorHz, Record: true, AutoAnswer: true})
	var st struct {
		Mode string `json:"mode"`
	}
	if code := httpJSON(t, "POST", url, `{"supervisor": "sue", "mode": "whisper"}`, &st); code != 200 || st.Mode != "whisper" {
		t.Fatalf("POST monitor: %d %+v, want 200 whisper", code, st)
	}
	if _, err := sue.WaitEvent(ctx, e2e.EventCallEstablished); err != nil {
		t.Fatalf("the supervisor's phone did not answer: %v", err)
	}
	sueStart := time.Now()
	if code := httpJSON(t, "POST", url, `{"supervisor": "sue"}`, nil); code != 409 {
		t.Errorf("a second monitor: %d, want 409", code)
	}
	time.Sleep(3 * time.Second)
	end := time.Now()
	if err := caller.Hangup(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := sue.WaitEvent(ctx, e2e.EventCallClosed); err != nil {
		t.Fatalf("the supervisor's call did not end with the call: %v", err)
	}
	waitIdle(t, a)
	// The stored record (PostgreSQL: the calls row's monitors column,
	// read back by the history API) lists sue's session, in whisper.
	// Hotline rang sue: her phone reports the call established as it
	// sends its 200 OK, which Hotline (starting the session) reads a
	// moment later.
	if m := monitoredRecord(t, a); m.Supervisor != "sue" || m.Agent != "alice" || m.Via != "api" || modesOf(m) != "whisper" ||
		m.Start.After(sueStart.Add(500*time.Millisecond)) || m.End.Before(end) {
		t.Errorf("stored monitoring %+v, want sue on alice through the API in whisper, from her answer (%v) to after %v",
			m, sueStart, end)
	}
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var sup string
	if err := conn.QueryRow(ctx, "SELECT monitors->0->>'supervisor' FROM calls WHERE agent = 'alice'").Scan(&sup); err != nil || sup != "sue" {
		t.Errorf("calls row's monitors: supervisor %q (%v), want sue", sup, err)
	}

	from, to := sueStart.Add(800*time.Millisecond), end.Add(-300*time.Millisecond)
	for _, c := range []struct {
		who   string
		b     *e2e.Baresip
		start time.Time
		want  map[float64]bool
	}{
		{"the caller", caller, callerStart, map[float64]bool{agentHz: true, supervisorHz: false}},
		{"the agent", agent, agentStart, map[float64]bool{callerHz: true, supervisorHz: true}},
		{"the supervisor", sue, sueStart, map[float64]bool{callerHz: true, agentHz: true}},
	} {
		wavs := c.b.ReceivedWAVs()
		if len(wavs) == 0 {
			t.Fatalf("%s recorded nothing", c.who)
		}
		s, rate, err := e2e.ReadWAV(wavs[len(wavs)-1])
		if err != nil {
			t.Fatal(err)
		}
		i, j := int(from.Sub(c.start).Seconds()*float64(rate)), min(int(to.Sub(c.start).Seconds()*float64(rate)), len(s))
		if i < 0 || j-i < rate/2 {
			t.Fatalf("%s's recording (%d samples) has no [%d, %d)", c.who, len(s), i, j)
		}
		for f, heard := range c.want {
			lvl := e2e.ToneLevel(s[i:j], rate, f)
			if heard && lvl < toneHeard || !heard && lvl > toneNotHeard {
				t.Errorf("%s: %.0f Hz at level %.4f, want heard=%v", c.who, f, lvl, heard)
			}
		}
	}
}

// callToMonitor starts Hotline with sue, a supervisor, and a baresip
// caller talking to agent alice (each sending its tone, recording what it
// hears); it returns when both are connected, with when they were.
func callToMonitor(t *testing.T, mods ...func(*Config)) (a *testApp, caller, agent *e2e.Baresip, callerStart, agentStart time.Time) {
	t.Helper()
	a = startApp(t, func(c *Config) {
		for _, m := range mods {
			m(c)
		}
		off := false
		c.Survey.Enabled = &off
		c.Agents = append(c.Agents, config.Agent{Username: "sue", Password: "sue-secret", Name: "Sue", Role: config.RoleSupervisor})
	})
	agent = startAgent(t, a, "alice", e2e.BaresipOptions{ToneHz: agentHz, Record: true, AutoAnswer: true})
	caller = startCaller(t, a, "udp")
	callerStart, agentStart = callHotline(t, a, caller, agent)
	return a, caller, agent, callerStart, agentStart
}

// storedMonitoring is one monitoring session of a history row.
type storedMonitoring struct {
	Supervisor string    `json:"supervisor"`
	Agent      string    `json:"agent"`
	Via        string    `json:"via"`
	Start      time.Time `json:"start"`
	End        time.Time `json:"end"`
	Modes      []struct {
		Mode string    `json:"mode"`
		At   time.Time `json:"at"`
	} `json:"modes"`
}

// monitoredRecord waits for alice's one call in the history (GET
// /api/v1/history/calls) and returns its one monitoring session.
func monitoredRecord(t *testing.T, a *testApp) storedMonitoring {
	t.Helper()
	var page struct {
		Calls []struct {
			CallID   string             `json:"call_id"`
			Monitors []storedMonitoring `json:"monitors"`
		} `json:"calls"`
	}
	waitFor(t, 10*time.Second, "alice's call in the history", func() bool {
		page.Calls = nil
		return httpJSON(t, "GET", a.apiURL("/api/v1/history/calls?agent=alice"), "", &page) == 200 && len(page.Calls) == 1
	})
	if ms := page.Calls[0].Monitors; len(ms) != 1 {
		t.Fatalf("history row of %s: monitors %+v, want one session", page.Calls[0].CallID, ms)
	}
	return page.Calls[0].Monitors[0]
}

// modesOf is a session's modes, in order, space separated.
func modesOf(m storedMonitoring) string {
	var ms []string
	for _, c := range m.Modes {
		ms = append(ms, c.Mode)
	}
	return strings.Join(ms, " ")
}

// callHotline has caller dial the hotline number and waits until caller
// and agent are connected; it returns when each was.
func callHotline(t *testing.T, a *testApp, caller, agent *e2e.Baresip) (callerStart, agentStart time.Time) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := caller.Dial(ctx, "sip:1900@"+a.sipAddr("udp")); err != nil {
		t.Fatal(err)
	}
	if _, err := caller.WaitEvent(ctx, e2e.EventCallEstablished); err != nil {
		t.Fatalf("caller not connected: %v", err)
	}
	callerStart = time.Now()
	if _, err := agent.WaitEvent(ctx, e2e.EventCallEstablished); err != nil {
		t.Fatalf("agent not connected: %v", err)
	}
	return callerStart, time.Now()
}
