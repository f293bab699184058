package main

// End-to-end tests of the caller's keypad and what callers hear outside
// a conversation: the style question and the reason menu before the
// queue, announcements and the callback key while waiting, and the
// after-hours message and voicemail. Callers are SIPp (keys are RFC 4733
// captures), agents baresip.

import (
	"context"
	"encoding/json"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"hotline/api"
	"hotline/internal/e2e"
	"hotline/recording"
	"hotline/routing/callbacks"
	"hotline/routing/config"
	"hotline/routing/directory"
	"hotline/routing/schedule"
)

// established counts the calls a baresip agent took.
func established(b *e2e.Baresip) int {
	n := 0
	for _, ev := range b.Events() {
		if ev.Type == e2e.EventCallEstablished {
			n++
		}
	}
	return n
}

// promptSamples reads a shipped prompt (deploy/prompts/<lang>/<name>.wav).
func promptSamples(t *testing.T, lang, name string) []int16 {
	t.Helper()
	s, rate, err := e2e.ReadWAV(filepath.Join("..", "..", "deploy", "prompts", lang, name+".wav"))
	if err != nil || rate != 8000 {
		t.Fatalf("prompt %s/%s: rate %d, %v", lang, name, rate, err)
	}
	return s
}

// correlation is the normalised correlation of a and b (same length):
// 1 for the same signal, about 0 for unrelated audio or silence.
func correlation(a, b []int16) float64 {
	var ab, aa, bb float64
	for i := range a {
		x, y := float64(a[i]), float64(b[i])
		ab += x * y
		aa += x * x
		bb += y * y
	}
	if aa == 0 || bb == 0 {
		return 0
	}
	return ab / math.Sqrt(aa*bb)
}

// findPrompt returns where clip starts in heard (sample offsets, on 20 ms
// packet boundaries, where every prompt Hotline plays starts), each
// occurrence once.
func findPrompt(heard, clip []int16) []int {
	var at []int
	for off := 0; off+len(clip) <= len(heard); off += 160 {
		if correlation(heard[off:off+len(clip)], clip) > 0.9 {
			at = append(at, off)
			off += len(clip) / 160 * 160 // still on packet boundaries
		}
	}
	return at
}

// metricValue sums a counter's value or a histogram's count over the
// series of a metric family whose labels include want.
func metricValue(t *testing.T, a *testApp, name string, want map[string]string) float64 {
	t.Helper()
	mfs, err := a.metrics.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	var v float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	series:
		for _, m := range mf.GetMetric() {
			have := map[string]string{}
			for _, l := range m.GetLabel() {
				have[l.GetName()] = l.GetValue()
			}
			for k, w := range want {
				if have[k] != w {
					continue series
				}
			}
			switch {
			case m.GetCounter() != nil:
				v += m.GetCounter().GetValue()
			case m.GetHistogram() != nil:
				v += float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	return v
}

// TestE2EIVRStyleQuestion: a first-time caller hears the style question
// and presses 2 ("do it for me"): the answer is kept in the directory's
// state file and routes the call by a styles: [reactive] rule to alice,
// not to bob of the default queue. The same caller's next call is not
// asked again and goes to alice straight away.
func TestE2EIVRStyleQuestion(t *testing.T) {
	skipShort(t)
	state := filepath.Join(t.TempDir(), "directory-state.json")
	a := startApp(t, func(c *Config) {
		c.IVR.StyleQuestion = true
		c.Directory.StateFile = state
		c.Queues = []config.QueueDef{{Name: "general"}, {Name: "doit"}}
		c.Rules = []config.RuleConfig{
			{Name: "reactive", Styles: []string{directory.StyleReactive}, Queue: "doit"},
			{Name: "default", Queue: "general"},
		}
		for i := range c.Agents {
			c.Agents[i].Queues = []string{"general"}
			if c.Agents[i].Username == "alice" {
				c.Agents[i].Queues = []string{"doit"}
			}
		}
		c.Callbacks.Queue = "general"
		off := false
		c.Survey.Enabled = &off
		c.Config.SetDefaults()
		if err := c.Config.Validate(); err != nil {
			t.Fatal(err)
		}
	})
	alice := startAgent(t, a, "alice", e2e.BaresipOptions{ToneHz: agentHz, AutoAnswer: true})
	bob := startAgent(t, a, "bob", e2e.BaresipOptions{ToneHz: agentHz, AutoAnswer: true})
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	hangUpAfter(ctx, alice, 2*time.Second)

	// Key 2 1.5 s into the question (it stops the prompt), then wait for
	// alice to hang up (Hotline's BYE).
	res := e2e.RunSIPp(ctx, t, e2e.SIPpOptions{
		Target:   a.sipAddr("udp"),
		Service:  "1900",
		Caller:   "0912000333",
		Scenario: e2e.UACKeypad("", 1500*time.Millisecond, []string{e2e.DTMFPCAP("2")}, time.Second, 30*time.Second),
		Timeout:  45 * time.Second,
	})
	res.RequireCalls(t, 1, 0)
	waitIdle(t, a)
	if established(alice) != 1 || established(bob) != 0 {
		t.Fatalf("alice took %d calls, bob %d; want the reactive caller with alice", established(alice), established(bob))
	}
	raw, err := os.ReadFile(state)
	if err != nil {
		t.Fatalf("directory state file: %v", err)
	}
	var st struct {
		Styles map[string]string `json:"styles"`
	}
	if err := json.Unmarshal(raw, &st); err != nil || st.Styles["+84912000333"] != directory.StyleReactive {
		t.Fatalf("state file %s (%v), want +84912000333 reactive", raw, err)
	}

	// Next call: no question (no key pressed), still alice's.
	callAndHangUp(ctx, t, a, "0912000333")
	if established(alice) != 2 || established(bob) != 0 {
		t.Fatalf("second call: alice took %d calls, bob %d; want it with alice", established(alice), established(bob))
	}
	if n := strings.Count(a.logs.String(), `msg="service style question"`); n != 1 {
		t.Errorf("the style question was asked %d times, want once", n)
	}
}

// TestE2EIVRReasonMenu: key 2 of the reason menu makes the call a
// complaint: bob of the complaints queue rings (not carol of the default
// queue). The reason is in the call record (log and the recording's
// record), labels the caller's rating in the metrics, and the handled
// complaint gets a follow-up callback.
func TestE2EIVRReasonMenu(t *testing.T) {
	skipShort(t)
	a := startApp(t, func(c *Config) {
		c.IVR.ReasonMenu = config.ReasonMenuConfig{Prompt: "reason",
			Options: map[string]string{"1": "order", "2": "complaint", "3": "technical"}}
		c.Queues = []config.QueueDef{{Name: "general"}, {Name: "complaints"}}
		c.Rules = []config.RuleConfig{
			{Name: "complaint", Reasons: []string{"complaint"}, Queue: "complaints"},
			{Name: "default", Queue: "general"},
		}
		for i := range c.Agents {
			c.Agents[i].Queues = []string{"general"}
			if c.Agents[i].Username == "bob" {
				c.Agents[i].Queues = []string{"complaints"}
			}
		}
		c.Callbacks.Queue = "general"
		c.Config.SetDefaults()
		if err := c.Config.Validate(); err != nil {
			t.Fatal(err)
		}
	})
	bob := startAgent(t, a, "bob", e2e.BaresipOptions{ToneHz: agentHz, AutoAnswer: true})
	carol := startAgent(t, a, "carol", e2e.BaresipOptions{ToneHz: agentHz, AutoAnswer: true})
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	hangUpAfter(ctx, bob, 2*time.Second)

	// 2 during the menu; 4 during the survey's question after bob hangs up.
	res := e2e.RunSIPp(ctx, t, e2e.SIPpOptions{
		Target:  a.sipAddr("udp"),
		Service: "1900",
		Caller:  "0912000555",
		Scenario: noPauseAfterKeys(e2e.UACKeypad("", 1500*time.Millisecond, []string{e2e.DTMFPCAP("2"), e2e.DTMFPCAP("4")},
			7*time.Second, 30*time.Second)),
		Timeout: 60 * time.Second,
	})
	res.RequireCalls(t, 1, 0)
	waitIdle(t, a)
	if established(bob) != 1 || established(carol) != 0 {
		t.Fatalf("bob took %d calls, carol %d; want the complaint with bob", established(bob), established(carol))
	}
	var ended string
	for _, l := range strings.Split(a.logs.String(), "\n") {
		if strings.Contains(l, `msg="call ended"`) {
			ended = l
		}
	}
	if !strings.Contains(ended, "reason=complaint") || !strings.Contains(ended, "outcome=answered") || !strings.Contains(ended, "agent=bob") {
		t.Errorf("call record %q, want reason=complaint, answered by bob", ended)
	}
	var recs []recording.CallRecord
	waitFor(t, 10*time.Second, "the recording's call record", func() bool {
		recs = callRecords(t, a.cfg.Recording.File.Dir)
		return len(recs) == 1
	})
	if recs[0].Extra["call_reason"] != "complaint" || recs[0].CSAT == nil || *recs[0].CSAT != 4 {
		t.Errorf("recording record extra %v csat %v, want call_reason complaint and CSAT 4", recs[0].Extra, recs[0].CSAT)
	}
	if got := metricValue(t, a, "hotline_csat_score", map[string]string{"queue": "complaints", "reason": "complaint"}); got != 1 {
		t.Errorf("hotline_csat_score{queue=complaints,reason=complaint} count %v, want 1", got)
	}
	var cbs []api.Callback
	if code := httpJSON(t, "GET", a.apiURL("/api/v1/callbacks"), "", &cbs); code != 200 {
		t.Fatalf("GET /api/v1/callbacks: %d", code)
	}
	if len(cbs) != 1 || cbs[0].Kind != callbacks.FollowUp || cbs[0].Reason != "complaint" || cbs[0].Number != "+84912000555" {
		t.Errorf("callbacks %+v, want one complaint follow-up for +84912000555", cbs)
	}
}

// TestE2EIVRQueueCallback: a caller waiting with no agent logged in
// presses 9: they leave the queue for a callback that keeps their place
// (GET /api/v1/callbacks), hear the confirmation and Hotline hangs up;
// the call's outcome is callback in the call record and the metrics.
func TestE2EIVRQueueCallback(t *testing.T) {
	skipShort(t)
	a := startApp(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	before := time.Now()
	res := e2e.RunSIPp(ctx, t, e2e.SIPpOptions{
		Target:   a.sipAddr("udp"),
		Service:  "1900",
		Caller:   "0912000666",
		Scenario: e2e.UACKeypad("", 2*time.Second, []string{e2e.DTMFPCAP("9")}, time.Second, 30*time.Second),
		Timeout:  45 * time.Second,
	})
	res.RequireCalls(t, 1, 0) // Hotline's BYE after the confirmation
	waitIdle(t, a)
	var cbs []api.Callback
	if code := httpJSON(t, "GET", a.apiURL("/api/v1/callbacks"), "", &cbs); code != 200 {
		t.Fatalf("GET /api/v1/callbacks: %d", code)
	}
	if len(cbs) != 1 || cbs[0].Number != "+84912000666" || cbs[0].Kind != callbacks.Queued ||
		cbs[0].Queue != config.DefaultQueueName || cbs[0].Arrived.Before(before.Add(-time.Second)) ||
		cbs[0].Arrived.After(before.Add(2*time.Second)) {
		t.Fatalf("callbacks %+v, want one queued callback for +84912000666 keeping the arrival of the call", cbs)
	}
	if !strings.Contains(a.logs.String(), "outcome=callback") {
		t.Error("no call record with outcome=callback in the log")
	}
	if got := metricValue(t, a, "hotline_queue_calls_total", map[string]string{"outcome": "callback"}); got != 1 {
		t.Errorf("hotline_queue_calls_total{outcome=callback} = %v, want 1", got)
	}
}

// TestE2EIVRAnnouncement: a caller waiting with no agent hears the hold
// tone, then, the configured interval later, "you are caller number one
// ... press 9 ...", then the hold tone again, and the announcement once
// more an interval after the first ended.
func TestE2EIVRAnnouncement(t *testing.T) {
	skipShort(t)
	const every = 6 * time.Second
	a := startApp(t, func(c *Config) {
		no := false
		for i := range c.Queues {
			c.Queues[i].Announce = &config.AnnounceConfig{Every: every, Wait: &no}
		}
	})
	rec := e2e.NewUDPRecorder(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	res := e2e.RunSIPp(ctx, t, e2e.SIPpOptions{
		Target:   a.sipAddr("udp"),
		Service:  "1900",
		Caller:   "0912000777",
		Scenario: e2e.UACPlayPCAP("", 23*time.Second).WithMediaPort(rec.Port()),
		Timeout:  45 * time.Second,
	})
	res.RequireCalls(t, 1, 0)
	waitIdle(t, a)

	heard := rec.Samples()
	position, one := promptSamples(t, "en", "position"), promptSamples(t, "en", "num_1")
	offer := promptSamples(t, "en", "callback_offer")
	at := findPrompt(heard, position)
	if len(at) != 2 {
		t.Fatalf("heard %q %d times in %s of audio, want twice", "you are caller number", len(at), time.Duration(len(heard))*time.Second/8000)
	}
	sec := func(n int) time.Duration { return time.Duration(n) * time.Second / 8000 }
	if sec(at[0]) < every-time.Second {
		t.Errorf("first announcement %s after the caller was answered, want about %s", sec(at[0]), every)
	}
	end := at[0]
	for _, clip := range [][]int16{position, one, promptSamples(t, "en", "press"), promptSamples(t, "en", "num_9"), offer} {
		if end+len(clip) > len(heard) || correlation(heard[end:end+len(clip)], clip) < 0.9 {
			t.Fatalf("the announcement at %s is not position, one, press, nine, callback offer", sec(at[0]))
		}
		end += len(clip)
	}
	if gap := sec(at[1] - end); gap < every-time.Second {
		t.Errorf("second announcement %s after the first ended, want about %s", gap, every)
	}
	if l := e2e.ToneLevel(heard[:at[0]], 8000, agentHz); l < e2e.MinToneLevel {
		t.Errorf("no hold tone before the announcement (level %.4f)", l)
	}
	if l := e2e.ToneLevel(heard[end:at[1]], 8000, agentHz); l < e2e.MinToneLevel {
		t.Errorf("the hold tone did not resume after the announcement (level %.4f)", l)
	}
}

// closedQueue routes every call to a queue whose schedule is never open,
// with the given after-hours action.
func closedQueue(t *testing.T, action config.ActionConfig) func(*Config) {
	return func(c *Config) {
		c.Schedules = []schedule.Config{{Name: "closed", Zone: "UTC"}} // no open hours
		c.Queues = []config.QueueDef{{Name: "general", Schedule: "closed", AfterHours: action}}
		c.Rules = []config.RuleConfig{{Name: "default", Queue: "general"}}
		c.Callbacks.Queue = "general"
		c.IVR.StyleQuestion = true // never asked: the call does not queue
		c.Config.SetDefaults()
		if err := c.Config.Validate(); err != nil {
			t.Fatal(err)
		}
	}
}

// TestE2EAfterHoursMessage: outside opening hours the caller is
// answered, hears the "closed" message to its end and Hotline hangs up;
// no agent rings and nothing is asked by keypad.
func TestE2EAfterHoursMessage(t *testing.T) {
	skipShort(t)
	a := startApp(t, closedQueue(t, config.ActionConfig{Type: config.ActionMessage}))
	agent := startAgent(t, a, "alice", e2e.BaresipOptions{ToneHz: agentHz, AutoAnswer: true})
	rec := e2e.NewUDPRecorder(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	res := e2e.RunSIPp(ctx, t, e2e.SIPpOptions{
		Target:   a.sipAddr("udp"),
		Service:  "1900",
		Caller:   "0912000888",
		Scenario: e2e.UACRemoteBye("", 30*time.Second).WithMediaPort(rec.Port()),
		Timeout:  45 * time.Second,
	})
	res.RequireCalls(t, 1, 0) // answered, then BYE from Hotline
	waitIdle(t, a)
	closed := promptSamples(t, "en", "closed")
	heard := rec.Samples()
	at := findPrompt(heard, closed)
	if len(at) != 1 {
		t.Fatalf("heard the closed message %d times in %d samples, want once, whole", len(at), len(heard))
	}
	if agent.HasEvent(e2e.EventCallIncoming) {
		t.Error("an agent was offered a call while the queue is closed")
	}
	logs := a.logs.String()
	if !strings.Contains(logs, "outcome=after_hours") || strings.Contains(logs, "service style question") {
		t.Error("want a call record with outcome=after_hours and no style question")
	}
}

// TestE2EAfterHoursVoicemail: outside opening hours the caller hears the
// voicemail prompt and a beep, speaks (a 1000 Hz tone) and presses #:
// Hotline hangs up and the message is a recording (reason voicemail)
// holding the caller's tone.
func TestE2EAfterHoursVoicemail(t *testing.T) {
	skipShort(t)
	a := startApp(t, closedQueue(t, config.ActionConfig{Type: config.ActionVoicemail}))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	prompt := time.Duration(len(promptSamples(t, "en", "voicemail"))) * time.Second / 8000
	res := e2e.RunSIPp(ctx, t, e2e.SIPpOptions{
		Target:  a.sipAddr("udp"),
		Service: "1900",
		Caller:  "0912000999",
		// After the prompt and the beep: 2 s of "speech", then # and
		// Hotline's BYE at once.
		Scenario: noPauseAfterKeys(e2e.UACKeypad("", prompt+1500*time.Millisecond,
			[]string{tonePCAP(t, 2*time.Second), e2e.DTMFPCAP("pound")}, 2500*time.Millisecond, 20*time.Second)),
		Timeout: 45 * time.Second,
	})
	res.RequireCalls(t, 1, 0) // Hotline hangs up after #
	waitIdle(t, a)

	dir := a.cfg.Recording.File.Dir
	var recs []recordingSidecar
	waitFor(t, 10*time.Second, "the voicemail's record in storage", func() bool {
		recs = sidecars(t, dir)
		return len(recs) == 1
	})
	if recs[0].Reason != "voicemail" || recs[0].Caller != "0912000999" {
		t.Fatalf("recording %+v, want the caller's voicemail", recs[0])
	}
	samples, _, err := e2e.ReadWAVChannel(filepath.Join(dir, filepath.FromSlash(recs[0].Key)), 0)
	if err != nil {
		t.Fatal(err)
	}
	if tone := e2e.DominantTone(samples, 8000, tones); tone != callerHz {
		t.Errorf("voicemail's dominant tone %v Hz, want the caller's %v Hz", tone, callerHz)
	}
	if d := e2e.ActiveDuration(samples, 8000); d < time.Second {
		t.Errorf("voicemail holds %s of sound, want the caller's 2 s", d)
	}
}

// noPauseAfterKeys removes UACKeypad's pause after the last key, for a
// far end that hangs up as soon as it gets the key (a BYE arriving during
// a SIPp pause fails the call).
func noPauseAfterKeys(s e2e.Scenario) e2e.Scenario {
	i := strings.LastIndex(s.XML, "<pause ")
	if i < 0 {
		return s
	}
	j := strings.Index(s.XML[i:], "/>")
	s.XML = s.XML[:i] + s.XML[i+j+2:] // no message after it refers to it by index
	return s
}

// recordingSidecar is what the voicemail test reads of a recording's
// JSON record.
type recordingSidecar struct {
	Key    string `json:"key"`
	Caller string `json:"caller"`
	Reason string `json:"reason"`
}

func sidecars(t *testing.T, dir string) []recordingSidecar {
	t.Helper()
	var out []recordingSidecar
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".json") {
			return nil
		}
		raw, err := os.ReadFile(p)
		if err != nil {
			return nil
		}
		var r recordingSidecar
		if json.Unmarshal(raw, &r) == nil && r.Key != "" {
			out = append(out, r)
		}
		return nil
	})
	return out
}

// TestE2EKeypadHangupCounted: callers who hang up while the style question
// plays are not offered to a queue, yet the metrics count them
// (hotline_keypad_abandoned_total, as scraped from /metrics).
func TestE2EKeypadHangupCounted(t *testing.T) {
	skipShort(t)
	a := startApp(t, func(c *Config) {
		c.IVR.StyleQuestion = true
	})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for i, caller := range []string{"0912000701", "0912000702", "0912000703"} {
		// Answered by Hotline, then hang up 1.5 s into the question.
		res := e2e.RunSIPp(ctx, t, e2e.SIPpOptions{
			Target:   a.sipAddr("udp"),
			Service:  "1900",
			Caller:   caller,
			Scenario: e2e.UACPlayPCAP("", 1500*time.Millisecond),
			Timeout:  20 * time.Second,
		})
		res.RequireCalls(t, 1, 0)
		waitIdle(t, a)
		if got := a.metric(t, "hotline_keypad_abandoned_total", nil); got != float64(i+1) {
			t.Fatalf("after %d hang-ups during the question: hotline_keypad_abandoned_total %v", i+1, got)
		}
	}
	if got := a.metric(t, "hotline_calls_offered_total", nil); got != 0 {
		t.Errorf("hotline_calls_offered_total %v, want 0 (nobody reached a queue)", got)
	}
	if got := a.metric(t, "hotline_queue_wait_seconds_count", nil); got != 0 {
		t.Errorf("hotline_queue_wait_seconds_count %v, want 0", got)
	}
	if n := strings.Count(a.logs.String(), `outcome=abandoned agent=""`); n != 3 {
		t.Errorf("%d call records of abandoned calls without agent, want 3", n)
	}
}

// TestE2EQueueWhenEmpty: with when_empty {join: refuse, leave:
// after_hours}, a caller arriving while nobody is logged in hears the
// message and is hung up without entering the queue; a caller waiting
// behind alice's call when she logs out (through the API) leaves the
// queue and hears the after-hours message, while alice's call goes on.
func TestE2EQueueWhenEmpty(t *testing.T) {
	skipShort(t)
	a := startApp(t, func(c *Config) {
		c.Queues = []config.QueueDef{{Name: "general",
			WhenEmpty:  config.EmptyPolicy{Join: config.EmptyRefuse, Leave: config.EmptyAfterHours},
			AfterHours: config.ActionConfig{Type: config.ActionMessage, Message: "closed"}}}
		c.Rules = []config.RuleConfig{{Name: "all", Queue: "general"}}
		c.Callbacks.Queue = "general"
		for i := range c.Agents {
			c.Agents[i].Queues = nil
		}
		off := false
		c.Survey.Enabled = &off
		c.Config.SetDefaults()
		if err := c.Config.Validate(); err != nil {
			t.Fatal(err)
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	// Nobody logged in: refused at once, with the message.
	res := e2e.RunSIPp(ctx, t, e2e.SIPpOptions{Target: a.sipAddr("udp"), Service: "1900", Caller: "0912000801",
		Scenario: e2e.UACRemoteBye("", 20*time.Second), Timeout: 30 * time.Second})
	res.RequireCalls(t, 1, 0)
	waitIdle(t, a)
	if got := a.metric(t, "hotline_queue_empty_turned_away_total", map[string]string{"when": "join"}); got != 1 {
		t.Errorf("turned away on joining: %v, want 1", got)
	}
	if got := a.metric(t, "hotline_calls_offered_total", nil); got != 0 {
		t.Errorf("hotline_calls_offered_total %v, want 0: the refused caller never entered the queue", got)
	}

	// alice takes a call; a second caller waits behind it.
	alice := startAgent(t, a, "alice", e2e.BaresipOptions{ToneHz: agentHz, AutoAnswer: true, Record: true})
	first := e2e.StartSIPp(t, e2e.SIPpOptions{Target: a.sipAddr("udp"), Service: "1900", Caller: "0912000802",
		Scenario: e2e.UACPlayPCAP(tonePCAP(t, 6*time.Second), 7*time.Second)})
	if _, err := alice.WaitEvent(ctx, e2e.EventCallEstablished); err != nil {
		t.Fatal(err)
	}
	second := e2e.StartSIPp(t, e2e.SIPpOptions{Target: a.sipAddr("udp"), Service: "1900", Caller: "0912000803",
		Scenario: e2e.UACRemoteBye("", 30*time.Second)})
	waitFor(t, 10*time.Second, "the second caller waiting", func() bool { return a.queueInfo(t, "general").Waiting == 1 })
	// alice logs out during her call: the waiting caller is turned away.
	if code := httpJSON(t, "POST", a.apiURL("/api/v1/agents/alice/logout"), "", nil); code != 200 {
		t.Fatalf("logout: %d", code)
	}
	sres, err := second.Wait(ctx)
	if err != nil {
		t.Fatal(err)
	}
	sres.RequireCalls(t, 1, 0) // Hotline hung up after the message
	if got := a.metric(t, "hotline_queue_empty_turned_away_total", map[string]string{"when": "leave"}); got != 1 {
		t.Errorf("turned away while waiting: %v, want 1", got)
	}
	if got := a.metric(t, "hotline_queue_wait_seconds_count", map[string]string{"outcome": "timeout"}); got != 1 {
		t.Errorf("queue waits with outcome timeout: %v, want 1 (the caller who left)", got)
	}
	// alice's call carried on to its end.
	fres, err := first.Wait(ctx)
	if err != nil {
		t.Fatal(err)
	}
	fres.RequireCalls(t, 1, 0)
	if tone, active := heard(t, alice); tone != callerHz || active < 4*time.Second {
		t.Errorf("alice heard %v Hz for %s, want her whole call", tone, active)
	}
}
