package recording

import (
	"encoding/binary"
	"hotline/audio"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/zaf/g711"
)

// t0 is the start of every test recording.
var t0 = time.Date(2026, 3, 7, 1, 2, 3, 0, time.UTC)

// at returns t0 + ms milliseconds.
func at(ms float64) time.Time { return t0.Add(time.Duration(ms * float64(time.Millisecond))) }

// rtpPacket builds an RTP packet.
func mkRTP(pt uint8, seq uint16, ts, ssrc uint32, payload []byte) []byte {
	b := make([]byte, 12, 12+len(payload))
	b[0] = 0x80
	b[1] = pt & 0x7f
	binary.BigEndian.PutUint16(b[2:], seq)
	binary.BigEndian.PutUint32(b[4:], ts)
	binary.BigEndian.PutUint32(b[8:], ssrc)
	return append(b, payload...)
}

// fill returns n bytes of value v (one packet of a constant "tone").
func fill(v byte, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = v
	}
	return b
}

// code returns the G.711 byte used for packet k of a test stream: every
// packet has its own non-silent value so its place in the file is visible.
func code(k int) byte { return byte(0x10 + k%0x60) }

// expect is the expected content of a recording, channel by channel.
type expect struct{ ch [Channels][]int16 }

func newExpect(frames int) *expect {
	return &expect{ch: [Channels][]int16{make([]int16, frames), make([]int16, frames)}}
}

// put writes n samples of G.711 byte v (decoded with codec) from frame pos.
func (e *expect) put(side Side, pos, n int, codec audio.Encoding, v byte) {
	s := g711.DecodeUlawFrame(v)
	if codec == audio.ALaw {
		s = g711.DecodeAlawFrame(v)
	}
	for i := pos; i < pos+n && i < len(e.ch[side]); i++ {
		if i >= 0 {
			e.ch[side][i] = s
		}
	}
}

// zero silences [from, to) on both channels.
func (e *expect) zero(from, to int) {
	for s := range e.ch {
		for i := from; i < to; i++ {
			e.ch[s][i] = 0
		}
	}
}

// readPCM16 parses a 16-bit stereo WAV and returns its channels.
func readPCM16(t *testing.T, path string) (WAVInfo, [Channels][]int16) {
	t.Helper()
	info, err := ReadWAVInfo(path)
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if want := info.DataOffset + info.Frames*int64(info.BlockAlign); st.Size() != want {
		t.Fatalf("%s: file is %d bytes, header says %d", path, st.Size(), want)
	}
	if info.Format != FormatPCM16 || info.Channels != 2 || info.SampleRate != 8000 || info.BlockAlign != 4 {
		t.Fatalf("unexpected format %+v", info)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	data := raw[info.DataOffset:]
	var ch [Channels][]int16
	for i := 0; i+4 <= len(data); i += 4 {
		ch[0] = append(ch[0], int16(binary.LittleEndian.Uint16(data[i:])))
		ch[1] = append(ch[1], int16(binary.LittleEndian.Uint16(data[i+2:])))
	}
	return info, ch
}

// checkChannels compares a recording with what is expected, reporting the
// first few differences per channel.
func checkChannels(t *testing.T, got [Channels][]int16, want *expect) {
	t.Helper()
	for s := range got {
		if len(got[s]) != len(want.ch[s]) {
			t.Errorf("%v channel: %d frames, want %d", Side(s), len(got[s]), len(want.ch[s]))
		}
		bad := 0
		for i := 0; i < len(got[s]) && i < len(want.ch[s]); i++ {
			if got[s][i] != want.ch[s][i] {
				if bad < 5 {
					t.Errorf("%v channel frame %d: got %d, want %d", Side(s), i, got[s][i], want.ch[s][i])
				}
				bad++
			}
		}
		if bad > 5 {
			t.Errorf("%v channel: %d frames differ in all", Side(s), bad)
		}
	}
}

// testConfig is a file-backend config rooted in a temporary directory.
func testConfig(t *testing.T) Config {
	t.Helper()
	dir := t.TempDir()
	c := Config{
		SpoolDir:     filepath.Join(dir, "spool"),
		QueuePackets: 4096, // tests feed packets faster than real time
		File:         FileConfig{Dir: filepath.Join(dir, "store")},
		Upload:       UploadConfig{MinBackoff: 20 * time.Millisecond, MaxBackoff: 200 * time.Millisecond, Timeout: 10 * time.Second},
	}
	c.SetDefaults()
	return c
}

// newTestManager returns a manager that is not started (nothing uploads).
func newTestManager(t *testing.T, c Config) *Manager {
	t.Helper()
	m, err := New(c, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// stream sends packets k = from..to-1 of a regular 20 ms stream.
type stream struct {
	side    Side
	pt      uint8
	codec   audio.Encoding
	seq0    uint16
	ts0     uint32
	ssrc    uint32
	startMs float64 // arrival of packet 0
	ptime   int     // samples per packet
}

func (s stream) pkt(k int, v byte) []byte {
	return mkRTP(s.pt, s.seq0+uint16(k), s.ts0+uint32(k*s.ptime), s.ssrc, fill(v, s.ptime))
}

func (s stream) arrival(k int) time.Time { return at(s.startMs + float64(k*s.ptime)/8) }

func (s stream) send(r *Recorder, k int) {
	r.Packet(s.side, s.pkt(k, code(k)), s.arrival(k))
}

func readAll(t *testing.T, r io.Reader) []byte {
	t.Helper()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
