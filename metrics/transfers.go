package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Transfer kinds for Metrics.Transfer: how the transfer was asked for.
const (
	TransferBlind    = "blind"    // REFER
	TransferAttended = "attended" // REFER with Replaces, after a consultation call
	// TransferSemiAttended: REFER with Replaces naming a consultation
	// whose target still rings (the agent leaves before the target answers).
	TransferSemiAttended = "semi_attended"
	TransferAPI          = "api" // POST /api/v1/calls/{id}/transfer
)

// Transfer targets for Metrics.Transfer: where the caller was sent.
const (
	TransferToAgent  = "agent"
	TransferToQueue  = "queue"
	TransferToNumber = "number"
)

// Transfer outcomes for Metrics.Transfer.
const (
	TransferCompleted = "completed" // the caller reached the target (agent answered, queued, number answered)
	TransferReturned  = "returned"  // the target did not take the call: the caller went back to their queue
	TransferRefused   = "refused"   // the request was refused (unknown target, prefix not allowed, not the agent's call)
	TransferAbandoned = "abandoned" // the caller hung up during the transfer
	TransferFailed    = "failed"    // anything else
)

// Monitoring modes for Metrics.MonitorStarted and MonitorModeTime.
const (
	MonitorListen  = "listen"
	MonitorWhisper = "whisper"
	MonitorBarge   = "barge"
)

var (
	transferKinds    = []string{TransferBlind, TransferAttended, TransferSemiAttended, TransferAPI}
	transferTargets  = []string{TransferToAgent, TransferToQueue, TransferToNumber}
	transferOutcomes = []string{TransferCompleted, TransferReturned, TransferRefused, TransferAbandoned, TransferFailed}
	monitorModes     = []string{MonitorListen, MonitorWhisper, MonitorBarge}
)

const (
	lTarget = "target"
	lMode   = "mode"
)

// transferMetrics count transfers and monitoring.
type transferMetrics struct {
	transfers *prometheus.CounterVec
	sessions  *prometheus.CounterVec
	modeTime  *prometheus.CounterVec
	modes     *prometheus.CounterVec
}

func newTransferMetrics(reg *prometheus.Registry) *transferMetrics {
	t := &transferMetrics{
		transfers: prometheus.NewCounterVec(prometheus.CounterOpts{Name: NameTransfers,
			Help: "Call transfers by kind (blind, attended, semi_attended, api), target (agent, queue, number) and outcome (completed, returned, refused, abandoned, failed)."},
			[]string{lKind, lTarget, lOutcome}),
		sessions: prometheus.NewCounterVec(prometheus.CounterOpts{Name: NameMonitorSessions,
			Help: "Supervisor monitoring sessions started, by the mode they started in (listen, whisper, barge)."},
			[]string{lMode}),
		modeTime: prometheus.NewCounterVec(prometheus.CounterOpts{Name: NameMonitorTime,
			Help: "Time supervisors spent monitoring calls, by mode (listen, whisper, barge)."},
			[]string{lMode}),
		modes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: NameMonitorModes,
			Help: "Times a supervisor's monitoring session entered a mode (listen, whisper, barge): at its start or by key 4/5/6; sessions that barged are the barge count."},
			[]string{lMode}),
	}
	reg.MustRegister(t.transfers, t.sessions, t.modeTime, t.modes)
	// Every series exists from the start (rate() works from the first
	// transfer; the label sets are small and fixed).
	for _, k := range transferKinds {
		for _, tg := range transferTargets {
			for _, o := range transferOutcomes {
				t.transfers.WithLabelValues(k, tg, o)
			}
		}
	}
	for _, m := range monitorModes {
		t.sessions.WithLabelValues(m)
		t.modeTime.WithLabelValues(m)
		t.modes.WithLabelValues(m)
	}
	return t
}

func oneOf(v string, allowed []string, def string) string {
	for _, a := range allowed {
		if v == a {
			return v
		}
	}
	return def
}

// Transfer counts one transfer of call callID (an exemplar) by kind,
// target and outcome (the constants above; anything else counts as
// blind, agent and failed respectively, keeping the labels bounded).
func (m *Metrics) Transfer(callID, kind, target, outcome string) {
	if m == nil {
		return
	}
	c := m.transfers.transfers.WithLabelValues(oneOf(kind, transferKinds, TransferBlind),
		oneOf(target, transferTargets, TransferToAgent), oneOf(outcome, transferOutcomes, TransferFailed))
	inc(c, callID)
}

// MonitorStarted counts a supervisor joining call callID in mode (a
// session, and its entering mode). Unknown modes count as listen.
func (m *Metrics) MonitorStarted(callID, mode string) {
	if m == nil {
		return
	}
	mode = oneOf(mode, monitorModes, MonitorListen)
	inc(m.transfers.sessions.WithLabelValues(mode), callID)
	inc(m.transfers.modes.WithLabelValues(mode), callID)
}

// MonitorModeChanged counts a monitoring session of call callID switching
// to mode (keys 4/5/6). Unknown modes count as listen.
func (m *Metrics) MonitorModeChanged(callID, mode string) {
	if m == nil {
		return
	}
	inc(m.transfers.modes.WithLabelValues(oneOf(mode, monitorModes, MonitorListen)), callID)
}

// MonitorModeTime adds d spent monitoring in mode (reported when the mode
// changes and when the session ends).
func (m *Metrics) MonitorModeTime(mode string, d time.Duration) {
	if m == nil || d <= 0 {
		return
	}
	m.transfers.modeTime.WithLabelValues(oneOf(mode, monitorModes, MonitorListen)).Add(d.Seconds())
}
