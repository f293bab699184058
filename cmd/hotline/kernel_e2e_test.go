package main

import (
	"math"
	"testing"
	"time"

	"hotline/internal/e2e"
	"hotline/sip/media"
)

// TestE2EKernelRelay: with rtp.kernel on, a SIPp caller (its media on a
// recorder socket) and a baresip agent hear each other's tones, the
// in-kernel relay carried the audio (hotline_rtp_kernel_packets_total),
// and the stored recording has the caller's tone on the left for as long
// as the caller talked and the agent's on the right: the ring buffer gave
// the recorder every packet the kernel relayed.
func TestE2EKernelRelay(t *testing.T) {
	skipShort(t)
	a := startApp(t, func(c *Config) { c.RTP.Kernel = media.KernelOn })
	callerHearsAgent(t, a, "bob", "0911333444")
	waitIdle(t, a)
	// 3 s of the caller's tone and about 4 s of the agent's, 50 packets/s
	// each, less the few before both legs latched.
	if n := a.metric(t, "hotline_rtp_kernel_packets_total", map[string]string{"result": "relayed"}); n < 250 {
		t.Errorf("%v packets relayed in the kernel, want most of the call's", n)
	}

	var wavs []string
	waitFor(t, 15*time.Second, "the recording stored", func() bool {
		wavs = storedFiles(t, a.cfg.Recording.File.Dir)
		return len(wavs) == 1
	})
	left, info, err := e2e.ReadWAVChannel(wavs[0], 0)
	if err != nil {
		t.Fatal(err)
	}
	right, _, err := e2e.ReadWAVChannel(wavs[0], 1)
	if err != nil {
		t.Fatal(err)
	}
	if info.Channels != 2 || info.Rate != 8000 {
		t.Fatalf("recording is %+v, want 8 kHz stereo", info)
	}
	if got := e2e.DominantTone(left, 8000, tones); got != callerHz {
		t.Errorf("left channel carries %v Hz, want the caller's %v Hz", got, callerHz)
	}
	if got := e2e.DominantTone(right, 8000, tones); got != agentHz {
		t.Errorf("right channel carries %v Hz, want the agent's %v Hz", got, agentHz)
	}
	if got := e2e.ActiveDuration(left, 8000); math.Abs(float64(got-3*time.Second)) > float64(100*time.Millisecond) {
		t.Errorf("caller's tone lasts %s in the recording, want 3 s ± 100 ms", got)
	}
	if r := readRecord(t, wavs[0]); r.Caller != "0911333444" || r.Agent != "bob" {
		t.Errorf("call record %+v, want caller 0911333444 and agent bob", r)
	}
}
