package media

import (
	"bytes"
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"hotline/internal/e2e"
	"hotline/recording"
)

// Each phone of a monitored call sends its own tone.
const (
	callerTone = 500.0
	agentTone  = 1100.0
	supTone    = 1700.0
)

// Levels (e2e.ToneLevel) telling a tone heard from one not heard: the
// phones send at about 0.3 of full scale.
const (
	heard    = 0.1
	notHeard = 0.02
)

// monitoredCall is three phones (real UDP sockets) with their legs on
// Hotline: caller and agent bridged, the supervisor's leg started.
type monitoredCall struct {
	caller, agent, sup          *e2e.UDPRecorder
	callerLeg, agentLeg, supLeg *Leg
}

func newMonitoredCall(t *testing.T) *monitoredCall {
	t.Helper()
	ports := newTestPorts(t, 3)
	cfg := testConfig()
	c := &monitoredCall{caller: e2e.NewUDPRecorder(t), agent: e2e.NewUDPRecorder(t), sup: e2e.NewUDPRecorder(t)}
	c.callerLeg, c.agentLeg, c.supLeg = newTestLeg(t, cfg, ports), newTestLeg(t, cfg, ports), newTestLeg(t, cfg, ports)
	// Codecs differ on purpose: the mix decodes and encodes per leg.
	c.callerLeg.SetRemote(c.caller.Addr(), fmtPCMU)
	c.agentLeg.SetRemote(c.agent.Addr(), fmtPCMA)
	c.supLeg.SetRemote(c.sup.Addr(), fmtPCMU)
	for _, l := range []*Leg{c.callerLeg, c.agentLeg, c.supLeg} {
		l.Start()
	}
	t.Cleanup(Bridge(c.callerLeg, c.agentLeg))
	return c
}

// talk makes every phone send its tone until the test ends.
func (c *monitoredCall) talk(t *testing.T) {
	sendTones(t, tonePhone{c.caller, c.callerLeg, callerTone, 0}, tonePhone{c.agent, c.agentLeg, agentTone, 8},
		tonePhone{c.sup, c.supLeg, supTone, 0})
}

// tonePhone is a phone sending a tone to its leg on Hotline.
type tonePhone struct {
	r    *e2e.UDPRecorder
	to   *Leg
	tone float64
	pt   uint8
}

// sendTones makes each phone send its tone until the test ends.
func sendTones(t *testing.T, phones ...tonePhone) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for _, x := range phones {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = x.r.SendTone(ctx, x.to.LocalAddr(), x.tone, time.Minute, x.pt)
		}()
	}
	t.Cleanup(func() {
		cancel()
		wg.Wait()
	})
}

// listenFor returns what each phone received during d.
func (c *monitoredCall) listenFor(d time.Duration) (caller, agent, sup []int16) {
	n0 := [3]int{len(c.caller.Samples()), len(c.agent.Samples()), len(c.sup.Samples())}
	time.Sleep(d)
	return c.caller.Samples()[n0[0]:], c.agent.Samples()[n0[1]:], c.sup.Samples()[n0[2]:]
}

// expectTones checks which of the three tones samples hold.
func expectTones(t *testing.T, who string, samples []int16, want map[float64]bool) {
	t.Helper()
	if len(samples) < 4000 {
		t.Errorf("%s received %d samples, want at least half a second", who, len(samples))
		return
	}
	names := map[float64]string{callerTone: "caller", agentTone: "agent", supTone: "supervisor"}
	for _, f := range []float64{callerTone, agentTone, supTone} {
		lvl := e2e.ToneLevel(samples, 8000, f)
		switch {
		case want[f] && lvl < heard:
			t.Errorf("%s does not hear the %s (tone level %.3f, want >= %.2f)", who, names[f], lvl, heard)
		case !want[f] && lvl > notHeard:
			t.Errorf("%s hears the %s (tone level %.3f, want <= %.2f)", who, names[f], lvl, notHeard)
		}
	}
}

// TestMonitorModesWhoHearsWhom: each phone sends its own tone; in each
// mode (and after switching back) each phone hears exactly whom the mode
// says.
func TestMonitorModesWhoHearsWhom(t *testing.T) {
	c := newMonitoredCall(t)
	c.talk(t)
	mon, err := NewMonitor(c.callerLeg, c.agentLeg, c.supLeg, Listen)
	if err != nil {
		t.Fatal(err)
	}
	defer mon.Stop()
	want := map[MonitorMode][3]map[float64]bool{ // caller, agent, supervisor hear
		Listen:  {{agentTone: true}, {callerTone: true}, {callerTone: true, agentTone: true}},
		Whisper: {{agentTone: true}, {callerTone: true, supTone: true}, {callerTone: true, agentTone: true}},
		Barge:   {{agentTone: true, supTone: true}, {callerTone: true, supTone: true}, {callerTone: true, agentTone: true}},
	}
	for _, mode := range []MonitorMode{Listen, Whisper, Barge, Whisper, Listen} {
		mon.SetMode(mode)
		if mon.Mode() != mode {
			t.Fatalf("Mode() = %s after SetMode(%s)", mon.Mode(), mode)
		}
		time.Sleep(200 * time.Millisecond) // the switch, and the jitter buffers priming
		caller, agent, sup := c.listenFor(800 * time.Millisecond)
		w := want[mode]
		t.Run(mode.String(), func(t *testing.T) {
			expectTones(t, "caller", caller, w[0])
			expectTones(t, "agent", agent, w[1])
			expectTones(t, "supervisor", sup, w[2])
		})
	}

	// Stopped: the supervisor hears nothing more, caller and agent still
	// talk, and nobody hears the supervisor.
	mon.Stop()
	mon.Stop()
	time.Sleep(100 * time.Millisecond)
	caller, agent, sup := c.listenFor(700 * time.Millisecond)
	expectTones(t, "caller after stop", caller, map[float64]bool{agentTone: true})
	expectTones(t, "agent after stop", agent, map[float64]bool{callerTone: true})
	if len(sup) > 0 {
		t.Errorf("supervisor received %d samples after Stop, want none", len(sup))
	}
}

// TestMonitorKeepsCallersPath: in listen and whisper the caller gets the
// agent's packets exactly as the agent sent them, across mode switches:
// same SSRC, every sequence number in order, same timestamps, same
// payload (agent and caller use the same codec, so the relay copies
// bytes). Nothing is added, removed or re-timed: no gap, no click.
func TestMonitorKeepsCallersPath(t *testing.T) {
	ports := newTestPorts(t, 3)
	cfg := testConfig()
	caller, agent := newPeer(t), newPeer(t)
	sup := e2e.NewUDPRecorder(t)
	callerLeg, agentLeg, supLeg := newTestLeg(t, cfg, ports), newTestLeg(t, cfg, ports), newTestLeg(t, cfg, ports)
	callerLeg.SetRemote(caller.addr(), fmtPCMU)
	agentLeg.SetRemote(agent.addr(), fmtPCMU)
	supLeg.SetRemote(sup.Addr(), fmtPCMU)
	for _, l := range []*Leg{callerLeg, agentLeg, supLeg} {
		l.Start()
	}
	defer Bridge(callerLeg, agentLeg)()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { // the supervisor talks all along
		defer close(done)
		_ = sup.SendTone(ctx, supLeg.LocalAddr(), supTone, time.Minute, 0)
	}()
	defer func() { cancel(); <-done }()

	mon, err := NewMonitor(callerLeg, agentLeg, supLeg, Listen)
	if err != nil {
		t.Fatal(err)
	}
	defer mon.Stop()
	tone, err := e2e.EncodeG711(0, e2e.ToneSamples(agentTone, 3*time.Second, 8000, 0))
	if err != nil {
		t.Fatal(err)
	}
	const frames = 150
	for i := range frames {
		switch i {
		case 30:
			mon.SetMode(Whisper)
		case 60:
			mon.SetMode(Listen)
		case 90:
			mon.SetMode(Whisper)
		}
		payload := tone[i*160 : (i+1)*160]
		agent.send(agentLeg.LocalAddr(), audioPacket(0, uint16(1000+i), uint32(160*i), 0xA6E7, payload))
		got, _ := caller.mustRecv()
		if got.SSRC != 0xA6E7 || got.SequenceNumber != uint16(1000+i) || got.Timestamp != uint32(160*i) {
			t.Fatalf("packet %d (mode %s) reached the caller as ssrc %x seq %d ts %d, want a6e7/%d/%d",
				i, mon.Mode(), got.SSRC, got.SequenceNumber, got.Timestamp, 1000+i, 160*i)
		}
		if !bytes.Equal(got.Payload, payload) {
			t.Fatalf("packet %d (mode %s): the caller's audio was changed", i, mon.Mode())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if got := sup.Samples(); e2e.ToneLevel(got, 8000, agentTone) < heard {
		t.Errorf("the supervisor did not hear the agent (level %.3f)", e2e.ToneLevel(got, 8000, agentTone))
	}
	caller.expectNothing(50 * time.Millisecond)
}

// TestMonitorRecordingChannels records a monitored call as Hotline does
// (a tap on the caller's and the agent's leg) through whisper then barge:
// the caller's channel never holds the supervisor; the agent's channel
// holds the supervisor in barge only.
func TestMonitorRecordingChannels(t *testing.T) {
	c := newMonitoredCall(t)
	start := time.Now()
	rec := beginTestRecording(t, recording.CallInfo{CallID: "monitored", Start: start})
	c.callerLeg.SetTap(func(p []byte, at time.Time) { rec.Packet(recording.Caller, p, at) })
	c.agentLeg.SetTap(func(p []byte, at time.Time) { rec.Packet(recording.Agent, p, at) })
	c.talk(t)
	mon, err := NewMonitor(c.callerLeg, c.agentLeg, c.supLeg, Whisper)
	if err != nil {
		t.Fatal(err)
	}
	defer mon.Stop()
	time.Sleep(1200 * time.Millisecond)
	switched := time.Since(start)
	mon.SetMode(Barge)
	time.Sleep(1200 * time.Millisecond)
	c.callerLeg.SetTap(nil)
	c.agentLeg.SetTap(nil)
	if err := rec.Finish(time.Now()); err != nil {
		t.Fatal(err)
	}
	path := rec.Path() // in the spool: the manager is not started, nothing is uploaded
	// Whole second either side of the switch, leaving 200 ms margins.
	at := func(d time.Duration) int { return int(d / (time.Second / 8000)) }
	for ch, name := range []string{"caller", "agent"} {
		samples, _, err := e2e.ReadWAVChannel(path, ch)
		if err != nil {
			t.Fatal(err)
		}
		whisper := samples[at(200*time.Millisecond):at(switched-200*time.Millisecond)]
		from, to := at(switched+300*time.Millisecond), len(samples)-at(200*time.Millisecond)
		if to-from < 4000 {
			t.Fatalf("%s channel: %d samples, too short for half a second of barge", name, len(samples))
		}
		barge := samples[from:to]
		for _, part := range []struct {
			mode    string
			samples []int16
			supWant bool
		}{{"whisper", whisper, false}, {"barge", barge, name == "agent"}} {
			own := map[string]float64{"caller": callerTone, "agent": agentTone}[name]
			if lvl := e2e.ToneLevel(part.samples, 8000, own); lvl < heard {
				t.Errorf("%s channel in %s: own tone level %.3f, want >= %.2f", name, part.mode, lvl, heard)
			}
			lvl := e2e.ToneLevel(part.samples, 8000, supTone)
			if part.supWant && lvl < heard {
				t.Errorf("%s channel in %s: supervisor level %.3f, want >= %.2f", name, part.mode, lvl, heard)
			}
			if !part.supWant && lvl > notHeard {
				t.Errorf("%s channel in %s holds the supervisor (level %.3f)", name, part.mode, lvl)
			}
		}
	}
}

func TestNewMonitorRefusals(t *testing.T) {
	ports := newTestPorts(t, 4)
	cfg := testConfig()
	a, b, s, s2 := newTestLeg(t, cfg, ports), newTestLeg(t, cfg, ports), newTestLeg(t, cfg, ports), newTestLeg(t, cfg, ports)
	if _, err := NewMonitor(a, a, s, Listen); err == nil {
		t.Error("a monitor of a leg with itself was accepted")
	}
	if _, err := NewMonitor(a, b, s, MonitorMode(9)); err == nil {
		t.Error("an unknown mode was accepted")
	}
	m, err := NewMonitor(a, b, s, Listen)
	if err != nil {
		t.Fatal(err)
	}
	if !Monitored(a) || !Monitored(s) || Monitored(s2) {
		t.Error("Monitored does not tell the monitored legs")
	}
	if _, err := NewMonitor(a, b, s2, Barge); err != ErrMonitored {
		t.Errorf("second monitor of the same call: %v, want ErrMonitored", err)
	}
	if s2.mix.Load() != nil {
		t.Error("a refused monitor left its hook on a leg")
	}
	m.SetMode(MonitorMode(0))
	if m.Mode() != Listen {
		t.Errorf("SetMode(0) changed the mode to %s", m.Mode())
	}
	m.Stop()
	if m2, err := NewMonitor(a, b, s2, Barge); err != nil {
		t.Errorf("monitor after Stop: %v", err)
	} else {
		m2.Stop()
	}
}

func TestParseMonitorMode(t *testing.T) {
	for in, want := range map[string]MonitorMode{"listen": Listen, "WHISPER": Whisper, "Barge": Barge} {
		if got, ok := ParseMonitorMode(in); !ok || got != want {
			t.Errorf("ParseMonitorMode(%q) = %v, %v", in, got, ok)
		}
	}
	for _, in := range []string{"", "spy", "listen "} {
		if _, ok := ParseMonitorMode(in); ok {
			t.Errorf("ParseMonitorMode(%q) accepted", in)
		}
	}
}

func TestJitterRing(t *testing.T) {
	j := newJitterRing()
	frame := func(v int16) []int16 {
		f := make([]int16, 160)
		for i := range f {
			f[i] = v
		}
		return f
	}
	dst := make([]int16, 160)
	if j.mixInto(dst, 0) {
		t.Fatal("an empty ring mixed something")
	}
	j.write(frame(1))
	if j.mixInto(dst, 0) {
		t.Fatal("the ring mixed before holding 40 ms")
	}
	j.write(frame(2))
	if !j.mixInto(dst, 0) || dst[0] != 1 || dst[159] != 1 {
		t.Fatalf("first read = %d..%d, want the first frame", dst[0], dst[159])
	}
	clear(dst)
	if !j.mixInto(dst, 0) || dst[0] != 2 {
		t.Fatalf("second read = %d, want the second frame", dst[0])
	}
	// Dry: nothing, and it waits for 40 ms again.
	clear(dst)
	if j.mixInto(dst, 0) {
		t.Fatal("a dry ring mixed something")
	}
	j.write(frame(3))
	if j.mixInto(dst, 0) {
		t.Fatal("a ring that ran dry mixed before being primed again")
	}
	// A reader far behind skips to the newest 40 ms.
	for v := range int16(40) {
		j.write(frame(100 + v))
	}
	clear(dst)
	j.mixInto(dst, 0)
	if dst[0] != 138 {
		t.Errorf("a reader 600 ms behind read %d, want 138 (the newest 40 ms)", dst[0])
	}
	// Readers are independent; adding saturates.
	dst2 := frame(32700)
	if !j.mixInto(dst2, 1) || dst2[0] != 32767 {
		t.Errorf("reader 1 read %d, want saturated 32767", dst2[0])
	}
}

// BenchmarkForwardMonitored is BenchmarkForward's per-packet work on a
// monitored call's caller leg in each mode (decoding for the
// supervisor's mix, and in whisper/barge mixing the supervisor in).
func BenchmarkForwardMonitored(b *testing.B) {
	for _, mode := range []MonitorMode{Listen, Whisper, Barge} {
		b.Run(mode.String(), func(b *testing.B) {
			a, pkt, src := forwardPair(fmtPCMU, fmtPCMA)
			peer := a.peer.Load()
			sup := newLeg(testConfig(), nopLogger())
			m := &Monitor{caller: a, agent: peer, sup: sup, fromCaller: newJitterRing(), fromAgent: newJitterRing(), fromSup: newJitterRing()}
			m.mode.Store(uint32(mode))
			m.pts = [3]*mixPoint{{m: m, role: roleCaller}, {m: m, role: roleAgent}, {m: m, role: roleSupervisor}}
			a.mix.Store(m.pts[0])
			supFrame := make([]int16, 160)
			b.ReportAllocs()
			b.SetBytes(int64(len(pkt)))
			for b.Loop() {
				m.fromSup.write(supFrame) // the supervisor keeps up
				pkt[1] = 0
				if _, _, ok := a.process(pkt, src); !ok {
					b.Fatal("not forwarded")
				}
			}
		})
	}
}

// beginTestRecording starts a recording with a recording manager (file
// backend in a temporary directory, not started: nothing is uploaded)
// that is closed when the test ends.
func beginTestRecording(t testing.TB, info recording.CallInfo) *recording.Recorder {
	t.Helper()
	dir := t.TempDir()
	m, err := recording.New(recording.Config{
		SpoolDir: filepath.Join(dir, "spool"),
		File:     recording.FileConfig{Dir: filepath.Join(dir, "store")},
	}, recording.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Close() })
	rec, err := m.Begin(info)
	if err != nil {
		t.Fatal(err)
	}
	return rec
}

// TestMonitorEndsWithTheCall: when the caller's leg ends (the call hung
// up) the monitoring ends by itself: Done is closed and the supervisor
// gets no more audio; the agent's leg is left as it was.
func TestMonitorEndsWithTheCall(t *testing.T) {
	c := newMonitoredCall(t)
	c.talk(t)
	mon, err := NewMonitor(c.callerLeg, c.agentLeg, c.supLeg, Barge)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the supervisor hearing the call", func() bool { return len(c.sup.Samples()) > 1600 })
	select {
	case <-mon.Done():
		t.Fatal("Done before the call ended")
	default:
	}
	_ = c.callerLeg.Close()
	select {
	case <-mon.Done():
	case <-time.After(3 * time.Second):
		t.Fatal("the monitoring did not end with the caller's leg")
	}
	if c.agentLeg.mix.Load() != nil || c.supLeg.mix.Load() != nil {
		t.Error("hooks left on the agent's or the supervisor's leg")
	}
	time.Sleep(100 * time.Millisecond) // a packet in flight
	n := len(c.sup.Samples())
	time.Sleep(300 * time.Millisecond)
	if got := len(c.sup.Samples()); got != n {
		t.Errorf("the supervisor got %d samples after the call ended", got-n)
	}
	mon.Stop() // after the end: nothing happens
}
