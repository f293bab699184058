package callflow

import (
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"hotline/audio"
	"hotline/survey"
)

// A call's recording, as call control sees it: when a call is recorded
// (the recording side's policy, at the answer or at the bridge), what
// happens when a recording cannot start (the call goes on unrecorded),
// what goes into the recording's own record (the agent, the reason, the
// survey's answers, ...), and its end with the call. The recording
// itself (spooling, mixing, uploading) is the recording side's, behind
// Recordings and Recording; the SIP side taps its legs' media into it
// (Recording.Tap), so packets go from the media path to the recorder
// without passing through call control.

// Recordings is the recording side as call control needs it
// (cmd/hotline wires recording.Manager's).
type Recordings interface {
	// ShouldRecord applies the recording policy to a call of queue (the
	// hotline number) and a caller of segment.
	ShouldRecord(queue, segment string) bool
	// StartAtAnswer says whether recording starts when the caller is
	// answered rather than at the bridge.
	StartAtAnswer() bool
	// Begin starts a recording.
	Begin(RecordingInfo) (Recording, error)
}

// RecordingInfo describes a call whose recording begins.
type RecordingInfo struct {
	CallID, Caller, Agent, Queue, Segment string
	// Reason says why the call is recorded ("" for the policy,
	// ReasonVoicemail, ...).
	Reason string
	// Start is the instant the recording's first frame stands for; zero
	// (what the SIP side passes): now, on the recording side's clock.
	Start time.Time
}

// ReasonVoicemail is the reason of a recording that holds a voicemail.
const ReasonVoicemail = "voicemail"

// Channel is one channel of a call's recording.
type Channel int

// The channels of a recording.
const (
	// CallerChannel records the caller's (a callback's customer's) leg.
	CallerChannel Channel = iota
	// AgentChannel records the agent's leg (after a transfer the next
	// agent's, or the outside party's).
	AgentChannel
)

// PacketTap records a batch of one channel's packets as they arrive
// (what one read of a media leg returned, in order, with the arrival of
// the last), and counts the packets before them the relay could not copy
// (missed: audio the recording lacks, recorded as silence). It must not
// block and must keep neither pkts nor the packets.
type PacketTap interface {
	TapPackets(pkts [][]byte, missed uint64, arrival time.Time)
}

// Recording is one call's recording in progress.
type Recording interface {
	// Key is the recording's object key.
	Key() string
	// Failed says the recording could not be kept (it recorded nothing).
	Failed() bool
	// Tap makes codec the format of channel ch and returns what records
	// that channel's packets as they arrive (a media leg's packet tap).
	Tap(ch Channel, codec audio.Codec) PacketTap
	// SetAgent names the call's agent in the recording's record.
	SetAgent(agent string) error
	// SetExtra sets a field of the recording's record.
	SetExtra(key, value string) error
	// SetCSAT sets the survey's CSAT in the recording's record.
	SetCSAT(score int) error
	// Pause records silence from at, noting reason; Resume ends it.
	Pause(at time.Time, reason string) error
	Resume(at time.Time) error
	// Finish ends the recording at end.
	Finish(end time.Time) error
}

// Recording is the call's recording, nil when the call is not recorded.
func (c *Call[L]) Recording() Recording {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.rec
}

// RecordAtAnswer starts recording a call as its caller is answered, if
// the recording side starts recordings at the answer (and the policy
// records the call: Record). rs nil records nothing.
func (c *Call[L]) RecordAtAnswer(rs Recordings, info RecordingInfo, log *slog.Logger) (rec Recording, begun bool) {
	if rs == nil || !rs.StartAtAnswer() {
		return nil, false
	}
	return c.Record(rs, info, log)
}

// Record starts recording the call if the policy says so (begun true:
// the SIP side taps the caller's leg into the recording's
// CallerChannel), or, for a call recorded already, names its agent
// (info.Agent, unless empty); either way the recording's record gets
// the call's reason, a callback's direction and id, and the outside
// number the call was transferred to (recordFields). Recording never stands in the way of the
// call: a recording that cannot start is logged and the call goes on
// unrecorded. It returns the call's recording, nil if none.
func (c *Call[L]) Record(rs Recordings, info RecordingInfo, log *slog.Logger) (rec Recording, begun bool) {
	if rs == nil {
		return nil, false
	}
	if rec = c.Recording(); rec != nil {
		if info.Agent != "" {
			_ = rec.SetAgent(info.Agent)
		}
		c.recordFields(rec)
		return rec, false
	}
	if !rs.ShouldRecord(info.Queue, info.Segment) {
		return nil, false
	}
	rec, err := rs.Begin(info)
	if err != nil {
		log.Error("recording not started; the call goes on unrecorded", "error", err)
		return nil, false
	}
	c.mu.Lock()
	c.rec = rec
	c.mu.Unlock()
	c.recordFields(rec)
	log.Info("recording", "key", rec.Key())
	return rec, true
}

// RecordingInfo describes the call to a recording that begins: its id,
// caller, the hotline dialled (the policy's queue), the customer's
// segment and agent ("" while none is connected). It is dated by the
// recording side's clock (Start zero).
func (c *Call[L]) RecordingInfo(agent string) RecordingInfo {
	c.mu.Lock()
	defer c.mu.Unlock()
	return RecordingInfo{CallID: c.ident.ID, Caller: c.ident.Caller, Agent: agent,
		Queue: c.hotline.Number, Segment: c.customer.Segment}
}

// recordFields puts into rec's record the fields the call knows of
// itself (empty ones left out): its reason (call_reason), a callback's
// direction and callback id, the outside number a transfer connected
// the caller with.
func (c *Call[L]) recordFields(rec Recording) {
	c.mu.Lock()
	reason, direction, callback, outside := c.reason, c.ident.Direction, c.callbackID, c.outside
	c.mu.Unlock()
	set := func(key, value string) {
		if value != "" {
			_ = rec.SetExtra(key, value)
		}
	}
	set("call_reason", reason)
	if direction == DirectionCallback {
		set("direction", direction)
		set("callback_id", callback)
	}
	set("outside_number", outside)
}

// RecordVoicemail records a voicemail: a call not recorded yet begins a
// recording with reason ReasonVoicemail (begun true: the SIP side taps
// the caller's leg into it), one recorded since its answer keeps its
// recording, marked voicemail. It returns the recording.
func (c *Call[L]) RecordVoicemail(rs Recordings, info RecordingInfo) (rec Recording, begun bool, err error) {
	if rs == nil {
		return nil, false, ErrNotRecording
	}
	if rec = c.Recording(); rec != nil {
		_ = rec.SetExtra("reason", ReasonVoicemail)
		return rec, false, nil
	}
	info.Reason = ReasonVoicemail
	if rec, err = rs.Begin(info); err != nil {
		return nil, false, err
	}
	c.mu.Lock()
	c.rec = rec
	c.mu.Unlock()
	return rec, true, nil
}

// RecordExtra sets a field of the recording's record, if the call is
// recorded and value is not empty (a failure changes nothing of the
// call).
func (c *Call[L]) RecordExtra(key, value string) {
	if rec := c.Recording(); rec != nil && value != "" {
		_ = rec.SetExtra(key, value)
	}
}

// SaveAnswer puts a survey answer into the call's recording as soon as
// it is given (its spooled record is rewritten, so the answer survives a
// crash before the call ends): CSAT as the record's CSAT, NPS as its
// field nps. A call not recorded keeps it in its own record only (nil).
func (c *Call[L]) SaveAnswer(question string, v int) error {
	rec := c.Recording()
	if rec == nil {
		return nil
	}
	switch question {
	case survey.PromptCSAT:
		return rec.SetCSAT(v)
	case survey.PromptNPS:
		return rec.SetExtra("nps", strconv.Itoa(v))
	}
	return nil
}

// FinishRecording finishes the call's recording at end, if any (a
// failure is logged).
func (c *Call[L]) FinishRecording(end time.Time, log *slog.Logger) {
	rec := c.Recording()
	if rec == nil {
		return
	}
	if err := rec.Finish(end); err != nil {
		log.Error("recording not finished cleanly", "error", err)
	}
}

// Refusals of the live recording controls (RecordingControl).
var (
	// ErrNoSuchCall: no call in progress has that id.
	ErrNoSuchCall = errors.New("no such call in progress")
	// ErrNotRecorded: the call is not being recorded.
	ErrNotRecorded = errors.New("the call is not being recorded")
)

// RecordingControl pauses and resumes the recordings of calls in
// progress (the API's): while paused (e.g. while a customer reads out a
// card number) silence is recorded and the pause is noted in the
// recording's record.
type RecordingControl struct {
	// Call finds the call in progress callID: its recording (nil when it
	// is not recorded) and its log; ok false when there is none.
	Call func(callID string) (rec Recording, log *slog.Logger, ok bool)
}

func (rc RecordingControl) recording(callID string) (Recording, *slog.Logger, error) {
	rec, log, ok := rc.Call(callID)
	switch {
	case !ok:
		return nil, nil, ErrNoSuchCall
	case rec == nil:
		return nil, nil, ErrNotRecorded
	}
	return rec, log, nil
}

// PauseRecording pauses the recording of call callID, noting reason.
// The recorder runs on real time, like packet arrivals.
func (rc RecordingControl) PauseRecording(callID, reason string) error {
	rec, log, err := rc.recording(callID)
	if err != nil {
		return err
	}
	if err := rec.Pause(time.Now(), reason); err != nil {
		return fmt.Errorf("pausing the recording: %w", err)
	}
	log.Info("recording paused", "reason", reason)
	return nil
}

// ResumeRecording resumes the paused recording of call callID.
func (rc RecordingControl) ResumeRecording(callID string) error {
	rec, log, err := rc.recording(callID)
	if err != nil {
		return err
	}
	if err := rec.Resume(time.Now()); err != nil {
		return fmt.Errorf("resuming the recording: %w", err)
	}
	log.Info("recording resumed")
	return nil
}
