package sip

import (
	"errors"
	"strings"

	"hotline/callflow"
	"hotline/sip/media"
)

// FeatureMonitor is the feature code a supervisor dials, followed by the
// agent's username and #, to monitor that agent's call: *31bob#.
const FeatureMonitor = "*31"

// ParseMonitorCode reads a dialled user part as the monitoring feature
// code: *31 + agent username + # (the # may be %-escaped, as most phones
// send it, or left out). ok is false for anything else.
func ParseMonitorCode(user string) (agent string, ok bool) {
	rest, found := strings.CutPrefix(user, FeatureMonitor)
	if !found {
		return "", false
	}
	for _, hash := range []string{"%23", "#"} {
		if r, cut := strings.CutSuffix(rest, hash); cut {
			rest = r
			break
		}
	}
	if rest == "" || !usernameChars(rest) {
		return "", false
	}
	return rest, true
}

// usernameChars says whether s could be an agent's username (the
// characters routing accepts, without escapes).
func usernameChars(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.IndexByte("._~!$&'()*+,;=-", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// Refusals of monitoring requests (the feature code's answer; the API
// maps them to its own statuses): the SIP answers to callflow's
// monitoring policy (callflow.CheckMonitor).
var (
	ErrNotSupervisor = &Refusal{Code: 403, Reason: "Not A Supervisor", Err: callflow.ErrNotSupervisor}
	ErrNoCallToWatch = &Refusal{Code: 404, Reason: "Agent Not On A Call", Err: callflow.ErrNoCallToWatch}
	ErrMonitorSelf   = &Refusal{Code: 403, Reason: "Cannot Monitor Yourself", Err: callflow.ErrMonitorSelf}
	ErrMonitored     = &Refusal{Code: 486, Reason: "Already Monitored", Err: callflow.ErrMonitored}
	// ErrBadMode refuses a monitoring mode other than listen, whisper, barge.
	ErrBadMode = &Refusal{Code: 400, Reason: "Bad Monitoring Mode", Err: callflow.ErrBadMode}
)

// monitorRefusal is the Refusal answering err of the monitoring policy
// (err itself when it is none of them).
func monitorRefusal(err error) error {
	for _, r := range []*Refusal{ErrNotSupervisor, ErrNoCallToWatch, ErrMonitorSelf, ErrMonitored, ErrBadMode} {
		if errors.Is(err, r.Err) {
			return r
		}
	}
	return err
}

// mediaMode is the media mixer's mode for a monitoring mode.
func mediaMode(m callflow.MonitorMode) media.MonitorMode {
	switch m {
	case callflow.MonitorWhisper:
		return media.Whisper
	case callflow.MonitorBarge:
		return media.Barge
	}
	return media.Listen
}
