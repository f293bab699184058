//go:build unix

package recording

import (
	"bytes"
	"context"
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
