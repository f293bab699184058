package audio

import (
	"encoding/binary"
	"strings"
	"testing"
	"testing/fstest"
)

// promptWAV is a mono 8 kHz 16-bit WAV of n samples of value v: prompts
// tell apart by their first sample.
func promptWAV(v int16, n int) []byte {
	var data []byte
	for range n {
		data = binary.LittleEndian.AppendUint16(data, uint16(v))
	}
	return wavBytes(WAVPCM, 1, 16, nil, data, -1)
}

func first(c *Clip) int16 {
	if c == nil {
		return 0
	}
	s := make([]int16, 1)
	c.Loop().Read(s)
	return s[0]
}

func TestPromptsLookup(t *testing.T) {
	p, err := LoadPrompts(fstest.MapFS{
		"en/closed.wav":   {Data: promptWAV(1, 80)},
		"en/position.wav": {Data: promptWAV(2, 80)},
		"en/num_1.wav":    {Data: promptWAV(3, 80)},
		"vi/closed.wav":   {Data: promptWAV(11, 80)},
		"vi/position.wav": {Data: promptWAV(12, 80)},
		"readme.txt":      {Data: []byte("not a prompt")},
	})
	if err != nil {
		t.Fatal(err)
	}
	if ls := p.Languages(); len(ls) != 2 || ls[0] != "en" || ls[1] != "vi" {
		t.Fatalf("languages %v", ls)
	}
	if v := first(p.Find("closed", "vi", "en")); v != 11 {
		t.Errorf("closed in vi: %d", v)
	}
	if v := first(p.Find("num_1", "vi", "en")); v != 3 {
		t.Errorf("num_1 only in en: %d", v)
	}
	if v := first(p.Find("closed", "fr")); v != 1 {
		t.Errorf("closed, no prompt in fr: %d, want en (first sorted)", v)
	}
	if p.Find("nothing") != nil || p.Has("nothing") || !p.Has("num_1") {
		t.Error("Has/Find of a prompt that does not exist")
	}
	// A sequence comes in one language when one has it all.
	got := p.FindAll([]string{"position", "num_1"}, "vi")
	if len(got) != 2 || first(got[0]) != 2 || first(got[1]) != 3 {
		t.Errorf("position num_1: %v", got)
	}
	got = p.FindAll([]string{"position", "closed"}, "vi")
	if len(got) != 2 || first(got[0]) != 12 || first(got[1]) != 11 {
		t.Errorf("position closed in vi: %v", got)
	}
	if err := p.Require("en", "closed", "num_1"); err == nil || !strings.Contains(err.Error(), "language vi: no num_1.wav") {
		t.Errorf("Require: %v", err)
	}
	if err := p.Require("fr", "closed"); err == nil || !strings.Contains(err.Error(), `default language "fr"`) {
		t.Errorf("Require fr: %v", err)
	}
	if err := p.Require("vi", "closed", "position"); err != nil {
		t.Errorf("Require: %v", err)
	}
	var none *Prompts
	if none.Find("closed", "en") != nil || none.HasLanguage("en") {
		t.Error("nil prompts found something")
	}
}

func TestPromptsBadFile(t *testing.T) {
	_, err := LoadPrompts(fstest.MapFS{"en/closed.wav": {Data: []byte("RIFF")}})
	if err == nil || !strings.Contains(err.Error(), "en/closed.wav") {
		t.Errorf("bad prompt: %v, want an error naming the file", err)
	}
}
