package recording

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"hotline/internal/fsinfo"
)

// countSyncFS makes m count its file-system syncs, failing each with
// fail (nil: the real syncfs).
func countSyncFS(m *Manager, fail error) *atomic.Int32 {
	var n atomic.Int32
	m.syncFS = func(d *os.File) error {
		n.Add(1)
		if fail != nil {
			return fail
		}
		return fsinfo.SyncFS(d)
	}
	return &n
}

// storedWithRecords checks that each call id has its WAV and its call
// record (with an end) in the file store, and that the spool is empty.
func storedWithRecords(t *testing.T, c Config, ids []string) {
	t.Helper()
	for _, id := range ids {
		wav := filepath.Join(c.File.Dir, "recordings/2026/03/07", id+".wav")
		if _, err := os.Stat(wav); err != nil {
			t.Errorf("%s: %v", id, err)
		}
		rec, err := readRecord(strings.TrimSuffix(wav, ".wav") + ".json")
		if err != nil || rec.CallID != id || rec.End.IsZero() {
			t.Errorf("%s: stored record %+v, %v", id, rec, err)
		}
	}
	if names := spoolFiles(t, c.SpoolDir); len(names) != 0 {
		t.Errorf("spool still holds %v", names)
	}
}

func finishSome(t *testing.T, m *Manager, n int) []string {
	t.Helper()
	var ids []string
	for i := range n {
		id := fmt.Sprintf("s%02d", i)
		recordCall(t, m, CallInfo{CallID: id, Agent: "bob", Start: t0.Add(time.Duration(i) * time.Second)}, 50)
		ids = append(ids, id)
	}
	return ids
}

// TestFinishedRecordingsAreSyncedOnceABatch: with the file backend,
// Finish leaves the spool files to the uploader, which syncs a batch of
// finished recordings with one syncfs before it links them into the
// store, instead of two fsyncs per recording on the call's path.
func TestFinishedRecordingsAreSyncedOnceABatch(t *testing.T) {
	c := testConfig(t)
	m := newTestManager(t, c)
	syncs := countSyncFS(m, nil)
	ids := finishSome(t, m, 10)
	if n := syncs.Load(); n != 0 {
		t.Fatalf("%d file-system syncs before the uploader ran, want 0", n)
	}
	if err := m.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "upload", func() bool { return m.Backlog().Uploaded >= 10 })
	if n := syncs.Load(); n != 1 {
		t.Errorf("%d file-system syncs for one batch of 10 recordings, want 1", n)
	}
	storedWithRecords(t, c, ids)
}

// TestRecordingsFinishedCloseTogetherShareABatch: with the file backend,
// the uploader stores the first recording after a quiet spell at once
// and lets the ones finished right after it gather for batch_wait, so
// one file-system sync covers them all instead of one each.
func TestRecordingsFinishedCloseTogetherShareABatch(t *testing.T) {
	c := testConfig(t)
	c.Upload.BatchWait = time.Second
	m := newTestManager(t, c)
	syncs := countSyncFS(m, nil)
	if err := m.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	recordCall(t, m, CallInfo{CallID: "first", Agent: "bob", Start: t0}, 50)
	waitFor(t, 10*time.Second, "the first upload", func() bool { return m.Backlog().Uploaded >= 1 })
	before := syncs.Load()
	ids := []string{"first"}
	for i := range 5 {
		id := fmt.Sprintf("next%d", i)
		recordCall(t, m, CallInfo{CallID: id, Agent: "bob", Start: t0.Add(time.Duration(i+1) * time.Second)}, 50)
		ids = append(ids, id)
	}
	waitFor(t, 10*time.Second, "upload", func() bool { return m.Backlog().Uploaded >= 6 })
	if n := syncs.Load() - before; n != 1 {
		t.Errorf("%d file-system syncs for 5 recordings finished within batch_wait, want 1 (one batch)", n)
	}
	storedWithRecords(t, c, ids)
}

// TestSpoolSyncFailureStillStoresEveryRecording: when the batch's
// syncfs fails, each recording is synced on its own as it is linked, and
// every one is stored.
func TestSpoolSyncFailureStillStoresEveryRecording(t *testing.T) {
	c := testConfig(t)
	m := newTestManager(t, c)
	syncs := countSyncFS(m, errors.New("injected write-back error"))
	ids := finishSome(t, m, 5)
	if err := m.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "upload", func() bool { return m.Backlog().Uploaded >= 5 })
	if n := syncs.Load(); n < 1 {
		t.Errorf("the batch's file-system sync was not tried")
	}
	if b := m.Backlog(); b.Failures != 0 {
		t.Errorf("backlog %+v: a failed syncfs must fall back, not fail the upload", b)
	}
	storedWithRecords(t, c, ids)
}

// TestCloseSyncsRecordingsTheUploaderLeft: recordings finished but not
// stored when the manager closes are synced before Close returns, and
// the next process stores them.
func TestCloseSyncsRecordingsTheUploaderLeft(t *testing.T) {
	c := testConfig(t)
	m, err := New(c, Options{})
	if err != nil {
		t.Fatal(err)
	}
	syncs := countSyncFS(m, nil)
	ids := finishSome(t, m, 3)
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if n := syncs.Load(); n != 1 {
		t.Errorf("%d file-system syncs at Close with 3 unsynced recordings queued, want 1", n)
	}
	m2 := newTestManager(t, c)
	if err := m2.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "upload", func() bool { return m2.Backlog().Uploaded >= 3 })
	storedWithRecords(t, c, ids)
}
