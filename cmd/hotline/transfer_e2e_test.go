package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"hotline/internal/e2e"
)

// TestE2ETransferRefusals: a baresip agent transfers its call (baresip's
// transfer command sends REFER) to targets Hotline refuses: a number
// nobody has, an outside number while no gateway is configured. The phone
// gets the status and reason (its TRANSFER_FAILED event) and Hotline logs
// and counts the refusal. baresip 1.0 hangs its call up after a failed
// transfer: the caller then gets a clean BYE and Hotline is left idle.
// (That a refused REFER leaves the call going is shown with phones that
// stay on the line: sip's TestReferRefusals.)
func TestE2ETransferRefusals(t *testing.T) {
	skipShort(t)
	a := startApp(t, func(c *Config) {
		off := false
		c.Survey.Enabled = &off
	})
	agent := startAgent(t, a, "alice", e2e.BaresipOptions{ToneHz: agentHz, AutoAnswer: true})
	caller := startCaller(t, a, "udp")
	for _, tc := range []struct {
		target, status, log string
	}{
		{"sip:2999@" + a.sipAddr("udp"), "404 Unknown Transfer Target", "status=404"},
		{"sip:+1900555000@" + a.sipAddr("udp"), "403 No Outbound Gateway", "status=403"},
	} {
		t.Run(tc.log, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			callHotline(t, a, caller, agent)
			if _, err := agent.Command(ctx, "transfer", tc.target); err != nil {
				t.Fatal(err)
			}
			ev, err := agent.WaitEvent(ctx, "TRANSFER_FAILED")
			if err != nil {
				t.Fatalf("the agent's phone got no answer to its REFER: %v", err)
			}
			if ev.Param != tc.status {
				t.Errorf("REFER to %s: the phone got %q, want %q", tc.target, ev.Param, tc.status)
			}
			if line := lastLine(a.logs.String(), "transfer refused"); !strings.Contains(line, tc.log) {
				t.Errorf("REFER to %s: Hotline logged %q, want %s", tc.target, line, tc.log)
			}
			if _, err := caller.WaitEvent(ctx, e2e.EventCallClosed); err != nil {
				t.Fatal(err)
			}
			waitIdle(t, a)
		})
	}
}

// lastLine is the last line of s containing sub.
func lastLine(s, sub string) string {
	lines := strings.Split(s, "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if strings.Contains(lines[i], sub) {
			return lines[i]
		}
	}
	return ""
}
