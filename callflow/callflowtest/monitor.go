package callflowtest

import (
	"log/slog"
	"sync"
	"time"

	"hotline/callflow"
)

// MonitorSession is a callflow.MonitorSession: a test presses keys,
// ends the media or the supervisor's leg, and reads the modes the media
// was set to and whether the supervisor was hung up.
type MonitorSession struct {
	keys      chan rune
	mediaDone chan struct{}
	gone      chan struct{}
	switched  chan callflow.MonitorMode

	mu      sync.Mutex
	hungUp  bool
	hangUps int
	modes   []callflow.MonitorMode
}

var _ callflow.MonitorSession = (*MonitorSession)(nil)

// NewMonitorSession makes a session whose supervisor is on the line.
func NewMonitorSession() *MonitorSession {
	return &MonitorSession{keys: make(chan rune), mediaDone: make(chan struct{}), gone: make(chan struct{}),
		switched: make(chan callflow.MonitorMode, 16)}
}

func (m *MonitorSession) Log() *slog.Logger          { return slog.New(slog.DiscardHandler) }
func (m *MonitorSession) Keys() <-chan rune          { return m.keys }
func (m *MonitorSession) MediaDone() <-chan struct{} { return m.mediaDone }
func (m *MonitorSession) Gone() <-chan struct{}      { return m.gone }

// SetMode notes mode.
func (m *MonitorSession) SetMode(mode callflow.MonitorMode) {
	m.mu.Lock()
	m.modes = append(m.modes, mode)
	m.mu.Unlock()
	m.switched <- mode
}

// HungUp says whether EndLeg said the supervisor hung up.
func (m *MonitorSession) HungUp() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.hungUp
}

// HangUp counts Hotline's BYEs to the supervisor.
func (m *MonitorSession) HangUp() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.hangUps++
}

// Press presses key d (blocks until the session reads it).
func (m *MonitorSession) Press(d rune) { m.keys <- d }

// Switched is where each mode the media is set to arrives.
func (m *MonitorSession) Switched() <-chan callflow.MonitorMode { return m.switched }

// EndMedia ends the media join (a leg's media stopped).
func (m *MonitorSession) EndMedia() { close(m.mediaDone) }

// EndLeg ends the supervisor's leg: hungUp, the supervisor hung up.
func (m *MonitorSession) EndLeg(hungUp bool) {
	m.mu.Lock()
	m.hungUp = hungUp
	m.mu.Unlock()
	close(m.gone)
}

// Modes are the modes the media was set to, in order; HangUps how many
// times Hotline hung the supervisor up.
func (m *MonitorSession) Modes() []callflow.MonitorMode {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]callflow.MonitorMode(nil), m.modes...)
}

// HangUps is how many times Hotline hung the supervisor up.
func (m *MonitorSession) HangUps() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.hangUps
}

// MonitorMetrics is a callflow.MonitorMetrics that notes what it
// counts, one string a count: "started <call> <mode>", "changed <call>
// <mode>", "time <mode> <d>".
type MonitorMetrics struct {
	mu     sync.Mutex
	counts []string
}

var _ callflow.MonitorMetrics = (*MonitorMetrics)(nil)

func (m *MonitorMetrics) note(s string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.counts = append(m.counts, s)
}

func (m *MonitorMetrics) MonitorStarted(callID, mode string) {
	m.note("started " + callID + " " + mode)
}
func (m *MonitorMetrics) MonitorModeChanged(callID, mode string) {
	m.note("changed " + callID + " " + mode)
}
func (m *MonitorMetrics) MonitorModeTime(mode string, d time.Duration) {
	m.note("time " + mode + " " + d.String())
}

// Counts are the counts so far, in order.
func (m *MonitorMetrics) Counts() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]string(nil), m.counts...)
}
