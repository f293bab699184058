package sip

import (
	"hotline/audio"
	"hotline/callflow"
	"hotline/survey"
)

// runSurvey asks the caller, whose agent has hung up, to rate the call by
// keypad (callflow.Survey); the answers go into the call's record and
// recording.
func (c *call) runSurvey() {
	cfg := c.s.deps.Survey
	prompts := c.s.currentPrompts() // one set for the whole survey, reloads aside
	lang := cfg.PromptLanguage(prompts, c.state.Customer().Language)
	c.log.Info("survey", "language", lang)
	res := survey.Result{Ran: true, Language: lang}
	prompt := func(name string) *audio.Clip { return prompts.Clip(lang, name) }
	res.CSAT, res.NPS = callflow.Survey(callflow.Listen(c.ctx, c.caller.media, nil), cfg, prompt, c.log, c.saveAnswer)
	c.state.NoteSurvey(res)
}

// saveAnswer puts a survey answer into the call's recording as soon as it
// is given: its spooled call record is rewritten, so the answer survives
// a crash before the call ends.
func (c *call) saveAnswer(question string, v int) {
	if err := c.state.SaveAnswer(question, v); err != nil {
		c.log.Warn("survey answer not saved in the recording", "question", question, "error", err)
	}
}
