package callflow_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"hotline/callflow"
	"hotline/callflow/callflowtest"
)

// TestMonitorKeys: 4, 5 and 6 switch to listen, whisper and barge; no
// other key does anything.
func TestMonitorKeys(t *testing.T) {
	for d, want := range map[rune]callflow.MonitorMode{'4': callflow.MonitorListen, '5': callflow.MonitorWhisper, '6': callflow.MonitorBarge} {
		if got, ok := callflow.MonitorKey(d); !ok || got != want {
			t.Errorf("key %c: %q, %v; want %s", d, got, ok, want)
		}
	}
	for _, d := range "0123789*#A" {
		if m, ok := callflow.MonitorKey(d); ok {
			t.Errorf("key %c switched to %s", d, m)
		}
	}
	for _, s := range []string{"listen", "WHISPER", "Barge"} {
		if _, ok := callflow.ParseMonitorMode(s); !ok {
			t.Errorf("mode %q refused", s)
		}
	}
	if m, ok := callflow.ParseMonitorMode("spy"); ok {
		t.Errorf("mode spy accepted as %q", m)
	}
}

// TestMonitorHearing: the caller never hears the supervisor in listen or
// whisper, and the supervisor never gets into the caller's recording
// channel; the agent hears them in whisper and barge; barge puts them in
// the agent's channel.
func TestMonitorHearing(t *testing.T) {
	for m, want := range map[callflow.MonitorMode]callflow.Hearing{
		callflow.MonitorListen:  {},
		callflow.MonitorWhisper: {AgentHearsSupervisor: true},
		callflow.MonitorBarge:   {AgentHearsSupervisor: true, CallerHearsSupervisor: true, RecordedWithAgent: true},
	} {
		if got := m.Hearing(); got != want {
			t.Errorf("%s: %+v, want %+v", m, got, want)
		}
	}
}

// TestCheckMonitor: only supervisors monitor; not their own call; only a
// call whose agent is bridged; one supervisor at a time.
func TestCheckMonitor(t *testing.T) {
	sup := func(u string) bool { return u == "sue" || u == "sam" }
	for _, tc := range []struct {
		who, agent string
		call       *callflow.Watched
		want       error
	}{
		{"sue", "alice", nil, nil},
		{"sue", "", nil, nil},
		{"bob", "alice", nil, callflow.ErrNotSupervisor},
		{"sue", "sue", nil, callflow.ErrMonitorSelf}, // refused before her call is looked up
		{"bob", "", &callflow.Watched{Agent: "alice", Bridged: true}, callflow.ErrNotSupervisor},
		{"sue", "", &callflow.Watched{Agent: "alice", Bridged: true}, nil},
		{"sue", "", &callflow.Watched{Agent: "sue", Bridged: true}, callflow.ErrMonitorSelf},
		{"sue", "alice", &callflow.Watched{Agent: "alice"}, callflow.ErrNoCallToWatch},
		{"sue", "", &callflow.Watched{}, callflow.ErrNoCallToWatch},
		{"sue", "alice", &callflow.Watched{Agent: "alice", Bridged: true, Monitored: true}, callflow.ErrMonitored},
	} {
		if err := callflow.CheckMonitor(tc.who, tc.agent, sup, tc.call); !errors.Is(err, tc.want) || (tc.want == nil && err != nil) {
			t.Errorf("%s monitoring %q %+v: %v, want %v", tc.who, tc.agent, tc.call, err, tc.want)
		}
	}
}

// clock is a test clock that moves by a second each time it is read.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(time.Second)
	return c.now
}

type monitorRun struct {
	t       *testing.T
	log     *callflow.MonitorLog
	metrics *callflowtest.MonitorMetrics
	sess    *callflowtest.MonitorSession
	end     context.CancelFunc
	done    chan error
}

func startMonitor(t *testing.T, mode callflow.MonitorMode) *monitorRun {
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	r := &monitorRun{t: t, log: &callflow.MonitorLog{}, metrics: &callflowtest.MonitorMetrics{},
		sess: callflowtest.NewMonitorSession(), end: cancel, done: make(chan error, 1)}
	clk := &clock{now: time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)}
	go func() {
		r.done <- callflow.Monitor(callflow.MonitorRun{CallID: "call-1", Call: ctx, Log: r.log, Supervisor: "sue",
			Agent: "alice", Via: callflow.MonitorViaCode, Mode: mode, Now: clk.Now, Metrics: r.metrics}, r.sess)
	}()
	return r
}

func (r *monitorRun) press(d rune, want callflow.MonitorMode) {
	r.t.Helper()
	r.sess.Press(d)
	if want == "" {
		return
	}
	select {
	case got := <-r.sess.Switched():
		if got != want {
			r.t.Fatalf("key %c set the media to %s, want %s", d, got, want)
		}
	case <-time.After(5 * time.Second):
		r.t.Fatalf("key %c did not switch to %s", d, want)
	}
}

func (r *monitorRun) wait() error {
	r.t.Helper()
	select {
	case err := <-r.done:
		return err
	case <-time.After(5 * time.Second):
		r.t.Fatal("monitoring did not end")
	}
	return nil
}

// TestMonitorSession: a supervisor monitoring from listen presses 5
// (whisper), 5 again and 9 (nothing), 6 (barge), then the call ends:
// the media followed each switch, the supervisor is hung up once, the
// record has the three modes in order and the end, the metrics the
// session, the two changes and the time in each mode.
func TestMonitorSession(t *testing.T) {
	r := startMonitor(t, callflow.MonitorListen)
	r.press('5', callflow.MonitorWhisper)
	r.press('5', "")
	r.press('9', "")
	r.press('6', callflow.MonitorBarge)
	r.end()
	if err := r.wait(); !errors.Is(err, callflow.ErrMonitoredCallEnded) {
		t.Errorf("ended with %v, want the monitored call's end", err)
	}
	if got := r.sess.Modes(); !slices.Equal(got, []callflow.MonitorMode{callflow.MonitorWhisper, callflow.MonitorBarge}) {
		t.Errorf("media set to %q, want whisper then barge", got)
	}
	if n := r.sess.HangUps(); n != 1 {
		t.Errorf("supervisor hung up %d times, want once", n)
	}
	sessions := r.log.Sessions()
	if len(sessions) != 1 {
		t.Fatalf("record has %d sessions, want 1", len(sessions))
	}
	s := sessions[0]
	var modes []string
	for _, m := range s.Modes {
		modes = append(modes, m.Mode)
	}
	if s.Supervisor != "sue" || s.Agent != "alice" || s.Via != callflow.MonitorViaCode ||
		!slices.Equal(modes, []string{"listen", "whisper", "barge"}) || s.End.IsZero() || !s.End.After(s.Modes[2].At) ||
		!s.Modes[0].At.Equal(s.Start) {
		t.Errorf("record %+v, want sue on alice by code, listen whisper barge, then the end", s)
	}
	want := []string{"started call-1 listen", "time listen 1s", "changed call-1 whisper", "time whisper 1s",
		"changed call-1 barge", "time barge 1s"}
	if got := r.metrics.Counts(); !slices.Equal(got, want) {
		t.Errorf("metrics %q, want %q", got, want)
	}
}

// TestMonitorEnds: the supervisor hanging up ends the session without a
// BYE from Hotline; their leg ending otherwise (Hotline stops, media
// timeout) or the call's media ending gets them hung up. The record's
// session ends either way, and the call goes on (the policy does not
// touch it).
func TestMonitorEnds(t *testing.T) {
	for _, tc := range []struct {
		name    string
		end     func(*callflowtest.MonitorSession)
		want    error
		hangUps int
	}{
		{"supervisor hangs up", func(s *callflowtest.MonitorSession) { s.EndLeg(true) }, callflow.ErrSupervisorHangup, 0},
		{"supervisor's leg ends", func(s *callflowtest.MonitorSession) { s.EndLeg(false) }, callflow.ErrSupervisorLegEnded, 1},
		{"media ends", func(s *callflowtest.MonitorSession) { s.EndMedia() }, callflow.ErrMonitoredCallEnded, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := startMonitor(t, callflow.MonitorWhisper)
			tc.end(r.sess)
			if err := r.wait(); !errors.Is(err, tc.want) {
				t.Errorf("ended with %v, want %v", err, tc.want)
			}
			if n := r.sess.HangUps(); n != tc.hangUps {
				t.Errorf("Hotline hung the supervisor up %d times, want %d", n, tc.hangUps)
			}
			if s := r.log.Sessions(); len(s) != 1 || s[0].End.IsZero() || s[0].Modes[0].Mode != "whisper" {
				t.Errorf("record %+v, want one whisper session, ended", s)
			}
			if got := r.metrics.Counts(); len(got) != 2 || got[1] != "time whisper 1s" {
				t.Errorf("metrics %q, want the session and its whisper time", got)
			}
		})
	}
}
