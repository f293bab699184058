package e2e

import (
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/pion/rtp"
)

func TestWriteTonePCAPIsReplayable(t *testing.T) {
	for _, pt := range []uint8{PayloadPCMU, PayloadPCMA} {
		path := filepath.Join(t.TempDir(), "tone.pcap")
		if err := WriteTonePCAP(path, 1000, 500*time.Millisecond, pt); err != nil {
			t.Fatal(err)
		}
		raw, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		le := binary.LittleEndian
		if le.Uint32(raw) != 0xa1b2c3d4 || le.Uint32(raw[20:]) != 1 {
			t.Fatalf("bad pcap global header % x", raw[:24])
		}
		var samples []int16
		var prevTS time.Duration
		n := 0
		for off := 24; off < len(raw); n++ {
			ts := time.Duration(le.Uint32(raw[off:]))*time.Second + time.Duration(le.Uint32(raw[off+4:]))*time.Microsecond
			incl, orig := int(le.Uint32(raw[off+8:])), int(le.Uint32(raw[off+12:]))
			if incl != orig {
				t.Fatalf("packet %d truncated: %d/%d", n, incl, orig)
			}
			pkt := raw[off+16 : off+16+incl]
			off += 16 + incl
			if n > 0 && ts-prevTS != FrameDuration {
				t.Errorf("packet %d: gap %v", n, ts-prevTS)
			}
			prevTS = ts
			if binary.BigEndian.Uint16(pkt[12:]) != 0x0800 || pkt[14] != 0x45 || pkt[23] != 17 {
				t.Fatalf("packet %d: not Ethernet/IPv4/UDP", n)
			}
			if ipChecksum(pkt[14:34]) != 0 {
				t.Errorf("packet %d: bad IPv4 checksum", n)
			}
			udp := pkt[34:]
			if int(binary.BigEndian.Uint16(udp[4:])) != len(udp) {
				t.Fatalf("packet %d: UDP length %d, have %d bytes", n, binary.BigEndian.Uint16(udp[4:]), len(udp))
			}
			var p rtp.Packet
			if err := p.Unmarshal(udp[8:]); err != nil {
				t.Fatal(err)
			}
			if p.PayloadType != pt || p.SequenceNumber != uint16(1000+n) || p.Timestamp != uint32(160_000+n*SamplesPerFrame) || p.Marker != (n == 0) {
				t.Fatalf("packet %d: header %+v", n, p.Header)
			}
			if samples, err = DecodeG711(samples, p.PayloadType, p.Payload); err != nil {
				t.Fatal(err)
			}
		}
		if n != 25 {
			t.Errorf("pt %d: %d packets, want 25", pt, n)
		}
		if got := DominantTone(samples, G711Rate, []float64{440, 1000}); got != 1000 {
			t.Errorf("pt %d: decoded tone %v Hz", pt, got)
		}
	}
	if err := WriteTonePCAP(filepath.Join(t.TempDir(), "x.pcap"), 1000, time.Second, 18); !errors.Is(err, ErrUnsupportedPT) {
		t.Errorf("G.729 pcap: err %v, want ErrUnsupportedPT", err)
	}
}

func TestToneAnalysis(t *testing.T) {
	tone := ToneSamples(440, time.Second, G711Rate, 0)
	if l := ToneLevel(tone, G711Rate, 440); l < 0.25 || l > 0.35 {
		t.Errorf("440 Hz level of a 440 Hz tone at %d: %.3f", DefaultToneAmplitude, l)
	}
	if l := ToneLevel(tone, G711Rate, 1000); l > 0.01 {
		t.Errorf("1000 Hz level of a 440 Hz tone: %.3f", l)
	}
	silence := make([]int16, G711Rate)
	if got := DominantTone(silence, G711Rate, []float64{440, 1000}); got != 0 {
		t.Errorf("dominant tone of silence: %v", got)
	}
	if d := ActiveDuration(silence, G711Rate); d != 0 {
		t.Errorf("active duration of silence: %v", d)
	}
	// Half a second of tone between silences, with a phase jump.
	mixed := append(append(append([]int16{}, silence[:4000]...), tone[:2000]...), tone[1234:3234]...)
	mixed = append(mixed, silence[:4000]...)
	if d := ActiveDuration(mixed, G711Rate); d < 480*time.Millisecond || d > 520*time.Millisecond {
		t.Errorf("active duration: %v, want about 500ms", d)
	}
	if got := DominantTone(mixed, G711Rate, []float64{1000, 440}); got != 440 {
		t.Errorf("dominant tone of mixed: %v", got)
	}
}

func TestWAVRoundTrip(t *testing.T) {
	dir := t.TempDir()
	tone := ToneSamples(1000, 200*time.Millisecond, G711Rate, 0)

	stereo := make([]int16, 0, 2*len(tone))
	for _, s := range tone {
		stereo = append(stereo, s, -s)
	}
	p := filepath.Join(dir, "stereo.wav")
	if err := WriteWAV(p, stereo, G711Rate, 2); err != nil {
		t.Fatal(err)
	}
	got, rate, err := ReadWAV(p)
	if err != nil || rate != G711Rate || len(got) != len(tone) || got[7] != tone[7] {
		t.Fatalf("stereo: %d samples at %d, err %v", len(got), rate, err)
	}

	// An unfinished file (data size 0, as left by a killed writer).
	raw, _ := os.ReadFile(p)
	binary.LittleEndian.PutUint32(raw[40:], 0)
	p2 := filepath.Join(dir, "unfinished.wav")
	if err := os.WriteFile(p2, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	if got, _, err := ReadWAV(p2); err != nil || len(got) != len(tone) {
		t.Errorf("unfinished: %d samples, err %v", len(got), err)
	}

	// µ-law WAV (format 7).
	ulaw, _ := EncodeG711(PayloadPCMU, tone)
	h := make([]byte, 44)
	copy(h, raw[:44])
	le := binary.LittleEndian
	le.PutUint16(h[20:], 7)
	le.PutUint16(h[22:], 1)
	le.PutUint32(h[28:], G711Rate)
	le.PutUint16(h[32:], 1)
	le.PutUint16(h[34:], 8)
	le.PutUint32(h[40:], uint32(len(ulaw)))
	p3 := filepath.Join(dir, "ulaw.wav")
	if err := os.WriteFile(p3, append(h, ulaw...), 0o644); err != nil {
		t.Fatal(err)
	}
	got, _, err = ReadWAV(p3)
	if err != nil || DominantTone(got, G711Rate, []float64{440, 1000}) != 1000 {
		t.Errorf("ulaw: err %v", err)
	}

	if err := os.WriteFile(p3, []byte("RIFF\x00\x00\x00\x00WAVEjunk"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := ReadWAV(p3); !errors.Is(err, ErrBadWAV) {
		t.Errorf("garbage: err %v, want ErrBadWAV", err)
	}
}
