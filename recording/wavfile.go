package recording

import (
	"encoding/binary"
	"fmt"
	"os"
	"slices"

	"github.com/zaf/g711"
)

// wavWriter appends stereo frames to a WAV file and keeps its header valid:
// a provisional header is written at create, the sizes are rewritten every
// headerEvery frames and at close.
type wavWriter struct {
	f           *os.File
	format      Format
	frames      int64 // frames written to the file
	headerAt    int64 // frames the header on disk announces
	headerEvery int64
	pending     []byte // encoded frames not yet written
	pendFrames  int64
}

// createWAV creates path (which must not exist) with a provisional header.
// Its buffer holds headerEvery frames and is allocated once.
func createWAV(path string, format Format) (*wavWriter, error) {
	f, err := openFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o640)
	if err != nil {
		return nil, err
	}
	w := &wavWriter{f: f, format: format, headerEvery: SampleRate}
	if _, err := f.Write(wavHeader(format, 0)); err != nil {
		f.Close()
		os.Remove(path)
		return nil, fmt.Errorf("write wav header: %w", err)
	}
	w.pending = make([]byte, 0, int(w.headerEvery)*format.blockAlign())
	return w, nil
}

// append encodes interleaved stereo frames (L, R, L, R...) and buffers
// them; once the buffer holds headerEvery frames, what is buffered goes to
// the file (a long append in pieces of headerEvery frames, so the buffer
// never grows) and the header is updated right after.
func (w *wavWriter) append(pcm []int16) error {
	return w.fill(pcm, int64(len(pcm)/Channels))
}

// appendSilence buffers frames of silence like append.
func (w *wavWriter) appendSilence(frames int64) error { return w.fill(nil, frames) }

// fill buffers frames: the samples of pcm, or silence when pcm is nil.
func (w *wavWriter) fill(pcm []int16, frames int64) error {
	ba := w.format.blockAlign()
	full := false
	for frames > 0 {
		if w.pendFrames >= w.headerEvery {
			full = true
			if err := w.flush(); err != nil {
				return err
			}
		}
		k := min(frames, w.headerEvery-w.pendFrames)
		n := len(w.pending)
		w.pending = slices.Grow(w.pending, int(k)*ba)[:n+int(k)*ba]
		out := w.pending[n:]
		switch {
		case pcm == nil && w.format == FormatULaw:
			for i := range out {
				out[i] = ulawSilence
			}
		case pcm == nil:
			clear(out)
		case w.format == FormatULaw:
			for i, s := range pcm[:k*Channels] {
				out[i] = g711.EncodeUlawFrame(s)
			}
		default:
			out = out[:2*k*Channels]
			for i, s := range pcm[:k*Channels] {
				binary.LittleEndian.PutUint16(out[2*i:], uint16(s))
			}
		}
		if pcm != nil {
			pcm = pcm[k*Channels:]
		}
		w.pendFrames += k
		frames -= k
	}
	if full || w.pendFrames >= w.headerEvery {
		return w.flush()
	}
	return nil
}

// ulawSilence is the G.711 u-law code of a zero sample.
const ulawSilence = 0xFF

// flush writes buffered frames and, when they changed, the header sizes.
func (w *wavWriter) flush() error {
	if len(w.pending) > 0 {
		if _, err := w.f.Write(w.pending); err != nil {
			return fmt.Errorf("write wav data: %w", err)
		}
		w.frames += w.pendFrames
		w.pending = w.pending[:0]
		w.pendFrames = 0
	}
	if w.headerAt != w.frames {
		if _, err := w.f.WriteAt(wavHeader(w.format, w.frames), 0); err != nil {
			return fmt.Errorf("update wav header: %w", err)
		}
		w.headerAt = w.frames
	}
	return nil
}

// close writes what is buffered, cuts the file to at most maxFrames
// frames (maxFrames < 0: no limit), writes the final header, syncs and
// closes the file. It returns the number of frames in the file.
func (w *wavWriter) close(maxFrames int64) (int64, error) {
	err := w.flush()
	if err == nil && maxFrames >= 0 && w.frames > maxFrames {
		if terr := w.f.Truncate(int64(w.format.headerLen()) + maxFrames*int64(w.format.blockAlign())); terr != nil {
			err = fmt.Errorf("truncate wav: %w", terr)
		} else {
			w.frames = maxFrames
			err = w.flush()
		}
	}
	if err == nil {
		if serr := w.f.Sync(); serr != nil {
			err = fmt.Errorf("sync wav: %w", serr)
		}
	}
	if cerr := w.f.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("close wav: %w", cerr)
	}
	return w.frames, err
}
