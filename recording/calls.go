package recording

import (
	"time"

	"hotline/audio"
	"hotline/callflow"
)

// Calls is the manager as call control records calls through it
// (callflow.Recordings): cmd/hotline wires it into the SIP side, which
// then needs no recording types.
func (m *Manager) Calls() callflow.Recordings { return callRecordings{m} }

// callRecordings is a Manager as callflow.Recordings.
type callRecordings struct{ m *Manager }

func (c callRecordings) ShouldRecord(queue, segment string) bool {
	return c.m.ShouldRecord(queue, segment)
}

func (c callRecordings) StartAtAnswer() bool { return c.m.StartAtAnswer() }

// Begin starts the recording of a call (Manager.Begin).
func (c callRecordings) Begin(info callflow.RecordingInfo) (callflow.Recording, error) {
	r, err := c.m.Begin(CallInfo{CallID: info.CallID, Caller: info.Caller, Agent: info.Agent, Queue: info.Queue,
		Segment: info.Segment, Reason: info.Reason, Start: info.Start})
	if err != nil {
		return nil, err
	}
	return callRecording{r}, nil
}

// callRecording is a Recorder as callflow.Recording.
type callRecording struct{ *Recorder }

// Tap sets the format of channel ch's side and returns the media leg's
// packet tap into it: the recorder itself, as a type of its side (no
// closure in between: with thousands of calls each object the reader of
// the copies goes through is a cache miss a packet).
func (r callRecording) Tap(ch callflow.Channel, codec audio.Codec) callflow.PacketTap {
	if ch == callflow.AgentChannel {
		r.SetFormat(Agent, codec)
		return (*agentTap)(r.Recorder)
	}
	r.SetFormat(Caller, codec)
	return (*callerTap)(r.Recorder)
}

// callerTap and agentTap are a Recorder as the packet tap of a side.
type (
	callerTap Recorder
	agentTap  Recorder
)

func (t *callerTap) TapPackets(ps [][]byte, missed uint64, at time.Time) {
	(*Recorder)(t).tap(Caller, ps, missed, at)
}

func (t *agentTap) TapPackets(ps [][]byte, missed uint64, at time.Time) {
	(*Recorder)(t).tap(Agent, ps, missed, at)
}

// tap is Missed, then Packets.
func (r *Recorder) tap(side Side, ps [][]byte, missed uint64, at time.Time) {
	if missed > 0 {
		r.Missed(side, missed)
	}
	r.Packets(side, ps, at)
}
