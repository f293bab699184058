package recording

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// writeCutWAV writes frames stereo frames (caller sample = frame index,
// agent = -frame index) with a wavWriter that is never closed, then adds
// half a frame of bytes, as a crash in the middle of a write leaves it.
func writeCutWAV(t *testing.T, path string, format Format, frames int) {
	t.Helper()
	w, err := createWAV(path, format, false, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	pcm := make([]int16, 0, 2*frames)
	for i := 0; i < frames; i++ {
		pcm = append(pcm, int16(i), int16(-i))
	}
	// Appended in two steps: the first second is flushed with a header
	// update, the rest stays buffered.
	first := min(2*SampleRate, len(pcm))
	if err := w.append(pcm[:first]); err != nil {
		t.Fatal(err)
	}
	if err := w.append(pcm[first:]); err != nil {
		t.Fatal(err)
	}
	// Whatever the writer had buffered reaches the disk, then a torn write.
	if _, err := w.f.Write(w.pending); err != nil {
		t.Fatal(err)
	}
	if _, err := w.f.Write([]byte{0x12}); err != nil {
		t.Fatal(err)
	}
	w.f.Close() // no header update: the process died
}

func TestHeaderValidWhileRecording(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a.wav")
	w, err := createWAV(path, FormatPCM16, false, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer w.f.Close()
	info, err := ReadWAVInfo(path)
	if err != nil || info.Frames != 0 || info.Format != FormatPCM16 {
		t.Fatalf("provisional header: %+v, %v", info, err)
	}
	if err := w.append(make([]int16, 2*12000)); err != nil { // 1.5 s
		t.Fatal(err)
	}
	// A second of audio was written with its header; the rest is buffered.
	info, err = ReadWAVInfo(path)
	if err != nil || info.Frames != 12000 {
		t.Fatalf("after 1.5 s: %+v, %v (want 12000 frames announced and present)", info, err)
	}
	st, _ := os.Stat(path)
	if st.Size() != 44+12000*4 {
		t.Fatalf("size %d", st.Size())
	}
}

func TestRepairWAVAfterCrash(t *testing.T) {
	for _, format := range []Format{FormatPCM16, FormatULaw} {
		t.Run(string(format), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "cut.wav")
			writeCutWAV(t, path, format, 12345)
			before, err := ReadWAVInfo(path)
			if err != nil {
				t.Fatal(err)
			}
			if before.Frames != 8000 {
				t.Errorf("before repair the header announces %d frames, want the 8000 of the last update", before.Frames)
			}
			info, err := RepairWAV(path)
			if err != nil {
				t.Fatal(err)
			}
			if info.Frames != 12345 {
				t.Fatalf("repaired frames = %d, want 12345", info.Frames)
			}
			st, _ := os.Stat(path)
			if want := int64(format.headerLen()) + 12345*int64(format.blockAlign()); st.Size() != want {
				t.Fatalf("size = %d, want %d", st.Size(), want)
			}
			again, err := ReadWAVInfo(path)
			if err != nil || again != info {
				t.Fatalf("re-read %+v, %v; want %+v", again, err, info)
			}
			if format == FormatPCM16 {
				_, ch := readPCM16(t, path)
				for i := 0; i < 12345; i++ {
					if ch[0][i] != int16(i) || ch[1][i] != int16(-i) {
						t.Fatalf("frame %d = %d/%d", i, ch[0][i], ch[1][i])
					}
				}
			} else {
				raw, _ := os.ReadFile(path)
				if string(raw[38:42]) != "fact" || int(raw[46])|int(raw[47])<<8|int(raw[48])<<16 != 12345 {
					t.Errorf("fact chunk not updated: % x", raw[38:50])
				}
			}
			// Repairing a sound file again changes nothing.
			if again, err := RepairWAV(path); err != nil || again != info {
				t.Fatalf("second repair: %+v, %v", again, err)
			}
		})
	}
}

func TestRepairWAVRejectsOtherFiles(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.wav")
	if err := os.WriteFile(path, []byte("not a wav file at all, really"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := RepairWAV(path); !errors.Is(err, ErrNotWAV) {
		t.Fatalf("err = %v, want ErrNotWAV", err)
	}
}
