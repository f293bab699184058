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
// batch tap into it: the same closure over the recorder as a direct
// wiring, so a recorded packet costs what it did.
func (r callRecording) Tap(ch callflow.Channel, codec audio.Codec) func(pkts [][]byte, missed uint64, arrival time.Time) {
	rec, side := r.Recorder, Caller
	if ch == callflow.AgentChannel {
		side = Agent
	}
	rec.SetFormat(side, codec)
	return func(ps [][]byte, missed uint64, at time.Time) {
		if missed > 0 {
			rec.Missed(side, missed)
		}
		rec.Packets(side, ps, at)
	}
}
