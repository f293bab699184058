package recording

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"slices"

	"github.com/zaf/g711"
)

// wavWriter appends stereo frames to a WAV file and keeps its header valid:
// a provisional header is written at create, the sizes are rewritten every
// headerEvery frames and at end.
//
// A spool WAV also carries the recording's call record in a chunk of its
// own (recordChunkID, between the format chunks and the data chunk, a
// fixed size reserved at create, the JSON padded with spaces): the
// recording's one spool file until Finish holds what a crash must not
// lose, and the record is rewritten in place (putRecord) without a file
// of its own.
type wavWriter struct {
	f           *os.File
	format      Format
	dataOff     int64 // where the samples start
	recOff      int64 // where the record chunk's body starts (0: none)
	recCap      int   // its size
	frames      int64 // frames written to the file
	headerAt    int64 // frames the header on disk announces
	headerEvery int64
	pending     []byte // encoded frames not yet written
	pendFrames  int64
	// recBuf assembles the record chunk for putRecord, whose callers
	// take turns (the Recorder's mu): allocated at the first.
	recBuf []byte
}

// recordChunkID is the RIFF chunk that carries the call record in a spool
// WAV. Players skip chunks they do not know.
const recordChunkID = "hrec"

// spoolDataOffset is where the samples start in a WAV with a record
// chunk: the headers and the record chunk fill the first 4 KiB.
const spoolDataOffset = 4096

// errRecordTooBig is returned by putRecord for a record larger than the
// chunk reserved for it.
var errRecordTooBig = errors.New("call record larger than its chunk in the WAV")

// createWAV creates path (which must not exist) with a provisional header.
// With withRecord it reserves a record chunk and writes rec into it (rec
// too big for the chunk: the chunk is left blank and errRecordTooBig is
// returned with the writer, which is usable). Its buffer holds
// headerEvery frames: buf, of any length, when it is large enough
// (wavBufferCap; its contents are overwritten before anything reads
// them), else one allocated here. The writer owns it until it is
// closed.
func createWAV(path string, format Format, withRecord bool, rec, buf []byte) (*wavWriter, error) {
	f, err := openFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o640)
	if err != nil {
		return nil, err
	}
	if cap(buf) < wavBufferCap(format) {
		buf = make([]byte, 0, wavBufferCap(format))
	}
	hl := format.headerLen()
	w := &wavWriter{f: f, format: format, dataOff: int64(hl), headerEvery: SampleRate}
	// wavBufferCap relies on headerEvery being a second of frames.
	var tooBig error
	var head []byte
	if withRecord {
		w.dataOff = spoolDataOffset
		w.recOff = int64(hl) // the chunk's header where the data header was
		w.recCap = spoolDataOffset - 8 - hl
		h := w.header(0)
		// Assembled in the buffer, which may hold an earlier
		// recording's bytes: every one of them is written below (the
		// header, the chunk's header, its body padded in full, the data
		// chunk's header).
		head = buf[:spoolDataOffset]
		copy(head, h[:hl-8])
		copy(head[hl-8:], recordChunkID)
		binary.LittleEndian.PutUint32(head[hl-4:], uint32(w.recCap))
		body := head[w.recOff : w.recOff+int64(w.recCap)]
		if len(rec) > len(body) {
			rec, tooBig = nil, errRecordTooBig
		}
		padRecord(body, rec)
		copy(head[spoolDataOffset-8:], h[hl-8:])
	} else {
		head = w.header(0)
	}
	if _, err := f.Write(head); err != nil {
		f.Close()
		os.Remove(path)
		return nil, fmt.Errorf("write wav header: %w", err)
	}
	w.pending = buf[:0]
	return w, tooBig
}

// wavBufferCap is the size of a WAV writer's buffer for format: a
// second of frames (headerEvery), and at least the 4 KiB in which
// createWAV assembles the start of a WAV with a record chunk.
func wavBufferCap(format Format) int {
	return max(SampleRate*format.blockAlign(), spoolDataOffset)
}

// padRecord fills body with rec followed by spaces (JSON white space).
func padRecord(body, rec []byte) {
	n := copy(body, rec)
	for i := n; i < len(body); i++ {
		body[i] = ' '
	}
}

// header returns the WAV header for frames frames: the classic header
// (format chunks, then the data chunk's header) with the RIFF size
// counted from w.dataOff. With a record chunk, its last 8 bytes (the data
// chunk's header) go at dataOff-8, the rest at 0.
func (w *wavWriter) header(frames int64) []byte {
	return wavHeaderAt(w.format, frames, w.dataOff)
}

// writeHeader writes the header for w.frames: one write without a record
// chunk, two with one (the chunk itself is left alone).
func (w *wavWriter) writeHeader() error {
	h := w.header(w.frames)
	if w.recOff == 0 {
		_, err := w.f.WriteAt(h, 0)
		return err
	}
	n := len(h) - 8
	if _, err := w.f.WriteAt(h[:n], 0); err != nil {
		return err
	}
	_, err := w.f.WriteAt(h[n:], w.dataOff-8)
	return err
}

// putRecord rewrites the record chunk with rec (padded). It may run
// while the mixing goroutine appends audio: it writes only the chunk,
// assembled in a buffer of its own (kept for the next SetExtra or
// SetCSAT). Its callers take turns.
func (w *wavWriter) putRecord(rec []byte) error {
	if w.recBuf == nil && w.recOff != 0 {
		w.recBuf = make([]byte, w.recCap)
	}
	return w.writeRecord(rec, w.recBuf)
}

// putFinalRecord is putRecord once end has written the last audio: the
// chunk is assembled in the writer's buffer, which holds nothing any more
// (when it does, end failed, and a buffer of its own is used anyway).
func (w *wavWriter) putFinalRecord(rec []byte) error {
	if len(w.pending) > 0 {
		return w.writeRecord(rec, nil)
	}
	return w.writeRecord(rec, w.pending)
}

// writeRecord writes rec, padded, into the record chunk, assembled in buf
// (whatever it holds) or, if it is too small, in a buffer allocated here.
func (w *wavWriter) writeRecord(rec, buf []byte) error {
	if w.recOff == 0 || len(rec) > w.recCap {
		return errRecordTooBig
	}
	if cap(buf) < w.recCap {
		buf = make([]byte, w.recCap)
	}
	b := buf[:w.recCap]
	padRecord(b, rec)
	if _, err := w.f.WriteAt(b, w.recOff); err != nil {
		return fmt.Errorf("write call record into wav: %w", err)
	}
	return nil
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
			putPCM16(out[:2*k*Channels], pcm[:k*Channels])
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
		if err := w.writeHeader(); err != nil {
			return fmt.Errorf("update wav header: %w", err)
		}
		w.headerAt = w.frames
	}
	return nil
}

// end writes what is buffered, cuts the file to at most maxFrames frames
// (maxFrames < 0: no limit) and writes the final header. It returns the
// number of frames in the file. closeFile must follow.
func (w *wavWriter) end(maxFrames int64) (int64, error) {
	err := w.flush()
	if err == nil && maxFrames >= 0 && w.frames > maxFrames {
		if terr := w.f.Truncate(w.dataOff + maxFrames*int64(w.format.blockAlign())); terr != nil {
			err = fmt.Errorf("truncate wav: %w", terr)
		} else {
			w.frames = maxFrames
			err = w.flush()
		}
	}
	return w.frames, err
}

// closeFile closes the file, syncing it first with sync.
func (w *wavWriter) closeFile(sync bool) error {
	var err error
	if sync {
		if serr := w.f.Sync(); serr != nil {
			err = fmt.Errorf("sync wav: %w", serr)
		}
	}
	if cerr := w.f.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("close wav: %w", cerr)
	}
	return err
}
