package sip

import (
	"strconv"
	"time"

	"hotline/audio"
	"hotline/survey"
)

// runSurvey asks the caller, whose agent has hung up, to rate the call by
// keypad: each question is played (a key pressed during the prompt
// answers it), asked again once after no or an invalid answer, and the
// answers go into the call's record and recording. A caller who hangs up
// is a non-response, not a score.
func (c *call) runSurvey() {
	cfg := c.s.deps.Survey
	lang := cfg.PromptLanguage(c.s.prompts, c.customer.Language)
	prompt := func(name string) *audio.Clip { return c.s.prompts.Clip(lang, name) }
	res := survey.Result{Ran: true, Language: lang}
	defer func() {
		c.mu.Lock()
		c.survey = res
		c.mu.Unlock()
		c.caller.media.Play(nil)
	}()

	keys := make(chan rune, 32)
	c.caller.media.OnDTMF(func(d rune) {
		select {
		case keys <- d:
		default:
		}
	})
	c.log.Info("survey", "language", lang)
	for _, q := range cfg.Questions() {
		for attempt := 0; attempt <= cfg.Repeats; attempt++ {
			if attempt > 0 && !c.play(prompt(survey.PromptInvalid), keys, false) {
				return
			}
			input, ok := c.collect(q, prompt(q.Prompt), keys)
			if !ok {
				return // the caller hung up
			}
			if v, valid := q.Parse(input); valid {
				c.log.Info("survey answer", "question", q.Prompt, "value", v)
				switch q.Prompt {
				case survey.PromptCSAT:
					res.CSAT = &v
				case survey.PromptNPS:
					res.NPS = &v
				}
				c.saveAnswer(q.Prompt, v)
				break
			}
			c.log.Info("survey: no valid answer", "question", q.Prompt, "keys", input, "attempt", attempt+1)
		}
	}
	c.play(prompt(survey.PromptThanks), keys, false)
}

// saveAnswer puts a survey answer into the call's recording as soon as it
// is given: its spooled call record is rewritten, so the answer survives
// a crash before the call ends.
func (c *call) saveAnswer(question string, v int) {
	c.mu.Lock()
	rec := c.rec
	c.mu.Unlock()
	if rec == nil {
		return
	}
	var err error
	switch question {
	case survey.PromptCSAT:
		err = rec.SetCSAT(v)
	case survey.PromptNPS:
		err = rec.SetExtra("nps", strconv.Itoa(v))
	}
	if err != nil {
		c.log.Warn("survey answer not saved in the recording", "question", question, "error", err)
	}
}

// play plays a prompt to the caller and waits for its end; with bargeIn a
// key pressed stops it (the key stays queued). It returns false if the
// call ended meanwhile.
func (c *call) play(a *audio.Clip, keys chan rune, bargeIn bool) bool {
	src, done := a.Once()
	c.caller.media.Play(src)
	// The prompt is paced in real time; allow a little slack.
	limit := time.NewTimer(a.Duration() + 2*time.Second)
	defer limit.Stop()
	for {
		select {
		case <-done:
			return true
		case <-limit.C:
			return true
		case <-c.ctx.Done():
			return false
		case k := <-keys:
			if bargeIn {
				c.caller.media.Play(nil)
				// put it back for collect
				select {
				case keys <- k:
				default:
				}
				return true
			}
		}
	}
}

// collect plays a question and gathers the caller's keys: up to
// q.MaxDigits digits, '#' ending early, within the survey's timeout after
// the prompt and its inter-digit timeout between digits. ok is false if
// the call ended.
func (c *call) collect(q survey.Question, prompt *audio.Clip, keys chan rune) (input string, ok bool) {
	cfg := c.s.deps.Survey
	return c.collectKeys(prompt, keys, q.MaxDigits, cfg.Timeout, cfg.InterDigit)
}

// collectKeys plays a prompt (a key stops it) and gathers up to maxDigits
// keys, '#' ending early, within timeout after the prompt and interDigit
// between keys. ok is false if the call ended.
func (c *call) collectKeys(prompt *audio.Clip, keys chan rune, maxDigits int, timeout, interDigit time.Duration) (input string, ok bool) {
	// Keys pressed before the question (e.g. during the conversation)
	// don't count.
	for len(keys) > 0 {
		<-keys
	}
	if !c.play(prompt, keys, true) {
		return "", false
	}
	wait := time.NewTimer(timeout)
	defer wait.Stop()
	for {
		select {
		case <-c.ctx.Done():
			return input, false
		case <-wait.C:
			return input, true
		case k := <-keys:
			if k == '#' {
				return input, true
			}
			input += string(k)
			if len(input) >= maxDigits {
				return input, true
			}
			wait.Reset(interDigit)
		}
	}
}
