package callflow

import "time"

// Survey questions, as CallMetrics.SurveyNoResponse names them (the same
// values as the metrics package's).
const (
	QuestionCSAT = "csat"
	QuestionNPS  = "nps"
)

// CallMetrics counts finished calls (sip adapts *metrics.Metrics to it).
// Each method is given the call's record; the call is counted under its
// QueueName, its customer's segment and its reason. Outcomes are the
// record's (OutcomeAnswered, OutcomeAbandoned, ...).
type CallMetrics interface {
	// KeypadAbandoned counts a caller who hung up during the keypad
	// questions (never queued).
	KeypadAbandoned(r Record)
	// QueueWait counts a call leaving its queue with outcome after wait.
	QueueWait(r Record, outcome string, wait time.Duration)
	// HandleTime counts an answered call's connected time (talk and hold).
	HandleTime(r Record, connected time.Duration)
	// CSAT counts a survey's CSAT score given after wait.
	CSAT(r Record, wait time.Duration, score int)
	// NPS counts a survey's NPS score.
	NPS(r Record, score int)
	// SurveyNoResponse counts a survey question left unanswered.
	SurveyNoResponse(r Record, question string)
}

// QueueName is the queue the call is counted under: the one routing
// chose, else the hotline number.
func (r Record) QueueName() string {
	if r.Queue != "" {
		return r.Queue
	}
	return r.Hotline
}

// Observe moves the metrics of a finished call from its record: nothing
// for an after-hours call; a call never queued counts only if its caller
// hung up during the keypad questions; a queued call counts its wait by
// outcome, an answered one its connected time, and a surveyed one its
// CSAT (and, when nps is asked, NPS) answers or their absence. m may be
// nil (no metrics).
func Observe(m CallMetrics, r Record, nps bool) {
	if m == nil || r.Outcome == OutcomeAfterHours {
		return
	}
	if r.Queued.IsZero() {
		// Never queued: a caller who hung up during the keypad questions
		// is counted apart (not offered, but not lost from the metrics).
		if r.Outcome == OutcomeAbandoned {
			m.KeypadAbandoned(r)
		}
		return
	}
	// A failed call (neither the caller's choice nor the maximum wait:
	// shutdown, queue full, a failure) is counted as "failed".
	m.QueueWait(r, r.Outcome, r.Wait)
	if r.Outcome == OutcomeAnswered {
		m.HandleTime(r, r.Talk+r.Hold) // connected time: talk and hold
	}
	if !r.Survey.Ran {
		return
	}
	if r.Survey.CSAT != nil {
		m.CSAT(r, r.Wait, *r.Survey.CSAT)
	} else {
		m.SurveyNoResponse(r, QuestionCSAT)
	}
	if nps {
		if r.Survey.NPS != nil {
			m.NPS(r, *r.Survey.NPS)
		} else {
			m.SurveyNoResponse(r, QuestionNPS)
		}
	}
}
