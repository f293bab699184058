package callflow

import (
	"testing"

	"hotline/survey"
)

// A call without a survey configured is asked none: a nil
// PostCallSurvey is off and asks no NPS question.
func TestPostCallSurveyOnAndNPS(t *testing.T) {
	if sv := NewPostCallSurvey(nil); sv != nil || sv.On() || sv.AskNPS() {
		t.Fatalf("no survey config: got %v, on %v, nps %v; want nil, off, no NPS", sv, sv.On(), sv.AskNPS())
	}
	off := false
	if sv := NewPostCallSurvey(&survey.Config{Enabled: &off, NPS: true}); sv.On() || !sv.AskNPS() {
		t.Fatalf("disabled survey with NPS: on %v, nps %v; want off, NPS", sv.On(), sv.AskNPS())
	}
	if sv := NewPostCallSurvey(&survey.Config{Language: "vi"}); !sv.On() || sv.AskNPS() || sv.Language() != "vi" {
		t.Fatalf("default survey: on %v, nps %v, language %q; want on, no NPS, vi", sv.On(), sv.AskNPS(), sv.Language())
	}
}
