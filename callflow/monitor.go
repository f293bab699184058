package callflow

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"
)

// Supervisor monitoring (like Asterisk's ChanSpy and FreeSWITCH's
// eavesdrop): a supervisor joins an agent's call in a mode, switches modes
// with keys 4/5/6, and is hung up when the call ends. This is the policy:
// who may monitor whom, what each mode means for who hears whom, the
// session's life and its record. The media mixing and the SIP legs are
// the SIP side's (MonitorSession).

// MonitorMode is how a supervisor takes part in a monitored call.
type MonitorMode string

// Monitoring modes.
const (
	// MonitorListen: the supervisor hears caller and agent mixed; nobody
	// hears the supervisor.
	MonitorListen MonitorMode = "listen"
	// MonitorWhisper: the agent also hears the supervisor; the caller
	// does not.
	MonitorWhisper MonitorMode = "whisper"
	// MonitorBarge: caller, agent and supervisor all hear each other.
	MonitorBarge MonitorMode = "barge"
)

// MonitorModes are the modes, in the order of their keys.
func MonitorModes() []MonitorMode { return []MonitorMode{MonitorListen, MonitorWhisper, MonitorBarge} }

// ParseMonitorMode maps listen, whisper or barge (case-insensitive) to a
// mode.
func ParseMonitorMode(s string) (MonitorMode, bool) {
	for _, m := range MonitorModes() {
		if strings.EqualFold(s, string(m)) {
			return m, true
		}
	}
	return "", false
}

// Hearing is who hears whom in a monitoring mode. Caller and agent always
// hear each other, and the supervisor always hears both.
type Hearing struct {
	// AgentHearsSupervisor: the supervisor's audio is mixed into what
	// the agent hears.
	AgentHearsSupervisor bool
	// CallerHearsSupervisor: the supervisor's audio is mixed into what
	// the caller hears.
	CallerHearsSupervisor bool
	// RecordedWithAgent: the supervisor is in the agent channel of the
	// call's recording. Never in the caller's channel.
	RecordedWithAgent bool
}

// Hearing says who hears whom in mode m: listen, nobody hears the
// supervisor; whisper, the agent does; barge, both do, and the supervisor
// is recorded with the agent.
func (m MonitorMode) Hearing() Hearing {
	switch m {
	case MonitorWhisper:
		return Hearing{AgentHearsSupervisor: true}
	case MonitorBarge:
		return Hearing{AgentHearsSupervisor: true, CallerHearsSupervisor: true, RecordedWithAgent: true}
	}
	return Hearing{}
}

// Keys a supervisor presses during monitoring.
const (
	KeyListen  = '4'
	KeyWhisper = '5'
	KeyBarge   = '6'
)

// MonitorKey maps a supervisor's key press to the mode it switches to.
func MonitorKey(d rune) (MonitorMode, bool) {
	switch d {
	case KeyListen:
		return MonitorListen, true
	case KeyWhisper:
		return MonitorWhisper, true
	case KeyBarge:
		return MonitorBarge, true
	}
	return "", false
}

// Refusals of a monitoring request; the SIP side answers each with its
// own status (403, 404, 486), the API with its own.
var (
	ErrNotSupervisor = errors.New("monitoring needs the supervisor role")
	ErrMonitorSelf   = errors.New("a supervisor's own call cannot be monitored by them")
	ErrNoCallToWatch = errors.New("the agent has no call in progress")
	ErrMonitored     = errors.New("the call is already monitored")
	ErrBadMode       = errors.New("mode is listen, whisper or barge")
)

// Supervises makes c the pseudo call of a supervisor's leg monitoring
// watched: the supervisor's phone is rung as an agent's, with watched's
// caller, hotline and routing, under watched's id. It is never listed and
// leaves no record (Pseudo); the monitoring session is noted in
// watched's Monitors.
func (c *Call[L]) Supervises(watched *Call[L]) {
	c.inherit(watched, watched.ID())
}

// Watched is a call as the monitoring policy checks it: its agent (""
// while none), whether caller and agent are bridged, whether it is
// monitored already.
type Watched struct {
	Agent     string
	Bridged   bool
	Monitored bool
}

// CheckMonitor says whether supervisor may monitor agent's call w:
// only a supervisor, never their own call, only a call with a bridged
// agent, one supervisor at a time. agent is "" when the request names a
// call rather than an agent; w is nil when the call is not looked up yet
// (only the supervisor and agent are checked).
func CheckMonitor(supervisor, agent string, isSupervisor func(string) bool, w *Watched) error {
	switch {
	case !isSupervisor(supervisor):
		return ErrNotSupervisor
	case agent == supervisor:
		return ErrMonitorSelf
	case w == nil:
		return nil
	case w.Agent == "" || !w.Bridged:
		return ErrNoCallToWatch
	case w.Agent == supervisor:
		return ErrMonitorSelf
	case w.Monitored:
		return ErrMonitored
	}
	return nil
}

// MonitorLog is the record of a call's monitoring sessions (Record's
// Monitors). Its zero value is empty and ready; it is safe for
// concurrent use.
type MonitorLog struct {
	mu       sync.Mutex
	sessions []Monitoring
}

// Started notes a session and returns its index (for Mode and Ended).
func (l *MonitorLog) Started(m Monitoring) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	m.Modes = slices.Clone(m.Modes)
	l.sessions = append(l.sessions, m)
	return len(l.sessions) - 1
}

// Mode notes that session i entered mode at.
func (l *MonitorLog) Mode(i int, mode MonitorMode, at time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.sessions[i].Modes = append(l.sessions[i].Modes, ModeChange{Mode: string(mode), At: at})
}

// Ended notes that session i ended at (unless it ended before).
func (l *MonitorLog) Ended(i int, at time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.sessions[i].End.IsZero() {
		l.sessions[i].End = at
	}
}

// Sessions is a copy of the sessions, nil when none.
func (l *MonitorLog) Sessions() []Monitoring {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.sessions) == 0 {
		return nil
	}
	out := slices.Clone(l.sessions)
	for i := range out {
		out[i].Modes = slices.Clone(out[i].Modes)
	}
	return out
}

// MonitorSession is a supervisor's leg joined to a monitored call, as
// the monitoring policy drives it (the SIP side: the supervisor's dialog
// and the media mixer).
type MonitorSession interface {
	Log() *slog.Logger
	// Keys are the keys the supervisor presses.
	Keys() <-chan rune
	// SetMode makes the media follow mode's Hearing.
	SetMode(mode MonitorMode)
	// MediaDone is closed when the join ended on the media side: the
	// caller's, agent's or supervisor's media stopped.
	MediaDone() <-chan struct{}
	// Gone is closed when the supervisor's leg ends on its own: the
	// supervisor hung up, or Hotline stops.
	Gone() <-chan struct{}
	// HungUp says, once Gone is closed, whether the supervisor hung up
	// (else, Hotline stopping or the leg's media timing out, Hotline
	// hangs the supervisor up).
	HungUp() bool
	// HangUp hangs the supervisor's phone up (BYE).
	HangUp()
}

// MonitorMetrics counts monitoring sessions and the time in each mode.
type MonitorMetrics interface {
	MonitorStarted(callID, mode string)
	MonitorModeChanged(callID, mode string)
	MonitorModeTime(mode string, d time.Duration)
}

// MonitorRun is one monitoring session to run (Monitor).
type MonitorRun struct {
	// CallID and Call are the monitored call: its context ends with it.
	CallID string
	Call   context.Context
	// Log is where the session's record goes.
	Log *MonitorLog
	// Supervisor, Agent and Via (MonitorViaCode, MonitorViaAPI) are the
	// record's; Mode is the mode the session starts in.
	Supervisor, Agent, Via string
	Mode                   MonitorMode
	Now                    func() time.Time
	Metrics                MonitorMetrics
}

// Monitor runs a monitoring session until the monitored call ends (the
// supervisor is hung up), the supervisor hangs up, or the media join
// ends (the supervisor is hung up). Keys 4/5/6 switch modes; the record
// (r.Log) gets the session, each mode change and its end; the metrics
// count the session, each change and the time in each mode. It returns
// why it ended.
func Monitor(r MonitorRun, s MonitorSession) error {
	mode, since := r.Mode, r.Now()
	session := r.Log.Started(Monitoring{Supervisor: r.Supervisor, Agent: r.Agent, Via: r.Via, Start: since,
		Modes: []ModeChange{{Mode: string(mode), At: since}}})
	// The time in the last mode is counted before the supervisor's BYE:
	// whoever saw the BYE finds it counted.
	counted := false
	countTime := func() {
		if !counted {
			counted = true
			r.Metrics.MonitorModeTime(string(mode), r.Now().Sub(since))
		}
	}
	end := func(err error, bye bool) error {
		countTime()
		if bye {
			s.HangUp()
		}
		r.Log.Ended(session, r.Now())
		return err
	}
	log := s.Log()
	log.Info("monitoring started", "agent", r.Agent, "mode", string(mode))
	r.Metrics.MonitorStarted(r.CallID, string(mode))
	for {
		select {
		case d := <-s.Keys():
			m, ok := MonitorKey(d)
			if !ok || m == mode {
				continue
			}
			now := r.Now()
			r.Metrics.MonitorModeTime(string(mode), now.Sub(since))
			s.SetMode(m)
			r.Log.Mode(session, m, now)
			r.Metrics.MonitorModeChanged(r.CallID, string(m))
			log.Info("monitoring mode", "agent", r.Agent, "mode", string(m), "was", string(mode))
			mode, since = m, now
		case <-r.Call.Done():
			log.Info("monitoring ended: the call ended", "agent", r.Agent)
			return end(ErrMonitoredCallEnded, true)
		case <-s.MediaDone():
			log.Info("monitoring ended: the call's media ended", "agent", r.Agent)
			return end(ErrMonitoredCallEnded, true)
		case <-s.Gone():
			if s.HungUp() {
				log.Info("monitoring ended: the supervisor hung up", "agent", r.Agent)
				return end(ErrSupervisorHangup, false)
			}
			log.Info("monitoring ended: the supervisor's leg ended", "agent", r.Agent)
			return end(ErrSupervisorLegEnded, true)
		}
	}
}

// How a monitoring session ends (Monitor).
var (
	ErrMonitoredCallEnded = errors.New("the monitored call ended")
	ErrSupervisorHangup   = errors.New("the supervisor hung up")
	ErrSupervisorLegEnded = errors.New("the supervisor's leg ended")
)
