package callflow

import (
	"context"
	"encoding/binary"
	"log/slog"
	"sync"
	"testing"
	"time"

	"hotline/audio"
	"hotline/survey"
)

// fakeLeg plays what it is given as fast as it can read it (a real leg
// paces it in 20 ms packets) and lets the test press keys.
type fakeLeg struct {
	mu     sync.Mutex
	onKey  func(rune)
	gen    int
	played []audio.Reader
	// answer, when set, gives the keys to press when the n-th (from 1)
	// prompt starts.
	answer func(n int) string
}

func (f *fakeLeg) Play(src audio.Reader) {
	f.mu.Lock()
	f.gen++
	gen := f.gen
	if src != nil {
		f.played = append(f.played, src)
	}
	n, answer := len(f.played), f.answer
	f.mu.Unlock()
	if src == nil {
		return
	}
	if answer != nil {
		if keys := answer(n); keys != "" {
			go f.press(keys)
		}
	}
	go func() {
		buf := make([]int16, 160)
		for range 1000 {
			f.mu.Lock()
			stop := f.gen != gen
			f.mu.Unlock()
			if stop {
				return
			}
			src.Read(buf)
			time.Sleep(time.Millisecond)
		}
	}()
}

func (f *fakeLeg) OnDTMF(fn func(rune)) {
	f.mu.Lock()
	f.onKey = fn
	f.mu.Unlock()
}

func (f *fakeLeg) press(keys string) {
	f.mu.Lock()
	fn := f.onKey
	f.mu.Unlock()
	for _, k := range keys {
		fn(k)
	}
}

// clip is a clip of n samples.
func clip(t *testing.T, n int) *audio.Clip {
	t.Helper()
	le := binary.LittleEndian
	b := []byte("RIFF\x00\x00\x00\x00WAVEfmt ")
	b = le.AppendUint32(b, 16)
	b = le.AppendUint16(b, audio.WAVPCM)
	b = le.AppendUint16(b, 1)
	b = le.AppendUint32(b, 8000)
	b = le.AppendUint32(b, 16000)
	b = le.AppendUint16(b, 2)
	b = le.AppendUint16(b, 16)
	b = append(b, "data"...)
	b = le.AppendUint32(b, uint32(2*n))
	b = append(b, make([]byte, 2*n)...)
	c, err := audio.DecodeClip("test.wav", b)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func quiet() *slog.Logger { return slog.New(slog.DiscardHandler) }

func TestKeypadCollect(t *testing.T) {
	leg := &fakeLeg{}
	k := Listen(context.Background(), leg, nil)
	leg.press("9") // before the question: does not count
	go func() {
		time.Sleep(50 * time.Millisecond)
		leg.press("12#3")
	}()
	got, ok := k.Collect(clip(t, 800), 4, 2*time.Second, 2*time.Second)
	if !ok || got != "12" {
		t.Fatalf("Collect = %q %v, want 12 ('#' ends it; the key before does not count)", got, ok)
	}
	// No key: the timeout gives an empty answer.
	if got, ok := k.Collect(clip(t, 80), 1, 50*time.Millisecond, 50*time.Millisecond); !ok || got != "3" && got != "" {
		t.Fatalf("Collect after timeout = %q %v", got, ok)
	}
}

func TestKeypadMenuAsksAgainAfterAnInvalidKey(t *testing.T) {
	// The question, "invalid", the question again.
	leg := &fakeLeg{answer: func(n int) string { return map[int]string{1: "7", 3: "2"}[n] }}
	k := Listen(context.Background(), leg, nil)
	key, ok := k.Menu(clip(t, 80), clip(t, 80), "12", time.Second, quiet())
	if !ok || key != '2' {
		t.Fatalf("Menu = %q %v, want 2", key, ok)
	}
	leg.mu.Lock()
	n := len(leg.played)
	leg.mu.Unlock()
	if n != 3 {
		t.Errorf("%d prompts played, want 3", n)
	}
}

func TestKeypadEndsWithTheCall(t *testing.T) {
	leg := &fakeLeg{}
	ctx, cancel := context.WithCancel(context.Background())
	k := Listen(ctx, leg, nil)
	time.AfterFunc(30*time.Millisecond, cancel)
	if _, ok := k.Collect(clip(t, 80), 1, 10*time.Second, 10*time.Second); ok {
		t.Fatal("Collect went on after the call ended")
	}
	if Speaker(ctx, leg).Tone(nil, time.Second) {
		t.Fatal("Tone went on after the call ended")
	}
}

func TestSurvey(t *testing.T) {
	// CSAT (6: out of range), "invalid", CSAT again (4), NPS (10), thanks.
	leg := &fakeLeg{answer: func(n int) string { return map[int]string{1: "6", 3: "4", 4: "10"}[n] }}
	k := Listen(context.Background(), leg, nil)
	cfg := &survey.Config{NPS: true, Repeats: 1, Timeout: time.Second, InterDigit: time.Second}
	prompts := map[string]*audio.Clip{}
	for _, n := range survey.PromptNames() {
		prompts[n] = clip(t, 80)
	}
	saved := map[string]int{}
	csat, nps := Survey(k, cfg, func(n string) *audio.Clip { return prompts[n] }, quiet(),
		func(q string, v int) { saved[q] = v })
	if csat == nil || *csat != 4 || nps == nil || *nps != 10 {
		t.Fatalf("survey: csat %v nps %v, want 4 and 10", deref(csat), deref(nps))
	}
	if saved[survey.PromptCSAT] != 4 || saved[survey.PromptNPS] != 10 {
		t.Errorf("answers saved: %v", saved)
	}
	leg.mu.Lock()
	n := len(leg.played)
	leg.mu.Unlock()
	if n != 5 {
		t.Errorf("%d prompts played, want 5 (csat, invalid, csat, nps, thanks)", n)
	}
}

func deref(p *int) any {
	if p == nil {
		return nil
	}
	return *p
}
