package sip

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"hotline/callflow"
	"hotline/recording"
	"hotline/sip/sdp"
)

// recordingFixture is a fixture whose calls are recorded (recording
// starts at the bridge, every call, file backend) by a started manager.
func recordingFixture(t *testing.T) (*fixture, *recording.Manager) {
	t.Helper()
	dir := t.TempDir()
	m, err := recording.New(recording.Config{SpoolDir: filepath.Join(dir, "spool"),
		File: recording.FileConfig{Dir: filepath.Join(dir, "store")}}, recording.Options{Log: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	f := newFixture(t, func(o *fixtureOpts) { o.deps = func(d *Deps) { d.Recordings = m.Calls() } })
	return f, m
}

// waitStored waits until the recording stored under key (and its call
// record) can be read back from the store, and returns its call record.
func waitStored(t *testing.T, m *recording.Manager, key string) recording.CallRecord {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for {
		var rec recording.CallRecord
		rc, err := m.Backend().Open(context.Background(), strings.TrimSuffix(key, ".wav")+".json")
		if err == nil {
			err = json.NewDecoder(rc).Decode(&rec)
			rc.Close()
		}
		if err == nil {
			if _, err = m.Backend().Stat(context.Background(), key); err == nil {
				return rec
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("recording %s not stored: %v (backlog %+v)", key, err, m.Backlog())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A caller who hangs up the moment it is answered races its BYE against
// the bridge and the recording's start. Either the BYE wins (the agent is
// never bridged: abandoned, no recording) or the bridge does, and then the
// call is recorded: its call record names the recording, which is stored,
// finished, with the agent. Never a call connected to an agent without
// its recording.
func TestCallerHangsUpAtTheBridgeIsRecorded(t *testing.T) {
	f, m := recordingFixture(t)
	agent := newPhone(t, "alice", f.addr)
	agent.register("alice")
	caller := newPhone(t, "5551234", f.addr)
	connected := 0
	for range 8 {
		call := caller.call("1900", caller.sdp(sdp.SendRecv))
		in := agent.nextInvite()
		in.answer()
		call.answered()
		call.bye() // at once: Hotline may still be bridging
		agent.waitRequest(sip.BYE, in.callID())
		r := f.record(call.id)
		if r.Bridged.IsZero() {
			if r.Recording != "" || r.Agent != "" || r.Outcome != callflow.OutcomeAbandoned {
				t.Errorf("call %s never bridged: record outcome %q agent %q recording %q, want abandoned, none, none",
					call.id, r.Outcome, r.Agent, r.Recording)
			}
			continue
		}
		connected++
		if r.Outcome != callflow.OutcomeAnswered || r.Agent != "alice" || r.Recording == "" {
			t.Fatalf("call %s connected: record outcome %q agent %q recording %q, want answered, alice, a recording",
				call.id, r.Outcome, r.Agent, r.Recording)
		}
		if rec := waitStored(t, m, r.Recording); rec.CallID != call.id || rec.End.IsZero() || rec.Agent != "alice" {
			t.Errorf("stored recording's call record %+v, want call %s, agent alice, an end", rec, call.id)
		}
	}
	t.Logf("%d of 8 calls bridged before the caller's BYE", connected)
	f.checkIdle()
}

// A caller Hotline answered to queue it (nobody free) who hangs up before
// an agent is bridged is not recorded (recording starts at the bridge):
// the call record says abandoned and names no recording. This is what the
// SIPp benchmark counted as "answered without a recording".
func TestQueuedCallerHangsUpBeforeAnAgentIsNotRecorded(t *testing.T) {
	f, m := recordingFixture(t)
	caller := newPhone(t, "5551234", f.addr)
	call := caller.call("1900", caller.sdp(sdp.SendRecv))
	call.answered()
	call.bye()
	f.checkIdle()
	r := wantRecord(t, f, call.id, callflow.OutcomeAbandoned, callflow.ErrCallerHangup, "")
	if r.Recording != "" || !r.Bridged.IsZero() {
		t.Errorf("call record: recording %q, bridged %v; want none", r.Recording, r.Bridged)
	}
	if b := m.Backlog(); b.Recording != 0 || b.Files != 0 || b.Uploaded != 0 {
		t.Errorf("recordings backlog %+v, want nothing recorded", b)
	}
}

// A call whose recording cannot start (the spool is gone) goes on, and
// its call record names no recording.
func TestUnstartableRecordingIsNotInTheCallRecord(t *testing.T) {
	dir := t.TempDir()
	spool := filepath.Join(dir, "spool")
	m, err := recording.New(recording.Config{SpoolDir: spool, File: recording.FileConfig{Dir: filepath.Join(dir, "store")}}, recording.Options{Log: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	f := newFixture(t, func(o *fixtureOpts) { o.deps = func(d *Deps) { d.Recordings = m.Calls() } })
	if err := os.RemoveAll(spool); err != nil {
		t.Fatal(err)
	}
	agent := newPhone(t, "alice", f.addr)
	agent.register("alice")
	caller := newPhone(t, "5551234", f.addr)
	call := caller.call("1900", caller.sdp(sdp.SendRecv))
	in := agent.nextInvite()
	in.answer()
	ans := call.answered()
	flows(t, caller, ans.Audio.Addr, agent)
	call.bye()
	agent.waitRequest(sip.BYE, in.callID())
	f.checkIdle()
	if r := wantRecord(t, f, call.id, callflow.OutcomeAnswered, callflow.ErrCallerHangup, "alice"); r.Recording != "" {
		t.Errorf("call record names recording %q, which could not start", r.Recording)
	}
}
