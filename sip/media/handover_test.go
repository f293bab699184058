package media

import (
	"testing"
	"time"

	"hotline/audio"
	"hotline/internal/e2e"
	"hotline/recording"
)

// TestTransferKeepsOneRecording is a blind transfer at the media level, as
// call control does it: the caller's leg is unbridged from the first
// agent's and hears hold music, then is bridged with the second agent's
// leg (another codec); the recorder's agent-channel tap moves from one
// agent's leg to the other's. One recording holds the whole call: the
// caller on the left all along; on the right the first agent, silence
// while the caller waited, then the second agent. Each phone sends its
// own tone; the caller hears the first agent, the hold music, then the
// second agent.
func TestTransferKeepsOneRecording(t *testing.T) {
	const firstTone, secondTone, holdTone = 700.0, 1300.0, 425.0
	ports := newTestPorts(t, 3)
	cfg := testConfig()
	caller, first, second := e2e.NewUDPRecorder(t), e2e.NewUDPRecorder(t), newPeer(t)
	callerLeg, firstLeg, secondLeg := newTestLeg(t, cfg, ports), newTestLeg(t, cfg, ports), newTestLeg(t, cfg, ports)
	callerLeg.SetRemote(caller.Addr(), fmtPCMU)
	firstLeg.SetRemote(first.Addr(), fmtPCMU)
	secondLeg.SetRemote(second.addr(), fmtPCMA)
	for _, l := range []*Leg{callerLeg, firstLeg, secondLeg} {
		l.Start()
	}
	start := time.Now()
	rec := beginTestRecording(t, recording.CallInfo{CallID: "transferred", Start: start})
	callerLeg.SetTap(func(p []byte, at time.Time) { rec.Packet(recording.Caller, p, at) })
	firstLeg.SetTap(func(p []byte, at time.Time) { rec.Packet(recording.Agent, p, at) })
	unbridge := Bridge(callerLeg, firstLeg)

	sendTones(t, tonePhone{caller, callerLeg, callerTone, 0}, tonePhone{first, firstLeg, firstTone, 0})
	// The second agent's phone is another phone: its own SSRC (the
	// recorders' tones share one).
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		tone, _ := e2e.EncodeG711(8, e2e.ToneSamples(secondTone, 10*time.Second, 8000, 0))
		tk := time.NewTicker(20 * time.Millisecond)
		defer tk.Stop()
		for i := 0; (i+1)*160 <= len(tone); i++ {
			b, _ := audioPacket(8, uint16(i), uint32(160*i), 0x5EC0, tone[i*160:(i+1)*160]).Marshal()
			_, _ = second.conn.WriteToUDPAddrPort(b, secondLeg.LocalAddr())
			select {
			case <-stop:
				return
			case <-tk.C:
			}
		}
	}()
	defer func() { close(stop); <-done }()
	at := func() time.Duration { return time.Since(start) }
	heardBy := func(d time.Duration) []int16 {
		n := len(caller.Samples())
		time.Sleep(d)
		return caller.Samples()[n:]
	}

	time.Sleep(200 * time.Millisecond)
	heard1 := heardBy(800 * time.Millisecond)
	// The transfer: the first agent's leg leaves, the caller waits with
	// hold music.
	t1 := at()
	unbridge()
	firstLeg.SetTap(nil)
	callerLeg.Play(NewTone([]float64{holdTone}, 0, 0, 0.3))
	time.Sleep(200 * time.Millisecond)
	heardHold := heardBy(800 * time.Millisecond)
	// The second agent answers: bridged, the recording's agent channel
	// follows the new leg and codec.
	t2 := at()
	rec.SetFormat(recording.Agent, audio.PCMA().WithPT(fmtPCMA.PT))
	secondLeg.SetTap(func(p []byte, at time.Time) { rec.Packet(recording.Agent, p, at) })
	Bridge(callerLeg, secondLeg)
	time.Sleep(200 * time.Millisecond)
	heard2 := heardBy(800 * time.Millisecond)
	t3 := at()
	callerLeg.SetTap(nil)
	secondLeg.SetTap(nil)
	if err := rec.Finish(time.Now()); err != nil {
		t.Fatal(err)
	}

	for _, h := range []struct {
		what    string
		samples []int16
		want    float64
	}{{"before the transfer", heard1, firstTone}, {"while waiting", heardHold, holdTone}, {"after the transfer", heard2, secondTone}} {
		if got := e2e.DominantTone(h.samples, 8000, []float64{firstTone, secondTone, holdTone, callerTone}); got != h.want {
			t.Errorf("the caller heard %.0f Hz %s, want %.0f Hz", got, h.what, h.want)
		}
	}
	pos := func(d time.Duration) int { return int(d / (time.Second / 8000)) }
	left, _, err := e2e.ReadWAVChannel(rec.Path(), 0)
	if err != nil {
		t.Fatal(err)
	}
	right, _, err := e2e.ReadWAVChannel(rec.Path(), 1)
	if err != nil {
		t.Fatal(err)
	}
	margin := 150 * time.Millisecond
	for _, part := range []struct {
		what     string
		from, to time.Duration
		agent    float64 // 0: silence
	}{{"first agent", 200 * time.Millisecond, t1 - margin, firstTone}, {"waiting", t1 + margin, t2 - margin, 0}, {"second agent", t2 + 2*margin, t3 - margin, secondTone}} {
		l, r := left[pos(part.from):pos(part.to)], right[pos(part.from):pos(part.to)]
		if got := e2e.DominantTone(l, 8000, []float64{callerTone, firstTone, secondTone}); got != callerTone {
			t.Errorf("%s: left channel %.0f Hz, want the caller (%.0f Hz)", part.what, got, callerTone)
		}
		got := e2e.DominantTone(r, 8000, []float64{callerTone, firstTone, secondTone, holdTone})
		if got != part.agent {
			t.Errorf("%s: right channel %.0f Hz, want %.0f Hz", part.what, got, part.agent)
		}
	}
}
