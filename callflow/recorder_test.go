package callflow

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"hotline/audio"
	"hotline/survey"
)

// fakeRecordings records what call control asked of the recording side.
type fakeRecordings struct {
	record, atAnswer bool
	beginErr         error
	begun            []RecordingInfo
	last             *fakeRecording
}

func (f *fakeRecordings) ShouldRecord(queue, segment string) bool { return f.record }
func (f *fakeRecordings) StartAtAnswer() bool                     { return f.atAnswer }
func (f *fakeRecordings) Begin(info RecordingInfo) (Recording, error) {
	if f.beginErr != nil {
		return nil, f.beginErr
	}
	f.begun = append(f.begun, info)
	f.last = &fakeRecording{key: "rec/" + info.CallID, extra: map[string]string{}}
	return f.last, nil
}

type fakeRecording struct {
	key, agent string
	extra      map[string]string
	csat       int
	failed     bool
	finished   time.Time
}

func (r *fakeRecording) Key() string                        { return r.key }
func (r *fakeRecording) Failed() bool                       { return r.failed }
func (r *fakeRecording) Tap(Channel, audio.Codec) PacketTap { return noTap{} }
func (r *fakeRecording) SetAgent(a string) error            { r.agent = a; return nil }
func (r *fakeRecording) SetExtra(k, v string) error         { r.extra[k] = v; return nil }
func (r *fakeRecording) SetCSAT(v int) error                { r.csat = v; return nil }
func (r *fakeRecording) Pause(time.Time, string) error      { return nil }
func (r *fakeRecording) Resume(time.Time) error             { return nil }
func (r *fakeRecording) Finish(end time.Time) error         { r.finished = end; return nil }

// noTap is a PacketTap that keeps nothing.
type noTap struct{}

func (noTap) TapPackets([][]byte, uint64, time.Time) {}

func discard() *slog.Logger                 { return slog.New(slog.NewTextHandler(&bytes.Buffer{}, nil)) }
func loggerTo(b *bytes.Buffer) *slog.Logger { return slog.New(slog.NewTextHandler(b, nil)) }

func infoFor(id, agent string) RecordingInfo {
	return RecordingInfo{CallID: id, Agent: agent, Queue: "1900"}
}

// newRecordedCall is a call and a recording side whose policy records it.
func newRecordedCall() (*Call[string], *fakeRecordings) {
	return &Call[string]{}, &fakeRecordings{record: true}
}

// recordedKey is the recording the call's record names.
func recordedKey(c *Call[string]) string {
	return c.Timeline().Recording
}

func mustRecording(t *testing.T, c *Call[string]) Recording {
	t.Helper()
	rec := c.Recording()
	if rec == nil {
		t.Fatal("the call is not recorded")
	}
	return rec
}

// A call is recorded from the bridge when the policy says so: the
// recording begins once (the caller's leg is tapped then), the next
// agent is named in it, its key is in the call's record, and it is
// finished with the call.
func TestCallRecordsAtTheBridge(t *testing.T) {
	c, rs := newRecordedCall()
	if rec, begun := c.RecordAtAnswer(rs, infoFor("c1", ""), discard()); rec != nil || begun {
		t.Fatal("recorded at the answer though recordings start at the bridge")
	}
	rec, begun := c.Record(rs, infoFor("c1", "alice"), discard())
	if rec == nil || !begun || len(rs.begun) != 1 || rs.begun[0].Agent != "alice" {
		t.Fatalf("bridge: recording %v begun %v, Begin calls %+v; want one, begun, for alice", rec, begun, rs.begun)
	}
	if _, begun := c.Record(rs, infoFor("c1", "bob"), discard()); begun || len(rs.begun) != 1 || rs.last.agent != "bob" {
		t.Errorf("after a transfer: begun %v, %d recordings, agent %q; want the same recording naming bob", begun, len(rs.begun), rs.last.agent)
	}
	c.RecordExtra("call_reason", "billing")
	c.RecordExtra("outside_number", "") // nothing to note
	if len(rs.last.extra) != 1 || rs.last.extra["call_reason"] != "billing" {
		t.Errorf("recording's fields %v, want call_reason billing only", rs.last.extra)
	}
	if err := c.SaveAnswer(survey.PromptCSAT, 4); err != nil || rs.last.csat != 4 {
		t.Errorf("CSAT in the recording %d (%v), want 4", rs.last.csat, err)
	}
	if err := c.SaveAnswer(survey.PromptNPS, 9); err != nil || rs.last.extra["nps"] != "9" {
		t.Errorf("NPS in the recording %q (%v), want 9", rs.last.extra["nps"], err)
	}
	if got := recordedKey(c); got != "rec/c1" {
		t.Errorf("the call's record names recording %q, want rec/c1", got)
	}
	end := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	c.FinishRecording(end, discard())
	if !mustRecording(t, c).(*fakeRecording).finished.Equal(end) {
		t.Error("the recording was not finished with the call")
	}
}

// Recording never stands in the way of a call: one the policy leaves
// out, or that cannot begin, leaves the call unrecorded (the failure
// logged); one whose recorder failed is not named in the record.
func TestCallRecordingPolicy(t *testing.T) {
	c, rs := newRecordedCall()
	rs.record = false
	if rec, _ := c.Record(rs, infoFor("c2", "alice"), discard()); rec != nil || len(rs.begun) != 0 {
		t.Error("recorded a call the policy leaves out")
	}
	if rec, _ := c.Record(nil, infoFor("c2", "alice"), discard()); rec != nil {
		t.Error("recorded a call without a recording side")
	}
	rs.record, rs.beginErr = true, errors.New("spool full")
	var log bytes.Buffer
	if rec, begun := c.Record(rs, infoFor("c2", "alice"), loggerTo(&log)); rec != nil || begun || c.Recording() != nil {
		t.Error("a recording that could not begin is the call's")
	}
	if !strings.Contains(log.String(), "the call goes on unrecorded") || !strings.Contains(log.String(), "spool full") {
		t.Errorf("the failure is not logged: %q", log.String())
	}
	if err := c.SaveAnswer(survey.PromptCSAT, 5); err != nil {
		t.Errorf("a survey answer of an unrecorded call: %v, want nil (kept in the call's record)", err)
	}

	rs.beginErr, rs.atAnswer = nil, true
	c2, _ := newRecordedCall()
	if _, begun := c2.RecordAtAnswer(rs, infoFor("c3", ""), discard()); !begun {
		t.Fatal("not recorded at the answer though recordings start there")
	}
	rs.last.failed = true
	if got := recordedKey(c2); got != "" {
		t.Errorf("a failed recording %q is named in the call's record", got)
	}
}

// A voicemail begins a recording with reason voicemail, or marks the
// one a call recorded since its answer has; without a recording side it
// is refused.
func TestCallRecordsVoicemail(t *testing.T) {
	c, rs := newRecordedCall()
	if _, _, err := c.RecordVoicemail(nil, infoFor("c4", "")); !errors.Is(err, ErrNotRecording) {
		t.Errorf("voicemail without recordings: %v, want ErrNotRecording", err)
	}
	rec, begun, err := c.RecordVoicemail(rs, infoFor("c4", ""))
	if err != nil || !begun || rec.Key() != "rec/c4" || rs.begun[0].Reason != ReasonVoicemail {
		t.Fatalf("voicemail: %v begun %v err %v, Begin %+v; want a recording with reason voicemail", rec, begun, err, rs.begun)
	}
	c2, rs2 := newRecordedCall()
	rs2.atAnswer = true
	c2.RecordAtAnswer(rs2, infoFor("c5", ""), discard())
	if _, begun, err := c2.RecordVoicemail(rs2, infoFor("c5", "")); err != nil || begun || len(rs2.begun) != 1 ||
		rs2.last.extra["reason"] != ReasonVoicemail {
		t.Errorf("voicemail of a call recorded since its answer: begun %v err %v, %d recordings, fields %v; want the same one marked voicemail",
			begun, err, len(rs2.begun), rs2.last.extra)
	}
}
