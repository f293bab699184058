package recording

import (
	"encoding/binary"
	"testing"
)

// TestPutPCM16: samples are written little-endian, two bytes each, the
// same as a store per sample (WAV's byte order, whatever the machine's).
func TestPutPCM16(t *testing.T) {
	pcm := []int16{0, 1, -1, 32767, -32768, 0x1234, -0x1234}
	out := make([]byte, 2*len(pcm)+2)
	out[len(out)-2], out[len(out)-1] = 0xAA, 0xBB
	putPCM16(out[:2*len(pcm)], pcm)
	for i, s := range pcm {
		if got := int16(binary.LittleEndian.Uint16(out[2*i:])); got != s {
			t.Errorf("sample %d: %d, want %d", i, got, s)
		}
	}
	if out[len(out)-2] != 0xAA || out[len(out)-1] != 0xBB {
		t.Error("wrote past the samples")
	}
	putPCM16(out[:0], nil) // nothing to write
}
