package recording

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A recording in progress is one spool file: the WAV, carrying its call
// record (with what SetExtra and SetCSAT added) in a chunk that
// ReadSpooledRecord reads. Finish writes the final record into the chunk
// and the .json beside the WAV; both say the same.
func TestSpoolHoldsOneFileWhileRecording(t *testing.T) {
	c := testConfig(t)
	m := newTestManager(t, c)
	r, err := m.Begin(CallInfo{CallID: "one-file", Caller: "+1555", Agent: "erin", Queue: "care", Start: t0})
	if err != nil {
		t.Fatal(err)
	}
	<-r.ready
	if files := spoolFiles(t, c.SpoolDir); len(files) != 1 || files[0] != filepath.Base(r.Path()) {
		t.Fatalf("spool holds %v while recording, want the WAV alone", files)
	}
	rec, err := ReadSpooledRecord(r.Path())
	if err != nil || rec.CallID != "one-file" || rec.Caller != "+1555" || rec.Agent != "erin" || rec.Queue != "care" || !rec.End.IsZero() || rec.Key != r.Key() {
		t.Fatalf("spooled record while recording = %+v, %v", rec, err)
	}
	if err := r.SetExtra("ticket", "T-7"); err != nil {
		t.Fatal(err)
	}
	if err := r.SetCSAT(4); err != nil {
		t.Fatal(err)
	}
	rec, err = ReadSpooledRecord(r.Path())
	if err != nil || rec.Extra["ticket"] != "T-7" || rec.CSAT == nil || *rec.CSAT != 4 {
		t.Fatalf("spooled record after SetExtra and SetCSAT = %+v, %v", rec, err)
	}
	// A record that shrinks leaves nothing of the longer one behind (the
	// chunk's buffer is reused from one rewrite to the next).
	if err := r.SetExtra("note", strings.Repeat("x", 500)); err != nil {
		t.Fatal(err)
	}
	if err := r.SetExtra("note", "short"); err != nil {
		t.Fatal(err)
	}
	rec, err = ReadSpooledRecord(r.Path())
	if err != nil || rec.Extra["note"] != "short" || rec.Extra["ticket"] != "T-7" {
		t.Fatalf("spooled record after a shorter SetExtra = %+v, %v", rec, err)
	}
	if files := spoolFiles(t, c.SpoolDir); len(files) != 1 {
		t.Fatalf("spool holds %v after SetExtra, want the WAV alone", files)
	}
	for k := 0; k < 25; k++ {
		callerU.send(r, k)
	}
	if err := r.Finish(at(500)); err != nil {
		t.Fatal(err)
	}
	final, err := readRecord(strings.TrimSuffix(r.Path(), ".wav") + ".json")
	if err != nil || !final.End.Equal(at(500)) || final.Frames != 4000 || final.Extra["ticket"] != "T-7" || final.Extra["note"] != "short" {
		t.Fatalf("final .json = %+v, %v", final, err)
	}
	inWAV, err := readWAVRecord(r.Path())
	if err != nil || !inWAV.End.Equal(final.End) || inWAV.Frames != final.Frames || inWAV.CSAT == nil || *inWAV.CSAT != 4 {
		t.Fatalf("record in the WAV after Finish = %+v, %v; .json %+v", inWAV, err, final)
	}
	info, ch := readPCM16(t, r.Path())
	if info.Frames != 4000 || info.DataOffset != spoolDataOffset || ch[0][3999] == 0 {
		t.Errorf("spool WAV after Finish: %+v", info)
	}
}

// Finish's .json is written in place (no temporary file and rename): one
// torn by a crash, or missing, is rewritten from the final record the
// synced WAV carries, and the recording is stored as finished, not as
// recovered.
func TestTornFinalRecordIsRewrittenFromTheWAV(t *testing.T) {
	for _, tc := range []struct {
		name string
		tear func(t *testing.T, path string)
	}{
		{"torn", func(t *testing.T, path string) {
			if err := os.Truncate(path, 40); err != nil {
				t.Fatal(err)
			}
		}},
		{"missing", func(t *testing.T, path string) {
			if err := os.Remove(path); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := testConfig(t)
			m := newTestManager(t, c) // not started: nothing is uploaded
			r := recordCall(t, m, CallInfo{CallID: "torn", Caller: "+1444", Agent: "frank", Start: t0}, 700)
			want, err := readRecord(strings.TrimSuffix(r.Path(), ".wav") + ".json")
			if err != nil {
				t.Fatal(err)
			}
			tc.tear(t, strings.TrimSuffix(r.Path(), ".wav")+".json")
			m.Close()

			m2 := newTestManager(t, c)
			if err := m2.Start(context.Background()); err != nil {
				t.Fatal(err)
			}
			waitFor(t, 10*time.Second, "upload", func() bool { return m2.Backlog().Uploaded == 1 })
			got, err := readRecord(filepath.Join(c.File.Dir, recordKey(r.Key())))
			if err != nil {
				t.Fatal(err)
			}
			if got.Recovered || !got.End.Equal(want.End) || got.Frames != want.Frames || got.Caller != "+1444" || got.Agent != "frank" {
				t.Errorf("stored record = %+v, want %+v", got, want)
			}
			if info, err := ReadWAVInfo(filepath.Join(c.File.Dir, r.Key())); err != nil || info.Frames != want.Frames {
				t.Errorf("stored WAV: %+v, %v; want %d frames", info, err, want.Frames)
			}
			if files := spoolFiles(t, c.SpoolDir); len(files) != 0 {
				t.Errorf("spool still holds %v", files)
			}
		})
	}
}

// A call record too big for the WAV's chunk is spooled in a .json of its
// own (written atomically, as before the chunk), from Begin or from the
// SetExtra that makes it too big; nothing of it is lost.
func TestRecordTooBigForTheWAVChunk(t *testing.T) {
	big := strings.Repeat("x", spoolDataOffset)
	c := testConfig(t)
	m := newTestManager(t, c)
	if err := m.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	r1, err := m.Begin(CallInfo{CallID: "big-at-begin", Agent: "gina", Start: t0, Extra: map[string]string{"notes": big}})
	if err != nil {
		t.Fatal(err)
	}
	r2, err := m.Begin(CallInfo{CallID: "big-later", Agent: "hugo", Start: t0})
	if err != nil {
		t.Fatal(err)
	}
	<-r1.ready
	<-r2.ready
	if _, err := os.Stat(strings.TrimSuffix(r2.Path(), ".wav") + ".json"); err == nil {
		t.Errorf("a .json beside %s while its record fits in the WAV", r2.Path())
	}
	if err := r2.SetExtra("notes", big); err != nil {
		t.Fatal(err)
	}
	for _, r := range []*Recorder{r1, r2} {
		rec, err := readRecord(strings.TrimSuffix(r.Path(), ".wav") + ".json")
		if err != nil || rec.Extra["notes"] != big || rec.CallID != r.info.CallID {
			t.Errorf("spooled .json of %s: %v", r.info.CallID, err)
		}
	}
	for _, r := range []*Recorder{r1, r2} {
		if err := r.Finish(at(300)); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, 10*time.Second, "upload", func() bool { return m.Backlog().Uploaded == 2 })
	for _, r := range []*Recorder{r1, r2} {
		rec, err := readRecord(filepath.Join(c.File.Dir, recordKey(r.Key())))
		if err != nil || rec.Extra["notes"] != big || !rec.End.Equal(at(300)) || rec.Frames != 2400 {
			t.Errorf("stored record of %s: %v (end %s, %d frames)", r.info.CallID, err, rec.End, rec.Frames)
		}
	}
}
