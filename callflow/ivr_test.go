package callflow

import (
	"strings"
	"testing"
	"time"

	"hotline/audio"
	"hotline/routing/acd"
	"hotline/routing/config"
	"hotline/routing/directory"
	"hotline/routing/rules"
)

// TestAnnouncementPrompts: what an announcement says for each place and
// estimated wait; large numbers are not spoken.
func TestAnnouncementPrompts(t *testing.T) {
	no := false
	all := config.AnnounceConfig{Every: time.Minute}
	tests := []struct {
		name string
		st   acd.CallStatus
		a    config.AnnounceConfig
		key  string
		want string
	}{
		{"next, three minutes", acd.CallStatus{Position: 0, EstimatedWait: 3 * time.Minute}, all, "9",
			"position num_1 wait num_3 minutes press num_9 callback_offer"},
		{"twentieth", acd.CallStatus{Position: 19, EstimatedWait: 90 * time.Second}, all, "none",
			"position num_20 wait num_2 minutes"},
		{"many ahead", acd.CallStatus{Position: 20, EstimatedWait: 20*time.Minute + 29*time.Second}, all, "",
			"position_many wait num_20 minutes"},
		{"long wait", acd.CallStatus{Position: 3, EstimatedWait: 21 * time.Minute}, all, "#",
			"position num_4 wait_long press hash callback_offer"},
		{"under a minute", acd.CallStatus{Position: 1, EstimatedWait: 29 * time.Second}, all, "*",
			"position num_2 wait_short press star callback_offer"},
		{"about one minute", acd.CallStatus{Position: 1, EstimatedWait: 45 * time.Second}, all, "none",
			"position num_2 wait num_1 minute"},
		{"wait only", acd.CallStatus{Position: 5, EstimatedWait: 0}, config.AnnounceConfig{Every: time.Minute, Position: &no}, "0",
			"wait_short press num_0 callback_offer"},
		{"callback only", acd.CallStatus{Position: 5}, config.AnnounceConfig{Every: time.Minute, Position: &no, Wait: &no}, "9",
			"press num_9 callback_offer"},
	}
	for _, tt := range tests {
		if got := strings.Join(announcementPrompts(tt.st, tt.a, tt.key), " "); got != tt.want {
			t.Errorf("%s: %q, want %q", tt.name, got, tt.want)
		}
	}
}

// fakeKeypadCall is an inbound call for the keypad questions.
type fakeKeypadCall struct {
	*fakeActionCall
	routing *config.Config
	style   string // remembered
	asked   []rules.Attributes
	routed  []string // reasons
}

func (c *fakeKeypadCall) Prompts(names ...string) []*audio.Clip {
	var out []*audio.Clip
	for _, n := range names {
		if p := c.prompts[n]; p != nil {
			out = append(out, p)
		}
	}
	return out
}
func (c *fakeKeypadCall) Routing() *config.Config          { return c.routing }
func (c *fakeKeypadCall) Router() Router                   { return c }
func (c *fakeKeypadCall) Now() time.Time                   { return time.Now() }
func (c *fakeKeypadCall) Dialled() string                  { return "1900" }
func (c *fakeKeypadCall) RememberStyle(style string)       { c.style = style }
func (c *fakeKeypadCall) Route(d rules.Decision, r string) { c.routed = append(c.routed, r) }
func (c *fakeKeypadCall) LeftForCallback(id string)        {}
func (c *fakeKeypadCall) Hold() audio.Reader               { return nil }

func (c *fakeKeypadCall) Decide(a rules.Attributes, now time.Time) rules.Decision {
	c.asked = append(c.asked, a)
	return rules.Decision{Action: config.ActionQueue, Queue: "q-" + a.Style + "-" + a.Reason}
}

// TestAskFirst: a caller of unknown style is asked it, then the reason;
// the answers are remembered and route the call again.
func TestAskFirst(t *testing.T) {
	prompts := map[string]*audio.Clip{PromptStyle: clip(t, 800), "reason": clip(t, 800), PromptInvalid: clip(t, 800)}
	c := &fakeKeypadCall{fakeActionCall: newActionCall(prompts), routing: &config.Config{IVR: config.IVRConfig{
		StyleQuestion: true, Timeout: 2 * time.Second,
		ReasonMenu: config.ReasonMenuConfig{Prompt: "reason", Options: map[string]string{"1": "billing", "2": "complaint"}}}}}
	c.leg.answer = func(n int) string {
		switch n {
		case 1:
			return "2" // style: done for you
		case 2:
			return "1" // reason: billing
		}
		return ""
	}
	if !AskFirst(c) {
		t.Fatalf("AskFirst: the call ended (%v)", c.cause())
	}
	if !c.answered || c.style != directory.StyleReactive || len(c.asked) != 1 || c.asked[0].Style != directory.StyleReactive ||
		c.asked[0].Reason != "billing" || c.asked[0].Dialled != "1900" || len(c.routed) != 1 || c.routed[0] != "billing" {
		t.Errorf("answered %v, style %q, router asked %+v, routed %v", c.answered, c.style, c.asked, c.routed)
	}

	// Nothing configured: nothing asked.
	c.style, c.asked, c.routed = "", nil, nil
	c.routing.IVR.StyleQuestion, c.routing.IVR.ReasonMenu.Options = false, nil
	c.fakeActionCall = newActionCall(prompts)
	if !AskFirst(c) || c.answered || len(c.asked) != 0 {
		t.Errorf("nothing to ask: answered %v, router asked %+v", c.answered, c.asked)
	}
}
