package audio

import (
	"encoding/binary"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/zaf/g711"
)

// wavFile builds a WAV file.
func wavFile(format, channels uint16, rate uint32, bits uint16, data []byte) []byte {
	var b []byte
	le16 := func(v uint16) { b = binary.LittleEndian.AppendUint16(b, v) }
	le32 := func(v uint32) { b = binary.LittleEndian.AppendUint32(b, v) }
	b = append(b, "RIFF"...)
	le32(uint32(4 + 8 + 16 + 8 + 8 + len(data) + len(data)%2))
	b = append(b, "WAVE"...)
	b = append(b, "fmt "...)
	le32(16)
	le16(format)
	le16(channels)
	le32(rate)
	le32(rate * uint32(channels) * uint32(bits) / 8)
	le16(channels * bits / 8)
	le16(bits)
	b = append(b, "LIST"...) // a chunk to skip
	le32(0)
	b = append(b, "data"...)
	le32(uint32(len(data)))
	b = append(b, data...)
	if len(data)%2 == 1 {
		b = append(b, 0)
	}
	return b
}

func TestLoadWAVPCM(t *testing.T) {
	want := []int16{0, 1000, -1000, 32767, -32768, 5, 6}
	var data []byte
	for _, s := range want {
		data = binary.LittleEndian.AppendUint16(data, uint16(s))
	}
	src, err := loadLoop(writeFile(t, "hold.wav", wavFile(1, 1, 8000, 16, data)))
	if err != nil {
		t.Fatal(err)
	}
	got := make([]int16, 3*len(want)+2)
	src.Read(got[:5])
	src.Read(got[5:]) // reads continue where they stopped and loop
	for i, v := range got {
		if v != want[i%len(want)] {
			t.Fatalf("sample %d = %d, want %d (got %v)", i, v, want[i%len(want)], got)
		}
	}
}

func TestLoadWAVG711(t *testing.T) {
	for _, tc := range []struct {
		format uint16
		enc    Encoding
	}{{6, ALaw}, {7, ULaw}} {
		data := []byte{0x00, 0x55, 0x80, 0xFF, 0xD5}
		a, err := LoadClip(writeFile(t, "g711.wav", wavFile(tc.format, 1, 8000, 8, data)))
		if err != nil {
			t.Fatal(err)
		}
		if a.Len() != len(data) {
			t.Fatalf("Len = %d", a.Len())
		}
		got := make([]int16, len(data))
		a.Loop().Read(got)
		for i, b := range data {
			want := g711.DecodeUlawFrame(b)
			if tc.enc == ALaw {
				want = g711.DecodeAlawFrame(b)
			}
			if got[i] != want {
				t.Errorf("%v byte %#02x decoded to %d, want %d", tc.enc, b, got[i], want)
			}
		}
	}
}

func TestLoadWAVErrors(t *testing.T) {
	stereo := writeFile(t, "cd.wav", wavFile(1, 2, 44100, 16, make([]byte, 400)))
	for _, tc := range []struct {
		name, path, want string
	}{
		{"stereo 44.1k", stereo, "2 channel(s), 44100 Hz"},
		{"8-bit PCM", writeFile(t, "8bit.wav", wavFile(1, 1, 8000, 8, make([]byte, 10))), "8-bit PCM"},
		{"not a WAV", writeFile(t, "music.mp3", []byte("ID3\x04\x00 not a wav file")), "not a WAV"},
		{"empty", writeFile(t, "empty.wav", wavFile(1, 1, 8000, 16, nil)), "no audio"},
		{"missing", t.TempDir() + "/nope.wav", "no such file"},
	} {
		_, err := loadLoop(tc.path)
		if err == nil || !strings.Contains(err.Error(), tc.path) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want it to name %s and say %q", tc.name, err, tc.path, tc.want)
		}
	}
}

func TestAudioOncePlaysThenSilence(t *testing.T) {
	var pcm []byte
	for _, v := range []int16{1, 2, 3, 4, 5} {
		pcm = binary.LittleEndian.AppendUint16(pcm, uint16(v))
	}
	a, err := DecodeClip("clip.wav", wavFile(1, 1, 8000, 16, pcm))
	if err != nil {
		t.Fatal(err)
	}
	if a.Duration() != 5*time.Second/8000 {
		t.Fatalf("duration %s", a.Duration())
	}
	src, done := a.Once()
	buf := make([]int16, 3)
	src.Read(buf)
	select {
	case <-done:
		t.Fatal("done before the end")
	default:
	}
	src.Read(buf)
	if buf[0] != 4 || buf[1] != 5 || buf[2] != 0 {
		t.Fatalf("second read %v, want 4 5 then silence", buf)
	}
	select {
	case <-done: // the frame with the last samples is not sent yet
		t.Fatal("done as soon as the last samples were read")
	default:
	}
	src.Read(buf)
	<-done
	if buf[0] != 0 || buf[2] != 0 {
		t.Fatalf("after the end %v, want silence", buf)
	}
	if _, err := DecodeClip("bad.wav", []byte("nope")); err == nil || !strings.Contains(err.Error(), "bad.wav") {
		t.Fatalf("bad data: %v", err)
	}
}

// loadLoop loads a clip and returns a reader looping it.
func loadLoop(path string) (Reader, error) {
	c, err := LoadClip(path)
	if err != nil {
		return nil, err
	}
	return c.Loop(), nil
}

func writeFile(t testing.TB, name string, b []byte) string {
	path := t.TempDir() + "/" + name
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// A sequence plays each clip once, in order, then silence; done is closed
// once the last sample has been read.
func TestSequence(t *testing.T) {
	clipOf := func(v int16, n int) *Clip {
		s := make([]int16, n)
		for i := range s {
			s[i] = v
		}
		return &Clip{samples: s}
	}
	src, done, d := Sequence([]*Clip{clipOf(1, 3), clipOf(2, 2)})
	if d != 5*time.Second/8000 {
		t.Errorf("length %v", d)
	}
	got := make([]int16, 4)
	src.Read(got)
	select {
	case <-done:
		t.Fatal("done before the last clip was read")
	default:
	}
	rest := make([]int16, 3)
	src.Read(rest)
	got = append(got, rest...)
	if want := []int16{1, 1, 1, 2, 2, 0, 0}; !slices.Equal(got, want) {
		t.Errorf("samples %v, want %v", got, want)
	}
	select {
	case <-done:
	default:
		t.Error("done not closed after the last clip")
	}
	if src, _, _ := Sequence(nil); src != nil {
		t.Error("a sequence of no clip plays")
	}
}
