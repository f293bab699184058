package media

import (
	"hotline/audio"
	"math"
	"testing"
	"time"
)

// goertzel returns the power of frequency f (Hz) in 8 kHz samples.
func goertzel(samples []int16, f float64) float64 {
	coeff := 2 * math.Cos(2*math.Pi*f/sampleRate)
	var s1, s2 float64
	for _, x := range samples {
		s := float64(x) + coeff*s1 - s2
		s2, s1 = s1, s
	}
	return s1*s1 + s2*s2 - coeff*s1*s2
}

func TestPlayTone(t *testing.T) {
	for _, f := range []Format{fmtPCMU, fmtPCMA} {
		t.Run(f.Encoding.String(), func(t *testing.T) {
			leg := newTestLeg(t, testConfig(), newTestPorts(t, 1))
			phone := newPeer(t)
			leg.SetRemote(phone.addr(), f)
			leg.Play(NewTone([]float64{1000}, 0, 0, 0.5))

			var pcm []int16
			first, _ := phone.mustRecv()
			if !first.Marker {
				t.Error("first packet of a stream has no marker bit")
			}
			prev := first
			buf := make([]int16, frameSamples)
			for i := range 10 {
				pkt := first
				if i > 0 {
					pkt, _ = phone.mustRecv()
					if pkt.SequenceNumber != prev.SequenceNumber+1 || pkt.Timestamp != prev.Timestamp+160 || pkt.SSRC != prev.SSRC || pkt.Marker {
						t.Fatalf("packet %d: %+v after %+v: want seq+1, ts+160, same SSRC, no marker", i, pkt.Header, prev.Header)
					}
				}
				if pkt.PayloadType != f.PT || len(pkt.Payload) != frameSamples {
					t.Fatalf("PT %d, %d bytes: want PT %d, 160 bytes", pkt.PayloadType, len(pkt.Payload), f.PT)
				}
				audio.Decode(buf, pkt.Payload, f.Encoding)
				pcm = append(pcm, buf...)
				prev = pkt
			}
			at := goertzel(pcm, 1000)
			for _, other := range []float64{300, 500, 800, 1200, 1500, 2000, 3000} {
				if p := goertzel(pcm, other); p*100 > at {
					t.Errorf("power at %v Hz (%g) not far below 1000 Hz (%g)", other, p, at)
				}
			}
			waitFor(t, "PacketsOut counted", func() bool {
				st := leg.Stats()
				return st.PacketsOut >= 10 && st.BytesOut == st.PacketsOut*172
			})
		})
	}
}

// drain reads what is queued and fails if packets keep coming.
func drain(t *testing.T, p *peer) {
	t.Helper()
	for range 10 {
		if _, _, ok := p.recv(100 * time.Millisecond); !ok {
			return
		}
	}
	t.Fatal("packets keep coming")
}

func TestPlayReplaceAndStop(t *testing.T) {
	leg := newTestLeg(t, testConfig(), newTestPorts(t, 1))
	phone := newPeer(t)
	leg.SetRemote(phone.addr(), fmtPCMU)
	leg.Play(NewTone([]float64{440}, 0, 0, 0.5))
	a, _ := phone.mustRecv()
	leg.Play(NewTone([]float64{1000}, 0, 0, 0.5))
	// The new stream continues the leg's SSRC and sequence numbers.
	var b = a
	for range 20 {
		next, _ := phone.mustRecv()
		if next.SSRC != a.SSRC || next.SequenceNumber != b.SequenceNumber+1 {
			t.Fatalf("after %+v got %+v", b.Header, next.Header)
		}
		b = next
		if b.Marker {
			break
		}
	}
	if !b.Marker {
		t.Fatal("no marker on the first packet of the new stream")
	}
	leg.Play(nil)
	drain(t, phone)
	phone.expectNothing(100 * time.Millisecond)
}

func TestBridgeStopsPlayback(t *testing.T) {
	c := newCall(t, fmtPCMU, fmtPCMU)
	c.agentLeg.Play(NewTone([]float64{425}, 0, 0, 0.3))
	played, _ := c.agent.mustRecv()
	Bridge(c.callerLeg, c.agentLeg)
	c.caller.send(c.callerLeg.LocalAddr(), audioPacket(0, 1, 0, 0xCA11, make([]byte, 160)))
	for range 10 {
		pkt, _ := c.agent.mustRecv()
		if pkt.SSRC == 0xCA11 {
			c.agent.expectNothing(100 * time.Millisecond)
			return
		}
		if pkt.SSRC != played.SSRC {
			t.Fatalf("unexpected %+v", pkt.Header)
		}
	}
	t.Fatal("playback went on after Bridge")
}

func TestToneCadence(t *testing.T) {
	src := NewTone([]float64{440, 480}, 100*time.Millisecond, 50*time.Millisecond, 0.5)
	s := make([]int16, 2*1200) // two cycles of 800 on + 400 off
	for i := 0; i < len(s); i += frameSamples {
		src.Read(s[i : i+frameSamples])
	}
	for cycle := range 2 {
		on, off := s[cycle*1200:cycle*1200+800], s[cycle*1200+800:(cycle+1)*1200]
		peak := 0
		for _, v := range on {
			peak = max(peak, abs(int(v)))
		}
		if float64(peak) < 0.4*math.MaxInt16 || float64(peak) > 0.5*math.MaxInt16+1 {
			t.Errorf("cycle %d: peak %d, want about half scale", cycle, peak)
		}
		for i, v := range off {
			if v != 0 {
				t.Fatalf("cycle %d: sample %d of the off period is %d", cycle, i, v)
			}
		}
		if p440, p1000 := goertzel(on, 440), goertzel(on, 1000); p440 < 100*p1000 {
			t.Errorf("440 Hz power %g vs 1000 Hz %g", p440, p1000)
		}
	}
}
