package recording

import (
	"encoding/binary"
	"fmt"
	"hotline/audio"
	"io"
	"os"
)

// SampleRate is the rate of every recording: G.711 telephony audio, 8 kHz.
const SampleRate = 8000

// Channels is the number of channels of every recording: the caller on the
// left (first) channel, the agent on the right (second).
const Channels = 2

// Format is how samples are stored in the WAV file.
type Format string

const (
	// FormatPCM16 stores 16-bit signed little-endian linear PCM
	// (WAVE_FORMAT_PCM). It is the default because every player, browser
	// and editor plays it, and it is what speech-analytics and
	// transcription engines expect as input; it is twice the size of G.711.
	FormatPCM16 Format = "pcm16"
	// FormatULaw stores 8-bit G.711 u-law (WAVE_FORMAT_MULAW): half the
	// size of PCM16, lossless for PCMU legs, slightly lossy for PCMA legs
	// (transcoded through linear PCM).
	FormatULaw Format = "ulaw"
)

// ErrNotWAV is wrapped by RepairWAV and ReadWAVInfo for a file that is not
// a WAV file this package can read (no RIFF/WAVE header, no fmt or data
// chunk); it is the audio package's error, the one WAV reader's.
var ErrNotWAV = audio.ErrNotWAV

// blockAlign is the size in bytes of one stereo frame.
func (f Format) blockAlign() int {
	if f == FormatULaw {
		return Channels
	}
	return 2 * Channels
}

// headerLen is the size of the header wavHeader writes for f.
func (f Format) headerLen() int {
	if f == FormatULaw {
		return 58 // RIFF(12) + fmt (8+18) + fact (8+4) + data header (8)
	}
	return 44 // RIFF(12) + fmt (8+16) + data header (8)
}

// valid reports whether f is a known format.
func (f Format) valid() bool { return f == FormatPCM16 || f == FormatULaw }

// wavHeaderAt returns a complete header (headerLen bytes) for a file of f
// holding frames stereo frames whose samples start at dataOff: with
// dataOff > headerLen other chunks lie between the format chunks and the
// data chunk's header (the last 8 bytes, which the caller writes at
// dataOff-8), and the RIFF size counts them. Sizes that would not fit in
// 32 bits are clamped.
func wavHeaderAt(f Format, frames, dataOff int64) []byte {
	ba := int64(f.blockAlign())
	hl := int64(f.headerLen())
	data := frames * ba
	maxData := int64(0xFFFFFFFF) - dataOff
	if data > maxData {
		data = maxData - maxData%ba
		frames = data / ba
	}
	h := make([]byte, 0, hl)
	le32 := func(v uint32) { h = binary.LittleEndian.AppendUint32(h, v) }
	le16 := func(v uint16) { h = binary.LittleEndian.AppendUint16(h, v) }
	h = append(h, "RIFF"...)
	le32(uint32(dataOff - 8 + data))
	h = append(h, "WAVE"...)
	h = append(h, "fmt "...)
	if f == FormatULaw {
		le32(18)
		le16(audio.WAVULaw)
	} else {
		le32(16)
		le16(audio.WAVPCM)
	}
	le16(Channels)
	le32(SampleRate)
	le32(uint32(SampleRate * ba))
	le16(uint16(ba))
	le16(uint16(8 * ba / Channels))
	if f == FormatULaw {
		le16(0) // cbSize
		h = append(h, "fact"...)
		le32(4)
		le32(uint32(frames))
	}
	h = append(h, "data"...)
	le32(uint32(data))
	return h
}

// WAVInfo describes a WAV file's audio as RepairWAV found it.
type WAVInfo struct {
	// Format is FormatPCM16 or FormatULaw; empty for another encoding.
	Format Format
	// FormatTag is the WAVE format tag (1 PCM, 7 u-law, ...).
	FormatTag     int
	Channels      int
	SampleRate    int
	BitsPerSample int
	// BlockAlign is the size in bytes of one frame (one sample of every channel).
	BlockAlign int
	// DataOffset is where the samples start in the file.
	DataOffset int64
	// Frames is how many whole frames the data chunk holds.
	Frames int64
}

// Duration returns the length of the audio in seconds.
func (w WAVInfo) Duration() float64 {
	if w.SampleRate == 0 {
		return 0
	}
	return float64(w.Frames) / float64(w.SampleRate)
}

// parseWAV reads the header of a WAV file of the given size and returns its
// description, with Frames computed from the data chunk's size field capped
// by what the file really holds (so a file cut short is described by what
// is there), and the offset of the fact chunk's frame count (0: none).
func parseWAV(r io.ReaderAt, size int64) (WAVInfo, int64, error) {
	h, err := audio.ReadWAVHeader(r, size)
	if err != nil {
		return WAVInfo{}, 0, err
	}
	info := WAVInfo{FormatTag: h.FormatTag, Channels: h.Channels, SampleRate: h.Rate,
		BitsPerSample: h.Bits, BlockAlign: h.BlockAlign, DataOffset: h.DataOffset}
	switch {
	case h.FormatTag == audio.WAVPCM && h.Bits == 16:
		info.Format = FormatPCM16
	case h.FormatTag == audio.WAVULaw && h.Bits == 8:
		info.Format = FormatULaw
	}
	if info.BlockAlign <= 0 {
		return info, 0, fmt.Errorf("%w: block align %d", ErrNotWAV, info.BlockAlign)
	}
	avail := max(size-h.DataOffset, 0)
	info.Frames = min(h.DataSize, avail) / int64(info.BlockAlign)
	return info, h.FactOffset, nil
}

// ReadWAVInfo describes the WAV file at path (which must have been written
// by this package or be a plain RIFF/WAVE file).
func ReadWAVInfo(path string) (WAVInfo, error) {
	f, err := os.Open(path)
	if err != nil {
		return WAVInfo{}, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return WAVInfo{}, err
	}
	info, _, err := parseWAV(f, st.Size())
	if err != nil {
		return info, fmt.Errorf("%s: %w", path, err)
	}
	return info, nil
}

// RepairWAV makes the WAV file at path valid after it was cut short (a
// crash while recording): it truncates the file to the last whole frame
// and rewrites the RIFF, data (and fact) sizes to match what is really
// there, then syncs it to disk. A file that is already consistent is left
// as it is. It returns the description of the repaired file.
func RepairWAV(path string) (WAVInfo, error) {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return WAVInfo{}, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return WAVInfo{}, err
	}
	size := st.Size()
	// Ignore the data chunk's size field (it may be provisional or stale):
	// what the file holds after the data header is the audio.
	info, factOff, err := parseWAV(f, size)
	if err != nil {
		return info, fmt.Errorf("repair %s: %w", path, err)
	}
	avail := size - info.DataOffset
	info.Frames = avail / int64(info.BlockAlign)
	dataBytes := info.Frames * int64(info.BlockAlign)
	if dataBytes > 0xFFFFFFFF-info.DataOffset {
		return info, fmt.Errorf("repair %s: %w: data too large for WAV", path, ErrNotWAV)
	}
	end := info.DataOffset + dataBytes
	if end != size {
		if err := f.Truncate(end); err != nil {
			return info, fmt.Errorf("repair %s: %w", path, err)
		}
	}
	put := func(off int64, v uint32) error {
		var b [4]byte
		binary.LittleEndian.PutUint32(b[:], v)
		_, err := f.WriteAt(b[:], off)
		return err
	}
	if err := put(4, uint32(end-8)); err != nil {
		return info, fmt.Errorf("repair %s: %w", path, err)
	}
	if err := put(info.DataOffset-4, uint32(dataBytes)); err != nil {
		return info, fmt.Errorf("repair %s: %w", path, err)
	}
	if factOff > 0 {
		if err := put(factOff, uint32(info.Frames)); err != nil {
			return info, fmt.Errorf("repair %s: %w", path, err)
		}
	}
	if err := f.Sync(); err != nil {
		return info, fmt.Errorf("repair %s: %w", path, err)
	}
	return info, nil
}
