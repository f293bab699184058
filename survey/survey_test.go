package survey

import (
	"io/fs"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"hotline/audio"
	"hotline/deploy"
)

func TestQuestionsParse(t *testing.T) {
	c := Config{NPS: true}
	qs := c.Questions()
	if len(qs) != 2 || qs[0].Prompt != PromptCSAT || qs[1].Prompt != PromptNPS {
		t.Fatalf("questions %+v", qs)
	}
	csat, nps := qs[0], qs[1]
	for _, tc := range []struct {
		q    Question
		keys string
		want int
		ok   bool
	}{
		{csat, "5", 5, true}, {csat, "1", 1, true}, {csat, "0", 0, false}, {csat, "6", 0, false},
		{csat, "", 0, false}, {csat, "*", 0, false}, {csat, "45", 0, false},
		{nps, "0", 0, true}, {nps, "10", 10, true}, {nps, "9", 9, true}, {nps, "11", 0, false}, {nps, "#", 0, false},
	} {
		got, ok := tc.q.Parse(tc.keys)
		if got != tc.want || ok != tc.ok {
			t.Errorf("%s.Parse(%q) = %d, %v; want %d, %v", tc.q.Prompt, tc.keys, got, ok, tc.want, tc.ok)
		}
	}
	if len((&Config{}).Questions()) != 1 {
		t.Error("NPS asked although not configured")
	}
}

func TestShippedPrompts(t *testing.T) {
	p, err := audio.LoadPrompts(deploy.Prompts())
	if err != nil {
		t.Fatal(err)
	}
	if err := CheckPrompts(p, "en"); err != nil {
		t.Fatal(err)
	}
	for _, lang := range []string{"en", "vi"} {
		for _, name := range PromptNames() {
			if c := p.Clip(lang, name); c == nil || c.Duration() < 500*time.Millisecond {
				t.Errorf("%s/%s: %v", lang, name, c)
			}
		}
	}
	c := Config{Language: "vi"}
	for _, tc := range []struct{ customer, want string }{{"en", "en"}, {"vi", "vi"}, {"fr", "vi"}, {"", "vi"}} {
		if got := c.PromptLanguage(p, tc.customer); got != tc.want {
			t.Errorf("customer language %q: survey in %q, want %q", tc.customer, got, tc.want)
		}
	}
	if got := (&Config{Language: "de"}).PromptLanguage(p, "fr"); got != "en" {
		t.Errorf("no prompts in the configured language: survey in %q, want en", got)
	}
}

func TestCheckPromptsErrors(t *testing.T) {
	csat, err := fs.ReadFile(deploy.Prompts(), "en/csat.wav")
	if err != nil {
		t.Fatal(err)
	}
	p, err := audio.LoadPrompts(fstest.MapFS{"en/csat.wav": {Data: csat}})
	if err != nil {
		t.Fatal(err)
	}
	if err := CheckPrompts(p, "en"); err == nil || !strings.Contains(err.Error(), "language en") {
		t.Errorf("missing prompts: %v", err)
	}
	if err := CheckPrompts(p, "vi"); err == nil || !strings.Contains(err.Error(), `default language "vi"`) {
		t.Errorf("no default language: %v", err)
	}
}

func TestConfig(t *testing.T) {
	var c Config
	c.SetDefaults()
	if !c.On() || c.Timeout != 6*time.Second || c.Language != "en" {
		t.Fatalf("defaults %+v", c)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	bad := Config{Timeout: time.Millisecond, InterDigit: time.Millisecond, Repeats: 9, PromptsDir: "/nonexistent"}
	err := bad.Validate()
	for _, want := range []string{"timeout: must be at least 1s", "inter_digit:", "repeats: must be 0 to 3", "prompts_dir: /nonexistent is not a readable directory"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate() = %v, want %q", err, want)
		}
	}
}
