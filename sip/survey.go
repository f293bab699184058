package sip

// runSurvey asks the caller, whose agent has hung up, to rate the call by
// keypad (callflow.PostCallSurvey); the answers go into the call's record
// and recording.
func (c *call) runSurvey() {
	prompts := c.s.currentPrompts() // one set for the whole survey, reloads aside
	c.state.NoteSurvey(c.s.deps.Survey.Run(c.ctx, c.caller.media, prompts, c.state.Customer().Language, c.log, c.saveAnswer))
}

// saveAnswer puts a survey answer into the call's recording as soon as it
// is given: its spooled call record is rewritten, so the answer survives
// a crash before the call ends.
func (c *call) saveAnswer(question string, v int) {
	if err := c.state.SaveAnswer(question, v); err != nil {
		c.log.Warn("survey answer not saved in the recording", "question", question, "error", err)
	}
}
