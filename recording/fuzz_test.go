package recording

import (
	"encoding/binary"
	"testing"
	"time"
)

// FuzzRecorder feeds a recorder an arbitrary stream of packets (any bytes,
// either side, arrival times jumping back and forth within the call): it
// must never panic, and the finished file is a valid stereo WAV exactly as
// long as the call.
func FuzzRecorder(f *testing.F) {
	f.Add(mkRTP(0, 1, 0, 7, fill(0x55, 160)), uint16(20), false)
	f.Add(mkRTP(8, 65535, 4294967200, 9, fill(0xd5, 160)), uint16(3000), true)
	f.Add([]byte{0x80, 0, 0, 1}, uint16(0), false)
	f.Add(mkRTP(0, 1, 0, 7, nil), uint16(65535), true)
	f.Fuzz(func(t *testing.T, data []byte, stepMs uint16, agent bool) {
		c := testConfig(t)
		m := newTestManager(t, c)
		start := t0
		r, err := m.Begin(CallInfo{CallID: "fuzz", Start: start})
		if err != nil {
			t.Fatal(err)
		}
		side := Caller
		if agent {
			side = Agent
		}
		// The input is cut into packets of 1..255 bytes; each packet's
		// arrival moves by stepMs (mod 2 s) and wraps within the call.
		const callLen = 3 * time.Second
		arrival := time.Duration(0)
		for len(data) > 0 {
			n := int(data[0])%255 + 1
			data = data[1:]
			if n > len(data) {
				n = len(data)
			}
			pkt := data[:n]
			data = data[n:]
			r.Packet(side, pkt, start.Add(arrival))
			if len(pkt) >= 4 {
				side = Side(binary.BigEndian.Uint16(pkt[2:]) % Channels)
			}
			arrival = (arrival + time.Duration(stepMs%2000)*time.Millisecond) % callLen
		}
		if err := r.Finish(start.Add(callLen)); err != nil {
			t.Fatal(err)
		}
		info, _ := readPCM16(t, r.Path())
		if info.Frames != int64(callLen/time.Second)*SampleRate {
			t.Fatalf("recording has %d frames, want %d", info.Frames, int64(callLen/time.Second)*SampleRate)
		}
	})
}
