// Package survey is the post-call satisfaction survey: when the agent hangs
// up first, the caller is asked for a CSAT rating (1-5) and optionally an
// NPS score (0-10) by keypad. This package holds the configuration, the
// names of the prompts it needs (audio.Prompts holds the prompts) and the
// rules for answers; sip plays the prompts and collects the digits.
package survey

import (
	"errors"
	"fmt"
	"os"
	"time"

	"hotline/audio"
	"hotline/internal/cfg"
)

// Config is the survey section of the configuration.
type Config struct {
	// Enabled runs the survey when the agent hangs up first (default true).
	Enabled *bool `yaml:"enabled"`
	// NPS adds the "would you recommend us" question (0-10).
	NPS bool `yaml:"nps"`
	// Timeout is how long to wait for a key after a prompt ends.
	Timeout time.Duration `yaml:"timeout"`
	// InterDigit is how long to wait for the second digit of an NPS score.
	InterDigit time.Duration `yaml:"inter_digit"`
	// Repeats is how many times a question is asked again after no or an
	// invalid answer.
	Repeats int `yaml:"repeats"`
	// Language is the prompt language when the customer's is unknown.
	Language string `yaml:"language"`
	// PromptsDir replaces the shipped prompts: <dir>/<language>/<name>.wav
	// with names csat, nps, invalid, thanks. Empty: the shipped ones.
	PromptsDir string `yaml:"prompts_dir"`
}

// SetDefaults fills in unset values.
func (c *Config) SetDefaults() {
	if c.Enabled == nil {
		on := true
		c.Enabled = &on
	}
	if c.Timeout == 0 {
		c.Timeout = 6 * time.Second
	}
	if c.InterDigit == 0 {
		c.InterDigit = 3 * time.Second
	}
	if c.Language == "" {
		c.Language = "en"
	}
}

// On says whether the survey runs.
func (c *Config) On() bool { return c.Enabled == nil || *c.Enabled }

// Validate reports problems in the survey section.
func (c *Config) Validate() error {
	var errs []error
	if c.Timeout < time.Second {
		errs = append(errs, cfg.Errorf("timeout", "must be at least 1s, got %s", c.Timeout))
	}
	if c.InterDigit < 500*time.Millisecond {
		errs = append(errs, cfg.Errorf("inter_digit", "must be at least 500ms, got %s", c.InterDigit))
	}
	if c.Repeats < 0 || c.Repeats > 3 {
		errs = append(errs, cfg.Errorf("repeats", "must be 0 to 3, got %d", c.Repeats))
	}
	if c.PromptsDir != "" {
		if st, err := os.Stat(c.PromptsDir); err != nil || !st.IsDir() {
			errs = append(errs, cfg.Errorf("prompts_dir", "%s is not a readable directory", c.PromptsDir))
		}
	}
	return errors.Join(errs...)
}

// Prompt names.
const (
	PromptCSAT    = "csat"
	PromptNPS     = "nps"
	PromptInvalid = "invalid"
	PromptThanks  = "thanks"
)

// PromptNames lists every prompt a language needs.
func PromptNames() []string {
	return []string{PromptCSAT, PromptNPS, PromptInvalid, PromptThanks}
}

// CheckPrompts reports what the survey lacks in p: the default language
// lang, or any prompt of PromptNames in any language of p.
func CheckPrompts(p *audio.Prompts, lang string) error {
	if err := p.Require(lang, PromptNames()...); err != nil {
		return fmt.Errorf("survey %w", err)
	}
	return nil
}

// PromptLanguage is the language the survey is asked in: the customer's
// when p has prompts in it, else the configured one, else any (English
// first).
func (c *Config) PromptLanguage(p *audio.Prompts, customer string) string {
	switch {
	case p.HasLanguage(customer):
		return customer
	case p.HasLanguage(c.Language):
		return c.Language
	case p.HasLanguage("en"):
		return "en"
	}
	if ls := p.Languages(); len(ls) > 0 {
		return ls[0]
	}
	return c.Language
}

// Question is one survey question.
type Question struct {
	Prompt string
	// MaxDigits is how many digits an answer has at most; '#' ends early.
	MaxDigits int
	Min, Max  int
}

// Questions returns the questions the configuration asks, in order.
func (c *Config) Questions() []Question {
	q := []Question{{Prompt: PromptCSAT, MaxDigits: 1, Min: 1, Max: 5}}
	if c.NPS {
		q = append(q, Question{Prompt: PromptNPS, MaxDigits: 2, Min: 0, Max: 10})
	}
	return q
}

// Parse turns the keys pressed into an answer; ok is false for an invalid
// answer (nothing pressed, out of range, not digits).
func (q Question) Parse(keys string) (value int, ok bool) {
	if keys == "" || len(keys) > q.MaxDigits {
		return 0, false
	}
	for _, k := range keys {
		if k < '0' || k > '9' {
			return 0, false
		}
		value = value*10 + int(k-'0')
	}
	if value < q.Min || value > q.Max {
		return 0, false
	}
	return value, true
}

// Result is what the caller answered. Nil scores mean no response.
type Result struct {
	Ran  bool // the survey was offered
	CSAT *int
	NPS  *int
	// Language the prompts were played in.
	Language string
}

// Satisfied says whether the CSAT answer is 4 or 5.
func (r Result) Satisfied() bool { return r.CSAT != nil && *r.CSAT >= 4 }
