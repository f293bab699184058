package recording

import (
	"testing"

	"hotline/audio"
	"hotline/callflow"
)

// A call recorded through call control's interface (Manager.Calls) gets
// the same file as one recorded directly: the caller's tap fills the
// caller channel, the agent's the agent channel, each in its own codec.
func TestCallsRecordsBothChannels(t *testing.T) {
	m := newTestManager(t, testConfig(t))
	rs := m.Calls()
	if !rs.ShouldRecord("1900", "loyal") || rs.StartAtAnswer() {
		t.Fatal("the default policy records every call, from the bridge")
	}
	rec, err := rs.Begin(callflow.RecordingInfo{CallID: "call-calls", Caller: "+15551234", Agent: "alice", Queue: "1900", Start: t0})
	if err != nil {
		t.Fatal(err)
	}
	callerTap := rec.Tap(callflow.CallerChannel, audio.PCMU().WithPT(callerU.pt))
	agentTap := rec.Tap(callflow.AgentChannel, audio.PCMA().WithPT(agentA.pt))
	for k := 0; k < 10; k++ {
		callerTap.TapPackets([][]byte{callerU.pkt(k, code(k))}, 0, callerU.arrival(k))
		agentTap.TapPackets([][]byte{agentA.pkt(k, code(k))}, 0, agentA.arrival(k))
	}
	if err := rec.SetExtra("call_reason", "billing"); err != nil {
		t.Fatal(err)
	}
	if err := rec.Finish(at(300)); err != nil {
		t.Fatal(err)
	}
	if rec.Failed() || rec.Key() == "" {
		t.Fatalf("recording failed %v, key %q", rec.Failed(), rec.Key())
	}
	r := rec.(callRecording).Recorder
	info, ch := readPCM16(t, r.Path())
	if info.Frames != 2400 {
		t.Fatalf("frames = %d, want 2400 (300 ms)", info.Frames)
	}
	want := newExpect(2400)
	for k := 0; k < 10; k++ {
		want.put(Caller, 160*k, 160, audio.ULaw, code(k))
		want.put(Agent, 80+160*k, 160, audio.ALaw, code(k))
	}
	checkChannels(t, ch, want)
	if cr := r.record(); cr.Agent != "alice" || cr.Extra["call_reason"] != "billing" {
		t.Errorf("call record agent %q extra %v, want alice and call_reason billing", cr.Agent, cr.Extra)
	}
}

// Packets the relay passed on without a copy reach the tap as missed: the
// recording has silence where they were (the packets after them keep
// their places) and counts them as dropped, in its record and in the
// manager's backlog, whether they come with a later packet or alone.
func TestCallsTapCountsMissedCopies(t *testing.T) {
	m := newTestManager(t, testConfig(t))
	rec, err := m.Calls().Begin(callflow.RecordingInfo{CallID: "call-missed", Caller: "+15551234", Agent: "alice", Queue: "1900", Start: t0})
	if err != nil {
		t.Fatal(err)
	}
	callerTap := rec.Tap(callflow.CallerChannel, audio.PCMU().WithPT(callerU.pt))
	for k := 0; k < 10; k++ {
		switch k {
		case 4, 5: // relayed without a copy
		case 6:
			callerTap.TapPackets([][]byte{callerU.pkt(k, code(k))}, 2, callerU.arrival(k))
		default:
			callerTap.TapPackets([][]byte{callerU.pkt(k, code(k))}, 0, callerU.arrival(k))
		}
	}
	callerTap.TapPackets(nil, 3, t0) // three more after the last copy
	if err := rec.Finish(at(300)); err != nil {
		t.Fatal(err)
	}
	r := rec.(callRecording).Recorder
	if st := r.Stats(); st.Dropped != 5 || st.Received[Caller] != 8 {
		t.Errorf("stats %+v: want 5 dropped, 8 received", st)
	}
	if n := m.Backlog().DroppedPackets; n != 5 {
		t.Errorf("the manager counts %d packets dropped, want 5", n)
	}
	if cr := r.record(); cr.Stats == nil || cr.Stats.Dropped != 5 {
		t.Errorf("the call record's stats %+v, want 5 dropped", cr.Stats)
	}
	_, ch := readPCM16(t, r.Path())
	want := newExpect(2400)
	for k := 0; k < 10; k++ {
		if k != 4 && k != 5 {
			want.put(Caller, 160*k, 160, audio.ULaw, code(k))
		}
	}
	checkChannels(t, ch, want)
}
