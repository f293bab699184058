package callflow

import (
	"log/slog"

	"hotline/audio"
	"hotline/survey"
)

// Survey asks the peer of k's leg to rate the call: each question of cfg
// is played (a key pressed during the prompt answers it) and asked again
// after no or an invalid answer, up to cfg.Repeats times. prompt returns
// the survey's prompts in the language chosen; save receives each valid
// answer as it is given. A peer who hangs up (ctx ends) is a non-response,
// not a score: the answers so far are returned.
func Survey(k *Keypad, cfg *survey.Config, prompt func(name string) *audio.Clip, log *slog.Logger,
	save func(question string, value int)) (csat, nps *int) {
	defer k.leg.Play(nil)
	for _, q := range cfg.Questions() {
		for attempt := 0; attempt <= cfg.Repeats; attempt++ {
			if attempt > 0 && !k.Play(prompt(survey.PromptInvalid), false) {
				return csat, nps
			}
			input, ok := k.Collect(prompt(q.Prompt), q.MaxDigits, cfg.Timeout, cfg.InterDigit)
			if !ok {
				return csat, nps // hung up
			}
			if v, valid := q.Parse(input); valid {
				log.Info("survey answer", "question", q.Prompt, "value", v)
				switch q.Prompt {
				case survey.PromptCSAT:
					csat = &v
				case survey.PromptNPS:
					nps = &v
				}
				save(q.Prompt, v)
				break
			}
			log.Info("survey: no valid answer", "question", q.Prompt, "keys", input, "attempt", attempt+1)
		}
	}
	k.Play(prompt(survey.PromptThanks), false)
	return csat, nps
}
