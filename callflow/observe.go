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

// Metrics counts calls: finished (CallMetrics, from their records) and
// what happens while they run. Package callflow/callmetrics puts them in
// the metrics package.
type Metrics interface {
	CallMetrics
	// CallOffered counts a call offered to its queue.
	CallOffered(c LiveCall)
	// QueueEmpty counts a caller an empty queue turned away, when it
	// joined ("join") or while it waited ("leave").
	QueueEmpty(c LiveCall, when string)
	// AgentNoAnswer counts an agent offered a call of queue who did not
	// take it, for reason (NoAnswerReason).
	AgentNoAnswer(queue, reason string)
	// Transfer counts a transfer of call callID by kind (blind,
	// attended, ...), target (agent, queue, number) and outcome.
	Transfer(callID, kind, target, outcome string)
}

// LiveCall describes a call in progress for the metrics.
type LiveCall struct {
	// ID is the call's id.
	ID string
	// Queue is the queue the call is counted under (Call.QueueName).
	Queue string
	// Segment is the customer's segment.
	Segment string
	// Reason is why the customer called (a keypad choice).
	Reason string
	// Arrived is when the call arrived.
	Arrived time.Time
}

// LiveCall describes the call for the metrics.
func (c *Call[L]) LiveCall() LiveCall {
	id := c.Identity()
	return LiveCall{ID: id.ID, Queue: c.QueueName(), Segment: c.Customer().Segment, Reason: c.Reason(), Arrived: id.Arrived}
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
