package callflow

import (
	"context"
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

// PostCallSurvey is the survey a caller whose agent hung up is asked
// (survey.Config), as a call's SIP side uses it: which language its
// prompts are in, whether a prompt set can ask it, and asking it.
type PostCallSurvey struct {
	cfg *survey.Config
}

// NewPostCallSurvey is the survey cfg describes; nil for a nil cfg.
func NewPostCallSurvey(cfg *survey.Config) *PostCallSurvey {
	if cfg == nil {
		return nil
	}
	return &PostCallSurvey{cfg: cfg}
}

// On says whether the survey is enabled.
func (s *PostCallSurvey) On() bool { return s != nil && s.cfg.On() }

// Language is the survey's language (survey.language).
func (s *PostCallSurvey) Language() string { return s.cfg.Language }

// AskNPS says whether the NPS question is asked.
func (s *PostCallSurvey) AskNPS() bool { return s != nil && s.cfg.NPS }

// CheckPrompts says whether p holds the survey's prompts
// (survey.CheckPrompts).
func (s *PostCallSurvey) CheckPrompts(p *audio.Prompts) error {
	return survey.CheckPrompts(p, s.cfg.Language)
}

// Run asks the survey on leg within ctx, in the customer's language if
// prompts has it (survey.Config.PromptLanguage), each valid answer handed
// to save as it is given; the result goes into the call's record.
func (s *PostCallSurvey) Run(ctx context.Context, leg Player, prompts *audio.Prompts, customerLanguage string,
	log *slog.Logger, save func(question string, value int)) survey.Result {
	lang := s.cfg.PromptLanguage(prompts, customerLanguage)
	log.Info("survey", "language", lang)
	res := survey.Result{Ran: true, Language: lang}
	prompt := func(name string) *audio.Clip { return prompts.Clip(lang, name) }
	res.CSAT, res.NPS = Survey(Listen(ctx, leg, nil), s.cfg, prompt, log, save)
	return res
}
