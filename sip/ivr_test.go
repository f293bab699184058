package sip

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"math"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/pion/rtp"

	"hotline/audio"
	"hotline/callflow"
	"hotline/internal/e2e"
	"hotline/routing/acd"
	"hotline/routing/config"
	"hotline/routing/directory"
	"hotline/routing/rules"
	"hotline/sip/media"
	"hotline/sip/sdp"
)

// Prompt tones: the sip tests play 400 ms tones instead of speech, one
// frequency per prompt, so that what the caller hears can be told apart.
const (
	holdHz          = 300.0
	positionHz      = 600.0
	num1Hz          = 750.0
	waitHz          = 900.0
	num3Hz          = 1050.0
	minutesHz       = 1200.0
	pressHz         = 1350.0
	num9Hz          = 1500.0
	callbackOfferHz = 1650.0
	otherPromptHz   = 1800.0
)

var promptHz = map[string]float64{
	callflow.PromptPosition: positionHz, "num_1": num1Hz, callflow.PromptWait: waitHz, "num_3": num3Hz,
	callflow.PromptMinutes: minutesHz, callflow.PromptPress: pressHz, "num_9": num9Hz, callflow.PromptCallbackOffer: callbackOfferHz,
}

var heardHz = []float64{holdHz, positionHz, num1Hz, waitHz, num3Hz, minutesHz, pressHz, num9Hz, callbackOfferHz, otherPromptHz}

// toneWAV is a WAV file (8 kHz mono 16-bit PCM) of a tone.
func toneWAV(hz float64, d time.Duration) []byte {
	n := int(d * 8000 / time.Second)
	var b bytes.Buffer
	w := func(v any) { _ = binary.Write(&b, binary.LittleEndian, v) }
	b.WriteString("RIFF")
	w(uint32(36 + 2*n))
	b.WriteString("WAVEfmt ")
	w(uint32(16))
	w(uint16(1))    // PCM
	w(uint16(1))    // mono
	w(uint32(8000)) // rate
	w(uint32(16000))
	w(uint16(2))
	w(uint16(16))
	b.WriteString("data")
	w(uint32(2 * n))
	for i := range n {
		w(int16(9000 * math.Sin(2*math.Pi*hz*float64(i)/8000)))
	}
	return b.Bytes()
}

// testPrompts are every prompt of the keypad and announcements in English
// as 400 ms tones (promptHz, else otherPromptHz).
func testPrompts(t testing.TB) *audio.Prompts {
	t.Helper()
	p, err := audio.LoadPrompts(promptFS())
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// promptFS holds testPrompts' files.
func promptFS() fstest.MapFS {
	names := []string{callflow.PromptStyle, "reason", callflow.PromptInvalid, callflow.PromptPosition, callflow.PromptPositionMany, callflow.PromptWait, callflow.PromptMinute,
		callflow.PromptMinutes, callflow.PromptWaitShort, callflow.PromptWaitLong, callflow.PromptPress, callflow.PromptCallbackOffer, callflow.PromptCallbackConfirm, "star", "hash"}
	for n := 0; n <= callflow.MaxSpoken; n++ {
		names = append(names, callflow.NumberPrompt(n))
	}
	fs := fstest.MapFS{}
	for _, n := range names {
		hz := promptHz[n]
		if hz == 0 {
			hz = otherPromptHz
		}
		fs["en/"+n+".wav"] = &fstest.MapFile{Data: toneWAV(hz, 400*time.Millisecond)}
	}
	return fs
}

// sendDTMF presses key on the phone: RFC 4733 telephone-events (payload
// type 101, as the phone's SDP offers) from its RTP socket to dst.
func (p *phone) sendDTMF(dst netip.AddrPort, key rune) {
	p.t.Helper()
	event := strings.IndexRune("0123456789*#", key)
	if event < 0 {
		p.t.Fatalf("no DTMF event for %q", key)
	}
	ts, seq, ssrc := rand.Uint32(), uint16(rand.Uint32()), rand.Uint32()
	for i := range 6 {
		end := i >= 3 // the end packet is sent three times
		flags := byte(10)
		if end {
			flags |= 0x80
		}
		dur := uint16(160 * min(i+1, 4))
		pkt := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 101, Marker: i == 0, SequenceNumber: seq + uint16(i),
			Timestamp: ts, SSRC: ssrc}, Payload: []byte{byte(event), flags, byte(dur >> 8), byte(dur)}}
		b, _ := pkt.Marshal()
		if _, err := p.rtpConn().WriteToUDPAddrPort(b, dst); err != nil {
			p.t.Fatalf("DTMF %c: %v", key, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// ivrFixture is a fixture with the test prompts, a customer directory
// keeping styles in a state file, and edit applied to the routing.
func ivrFixture(t *testing.T, edit func(*config.Config)) (*fixture, string) {
	t.Helper()
	state := filepath.Join(t.TempDir(), "state.json")
	f := newFixture(t, func(o *fixtureOpts) {
		o.routing.IVR.Timeout = time.Second
		edit(&o.routing)
		o.deps = func(d *Deps) {
			dir, err := directory.New(directory.Config{CountryCode: "84", StateFile: state, ReloadInterval: -1},
				directory.Options{Logger: d.Log})
			if err != nil {
				t.Fatal(err)
			}
			d.Prompts = testPrompts(t)
			d.Routes.Customers = dir.Lookup
			d.Routes.SetStyle = dir.SetStyle
		}
	})
	return f, state
}

// styleRouting sends reactive callers to the "doit" queue (alice), the
// others to "general" (bob), and asks the style.
func styleRouting(c *config.Config) {
	c.IVR.StyleQuestion = true
	c.Queues = []config.QueueDef{{Name: "general"}, {Name: "doit"}}
	c.Rules = []config.RuleConfig{{Name: "reactive", Styles: []string{directory.StyleReactive}, Queue: "doit"}, {Name: "default", Queue: "general"}}
	for i := range c.Agents {
		switch c.Agents[i].Username {
		case "alice":
			c.Agents[i].Queues = []string{"doit"}
		default:
			c.Agents[i].Queues = []string{"general"}
		}
	}
}

// registered starts phones registered as the given agents.
func registered(t *testing.T, f *fixture, users ...string) map[string]*phone {
	t.Helper()
	out := map[string]*phone{}
	for _, u := range users {
		p := newPhone(t, u, f.addr)
		p.register(u)
		waitAgentState(t, f, u, acd.StateAvailable)
		out[u] = p
	}
	return out
}

// prompting waits until Hotline plays something to the answered caller:
// the question is being asked, keys count from now.
func prompting(t *testing.T, caller *phone) {
	t.Helper()
	if _, err := caller.rtpFrom(0, 3); err != nil {
		t.Fatalf("caller hears nothing: %v", err)
	}
}

func readState(t *testing.T, path string) map[string]string {
	t.Helper()
	data, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	var st struct {
		Styles map[string]string `json:"styles"`
	}
	if err := json.Unmarshal(data, &st); err != nil {
		t.Fatalf("state file: %v", err)
	}
	return st.Styles
}

// TestIVRStyleQuestionRemembered: a first-time caller is answered and
// asked the style question; 2 makes them reactive, which routes the call
// to the reactive queue's agent and is kept in the state file. Their next
// call is not asked again: the agent rings before Hotline answers.
func TestIVRStyleQuestionRemembered(t *testing.T) {
	f, state := ivrFixture(t, styleRouting)
	agents := registered(t, f, "alice", "bob")
	caller := newPhone(t, "0912000333", f.addr)

	call := caller.call("1900", caller.sdp(sdp.SendRecv))
	ans := call.answered()
	prompting(t, caller)
	caller.sendDTMF(ans.Audio.Addr, '2')
	in := agents["alice"].nextInvite()
	in.answer()
	if err := in.wait(); err != nil {
		t.Fatal(err)
	}
	agents["bob"].noInvite()
	call.bye()
	agents["alice"].waitRequest(sip.BYE, in.callID())
	r := wantRecord(t, f, call.id, callflow.OutcomeAnswered, callflow.ErrCallerHangup, "alice")
	if r.Customer.Style != directory.StyleReactive {
		t.Errorf("call record style %q, want reactive", r.Customer.Style)
	}
	if r.Queued.IsZero() || r.Queued.Before(r.Answered) {
		t.Errorf("call record: queued %v, answered %v: the call queues after the question", r.Queued, r.Answered)
	}
	if got := readState(t, state)["+84912000333"]; got != directory.StyleReactive {
		t.Errorf("state file style %q, want reactive", got)
	}
	f.checkIdle()

	waitAgentState(t, f, "alice", acd.StateAvailable)
	call2 := caller.call("1900", caller.sdp(sdp.SendRecv))
	in2 := agents["alice"].nextInvite()
	for _, ci := range f.srv.Calls() {
		if ci.CallID == call2.id && ci.Answered {
			t.Error("the caller was answered (asked again) before the agent rang")
		}
	}
	in2.answer()
	ans2 := call2.answered()
	if err := in2.wait(); err != nil {
		t.Fatal(err)
	}
	// Bridged (Hotline has the caller's ACK) before the caller hangs up.
	flows(t, caller, ans2.Audio.Addr, agents["alice"])
	call2.bye()
	agents["alice"].waitRequest(sip.BYE, in2.callID())
	wantRecord(t, f, call2.id, callflow.OutcomeAnswered, callflow.ErrCallerHangup, "alice")
}

// TestIVRStyleNoValidKey: a wrong key, then none: the caller is asked
// twice, stays unknown (nothing remembered) and is not dropped.
func TestIVRStyleNoValidKey(t *testing.T) {
	f, state := ivrFixture(t, styleRouting)
	agents := registered(t, f, "alice", "bob")
	caller := newPhone(t, "0912000444", f.addr)
	call := caller.call("1900", caller.sdp(sdp.SendRecv))
	ans := call.answered()
	prompting(t, caller)
	caller.sendDTMF(ans.Audio.Addr, '7')
	in := agents["bob"].nextInvite()
	agents["alice"].noInvite()
	in.answer()
	if err := in.wait(); err != nil {
		t.Fatal(err)
	}
	in.bye()
	caller.waitRequest(sip.BYE, call.id)
	r := wantRecord(t, f, call.id, callflow.OutcomeAnswered, callflow.ErrAgentHangup, "bob")
	if r.Customer.Style != directory.StyleUnknown {
		t.Errorf("call record style %q, want unknown", r.Customer.Style)
	}
	if st := readState(t, state); len(st) != 0 {
		t.Errorf("state file styles %v, want none", st)
	}
}

// TestIVRReasonMenu: key 2 of the reason menu is a complaint: the call
// goes to the complaints queue's agent and its record has the reason. A
// known style is not asked.
func TestIVRReasonMenu(t *testing.T) {
	f, _ := ivrFixture(t, func(c *config.Config) {
		c.IVR.ReasonMenu = config.ReasonMenuConfig{Options: map[string]string{"1": "order", "2": "complaint"}}
		c.Queues = []config.QueueDef{{Name: "general"}, {Name: "complaints"}}
		c.Rules = []config.RuleConfig{{Name: "complaint", Reasons: []string{"complaint"}, Queue: "complaints"}, {Name: "default", Queue: "general"}}
		c.Agents[0].Queues = []string{"complaints"} // alice
		c.Agents[1].Queues = []string{"general"}    // bob
		c.Agents[2].Queues = []string{"general"}    // carol
	})
	agents := registered(t, f, "alice", "bob")
	caller := newPhone(t, "0912000555", f.addr)
	call := caller.call("1900", caller.sdp(sdp.SendRecv))
	ans := call.answered()
	prompting(t, caller)
	caller.sendDTMF(ans.Audio.Addr, '2')
	in := agents["alice"].nextInvite()
	agents["bob"].noInvite()
	in.answer()
	if err := in.wait(); err != nil {
		t.Fatal(err)
	}
	call.bye()
	agents["alice"].waitRequest(sip.BYE, in.callID())
	r := wantRecord(t, f, call.id, callflow.OutcomeAnswered, callflow.ErrCallerHangup, "alice")
	if r.Reason != "complaint" {
		t.Errorf("call record reason %q, want complaint", r.Reason)
	}

	// A key that is no option, twice: no reason, the default queue.
	waitAgentState(t, f, "bob", acd.StateAvailable)
	call2 := caller.call("1900", caller.sdp(sdp.SendRecv))
	ans2 := call2.answered()
	prompting(t, caller)
	caller.sendDTMF(ans2.Audio.Addr, '9')
	in2 := agents["bob"].nextInvite()
	in2.answer()
	if err := in2.wait(); err != nil {
		t.Fatal(err)
	}
	call2.bye()
	agents["bob"].waitRequest(sip.BYE, in2.callID())
	if r := wantRecord(t, f, call2.id, callflow.OutcomeAnswered, callflow.ErrCallerHangup, "bob"); r.Reason != "" {
		t.Errorf("call record reason %q, want none", r.Reason)
	}
}

// TestQueueCallbackKey: a caller waiting with no agent presses a key that
// does nothing, then 9: they leave the queue for a callback, hear the
// confirmation and are hung up on; the record's outcome is callback.
func TestQueueCallbackKey(t *testing.T) {
	f, _ := ivrFixture(t, func(*config.Config) {})
	caller := newPhone(t, "0912000666", f.addr)
	call := caller.call("1900", caller.sdp(sdp.SendRecv))
	ans := call.answered()
	prompting(t, caller) // hold music: the caller waits
	caller.sendDTMF(ans.Audio.Addr, '5')
	caller.sendDTMF(ans.Audio.Addr, '9')
	caller.waitRequest(sip.BYE, call.id)
	r := wantRecord(t, f, call.id, callflow.OutcomeCallback, callflow.ErrCallback, "")
	if r.Queued.IsZero() {
		t.Error("call record: never queued")
	}
	q := f.acd.Queues()[0]
	if q.Callbacks != 1 || q.Waiting != 0 {
		t.Errorf("queue %s: %d callbacks, %d waiting; want 1 and 0", q.Name, q.Callbacks, q.Waiting)
	}
	f.checkIdle()
}

// listenAudio reads the phone's RTP (PCMU) until done says so or the
// bound passes, and returns the tone heard in each 50 ms, run-length
// compressed (runs of one window, transitions, are left out).
func listenAudio(t *testing.T, p *phone, bound time.Duration, done func(runs []float64) bool) (runs []float64, counts []int) {
	t.Helper()
	conn := p.rtpConn()
	buf := make([]byte, 2048)
	var samples []int16
	deadline := time.Now().Add(bound)
	for time.Now().Before(deadline) {
		_ = conn.SetReadDeadline(deadline)
		n, _, err := conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			break
		}
		var pkt rtp.Packet
		if pkt.Unmarshal(buf[:n]) != nil || pkt.PayloadType != 0 {
			continue
		}
		samples, _ = e2e.DecodeG711(samples, 0, pkt.Payload)
		if len(samples) < 400 {
			continue
		}
		hz := e2e.DominantTone(samples[:400], 8000, heardHz)
		samples = samples[400:]
		if k := len(runs); k > 0 && runs[k-1] == hz {
			counts[k-1]++
		} else {
			runs, counts = append(runs, hz), append(counts, 1)
		}
		var rs []float64
		for i, r := range runs {
			if counts[i] > 1 && (len(rs) == 0 || rs[len(rs)-1] != r) {
				rs = append(rs, r)
			}
		}
		if done(rs) {
			return rs, counts
		}
	}
	return runs, counts
}

// TestQueueAnnouncement: a waiting caller hears the hold music, then,
// the configured interval later, the announcement (caller number 1, about
// 3 minutes, press 9 for a callback), then the hold music again.
func TestQueueAnnouncement(t *testing.T) {
	hold := filepath.Join(t.TempDir(), "hold.wav")
	if err := os.WriteFile(hold, toneWAV(holdHz, 2*time.Second), 0o600); err != nil {
		t.Fatal(err)
	}
	f, _ := ivrFixture(t, func(c *config.Config) {
		c.Queue.HoldMusic = hold
		c.Queue.Announce = config.AnnounceConfig{Every: config.MinAnnounceEvery}
	})
	caller := newPhone(t, "0912000777", f.addr)
	call := caller.call("1900", caller.sdp(sdp.SendRecv))
	call.answered()
	want := []float64{holdHz, positionHz, num1Hz, waitHz, num3Hz, minutesHz, pressHz, num9Hz, callbackOfferHz, holdHz}
	heard, counts := listenAudio(t, caller, 15*time.Second, func(rs []float64) bool {
		return len(rs) >= len(want) && rs[len(want)-1] == holdHz
	})
	if !reflect.DeepEqual(heard, want) {
		t.Fatalf("caller heard %v (windows %v), want %v", heard, counts, want)
	}
	if holdWindows := counts[0]; time.Duration(holdWindows)*50*time.Millisecond < config.MinAnnounceEvery-time.Second {
		t.Errorf("announcement after %d ms of hold music, want about %s", holdWindows*50, config.MinAnnounceEvery)
	}
	call.bye()
	r := wantRecord(t, f, call.id, callflow.OutcomeAbandoned, callflow.ErrCallerHangup, "")
	if r.Wait <= 0 {
		t.Errorf("wait %s", r.Wait)
	}
}

// TestIVRMissingPrompt: asking a question without its prompt is refused
// at start, naming the setting.
func TestIVRMissingPrompt(t *testing.T) {
	c := config.Config{Hotlines: []config.Hotline{{Number: "1900"}}}
	c.IVR.ReasonMenu = config.ReasonMenuConfig{Prompt: "why", Options: map[string]string{"1": "order"}}
	c.SetDefaults()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	router, err := rules.NewRouter(&c)
	if err != nil {
		t.Fatal(err)
	}
	acd, err := acd.New(&c, acd.Options{})
	if err != nil {
		t.Fatal(err)
	}
	m := media.Config{IP: "127.0.0.1"}
	m.SetDefaults()
	_, err = New(Config{}, Deps{Routes: &callflow.Routes{Config: &c, Router: router, ACD: acd}, Media: &m, Prompts: testPrompts(t)})
	if err == nil || !strings.Contains(err.Error(), "ivr.reason_menu.prompt") || !strings.Contains(err.Error(), "why.wav") {
		t.Fatalf("New: %v, want an error naming ivr.reason_menu.prompt and why.wav", err)
	}
}
