package sip

import (
	"errors"
	"strings"

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

// Keys a supervisor presses during monitoring.
const (
	KeyListen  = '4'
	KeyWhisper = '5'
	KeyBarge   = '6'
)

// MonitorKey maps a supervisor's key press to the mode it switches to.
func MonitorKey(d rune) (media.MonitorMode, bool) {
	switch d {
	case KeyListen:
		return media.Listen, true
	case KeyWhisper:
		return media.Whisper, true
	case KeyBarge:
		return media.Barge, true
	}
	return 0, false
}

// Refusals of monitoring requests (the feature code's answer; the API
// maps them to its own statuses).
var (
	ErrNotSupervisor = &Refusal{Code: 403, Reason: "Not A Supervisor", Err: errors.New("monitoring needs the supervisor role")}
	ErrNoCallToWatch = &Refusal{Code: 404, Reason: "Agent Not On A Call", Err: errors.New("the agent has no call in progress")}
	ErrMonitorSelf   = &Refusal{Code: 403, Reason: "Cannot Monitor Yourself", Err: errors.New("a supervisor's own call cannot be monitored by them")}
	ErrMonitored     = &Refusal{Code: 486, Reason: "Already Monitored", Err: errors.New("the call is already monitored")}
)

// CheckMonitor says whether supervisor may monitor agent's calls, given
// the supervisors' usernames; agent's call itself is looked up later.
func CheckMonitor(supervisor, agent string, isSupervisor func(string) bool) error {
	switch {
	case !isSupervisor(supervisor):
		return ErrNotSupervisor
	case supervisor == agent:
		return ErrMonitorSelf
	}
	return nil
}
