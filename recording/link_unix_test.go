//go:build unix

package recording

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func inode(t *testing.T, path string) uint64 {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return st.Sys().(*syscall.Stat_t).Ino
}

// noTempFiles fails if a Put left a temporary file anywhere under dir.
func noTempFiles(t *testing.T, dir string) {
	t.Helper()
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && strings.HasPrefix(d.Name(), ".put-") {
			t.Errorf("temporary file left in the store: %s", p)
		}
		return nil
	})
}

// TestFileBackendLinksSpoolFiles: with spool and store on one file system
// the uploader stores the spooled WAV and call record themselves (hard
// links: no copy), with the time of the upload as their modification time
// (the retention counts from it), and nothing else is left behind.
func TestFileBackendLinksSpoolFiles(t *testing.T) {
	c := testConfig(t)
	m := newTestManager(t, c)
	r := recordCall(t, m, CallInfo{CallID: "l1", Agent: "bob", Start: t0}, 400)
	spooled, err := os.ReadFile(r.Path())
	if err != nil {
		t.Fatal(err)
	}
	wavIno, recIno := inode(t, r.Path()), inode(t, strings.TrimSuffix(r.Path(), ".wav")+".json")
	time.Sleep(20 * time.Millisecond) // the store's mtime must be later than the spool file's
	before := time.Now()
	if err := m.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "upload", func() bool { return m.Backlog().Uploaded == 1 })
	wav := filepath.Join(c.File.Dir, "recordings/2026/03/07/l1.wav")
	if got := inode(t, wav); got != wavIno {
		t.Errorf("stored WAV is inode %d, the spooled one was %d: copied, not linked", got, wavIno)
	}
	if got := inode(t, strings.TrimSuffix(wav, ".wav")+".json"); got != recIno {
		t.Errorf("stored call record is inode %d, the spooled one was %d", got, recIno)
	}
	stored, err := os.ReadFile(wav)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(stored, spooled) {
		t.Error("stored WAV differs from the spooled one")
	}
	if st, err := os.Stat(wav); err != nil || st.ModTime().Before(before.Add(-time.Second)) {
		t.Errorf("stored WAV's modification time %v, want the upload's (after %v)", st.ModTime(), before)
	}
	if names := spoolFiles(t, c.SpoolDir); len(names) != 0 {
		t.Errorf("spool still holds %v", names)
	}
	noTempFiles(t, c.File.Dir)
}

// TestFileBackendUploadsAgainAfterCrashMidUpload: a process that died
// after linking a spool file into the store but before removing it from
// the spool uploads it again at the next start, without leaving the
// temporary name of the second link behind.
func TestFileBackendUploadsAgainAfterCrashMidUpload(t *testing.T) {
	c := testConfig(t)
	m := newTestManager(t, c)
	r := recordCall(t, m, CallInfo{CallID: "l2", Start: t0}, 400)
	wav := filepath.Join(c.File.Dir, "recordings/2026/03/07/l2.wav")
	if err := os.MkdirAll(filepath.Dir(wav), 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(r.Path(), wav); err != nil {
		t.Fatal(err)
	}
	if err := m.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "upload", func() bool { return m.Backlog().Uploaded == 1 })
	if names := spoolFiles(t, c.SpoolDir); len(names) != 0 {
		t.Errorf("spool still holds %v", names)
	}
	if _, err := ReadWAVInfo(wav); err != nil {
		t.Errorf("stored WAV: %v", err)
	}
	noTempFiles(t, c.File.Dir)
}

// TestFileBackendCopiesWhatItCannotLink: a spool file whose size is not
// the announced one (or anything else linkInto refuses) is copied.
func TestFileBackendCopiesWhatItCannotLink(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	if err := os.WriteFile(src, []byte("0123456789"), 0o640); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := &FileBackend{Dir: filepath.Join(dir, "store")}
	if err := b.Put(context.Background(), "k/obj", spoolFile{f}, 4, PutOptions{}); err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(dir, "store/k/obj")
	got, err := os.ReadFile(dst)
	if err != nil || string(got) != "0123" {
		t.Errorf("stored %q, %v; want the first 4 bytes", got, err)
	}
	if inode(t, dst) == inode(t, src) {
		t.Error("a file of another size was linked")
	}
	noTempFiles(t, b.Dir)
}

// TestFileBackendCopiesAcrossFileSystems: with the store on another file
// system than the spool (tmpfs /dev/shm), nothing can be linked: the
// uploader copies the WAV and the call record, checks their CRC-32C and
// only then empties the spool.
func TestFileBackendCopiesAcrossFileSystems(t *testing.T) {
	c := testConfig(t)
	if err := os.MkdirAll(c.SpoolDir, 0o750); err != nil {
		t.Fatal(err)
	}
	store, err := os.MkdirTemp("/dev/shm", "hotline-store-")
	if err != nil {
		t.Fatalf("a store on another file system (tmpfs /dev/shm) is needed: %v", err)
	}
	t.Cleanup(func() { os.RemoveAll(store) })
	var sst, dst syscall.Stat_t
	if syscall.Stat(c.SpoolDir, &sst) != nil || syscall.Stat(store, &dst) != nil || sst.Dev == dst.Dev {
		t.Fatalf("/dev/shm is on the spool's file system (device %d): the test needs two", sst.Dev)
	}
	c.File.Dir = store
	m := newTestManager(t, c)
	r := recordCall(t, m, CallInfo{CallID: "x1", Agent: "bob", Start: t0}, 400)
	spooled, err := os.ReadFile(r.Path())
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "upload", func() bool { return m.Backlog().Uploaded == 1 })
	wav := filepath.Join(store, "recordings/2026/03/07/x1.wav")
	stored, err := os.ReadFile(wav)
	if err != nil || !bytes.Equal(stored, spooled) {
		t.Errorf("stored WAV: %d bytes, %v; want the %d spooled bytes", len(stored), err, len(spooled))
	}
	rec, err := readRecord(strings.TrimSuffix(wav, ".wav") + ".json")
	if err != nil || rec.CallID != "x1" || rec.Agent != "bob" || rec.End.IsZero() {
		t.Errorf("stored call record %+v, %v", rec, err)
	}
	if names := spoolFiles(t, c.SpoolDir); len(names) != 0 {
		t.Errorf("spool still holds %v", names)
	}
	noTempFiles(t, store)
}

// TestLinkSpooled: a spool file is linked under its key (directories
// created as needed), replaces another file already stored there, is found
// linked when an earlier attempt linked it, and a missing spool file is
// "not linked" (the caller copies what there is) without an error.
func TestLinkSpooled(t *testing.T) {
	dir := t.TempDir()
	b := &FileBackend{Dir: filepath.Join(dir, "store")}
	src := filepath.Join(dir, "rec.wav")
	if err := os.WriteFile(src, []byte("spooled audio"), 0o640); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, key string
		before    func(p string)
	}{
		{"new directory", "a/b/one.wav", nil},
		{"replaces another file", "a/b/two.wav", func(p string) {
			if err := os.WriteFile(p, []byte("older object"), 0o640); err != nil {
				t.Fatal(err)
			}
		}},
		{"linked by an earlier attempt", "a/b/three.wav", func(p string) {
			if err := os.Link(src, p); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		p := filepath.Join(b.Dir, filepath.FromSlash(tc.key))
		if tc.before != nil {
			if err := os.MkdirAll(filepath.Dir(p), 0o750); err != nil {
				t.Fatal(err)
			}
			tc.before(p)
		}
		d, linked, err := b.linkSpooled(src, tc.key, false)
		if err != nil || !linked || d != filepath.Dir(p) {
			t.Errorf("%s: linkSpooled = %q, %v, %v; want %q, true, nil", tc.name, d, linked, err, filepath.Dir(p))
			continue
		}
		if inode(t, p) != inode(t, src) {
			t.Errorf("%s: %s is not the spool file", tc.name, tc.key)
		}
	}
	noTempFiles(t, b.Dir)
	if _, linked, err := b.linkSpooled(filepath.Join(dir, "gone.wav"), "a/b/gone.wav", true); linked || err != nil {
		t.Errorf("missing spool file: linked %v, %v; want false, nil", linked, err)
	}
}

// TestFileBackendStoresABacklogInBatches: recordings queued while the
// uploader was not running (more than one batch of them) are all linked
// into the store with their own call records, counted once each, and the
// spool is emptied.
func TestFileBackendStoresABacklogInBatches(t *testing.T) {
	c := testConfig(t)
	m := newTestManager(t, c)
	const n = maxBatch + 6
	inodes := map[string]uint64{}
	for i := range n {
		id := fmt.Sprintf("b%02d", i)
		r := recordCall(t, m, CallInfo{CallID: id, Agent: "bob", Start: t0.Add(time.Duration(i) * time.Second), Segment: id}, 100)
		inodes[id] = inode(t, r.Path())
	}
	if got := m.Backlog().Files; got != n {
		t.Fatalf("backlog %d files, want %d", got, n)
	}
	if err := m.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "upload", func() bool { return m.Backlog().Uploaded >= n })
	if b := m.Backlog(); b.Uploaded != n || b.Files != 0 || b.Failures != 0 {
		t.Errorf("backlog = %+v, want %d uploaded, none left, no failure", b, n)
	}
	for id, ino := range inodes {
		wav := filepath.Join(c.File.Dir, "recordings/2026/03/07", id+".wav")
		if got := inode(t, wav); got != ino {
			t.Errorf("%s: stored WAV is inode %d, spooled %d", id, got, ino)
		}
		rec, err := readRecord(strings.TrimSuffix(wav, ".wav") + ".json")
		if err != nil || rec.CallID != id || rec.End.IsZero() {
			t.Errorf("%s: stored record %+v, %v", id, rec, err)
		}
	}
	if names := spoolFiles(t, c.SpoolDir); len(names) != 0 {
		t.Errorf("spool still holds %v", names)
	}
	noTempFiles(t, c.File.Dir)
}
