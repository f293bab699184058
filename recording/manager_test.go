package recording

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"hotline/audio"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// waitFor polls cond for up to timeout.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// recordCall records ms milliseconds of both legs and finishes.
func recordCall(t *testing.T, m *Manager, info CallInfo, ms int) *Recorder {
	t.Helper()
	r, err := m.Begin(info)
	if err != nil {
		t.Fatal(err)
	}
	c, a := callerU, agentA
	c.startMs = float64(info.Start.Sub(t0).Milliseconds())
	a.startMs = c.startMs + 10
	for k := 0; k < ms/20; k++ {
		c.send(r, k)
		a.send(r, k)
	}
	if err := r.Finish(info.Start.Add(time.Duration(ms) * time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	return r
}

// checkSpooledAlone checks that the spool dir holds one finished
// recording as a backend other than the file backend leaves it: its WAV
// alone, carrying its final call record (no .json: the record is
// uploaded from it).
func checkSpooledAlone(t *testing.T, dir string) {
	t.Helper()
	names := spoolFiles(t, dir)
	if len(names) != 1 || filepath.Ext(names[0]) != ".wav" {
		t.Fatalf("spool = %v, want the WAV alone (its record inside)", names)
	}
	rec, err := ReadSpooledRecord(filepath.Join(dir, names[0]))
	if err != nil || rec.End.IsZero() || rec.Frames == 0 {
		t.Errorf("record of the spooled %s = %+v, %v; want the final record", names[0], rec, err)
	}
}

func spoolFiles(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return names
}

func TestFileBackendStoresAndEmptiesSpool(t *testing.T) {
	c := testConfig(t)
	m := newTestManager(t, c)
	if err := m.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	r := recordCall(t, m, CallInfo{CallID: "f1", Caller: "+1555", Agent: "bob", Queue: "care", Start: t0, Extra: map[string]string{"ticket": "T-9"}}, 500)
	spooled, err := os.ReadFile(r.Path())
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "upload", func() bool { return m.Backlog().Uploaded == 1 })
	if b := m.Backlog(); b.Files != 0 || b.Bytes != 0 || b.Recording != 0 {
		t.Errorf("backlog = %+v", b)
	}
	if names := spoolFiles(t, c.SpoolDir); len(names) != 0 {
		t.Errorf("spool still holds %v", names)
	}
	ctx := context.Background()
	rc, err := m.Backend().Open(ctx, "recordings/2026/03/07/f1.wav")
	if err != nil {
		t.Fatal(err)
	}
	stored := readAll(t, rc)
	rc.Close()
	if !bytes.Equal(stored, spooled) {
		t.Error("stored WAV differs from the spooled one")
	}
	rc, err = m.Backend().Open(ctx, "recordings/2026/03/07/f1.json")
	if err != nil {
		t.Fatal(err)
	}
	var rec CallRecord
	if err := json.Unmarshal(readAll(t, rc), &rec); err != nil {
		t.Fatal(err)
	}
	rc.Close()
	if rec.CallID != "f1" || rec.Agent != "bob" || rec.Extra["ticket"] != "T-9" || !rec.End.Equal(at(500)) || rec.Recovered {
		t.Errorf("record = %+v", rec)
	}
	u, err := m.URL(ctx, r.Key())
	if err != nil || !strings.HasPrefix(u, "file://") || !strings.HasSuffix(u, "/store/recordings/2026/03/07/f1.wav") {
		t.Errorf("URL = %q, %v", u, err)
	}
}

// crashSpool leaves in dir what a crash during a 1.5 s recording leaves:
// a call record without end and a WAV cut in the middle of a frame whose
// header announces only the first second.
func crashSpool(t *testing.T, dir string) (base string, frames int) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o750); err != nil {
		t.Fatal(err)
	}
	base = filepath.Join(dir, "20260307T010203Z-crashed-0badf00d")
	rec := CallRecord{CallID: "crashed", Caller: "+1666", Agent: "carol", Start: t0,
		Key: "recordings/2026/03/07/crashed.wav", Format: FormatPCM16, SampleRate: SampleRate, Channels: []string{"caller", "agent"}}
	if err := writeRecord(base+".json", rec, nil); err != nil {
		t.Fatal(err)
	}
	writeCutWAV(t, base+".wav", FormatPCM16, 12000)
	return base, 12000
}

func TestRecoveryRepairsAndUploadsCrashedRecording(t *testing.T) {
	c := testConfig(t)
	crashSpool(t, c.SpoolDir)
	// A WAV whose call record was lost: stored under a key made from the
	// spool name (start time and call id).
	writeCutWAV(t, filepath.Join(c.SpoolDir, "20260307T050000Z-orphan-12345678.wav"), FormatPCM16, 800)
	m := newTestManager(t, c)
	if err := m.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "upload", func() bool { return m.Backlog().Uploaded == 2 })
	if info, err := ReadWAVInfo(filepath.Join(c.File.Dir, "recordings/2026/03/07/orphan.wav")); err != nil || info.Frames != 800 {
		t.Errorf("orphan WAV: %+v, %v", info, err)
	}
	if rec, err := readRecord(filepath.Join(c.File.Dir, "recordings/2026/03/07/orphan.json")); err != nil || !rec.Recovered || rec.CallID != "orphan" || !rec.Start.Equal(time.Date(2026, 3, 7, 5, 0, 0, 0, time.UTC)) || rec.DurationSeconds != 0.1 {
		t.Errorf("orphan record: %+v, %v", rec, err)
	}
	stored := filepath.Join(c.File.Dir, "recordings/2026/03/07/crashed.wav")
	info, ch := readPCM16(t, stored)
	if info.Frames != 12000 || ch[0][11999] != 11999 || ch[1][11999] != -11999 {
		t.Errorf("stored WAV: %+v", info)
	}
	rec, err := readRecord(filepath.Join(c.File.Dir, "recordings/2026/03/07/crashed.json"))
	if err != nil {
		t.Fatal(err)
	}
	if !rec.Recovered || !rec.End.Equal(at(1500)) || rec.DurationSeconds != 1.5 || rec.Agent != "carol" {
		t.Errorf("record = %+v", rec)
	}
	if names := spoolFiles(t, c.SpoolDir); len(names) != 0 {
		t.Errorf("spool still holds %v", names)
	}
}

// flakyBackend wraps a backend: Put fails while failPuts > 0, Stat
// reports a wrong size while lie is set.
type flakyBackend struct {
	Backend
	mu       sync.Mutex
	failPuts int
	lie      bool
}

func (f *flakyBackend) Put(ctx context.Context, key string, r io.Reader, size int64, o PutOptions) error {
	f.mu.Lock()
	fail := f.failPuts > 0
	if fail {
		f.failPuts--
	}
	f.mu.Unlock()
	if fail {
		return errors.New("storage unavailable")
	}
	return f.Backend.Put(ctx, key, r, size, o)
}

func (f *flakyBackend) Stat(ctx context.Context, key string) (ObjectInfo, error) {
	oi, err := f.Backend.Stat(ctx, key)
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.lie {
		oi.Size--
	}
	return oi, err
}

func TestUploadRetriesAndKeepsSpoolUntilConfirmed(t *testing.T) {
	c := testConfig(t)
	fb := &flakyBackend{Backend: &FileBackend{Dir: c.File.Dir}, failPuts: 3, lie: true}
	m, err := NewWithBackend(c, fb, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if err := m.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	recordCall(t, m, CallInfo{CallID: "r1", Start: t0}, 200)
	// Three failed puts, then puts succeed but the stored size does not match.
	waitFor(t, 10*time.Second, "verification failure", func() bool {
		return strings.Contains(m.Backlog().LastError, "does not match")
	})
	b := m.Backlog()
	if b.Files != 1 || b.Failures < 4 || b.Bytes < 44+1600*4 || b.Uploaded != 0 {
		t.Errorf("backlog = %+v", b)
	}
	checkSpooledAlone(t, c.SpoolDir)
	fb.mu.Lock()
	fb.lie = false
	fb.mu.Unlock()
	waitFor(t, 10*time.Second, "upload", func() bool { return m.Backlog().Uploaded == 1 })
	if b := m.Backlog(); b.Files != 0 || b.ConsecutiveFailures != 0 {
		t.Errorf("backlog = %+v", b)
	}
	if names := spoolFiles(t, c.SpoolDir); len(names) != 0 {
		t.Errorf("spool still holds %v", names)
	}
}

func TestCloseFinishesLiveRecordings(t *testing.T) {
	c := testConfig(t)
	m, err := New(c, Options{})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	r, err := m.Begin(CallInfo{CallID: "live", Start: start})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Begin(CallInfo{CallID: "live", Start: start}); !errors.Is(err, ErrDuplicateKey) {
		t.Errorf("second recording with the same key: %v, want ErrDuplicateKey", err)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if err := r.Finish(time.Now()); !errors.Is(err, ErrFinished) {
		t.Errorf("Finish after Close: %v", err)
	}
	m.mu.Lock()
	keys := len(m.activeKeys)
	m.mu.Unlock()
	if keys != 0 {
		t.Errorf("%d object keys still held as live after every recording finished", keys)
	}
	rec, err := readRecord(strings.TrimSuffix(r.Path(), ".wav") + ".json")
	if err != nil || rec.End.IsZero() {
		t.Errorf("record after Close: %+v, %v", rec, err)
	}
	if _, err := m.Begin(CallInfo{CallID: "late"}); !errors.Is(err, ErrClosed) {
		t.Errorf("Begin after Close: %v", err)
	}
}

func TestFileRetentionSweep(t *testing.T) {
	dir := t.TempDir()
	b := &FileBackend{Dir: dir}
	ctx := context.Background()
	for _, k := range []string{"recordings/2025/01/01/old.wav", "recordings/2026/03/07/new.wav"} {
		if err := b.Put(ctx, k, strings.NewReader("data"), 4, PutOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	old := time.Now().Add(-48 * time.Hour)
	if err := os.Chtimes(filepath.Join(dir, "recordings/2025/01/01/old.wav"), old, old); err != nil {
		t.Fatal(err)
	}
	if err := b.Retain(ctx, "recordings/", 24*time.Hour); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Stat(ctx, "recordings/2025/01/01/old.wav"); !errors.Is(err, ErrNotFound) {
		t.Errorf("old recording: %v, want ErrNotFound", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "recordings/2025")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("empty directories left: %v", err)
	}
	if _, err := b.Stat(ctx, "recordings/2026/03/07/new.wav"); err != nil {
		t.Errorf("new recording: %v", err)
	}
}

// TestSpoolDisk: the spool's file system size and free space are known.
func TestSpoolDisk(t *testing.T) {
	c := testConfig(t)
	m := newTestManager(t, c)
	free, size, err := m.SpoolDisk()
	if err != nil || size == 0 || free > size {
		t.Fatalf("SpoolDisk = %d free of %d, %v", free, size, err)
	}
}

// A recording whose spool files cannot be created does not hold up
// Begin: the failure is reported by Failed and Finish, nothing is left in
// the spool or queued, and the manager goes on recording once it can.
func TestBeginFailsOffThePath(t *testing.T) {
	c := testConfig(t)
	m := newTestManager(t, c)
	if err := os.RemoveAll(c.SpoolDir); err != nil {
		t.Fatal(err)
	}
	r, err := m.Begin(CallInfo{CallID: "no-spool", Start: t0})
	if err != nil {
		t.Fatalf("Begin: %v, want the failure reported later", err)
	}
	r.Packet(Caller, mkRTP(0, 1, 160, 1, fill(0xff, 160)), at(20))
	if err := r.Finish(at(1000)); err == nil || !r.Failed() {
		t.Fatalf("Finish = %v, Failed = %v; want the spool error and true", err, r.Failed())
	}
	if b := m.Backlog(); b.Recording != 0 || b.Files != 0 {
		t.Errorf("backlog %+v, want nothing recording or queued", b)
	}
	if err := os.MkdirAll(c.SpoolDir, 0o750); err != nil {
		t.Fatal(err)
	}
	ok := recordCall(t, m, CallInfo{CallID: "spool-back", Start: t0}, 200)
	if ok.Failed() {
		t.Error("recording after the spool came back: Failed")
	}
}

// TestBeginDatesRecordingByManagerClock: a recording begun without a start
// is dated by the manager's clock (here just after midnight in Berlin on
// the night the clocks go forward, 23:30 UTC the day before), whatever the
// real time: its object key, its spool file and its call record; its
// audio and pause are still placed by the real arrival of the packets.
func TestBeginDatesRecordingByManagerClock(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	clock := time.Date(2026, 3, 29, 0, 30, 0, 0, berlin)
	c := testConfig(t)
	m, err := New(c, Options{Now: func() time.Time { return clock }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })

	r, err := m.Begin(CallInfo{CallID: "dst-1"})
	if err != nil {
		t.Fatal(err)
	}
	if want := "recordings/2026/03/28/dst-1.wav"; r.Key() != want {
		t.Errorf("key %q, want %q (the manager's clock in UTC)", r.Key(), want)
	}
	if name := filepath.Base(r.Path()); !strings.HasPrefix(name, "20260328T233000Z-dst-1-") {
		t.Errorf("spool file %s, want it named by the manager's clock (20260328T233000Z-dst-1-...)", name)
	}
	arrived := time.Now()
	s := callerU
	for k := 0; k < 50; k++ {
		if k == 20 {
			if err := r.Pause(arrived.Add(400*time.Millisecond), "card number"); err != nil {
				t.Fatal(err)
			}
		}
		if k == 30 {
			if err := r.Resume(arrived.Add(600 * time.Millisecond)); err != nil {
				t.Fatal(err)
			}
		}
		r.Packet(Caller, s.pkt(k, code(k)), arrived.Add(time.Duration(k)*20*time.Millisecond))
	}
	if err := r.Finish(arrived.Add(time.Second)); err != nil {
		t.Fatal(err)
	}

	// Frame 0 is the real time of Begin, a moment before the first
	// packet: lag.
	rec, err := readRecord(strings.TrimSuffix(r.Path(), ".wav") + ".json")
	if err != nil {
		t.Fatal(err)
	}
	lag := rec.End.Sub(clock) - time.Second
	lagFrames := int(lag / (time.Second / SampleRate))
	if !rec.Start.Equal(clock) || lag < 0 || lag > time.Second || rec.Frames != int64(8000+lagFrames) || rec.Key != r.Key() {
		t.Fatalf("record start %s, end %s, %d frames, key %s; want %s, 1 s after it (and the moment before the first packet), 8000 frames (and that moment's), %s",
			rec.Start, rec.End, rec.Frames, rec.Key, clock.UTC(), r.Key())
	}
	if len(rec.Pauses) != 1 || !rec.Pauses[0].Start.Equal(clock.Add(lag+400*time.Millisecond)) ||
		!rec.Pauses[0].End.Equal(clock.Add(lag+600*time.Millisecond)) {
		t.Errorf("pauses %+v, want 400-600 ms after %s", rec.Pauses, clock.Add(lag).UTC())
	}
	_, ch := readPCM16(t, r.Path())
	want := newExpect(8000 + lagFrames)
	for k := 0; k < 50; k++ {
		want.put(Caller, lagFrames+160*k, 160, audio.ULaw, code(k))
	}
	want.zero(lagFrames+3200, lagFrames+4800)
	checkChannels(t, ch, want)
}
