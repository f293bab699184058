package callflow

import (
	"errors"
	"log/slog"
	"testing"
	"time"
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
