package callflow

import (
	"errors"
	"log/slog"
	"testing"
	"time"

	"hotline/routing/config"
	"hotline/routing/rules"
)

// pausable is a recording noting its pauses and resumes.
type pausable struct {
	fakeRecording
	reasons []string
	resumes int
	err     error
}

func (r *pausable) Pause(_ time.Time, reason string) error {
	if r.err != nil {
		return r.err
	}
	r.reasons = append(r.reasons, reason)
	return nil
}

func (r *pausable) Resume(time.Time) error {
	if r.err != nil {
		return r.err
	}
	r.resumes++
	return nil
}

// The API pauses and resumes a recorded call's recording through
// callflow; an unknown call and an unrecorded one get their own errors,
// and the recording's own refusal reaches the API.
func TestRecordingControl(t *testing.T) {
	rec := &pausable{}
	finished := errors.New("recording finished")
	done := &pausable{err: finished}
	calls := map[string]Recording{"rec": rec, "plain": nil, "done": done}
	rc := RecordingControl{Call: func(id string) (Recording, *slog.Logger, bool) {
		r, ok := calls[id]
		return r, slog.New(slog.DiscardHandler), ok
	}}
	if err := rc.PauseRecording("rec", "card number"); err != nil {
		t.Fatalf("pause: %v", err)
	}
	if err := rc.ResumeRecording("rec"); err != nil {
		t.Fatalf("resume: %v", err)
	}
	if len(rec.reasons) != 1 || rec.reasons[0] != "card number" || rec.resumes != 1 {
		t.Errorf("recording saw pauses %q and %d resumes, want [card number] and 1", rec.reasons, rec.resumes)
	}
	for _, tc := range []struct {
		id   string
		want error
	}{{"nope", ErrNoSuchCall}, {"plain", ErrNotRecorded}, {"done", finished}} {
		if err := rc.PauseRecording(tc.id, "x"); !errors.Is(err, tc.want) {
			t.Errorf("pause %s: %v, want %v", tc.id, err, tc.want)
		}
		if err := rc.ResumeRecording(tc.id); !errors.Is(err, tc.want) {
			t.Errorf("resume %s: %v, want %v", tc.id, err, tc.want)
		}
	}
}

// What a recording's record says of the call comes from the call: the
// info its recording begins with (id, caller, hotline, segment, agent),
// and the fields Record notes: the reason, a callback's direction and
// id, the outside number; a reroute's reason reaches a recording in
// progress.
func TestRecordingFieldsFromTheCall(t *testing.T) {
	t0 := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	rs := &fakeRecordings{record: true}

	cb := heldCall(t0)
	cb.Started(Identity{ID: "cb-call", Direction: DirectionCallback, Caller: "+84902222222", Arrived: t0})
	cb.NoteCallback("cb-7")
	info := cb.RecordingInfo("alice")
	if info.CallID != "cb-call" || info.Caller != "+84902222222" || info.Queue != "1900" || info.Segment != "vip" || info.Agent != "alice" || !info.Start.IsZero() {
		t.Errorf("callback's recording info %+v, want cb-call, +84902222222, 1900, vip, alice, no start", info)
	}
	if _, begun := cb.Record(rs, info, discard()); !begun {
		t.Fatal("the callback's recording did not begin")
	}
	if e := rs.last.extra; e["direction"] != DirectionCallback || e["callback_id"] != "cb-7" || e["call_reason"] != "billing" || e["outside_number"] != "" {
		t.Errorf("callback's recording fields %v, want direction callback, callback_id cb-7, call_reason billing", e)
	}

	in := heldCall(t0)
	if _, begun := in.Record(rs, in.RecordingInfo("bob"), discard()); !begun {
		t.Fatal("the inbound call's recording did not begin")
	}
	rec := rs.last
	if _, ok := rec.extra["direction"]; ok || rec.extra["call_reason"] != "billing" {
		t.Errorf("inbound recording fields %v, want call_reason billing and no direction", rec.extra)
	}
	in.NoteOutside("+84903333333")
	in.Record(rs, in.RecordingInfo(""), discard())
	if rec.extra["outside_number"] != "+84903333333" || rec.agent != "" { // the agent is not renamed to ""
		t.Errorf("after the outside transfer: fields %v agent set to %q, want outside_number +84903333333, agent untouched", rec.extra, rec.agent)
	}
	in.Reroute(rules.Decision{Action: config.ActionQueue, Queue: "complaints"}, "complaint")
	if rec.extra["call_reason"] != "complaint" || in.QueueName() != "complaints" || in.Reason() != "complaint" {
		t.Errorf("after a reroute: call_reason %q queue %q reason %q, want complaint, complaints, complaint",
			rec.extra["call_reason"], in.QueueName(), in.Reason())
	}
}
